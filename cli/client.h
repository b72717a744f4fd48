/* What attestctl's operator commands (host, policy, ca, alarm, event, token,
 * status) share: global options, argument parsing, the verifier connection
 * (pinned thumbprint, bearer token from a file), one request helper that
 * turns every failure into a precise message, and output helpers (aligned
 * tables, times, JSON passthrough). docs/cli.md describes the commands. */
#ifndef ATTEST_CLI_CLIENT_H
#define ATTEST_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Exit statuses of every operator command. */
#define CLIENT_EXIT_OK    0
#define CLIENT_EXIT_FAIL  1 /* refused by the verifier, network, local file */
#define CLIENT_EXIT_USAGE 2 /* bad arguments or a missing setting */
/* client_parse(): go on with the command. */
#define CLIENT_CONTINUE (-1)

/* Caps. */
#define CLIENT_TOKEN_FILE_MAX  4096u /* a token file is one short line */
#define CLIENT_TOKEN_MAX       512u  /* token characters */
#define CLIENT_HOST_MAX        256u  /* host part of --server */
#define CLIENT_PATH_MAX        2048u /* request path with query */
#define CLIENT_MAX_POSITIONAL  256   /* positional arguments of one command */
#define CLIENT_DEFAULT_PORT    8443
#define CLIENT_TIMEOUT_MS      30000u  /* plain requests */
#define CLIENT_WAIT_TIMEOUT_MS 180000u /* requests that wait for a verdict */
#define CLIENT_TIMEOUT_MAX_S   3600u

/* Global options: command line first, then the environment. */
struct client_global {
	const char *server;     /* --server, ATTEST_SERVER */
	const char *token_file; /* --token-file, ATTEST_TOKEN_FILE */
	const char *thumbprint; /* --server-thumbprint, ATTEST_SERVER_THUMBPRINT */
	bool json;              /* --json */
	unsigned timeout_ms;    /* --timeout SECONDS (0: per-request default) */
};
extern struct client_global client_g;

/* One command-specific option. Exactly one of value / flag is set: value
 * options take an argument ("--name NAME" or "--name=NAME"), flags do not. */
struct client_opt {
	const char *name;   /* "--name" */
	const char **value; /* receives the argument (points into argv) */
	bool *flag;         /* set to true when present */
};

/* Consume the global options that come before the command word
 * (attestctl --server URL --token-file F host list): scans argv[1..] while
 * they are global options. Returns how many entries were consumed (>= 0),
 * or -1 after printing a usage error. */
int client_global_options(int argc, char **argv);

/* Parse a subcommand's arguments; argv[0] is the subcommand's own word and
 * is skipped. cmd ("host add") prefixes messages. Accepts the opts
 * (NULL-name terminated, may be NULL), the global options, --help/-h, and
 * "--" to end options; every other word goes to pos (at most max_pos, at
 * least min_pos). Returns CLIENT_CONTINUE, CLIENT_EXIT_OK after printing
 * usage to stdout for --help, or CLIENT_EXIT_USAGE after printing the
 * problem and usage to stderr. */
int client_parse(const char *cmd, void (*usage)(FILE *f), int argc, char **argv,
                 const struct client_opt *opts, const char **pos, int min_pos, int max_pos,
                 int *ret_npos);

/* One subcommand of a command group ("host add"): run gets the arguments
 * from the subcommand's own word on. */
struct client_subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
};

/* The entry point of a command group (attestctl GROUP [global options] SUB
 * ...): consumes global options placed before SUB, answers --help/-h/help
 * with usage on stdout, and runs the subcommand of subs (NULL-name
 * terminated) named SUB. A missing or unknown SUB prints usage to stderr and
 * gives CLIENT_EXIT_USAGE. */
int client_dispatch(const char *group, void (*usage)(FILE *f), const struct client_subcommand *subs,
                    int argc, char **argv);

/* Print "attestctl CMD: " + message to stderr (CMD from the last
 * client_parse). */
void client_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Split a --server URL "https://HOST[:PORT][/]" (IPv6 as [ADDR]) into host
 * (cap bytes, brackets removed) and port (CLIENT_DEFAULT_PORT if absent).
 * Returns 0, or ATTEST_E_FORMAT with a sentence in err (errlen bytes). */
int client_parse_server(const char *url, char *host, size_t cap, uint16_t *port, char *err,
                        size_t errlen);

/* Check a token file's text and copy the token (trailing whitespace and
 * newline removed) into out (cap bytes). The token must be 1 to
 * CLIENT_TOKEN_MAX RFC 6750 token68 characters on one line. Returns 0 or
 * ATTEST_E_FORMAT / ATTEST_E_LIMIT (out untouched). */
int client_token_text(const char *text, size_t len, char *out, size_t cap);

/* Percent-encode s as one path segment or query value into out (cap
 * bytes): everything but A-Z a-z 0-9 - . _ ~ becomes %XX. Returns 0 or
 * ATTEST_E_LIMIT if it does not fit (out then holds a truncated string). */
int client_escape(const char *s, char *out, size_t cap);

/* A name the operator gives for a new host, policy or token: refused here
 * (message naming the character, CLIENT_EXIT_USAGE) if it holds a control
 * character, a bidirectional formatting character or invalid UTF-8, as the
 * verifier refuses it; 0 if not. what: "host name". */
int client_name_check(const char *what, const char *name);

/* Parse a decimal count in [min, max] (no sign, no spaces). 0 or
 * ATTEST_E_FORMAT. */
int client_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret);

/* An answer from the verifier. */
struct client_reply {
	int status;          /* HTTP status */
	json_t *json;        /* parsed body, or NULL if not JSON */
	const char *code;    /* error.code of an error body, or NULL (points into json) */
	const char *message; /* error.message, or NULL */
};
void client_reply_clear(struct client_reply *r);

/* Send one request (body may be NULL) to the verifier. Resolves the
 * settings on first use: missing or malformed settings are printed and
 * give CLIENT_EXIT_USAGE; an unreadable or badly protected token file,
 * an unreachable verifier, or a thumbprint other than the pinned one are
 * printed and give CLIENT_EXIT_FAIL. timeout_ms 0 = CLIENT_TIMEOUT_MS
 * (--timeout overrides both). Returns 0 when an HTTP answer arrived (any
 * status; *r filled, clear it with client_reply_clear). */
int client_call(const char *method, const char *path, json_t *body, unsigned timeout_ms,
                struct client_reply *r);

/* client_call, then any status other than 2xx is printed as
 * "the verifier answered STATUS CODE: message" (with a hint for 401/403)
 * and gives CLIENT_EXIT_FAIL. On success *ret is the JSON answer (a new
 * reference; caller decrefs) and 0 is returned. body is not consumed. */
int client_request(const char *method, const char *path, json_t *body, unsigned timeout_ms,
                   json_t **ret);

/* DELETE path; then the answer as JSON with --json, else the line
 * "<before><name><after>" with name through client_puts. The exit status of
 * a command: 0, or client_request's. */
int client_remove(const char *path, const char *before, const char *name, const char *after);

/* A listing command without options or arguments (attestctl policy list):
 * parse argv as client_parse does, then GET path. With --json the answer is
 * printed and CLIENT_EXIT_OK returned; otherwise CLIENT_CONTINUE is
 * returned with the answer in *ret (caller decrefs) for the caller's table.
 * Any other return is the command's exit status. */
int client_list(const char *cmd, void (*usage)(FILE *f), int argc, char **argv, const char *path,
                json_t **ret);

/* GET path for a command that shows one answer: with --json the answer is
 * printed and CLIENT_EXIT_OK returned; otherwise CLIENT_CONTINUE with the
 * answer in *ret (caller decrefs) for the caller's own rendering. Any other
 * return is the command's exit status (client_request's message printed). */
int client_get_view(const char *path, json_t **ret);

/* Print the error of a non-2xx reply (as client_request does). */
void client_print_http_error(const struct client_reply *r);

/* Pretty-print JSON to stdout, with a newline. */
void client_print_json(const json_t *j);

/* Write s to f through termtext_escape (lib/termtext.h: C0/C1 controls,
 * DEL, bidi formatting characters and invalid UTF-8 made visible), so a
 * string from the network, an agent or a log cannot drive the terminal.
 * NULL prints "-". Every text-mode output of such a string goes through
 * here (or client_table, or client_line). */
void client_puts(FILE *f, const char *s);

/* Multi-line text (pretty JSON): each line through client_puts, the
 * newlines kept; ends with a newline. NULL prints "-". */
void client_puts_lines(FILE *f, const char *text);

/* One output line: printf-style, the whole result through client_puts,
 * then a newline (fmt carries none). For lines that mix our own words with
 * untrusted values. */
void client_line(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* JSON getters that tolerate absent keys and wrong types. */
const char *client_str(const json_t *o, const char *key);        /* NULL if not a string */
bool client_int(const json_t *o, const char *key, int64_t *ret); /* false if not an integer */

/* "2026-01-02 15:04:05" (local time) or "never" for t <= 0. */
const char *client_time(int64_t t, char buf[static 32]);
/* "12s ago", "5m ago", "in 30s", or "never" for t <= 0. */
const char *client_ago(int64_t t, char buf[static 32]);

/* Aligned text table. Cells are cleaned like client_puts. */
struct client_table;
/* ncols columns with the given headings (copied). NULL if out of memory. */
struct client_table *client_table_new(size_t ncols, const char *const *heads);
/* Add a row of ncols cells (NULL cells print "-"). 0 or ATTEST_E_NOMEM. */
int client_table_add(struct client_table *t, const char *const *cells);
/* Print the table (headings, then rows; columns two spaces apart). */
void client_table_print(const struct client_table *t, FILE *f);
void client_table_free(struct client_table *t);

#endif
