/* attestctl notify add|list|show|test|remove: where alarms, trust changes,
 * host changes and coverage alarms are sent (webhooks and syslog). */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"
#include "err.h"
#include "fileio.h"

#define SECRET_FILE_MAX 1024
#define CA_FILE_MAX     (64 * 1024)

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: attestctl notify COMMAND [ARGS...] [--json]\n"
	    "\n"
	    "Notification targets receive the verifier's events: alarm (raised, cleared),\n"
	    "trust (a host's trust state changed), host (added, removed), coverage (fleet\n"
	    "coverage alarms). Every event goes through an outbox in the database, written\n"
	    "with the event: retried with exponential backoff while a target fails, a\n"
	    "dead letter once its attempts are spent.\n"
	    "  add NAME --url https://HOST[:PORT][/PATH] [--secret-file F]\n"
	    "           [--events alarm,trust,host,coverage] [--ca-file F | --thumbprint "
	    "SHA256:...]\n"
	    "           [--attempts N]\n"
	    "      A webhook: each event is POSTed as JSON with an Idempotency-Key header and,\n"
	    "      with a secret, X-Attest-Signature: sha256=<hex HMAC-SHA256 of the body>.\n"
	    "      The receiver's certificate must chain to --ca-file (and name its host), or\n"
	    "      have the pinned --thumbprint; neither: the system's CA store.\n"
	    "  add NAME --syslog unix:/PATH | tcp://IP:PORT | tls://IP:PORT\n"
	    "           [--events ...] [--ca-file F | --thumbprint SHA256:...] [--attempts N]\n"
	    "      RFC 5424 syslog: a datagram to a local socket (unix:/dev/log), or a\n"
	    "      stream to a collector framed by octet counting (RFC 6587), in TLS for tls://.\n"
	    "      Default events: all; default attempts: 16 (about 5 hours of retries).\n"
	    "  list\n"
	    "      Every target with its deliveries, waiting rows and dead letters.\n"
	    "  show NAME\n"
	    "      One target, its last error and its newest dead letters.\n"
	    "  test NAME\n"
	    "      Queue a test delivery (kind \"test\") to the target.\n"
	    "  remove NAME\n"
	    "      Remove the target with its waiting rows and dead letters.\n"
	    "\n"
	    "Writes need an admin token. Global options: see 'attestctl host --help'.\n"
	    "Exit status: 0 done, 1 refused by the verifier or not reachable, 2 usage.\n");
}

static int read_text(const char *what, const char *file, size_t max, char **ret)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int e = fileio_read(file, max, &buf, &len);
	if (e < 0) {
		client_err("cannot read the %s %s: %s", what, file,
		           e == ATTEST_E_LIMIT ? "too large" : attest_strerror(e));
		return CLIENT_EXIT_FAIL;
	}
	if (memchr(buf, '\0', len)) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		client_err("the %s %s is not text", what, file);
		return CLIENT_EXIT_FAIL;
	}
	*ret = (char *)buf;
	return 0;
}

static int notify_add(int argc, char **argv)
{
	const char *url = NULL, *syslog = NULL, *secret_file = NULL, *events = NULL,
	           *ca_file = NULL, *thumb = NULL, *attempts = NULL, *pos[1];
	const struct client_opt opts[] = {{"--url", &url, NULL},
	                                  {"--syslog", &syslog, NULL},
	                                  {"--secret-file", &secret_file, NULL},
	                                  {"--events", &events, NULL},
	                                  {"--ca-file", &ca_file, NULL},
	                                  {"--thumbprint", &thumb, NULL},
	                                  {"--attempts", &attempts, NULL},
	                                  {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("notify add", usage, argc, argv, opts, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	if (client_name_check("target", pos[0]) < 0)
		return CLIENT_EXIT_USAGE;
	if (!url == !syslog) {
		client_err("give --url https://... or --syslog ADDRESS");
		return CLIENT_EXIT_USAGE;
	}
	if (ca_file && thumb) {
		client_err("give --ca-file or --thumbprint, not both");
		return CLIENT_EXIT_USAGE;
	}
	if (secret_file && syslog) {
		client_err("--secret-file signs webhooks only");
		return CLIENT_EXIT_USAGE;
	}
	unsigned long att = 0;
	if (attempts && client_parse_uint(attempts, 1, 100, &att) < 0) {
		client_err("--attempts wants a number from 1 to 100, not \"%s\"", attempts);
		return CLIENT_EXIT_USAGE;
	}
	json_t *body = json_pack("{s:s,s:s}", "name", pos[0], "url", url ? url : syslog);
	if (!body)
		return CLIENT_EXIT_FAIL;
	if (events)
		json_object_set_new(body, "events", json_string(events));
	if (thumb)
		json_object_set_new(body, "thumbprint", json_string(thumb));
	if (att)
		json_object_set_new(body, "attempts", json_integer((json_int_t)att));
	if (ca_file) {
		char *pem = NULL;
		if ((rc = read_text("CA file", ca_file, CA_FILE_MAX, &pem)) != 0) {
			json_decref(body);
			return rc;
		}
		json_object_set_new(body, "ca_pem", json_string(pem));
		free(pem);
	}
	char *secret = NULL;
	if (secret_file) {
		if ((rc = read_text("secret file", secret_file, SECRET_FILE_MAX, &secret)) != 0) {
			json_decref(body);
			return rc;
		}
		/* One line: the final newline an editor adds is not part of it. */
		size_t n = strlen(secret);
		while (n > 0 && (secret[n - 1] == '\n' || secret[n - 1] == '\r'))
			secret[--n] = '\0';
		if (n == 0) {
			free(secret);
			json_decref(body);
			client_err("the secret file %s is empty", secret_file);
			return CLIENT_EXIT_FAIL;
		}
		json_object_set_new(body, "secret", json_string(secret));
		OPENSSL_cleanse(secret, n);
		free(secret);
	}
	json_t *j = NULL;
	rc = client_request("POST", "/notify", body, 0, &j);
	const char *s = json_string_value(json_object_get(body, "secret"));
	if (s)
		OPENSSL_cleanse((char *)s, strlen(s));
	json_decref(body);
	if (rc != 0)
		return rc;
	if (client_g.json)
		client_print_json(j);
	else {
		printf("Notification target ");
		client_puts(stdout, pos[0]);
		printf(" added (%s).\n", client_str(j, "type") ? client_str(j, "type") : "?");
	}
	json_decref(j);
	return 0;
}

static const char *events_text(const json_t *t, char *buf, size_t cap)
{
	size_t i;
	json_t *e;
	buf[0] = '\0';
	json_array_foreach(json_object_get(t, "events"), i, e)
	{
		const char *k = json_string_value(e);
		if (k && strlen(buf) + strlen(k) + 2 <= cap)
			snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? "," : "", k);
	}
	return buf;
}

static int notify_list(int argc, char **argv)
{
	json_t *j;
	int rc = client_list("notify list", usage, argc, argv, "/notify", &j);
	if (rc != CLIENT_CONTINUE)
		return rc;
	json_t *ts = json_object_get(j, "targets");
	if (json_array_size(ts) == 0)
		printf("No notification targets.\n");
	else {
		static const char *const heads[] = {"NAME",      "TYPE",    "URL",  "EVENTS",
		                                    "DELIVERED", "PENDING", "DEAD", "LAST ERROR"};
		struct client_table *t = client_table_new(8, heads);
		size_t i;
		json_t *o;
		int64_t dead_total = 0;
		json_array_foreach(ts, i, o)
		{
			char ev[64], del[24], pend[24], dead[24];
			int64_t d = 0, p = 0, x = 0;
			client_int(o, "delivered", &d);
			client_int(o, "pending", &p);
			client_int(o, "dead", &x);
			dead_total += x;
			snprintf(del, sizeof del, "%lld", (long long)d);
			snprintf(pend, sizeof pend, "%lld", (long long)p);
			snprintf(dead, sizeof dead, "%lld", (long long)x);
			const char *err = client_str(o, "last_error");
			const char *cells[] = {client_str(o, "name"),
			                       client_str(o, "type"),
			                       client_str(o, "url"),
			                       events_text(o, ev, sizeof ev),
			                       del,
			                       pend,
			                       dead,
			                       err ? err : "-"};
			if (t)
				client_table_add(t, cells);
		}
		if (t)
			client_table_print(t, stdout);
		client_table_free(t);
		if (dead_total > 0)
			printf("%lld dead letter(s): see 'attestctl notify show NAME'.\n",
			       (long long)dead_total);
	}
	json_decref(j);
	return 0;
}

static int name_path(const char *cmd, int argc, char **argv, const char *action, char *path,
                     size_t cap, const char **ret_name)
{
	const char *pos[1];
	int npos;
	int rc = client_parse(cmd, usage, argc, argv, NULL, pos, 1, 1, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	char esc[CLIENT_PATH_MAX / 2];
	if (client_escape(pos[0], esc, sizeof esc) < 0) {
		client_err("target name too long");
		return CLIENT_EXIT_USAGE;
	}
	snprintf(path, cap, "/notify/%s%s", esc, action);
	*ret_name = pos[0];
	return CLIENT_CONTINUE;
}

static int notify_show(int argc, char **argv)
{
	char path[CLIENT_PATH_MAX], ev[64], b1[32], b2[32];
	const char *name;
	int rc = name_path("notify show", argc, argv, "", path, sizeof path, &name);
	if (rc != CLIENT_CONTINUE)
		return rc;
	json_t *j = NULL;
	if ((rc = client_get_view(path, &j)) != CLIENT_CONTINUE)
		return rc;
	int64_t v = 0, at = 0;
	client_line(stdout, "name:         %s", client_str(j, "name"));
	client_line(stdout, "type:         %s", client_str(j, "type"));
	client_line(stdout, "url:          %s", client_str(j, "url"));
	client_line(stdout, "events:       %s", events_text(j, ev, sizeof ev));
	client_line(stdout, "secret:       %s",
	            json_is_true(json_object_get(j, "secret")) ? "yes" : "no");
	client_line(stdout, "tls:          %s",
	            client_str(j, "thumbprint")              ? client_str(j, "thumbprint")
	            : json_is_true(json_object_get(j, "ca")) ? "CA certificates given"
	                                                     : "system CA store");
	client_int(j, "attempts", &v);
	printf("attempts:     %lld\n", (long long)v);
	client_int(j, "delivered", &v);
	client_int(j, "last_delivered_at", &at);
	printf("delivered:    %lld (last %s)\n", (long long)v, at ? client_ago(at, b1) : "never");
	client_int(j, "failed", &v);
	printf("failed:       %lld attempt(s)\n", (long long)v);
	client_int(j, "pending", &v);
	printf("pending:      %lld\n", (long long)v);
	client_int(j, "dead", &v);
	printf("dead letters: %lld\n", (long long)v);
	if (client_str(j, "last_error")) {
		at = 0;
		client_int(j, "last_error_at", &at);
		client_line(stdout, "last error:   %s (%s)", client_str(j, "last_error"),
		            client_ago(at, b2));
	}
	json_t *dl = json_object_get(j, "dead_letters");
	if (json_array_size(dl) > 0) {
		static const char *const heads[] = {"ID",       "KIND",       "KEY",
		                                    "ATTEMPTS", "DEAD SINCE", "ERROR"};
		struct client_table *t = client_table_new(6, heads);
		size_t i;
		json_t *o;
		printf("\nDead letters (newest first):\n");
		json_array_foreach(dl, i, o)
		{
			char id[24], att[24], when[32];
			int64_t x = 0, a = 0, d = 0;
			client_int(o, "id", &x);
			client_int(o, "attempts", &a);
			client_int(o, "dead_at", &d);
			snprintf(id, sizeof id, "%lld", (long long)x);
			snprintf(att, sizeof att, "%lld", (long long)a);
			const char *cells[] = {
			    id,  client_str(o, "kind"), client_str(o, "idempotency_key"),
			    att, client_time(d, when),  client_str(o, "error")};
			if (t)
				client_table_add(t, cells);
		}
		if (t)
			client_table_print(t, stdout);
		client_table_free(t);
	}
	json_decref(j);
	return 0;
}

static int notify_test(int argc, char **argv)
{
	char path[CLIENT_PATH_MAX];
	const char *name;
	int rc = name_path("notify test", argc, argv, "/test", path, sizeof path, &name);
	if (rc != CLIENT_CONTINUE)
		return rc;
	json_t *j = NULL;
	if ((rc = client_request("POST", path, NULL, 0, &j)) != 0)
		return rc;
	if (client_g.json)
		client_print_json(j);
	else {
		printf("Test notification queued for ");
		client_puts(stdout, name);
		printf(".\n");
	}
	json_decref(j);
	return 0;
}

static int notify_remove(int argc, char **argv)
{
	char path[CLIENT_PATH_MAX];
	const char *name;
	int rc = name_path("notify remove", argc, argv, "", path, sizeof path, &name);
	if (rc != CLIENT_CONTINUE)
		return rc;
	return client_remove(path, "Notification target ", name, " removed.\n");
}

int cmd_notify(int argc, char **argv)
{
	static const struct client_subcommand subs[] = {
	    {"add", notify_add},   {"list", notify_list},     {"show", notify_show},
	    {"test", notify_test}, {"remove", notify_remove}, {NULL, NULL},
	};
	return client_dispatch("notify", usage, subs, argc, argv);
}
