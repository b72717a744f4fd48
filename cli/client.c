/* Shared pieces of attestctl's operator commands: see client.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "client.h"
#include "err.h"
#include "termtext.h"
#include "https.h"
#include "tlsid.h"

struct client_global client_g;

static const char *cur_cmd = "";

/* Resolved connection settings (first request). */
static struct {
	bool ready;
	char host[CLIENT_HOST_MAX];
	uint16_t port;
	char pin[TLSID_THUMBPRINT_SIZE];
	char token[CLIENT_TOKEN_MAX + 1];
} conn;

static void wipe_token(void)
{
	OPENSSL_cleanse(conn.token, sizeof conn.token);
}

void client_err(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "attestctl%s%s: ", cur_cmd[0] ? " " : "", cur_cmd);
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	/* Messages quote arguments, files and answers: escaped like output. */
	if (n >= 0)
		client_puts(stderr, s);
	free(s);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------------ */
/* arguments */

int client_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	if (s == NULL || s[0] < '0' || s[0] > '9')
		return ATTEST_E_FORMAT;
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return ATTEST_E_FORMAT;
	*ret = v;
	return 0;
}

/* Match "--name" or "--name=VALUE" against arg; sets *inline_val. */
static bool opt_match(const char *name, const char *arg, const char **inline_val)
{
	size_t n = strlen(name);
	if (strncmp(arg, name, n) != 0)
		return false;
	if (arg[n] == '\0') {
		*inline_val = NULL;
		return true;
	}
	if (arg[n] == '=') {
		*inline_val = arg + n + 1;
		return true;
	}
	return false;
}

/* Try the global options at argv[*i]. Returns 1 consumed, 0 not a global
 * option, -1 usage error (printed). */
static int global_option(int argc, char **argv, int *i)
{
	static const struct {
		const char *name;
		int which;
	} g[] = {{"--server", 0},
	         {"--token-file", 1},
	         {"--server-thumbprint", 2},
	         {"--timeout", 3},
	         {"--json", 4}};
	const char *arg = argv[*i], *val = NULL;
	for (size_t k = 0; k < sizeof g / sizeof g[0]; k++) {
		if (!opt_match(g[k].name, arg, &val))
			continue;
		if (g[k].which == 4) {
			if (val != NULL) {
				client_err("--json takes no value");
				return -1;
			}
			client_g.json = true;
			return 1;
		}
		if (val == NULL) {
			if (*i + 1 >= argc) {
				client_err("%s needs a value", g[k].name);
				return -1;
			}
			val = argv[++*i];
		}
		switch (g[k].which) {
		case 0: client_g.server = val; break;
		case 1: client_g.token_file = val; break;
		case 2: client_g.thumbprint = val; break;
		default: {
			unsigned long s;
			if (client_parse_uint(val, 1, CLIENT_TIMEOUT_MAX_S, &s) < 0) {
				client_err("--timeout wants seconds from 1 to %u, not \"%s\"",
				           CLIENT_TIMEOUT_MAX_S, val);
				return -1;
			}
			client_g.timeout_ms = (unsigned)s * 1000u;
		}
		}
		return 1;
	}
	return 0;
}

int client_global_options(int argc, char **argv)
{
	int i = 1;
	while (i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '\0') {
		int r = global_option(argc, argv, &i);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		i++;
	}
	return i - 1;
}

int client_parse(const char *cmd, void (*usage)(FILE *f), int argc, char **argv,
                 const struct client_opt *opts, const char **pos, int min_pos, int max_pos,
                 int *ret_npos)
{
	int npos = 0;
	bool dashdash = false;
	cur_cmd = cmd;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!dashdash && arg[0] == '-' && arg[1] != '\0') {
			if (!strcmp(arg, "--")) {
				dashdash = true;
				continue;
			}
			if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
				usage(stdout);
				return CLIENT_EXIT_OK;
			}
			int g = global_option(argc, argv, &i);
			if (g < 0)
				goto bad;
			if (g > 0)
				continue;
			const struct client_opt *o = NULL;
			const char *val = NULL;
			for (size_t k = 0; opts && opts[k].name; k++)
				if (opt_match(opts[k].name, arg, &val)) {
					o = &opts[k];
					break;
				}
			if (o == NULL) {
				client_err("unknown option \"%s\"", arg);
				goto bad;
			}
			if (o->flag) {
				if (val != NULL) {
					client_err("%s takes no value", o->name);
					goto bad;
				}
				*o->flag = true;
				continue;
			}
			if (val == NULL) {
				if (i + 1 >= argc) {
					client_err("%s needs a value", o->name);
					goto bad;
				}
				val = argv[++i];
			}
			*o->value = val;
			continue;
		}
		if (npos >= max_pos) {
			client_err("unexpected argument \"%s\"", arg);
			goto bad;
		}
		pos[npos++] = arg;
	}
	if (npos < min_pos) {
		client_err("missing argument");
		goto bad;
	}
	*ret_npos = npos;
	return CLIENT_CONTINUE;
bad:
	usage(stderr);
	return CLIENT_EXIT_USAGE;
}

int client_parse_server(const char *url, char *host, size_t cap, uint16_t *port, char *err,
                        size_t errlen)
{
	static const char scheme[] = "https://";
	if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
		snprintf(
		    err, errlen,
		    "the server URL must start with https:// (the operator API is HTTPS only)");
		return ATTEST_E_FORMAT;
	}
	const char *h = url + sizeof scheme - 1, *hend, *rest;
	if (h[0] == '[') {
		hend = strchr(h, ']');
		if (hend == NULL) {
			snprintf(err, errlen, "unclosed '[' in the server URL");
			return ATTEST_E_FORMAT;
		}
		rest = hend + 1;
		h++;
	} else {
		hend = h + strcspn(h, ":/");
		rest = hend;
	}
	size_t hl = (size_t)(hend - h);
	if (hl == 0 || hl >= cap) {
		snprintf(err, errlen, "no host (or too long a host) in the server URL");
		return ATTEST_E_FORMAT;
	}
	for (size_t k = 0; k < hl; k++)
		if ((unsigned char)h[k] <= 0x20 || h[k] == '@' || h[k] == '?' || h[k] == '#' ||
		    (unsigned char)h[k] >= 0x7f) {
			snprintf(err, errlen, "bad character in the server URL's host");
			return ATTEST_E_FORMAT;
		}
	unsigned long p = CLIENT_DEFAULT_PORT;
	if (rest[0] == ':') {
		char digits[8];
		size_t dl = strcspn(rest + 1, "/");
		if (dl == 0 || dl >= sizeof digits) {
			snprintf(err, errlen, "bad port in the server URL");
			return ATTEST_E_FORMAT;
		}
		memcpy(digits, rest + 1, dl);
		digits[dl] = '\0';
		if (client_parse_uint(digits, 1, 65535, &p) < 0) {
			snprintf(err, errlen, "bad port in the server URL");
			return ATTEST_E_FORMAT;
		}
		rest += 1 + dl;
	}
	if (rest[0] != '\0' && strcmp(rest, "/") != 0) {
		snprintf(err, errlen,
		         "the server URL is https://HOST:PORT only (no path; /api/v1 is added)");
		return ATTEST_E_FORMAT;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static bool token68(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

int client_token_text(const char *text, size_t len, char *out, size_t cap)
{
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
	                   text[len - 1] == '\t'))
		len--;
	if (len == 0)
		return ATTEST_E_FORMAT;
	if (len > CLIENT_TOKEN_MAX || len >= cap)
		return ATTEST_E_LIMIT;
	size_t k = 0;
	while (k < len && token68((unsigned char)text[k]))
		k++;
	while (k < len && text[k] == '=')
		k++;
	if (k != len)
		return ATTEST_E_FORMAT;
	memcpy(out, text, len);
	out[len] = '\0';
	return 0;
}

int client_escape(const char *s, char *out, size_t cap)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t o = 0;
	if (cap == 0)
		return ATTEST_E_LIMIT;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
		size_t need = plain ? 1 : 3;
		if (cap - o <= need) {
			out[o] = '\0';
			return ATTEST_E_LIMIT;
		}
		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hexd[c >> 4];
			out[o++] = hexd[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* connection settings */

static const char *setting(const char *opt, const char *env)
{
	if (opt != NULL && opt[0] != '\0')
		return opt;
	const char *e = getenv(env);
	return e != NULL && e[0] != '\0' ? e : NULL;
}

/* Read the token file: a regular file, not accessible by group or others. */
static int load_token(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		client_err("cannot open the token file %s: %s", path, strerror(errno));
		return CLIENT_EXIT_FAIL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		client_err("the token file %s is not a regular file", path);
		return CLIENT_EXIT_FAIL;
	}
	if (st.st_mode & 077) {
		close(fd);
		client_err("the token file %s is accessible by group or others (mode %04o): an API "
		           "token is a password; run 'chmod 600 %s' and try again",
		           path, (unsigned)(st.st_mode & 07777), path);
		return CLIENT_EXIT_FAIL;
	}
	if (st.st_size > (off_t)CLIENT_TOKEN_FILE_MAX) {
		close(fd);
		client_err("the token file %s is larger than %u bytes: not a token file", path,
		           CLIENT_TOKEN_FILE_MAX);
		return CLIENT_EXIT_FAIL;
	}
	char buf[CLIENT_TOKEN_FILE_MAX + 1];
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			OPENSSL_cleanse(buf, sizeof buf);
			client_err("cannot read the token file %s: %s", path, strerror(e));
			return CLIENT_EXIT_FAIL;
		}
		if (r == 0 || n + (size_t)r >= sizeof buf - 1) {
			n += (size_t)r;
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	int rc = client_token_text(buf, n, conn.token, sizeof conn.token);
	OPENSSL_cleanse(buf, sizeof buf);
	if (rc < 0) {
		client_err("the token file %s does not hold a token (one line of at most %u "
		           "characters A-Z a-z 0-9 - . _ ~ + /)",
		           path, CLIENT_TOKEN_MAX);
		return CLIENT_EXIT_FAIL;
	}
	atexit(wipe_token);
	return 0;
}

/* Connect without sending anything to show the thumbprint the server has. */
static void show_seen_thumbprint(const char *server)
{
	struct https_call call = {.host = conn.host,
	                          .port = conn.port,
	                          .verify = HTTPS_VERIFY_FETCH,
	                          .timeout_ms = CLIENT_TIMEOUT_MS};
	struct https_response resp;
	int rc = https_request_sync(NULL, NULL, &call, &resp);
	if (rc == 0 && resp.peer_thumbprint[0] != '\0') {
		fprintf(stderr,
		        "  The verifier at %s presents the certificate thumbprint\n"
		        "    %s\n"
		        "  Compare it with the 'thumbprint' line attest-verifier printed when it\n"
		        "  started; if it is the same, pass --server-thumbprint %s\n"
		        "  (or set ATTEST_SERVER_THUMBPRINT).\n",
		        server, resp.peer_thumbprint, resp.peer_thumbprint);
	} else {
		fprintf(stderr, "  (cannot connect to %s to show its thumbprint: %s)\n", server,
		        resp.message[0] ? resp.message : "unknown error");
	}
	https_response_clear(&resp);
}

static int resolve(void)
{
	if (conn.ready)
		return 0;
	const char *server = setting(client_g.server, "ATTEST_SERVER");
	if (server == NULL) {
		client_err(
		    "no verifier given: pass --server https://HOST:PORT or set ATTEST_SERVER "
		    "(attest-verifier prints its 'listen' URL at start)");
		return CLIENT_EXIT_USAGE;
	}
	char err[256];
	if (client_parse_server(server, conn.host, sizeof conn.host, &conn.port, err, sizeof err) <
	    0) {
		client_err("--server \"%s\": %s", server, err);
		return CLIENT_EXIT_USAGE;
	}
	const char *tp = setting(client_g.thumbprint, "ATTEST_SERVER_THUMBPRINT");
	if (tp == NULL) {
		client_err("the verifier's certificate thumbprint is not pinned: attestctl only "
		           "talks to a verifier whose thumbprint you confirmed");
		show_seen_thumbprint(server);
		return CLIENT_EXIT_USAGE;
	}
	if (tlsid_thumbprint_parse(tp, conn.pin) < 0) {
		client_err("--server-thumbprint \"%s\" is not SHA256: followed by 64 hex digits",
		           tp);
		return CLIENT_EXIT_USAGE;
	}
	const char *tf = setting(client_g.token_file, "ATTEST_TOKEN_FILE");
	if (tf == NULL) {
		client_err("no API token: pass --token-file FILE or set ATTEST_TOKEN_FILE (the "
		           "verifier wrote an admin token to DATA_DIR/admin.token on first start)");
		return CLIENT_EXIT_USAGE;
	}
	int rc = load_token(tf);
	if (rc != 0)
		return rc;
	conn.ready = true;
	return 0;
}

/* ------------------------------------------------------------------ */
/* requests */

void client_reply_clear(struct client_reply *r)
{
	if (r == NULL)
		return;
	json_decref(r->json);
	memset(r, 0, sizeof *r);
}

int client_call(const char *method, const char *path, json_t *body, unsigned timeout_ms,
                struct client_reply *r)
{
	memset(r, 0, sizeof *r);
	int rc = resolve();
	if (rc != 0)
		return rc;
	char full[CLIENT_PATH_MAX + 16];
	if ((size_t)snprintf(full, sizeof full, "/api/v1%s", path) >= sizeof full) {
		client_err("request path too long");
		return CLIENT_EXIT_USAGE;
	}
	char *text = NULL;
	if (body != NULL) {
		text = json_dumps(body, JSON_COMPACT);
		if (text == NULL) {
			client_err("out of memory");
			return CLIENT_EXIT_FAIL;
		}
	}
	unsigned to = client_g.timeout_ms ? client_g.timeout_ms
	                                  : (timeout_ms ? timeout_ms : CLIENT_TIMEOUT_MS);
	struct https_call call = {.host = conn.host,
	                          .port = conn.port,
	                          .method = method,
	                          .path = full,
	                          .body = text,
	                          .body_len = text ? strlen(text) : 0,
	                          .bearer = conn.token,
	                          .verify = HTTPS_VERIFY_PIN,
	                          .pin = conn.pin,
	                          .timeout_ms = to};
	struct https_response resp;
	rc = https_request_sync(NULL, NULL, &call, &resp);
	free(text);
	if (rc < 0) {
		client_err("cannot send the request: %s", resp.message);
		https_response_clear(&resp);
		return CLIENT_EXIT_FAIL;
	}
	if (resp.error == HTTPS_E_PIN) {
		client_err(
		    "refusing the verifier at %s:%u: it presents the certificate thumbprint "
		    "%s, not the pinned %s; nothing was sent. If its identity was re-created "
		    "on purpose, check the new thumbprint attest-verifier printed and pin it.",
		    conn.host, (unsigned)conn.port,
		    resp.peer_thumbprint[0] ? resp.peer_thumbprint : "(none)", conn.pin);
		https_response_clear(&resp);
		return CLIENT_EXIT_FAIL;
	}
	if (resp.error != HTTPS_OK) {
		client_err("cannot reach the verifier at %s:%u (%s): %s", conn.host,
		           (unsigned)conn.port, https_error_name(resp.error), resp.message);
		https_response_clear(&resp);
		return CLIENT_EXIT_FAIL;
	}
	r->status = resp.status;
	if (resp.body_len > 0) {
		json_error_t je;
		r->json =
		    json_loadb((const char *)resp.body, resp.body_len, JSON_REJECT_DUPLICATES, &je);
	}
	https_response_clear(&resp);
	json_t *e = r->json ? json_object_get(r->json, "error") : NULL;
	if (json_is_object(e)) {
		r->code = client_str(e, "code");
		r->message = client_str(e, "message");
	}
	if (r->status >= 200 && r->status < 300 && !json_is_object(r->json)) {
		client_err("the verifier answered %d without a JSON object", r->status);
		client_reply_clear(r);
		return CLIENT_EXIT_FAIL;
	}
	return 0;
}

void client_print_http_error(const struct client_reply *r)
{
	/* Scripts (--json) get the API's error object on stdout as well. */
	if (client_g.json && r->json != NULL)
		client_print_json(r->json);
	fprintf(stderr, "attestctl%s%s: the verifier answered %d %s: ", cur_cmd[0] ? " " : "",
	        cur_cmd, r->status, r->code ? r->code : "(no error code)");
	client_puts(stderr, r->message ? r->message : "(no message)");
	fputc('\n', stderr);
	if (r->status == 401)
		fprintf(stderr, "  The token was not accepted: check --token-file / "
		                "ATTEST_TOKEN_FILE (it must hold a token this verifier issued).\n");
	else if (r->status == 403)
		fprintf(stderr,
		        "  This needs an admin token; the token given is a viewer token.\n");
}

int client_request(const char *method, const char *path, json_t *body, unsigned timeout_ms,
                   json_t **ret)
{
	struct client_reply r;
	int rc = client_call(method, path, body, timeout_ms, &r);
	if (rc != 0)
		return rc;
	if (r.status < 200 || r.status >= 300) {
		client_print_http_error(&r);
		client_reply_clear(&r);
		return CLIENT_EXIT_FAIL;
	}
	*ret = r.json;
	return 0;
}

/* ------------------------------------------------------------------ */
/* output */

void client_print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

int client_remove(const char *path, const char *before, const char *name, const char *after)
{
	json_t *j = NULL;
	int rc = client_request("DELETE", path, NULL, 0, &j);
	if (rc != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
	} else {
		fputs(before, stdout);
		client_puts(stdout, name);
		fputs(after, stdout);
	}
	json_decref(j);
	return 0;
}

int client_list(const char *cmd, void (*usage)(FILE *f), int argc, char **argv, const char *path,
                json_t **ret)
{
	const char *pos[1];
	int npos;
	*ret = NULL;
	int rc = client_parse(cmd, usage, argc, argv, NULL, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	return client_get_view(path, ret);
}

int client_get_view(const char *path, json_t **ret)
{
	json_t *j = NULL;
	*ret = NULL;
	int rc = client_request("GET", path, NULL, 0, &j);
	if (rc != 0)
		return rc;
	if (client_g.json) {
		client_print_json(j);
		json_decref(j);
		return CLIENT_EXIT_OK;
	}
	*ret = j;
	return CLIENT_CONTINUE;
}

/* s through termtext_escape (controls, bidi formatting and invalid UTF-8
 * made visible). Returns a malloc'd string or NULL. */
static char *clean_dup(const char *s)
{
	return termtext_dup(s == NULL ? "-" : s);
}

void client_puts(FILE *f, const char *s)
{
	char *c = clean_dup(s);
	if (c == NULL)
		return;
	fputs(c, f);
	free(c);
}

int client_name_check(const char *what, const char *name)
{
	uint32_t cp = 0;
	bool invalid = false;
	size_t n = strlen(name);
	size_t at = termtext_first_unsafe(name, n, &cp, &invalid);
	if (at == n)
		return 0;
	if (invalid)
		client_err("the %s is not valid UTF-8 (byte 0x%02X at offset %zu)", what,
		           (unsigned)cp, at);
	else
		client_err("the %s contains U+%04X at offset %zu: control and bidirectional "
		           "formatting characters are not allowed",
		           what, (unsigned)cp, at);
	return CLIENT_EXIT_USAGE;
}

void client_puts_lines(FILE *f, const char *text)
{
	if (text == NULL)
		text = "-";
	for (;;) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);
		char *line = strndup(text, n);
		if (line == NULL)
			return;
		client_puts(f, line);
		fputc('\n', f);
		free(line);
		if (nl == NULL)
			return;
		text = nl + 1;
	}
}

void client_line(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	client_puts(f, s);
	fputc('\n', f);
	free(s);
}

const char *client_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

bool client_int(const json_t *o, const char *key, int64_t *ret)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		return false;
	*ret = (int64_t)json_integer_value(v);
	return true;
}

const char *client_time(int64_t t, char buf[static 32])
{
	if (t <= 0)
		return "never";
	time_t tt = (time_t)t;
	struct tm tm;
	if (localtime_r(&tt, &tm) == NULL || strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, 32, "%lld", (long long)t);
	return buf;
}

const char *client_ago(int64_t t, char buf[static 32])
{
	if (t <= 0)
		return "never";
	int64_t d = (int64_t)time(NULL) - t;
	bool future = d < 0;
	uint64_t a = future ? (uint64_t)(-(d + 1)) + 1 : (uint64_t)d;
	char num[24];
	if (a < 120)
		snprintf(num, sizeof num, "%llus", (unsigned long long)a);
	else if (a < 7200)
		snprintf(num, sizeof num, "%llum", (unsigned long long)(a / 60));
	else if (a < 172800)
		snprintf(num, sizeof num, "%lluh", (unsigned long long)(a / 3600));
	else
		snprintf(num, sizeof num, "%llud", (unsigned long long)(a / 86400));
	snprintf(buf, 32, future ? "in %s" : "%s ago", num);
	return buf;
}

struct client_table {
	size_t ncols, nrows, cap;
	char **heads;
	char **cells; /* nrows * ncols */
};

struct client_table *client_table_new(size_t ncols, const char *const *heads)
{
	struct client_table *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	t->heads = calloc(ncols, sizeof *t->heads);
	if (t->heads == NULL) {
		free(t);
		return NULL;
	}
	for (size_t i = 0; i < ncols; i++)
		if ((t->heads[i] = clean_dup(heads[i])) == NULL) {
			client_table_free(t);
			return NULL;
		}
	return t;
}

int client_table_add(struct client_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		char **n = realloc(t->cells, nc * t->ncols * sizeof *n);
		if (n == NULL)
			return ATTEST_E_NOMEM;
		t->cells = n;
		t->cap = nc;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = clean_dup(cells[i]);
		if (row[i] == NULL) {
			for (size_t k = 0; k < i; k++)
				free(row[k]);
			return ATTEST_E_NOMEM;
		}
	}
	t->nrows++;
	return 0;
}

/* Display width: UTF-8 code points (continuation bytes do not count). */
static size_t width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void print_row(FILE *f, char *const *row, const size_t *w, size_t ncols)
{
	for (size_t i = 0; i < ncols; i++) {
		fputs(row[i], f);
		if (i + 1 < ncols)
			for (size_t k = width(row[i]); k < w[i] + 2; k++)
				fputc(' ', f);
	}
	fputc('\n', f);
}

void client_table_print(const struct client_table *t, FILE *f)
{
	size_t *w = calloc(t->ncols, sizeof *w);
	if (w == NULL)
		return;
	for (size_t i = 0; i < t->ncols; i++)
		w[i] = width(t->heads[i]);
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t i = 0; i < t->ncols; i++) {
			size_t x = width(t->cells[r * t->ncols + i]);
			if (x > w[i])
				w[i] = x;
		}
	print_row(f, t->heads, w, t->ncols);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(f, t->cells + r * t->ncols, w, t->ncols);
	free(w);
}

void client_table_free(struct client_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; t->heads && i < t->ncols; i++)
		free(t->heads[i]);
	free(t->heads);
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int client_dispatch(const char *group, void (*usage)(FILE *f), const struct client_subcommand *subs,
                    int argc, char **argv)
{
	int lead = client_global_options(argc, argv); /* attestctl host --json list */
	if (lead < 0)
		return CLIENT_EXIT_USAGE;
	argc -= lead;
	argv += lead;
	if (argc < 2) {
		usage(stderr);
		return CLIENT_EXIT_USAGE;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
		usage(stdout);
		return CLIENT_EXIT_OK;
	}
	for (const struct client_subcommand *c = subs; c->name; c++)
		if (!strcmp(sub, c->name))
			return c->run(argc - 1, argv + 1);
	fprintf(stderr, "attestctl %s: unknown command \"%s\"\n", group, sub);
	usage(stderr);
	return CLIENT_EXIT_USAGE;
}
