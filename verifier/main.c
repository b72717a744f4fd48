/* attest-verifier: the service (the vCenter role). Options, first-start
 * identity and admin token, certified TPM list import, the event loop.
 * The operator API is in api*.c (docs/api.md); the service modules under it
 * are listed in docs/architecture.md. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "certbundle.h"
#include "ekcert.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "log.h"
#include "notify.h"
#include "policy.h"
#include "store_copy.h"
#include "verifier.h"

#define DEFAULT_LISTEN    "127.0.0.1:8443"
#define ADMIN_TOKEN_BYTES 32

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: attest-verifier --data-dir DIR [--listen ADDR:PORT] [--db URL]\n"
	    "                       [--attest-interval SECONDS] [--ca-dir DIR]\n"
	    "                       [--concurrency N] [--timeout-ms N]\n"
	    "                       [--evidence-validity SECONDS] [--instance NAME]\n"
	    "                       [--lease-seconds N] [--db-lock-wait-ms N]\n"
	    "                       [--coverage-alarm PERCENT] [--dead-man SECONDS]\n"
	    "                       [--alarm-hold SECONDS] [--stall-seconds SECONDS]\n"
	    "                       [--push-listen ADDR:PORT]\n"
	    "                       [--db-sync full|normal] [--agent-keepalive SECONDS]\n"
	    "                       [--commit-window-ms N] [--ak-type rsa|ecc]\n"
	    "       attest-verifier migrate-db --from URL --to URL\n"
	    "       attest-verifier thumbprint --data-dir DIR\n"
	    "       attest-verifier --routes\n"
	    "\n"
	    "  --listen ADDR:PORT         operator API, /metrics, /healthz (default " DEFAULT_LISTEN
	    "; port 0: any)\n"
	    "  --db URL                   sqlite:PATH (default sqlite:DIR/verifier.db) or "
	    "postgresql://...\n"
	    "  --data-dir DIR             TLS identity and admin.token\n"
	    "  --attest-interval SECONDS  per-host attestation interval for new hosts (default "
	    "60)\n"
	    "  --ca-dir DIR               certified TPM list imported on first start\n"
	    "                             (default " VERIFIER_DEFAULT_CA_DIR " if present)\n"
	    "  --concurrency N            most enrollments/attestations in flight (default 64)\n"
	    "  --timeout-ms N             per request to an agent (default 10000)\n"
	    "  --evidence-validity SECONDS  a green verdict expires after (default 3 x interval)\n"
	    "  --instance NAME            lease owner name (default HOSTNAME:PORT)\n"
	    "  --lease-seconds N          hosts of a dead instance move to the others within\n"
	    "                             two of these (default 30)\n"
	    "  --db-lock-wait-ms N        longest wait of the event loop's own database calls\n"
	    "                             (API reads and writes) for another writer's lock;\n"
	    "                             then 503 DATABASE_BUSY (default 250). Verdicts,\n"
	    "                             leases and nonces are written by a thread of\n"
	    "                             their own, which waits up to 10 s\n"
	    "  --coverage-alarm PERCENT   raise the fleet alarm COVERAGE_LOW when fewer than\n"
	    "                             PERCENT %% of the enabled hosts have a verdict younger\n"
	    "                             than max(evidence validity, 3 x their interval);\n"
	    "                             cleared at PERCENT + 5 (default: no coverage alarm)\n"
	    "  --dead-man SECONDS         raise the fleet alarm NO_RECENT_VERDICTS, and answer\n"
	    "                             503 on /healthz, when no enabled host got a verdict\n"
	    "                             for this long (default 600; 0: off)\n"
	    "  --alarm-hold SECONDS       the coverage must stay under (over) its threshold\n"
	    "                             this long before the alarm is raised (cleared)\n"
	    "                             (default 60)\n"
	    "  --stall-seconds SECONDS    /healthz answers 503 when the storage writer has\n"
	    "                             committed nothing while work waited, or the\n"
	    "                             scheduler ran no round, for this long (default 60)\n"
	    "  --push-listen ADDR:PORT    also accept pushing agents (attest-agent --push) on\n"
	    "                             this address: mutual TLS, each agent's certificate\n"
	    "                             must be pinned on a host added with\n"
	    "                             attestctl host add --push (docs/protocol.md)\n"
	    "  --db-sync full|normal      full (default): every commit of verdicts, leases\n"
	    "                             and evidence is on disk before it counts. normal:\n"
	    "                             only those carrying a change (trust or connection\n"
	    "                             transition, alarm, expiry, restart); the others\n"
	    "                             survive a killed verifier, not a power loss\n"
	    "                             (docs/storage.md)\n"
	    "  --commit-window-ms N       routine writes (verdicts, lease releases, last\n"
	    "                             evidence) wait up to N ms to share one commit\n"
	    "                             (default 50; 0: commit as soon as the writer is\n"
	    "                             free; at most 1000, and a quarter of the lease).\n"
	    "                             Nothing is reported before it is committed;\n"
	    "                             operator-facing writes never wait\n"
	    "  --agent-keepalive SECONDS  keep a pulled agent's connection this long after\n"
	    "                             an answer, for its next attestation without a new\n"
	    "                             TLS handshake, at most 2 s less than the agent's\n"
	    "                             Keep-Alive timeout (default 1.5 x interval + 10;\n"
	    "                             0: 5 s, as for one job's requests)\n"
	    "  --ak-type rsa|ecc          the AK agents are asked to make at enrollment:\n"
	    "                             rsa (default), RSA-2048 RSASSA/SHA-256; ecc, NIST\n"
	    "                             P-256 ECDSA/SHA-256. Hosts keep their AK until they\n"
	    "                             enroll again\n"
	    "  migrate-db                 copy a whole database into an empty one\n"
	    "                             (SQLite -> PostgreSQL), verifiers stopped\n"
	    "  thumbprint                 print \"thumbprint SHA256:...\" of the TLS identity in\n"
	    "                             DIR (created if missing), the pin agents are given\n"
	    "                             with attest-agent --trust-verifier; then exit\n"
	    "  --routes                   print the route table (METHOD PATTERN ROLE BODY_CAP)\n"
	    "                             and exit\n"
	    "See docs/api.md. Version " ATTEST_VERSION ".\n");
}

static int parse_num(const char *opt, const char *s, long long min, long long max, long long *ret)
{
	char *end = NULL;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || x < min || x > max) {
		fprintf(stderr,
		        "attest-verifier: %s wants a number from %lld to %lld, not \"%s\"\n", opt,
		        min, max, s);
		return -1;
	}
	*ret = x;
	return 0;
}

/* Whether this is the database's first start: it holds no API token yet.
 * The admin token is the last thing a first start writes, so a database with
 * a token has been set up (by this instance, another instance sharing it, or
 * migrate-db) and a new instance joining it must not set it up again. */
static int database_is_new(struct verifier *v, bool *ret)
{
	struct store_token_list *tl = NULL;
	struct store_page pg = {.limit = 1};
	int rc = store_token_list(v->store, &pg, &tl);
	if (rc < 0) {
		log_error("reading tokens: %s", store_errmsg(v->store));
		return rc;
	}
	*ret = tl->n == 0;
	store_token_list_free(tl);
	return 0;
}

/* Create the admin token on the database's first start. The file is
 * written before the hash is stored, so a crash in between leaves a file
 * whose token is unknown, and the next start makes a new one. Two instances
 * starting together on a new database: one stores "admin", the other is
 * refused (the name is unique) and says so. */
static int ensure_admin_token(struct verifier *v, bool first, char *path, size_t pathlen)
{
	int rc;
	snprintf(path, pathlen, "%s/admin.token", v->cfg.data_dir);
	if (!first)
		return 0;

	uint8_t raw[ADMIN_TOKEN_BYTES];
	char tok[2 * ADMIN_TOKEN_BYTES + 2];
	uint8_t hash[STORE_TOKEN_HASH_SIZE];
	if (RAND_bytes(raw, sizeof raw) != 1) {
		log_error("no randomness for the admin token");
		return ATTEST_E_CRYPTO;
	}
	hex_encode(raw, sizeof raw, tok);
	OPENSSL_cleanse(raw, sizeof raw);
	size_t toklen = strlen(tok);
	tok[toklen] = '\n';
	rc = fileio_write_atomic(path, tok, toklen + 1, 0600);
	tok[toklen] = '\0';
	if (rc < 0) {
		log_error("cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	rc = store_token_hash(tok, toklen, hash);
	if (rc == 0)
		rc = store_token_add(v->store, "admin", STORE_ROLE_ADMIN, hash, verifier_now(),
		                     NULL);
	if (rc == ATTEST_E_EXISTS) {
		log_error("another instance set this database up at the same "
		          "moment; start this one again with a copy of that instance's data "
		          "directory (docs/operations.md)");
		(void)unlink(path);
		goto out;
	}
	if (rc < 0) {
		log_error("storing the admin token: %s", store_errmsg(v->store));
		goto out;
	}
	struct store_event_new e = {
	    .kind = "token", .actor = "verifier", .message = "admin token created on first start"};
	(void)store_event_add(v->store, &e, verifier_now(), NULL);
	log_info("created admin token in %s", path);
out:
	OPENSSL_cleanse(tok, sizeof tok);
	return rc;
}

/* The built-in default policy (the seed's requirements: Secure Boot on,
 * SHA-256 bank, UEFI, certified TPM) stored as "default" on the database's
 * first start, so operators see and can edit what applies out of the box. */
static int store_builtin_default(struct verifier *v, bool first)
{
	if (!first)
		return 0;
	struct store_policy *sp = NULL;
	int rc = store_policy_get_default(v->store, &sp);
	store_policy_free(sp);
	if (rc != ATTEST_E_NOTFOUND)
		return rc; /* one exists already (or the store failed) */
	struct policy *p = NULL;
	char *json = NULL;
	rc = policy_default(&p);
	if (rc == 0)
		rc = policy_to_json(p, false, &json);
	if (rc == 0)
		rc = store_policy_add(v->store, "default", json, true, verifier_now(), NULL);
	if (rc == ATTEST_E_EXISTS)
		rc = 0; /* another instance starting at the same time stored it */
	if (rc < 0)
		log_error("cannot store the default policy: %s", attest_strerror(rc));
	free(json);
	policy_free(p);
	return rc;
}

/* The built-in default stored by an earlier release quoted sha256 PCRs 0-7,
 * fewer than the software view reads (8: grub's strings, 9: its files). If
 * the policy named "default" is still exactly that document, bring it up to
 * today's built-in default; an operator's edit is kept as it is (and
 * docs/policy.md says what to add). Runs on every start; idempotent. */
static int upgrade_builtin_default(struct verifier *v)
{
	struct store_policy *sp = NULL;
	int rc = store_policy_get_by_name(v->store, "default", &sp);
	if (rc == ATTEST_E_NOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	char *json = NULL;
	rc = policy_default_upgrade(sp->body_json, strlen(sp->body_json), &json);
	if (rc == 1)
		rc = store_policy_update(v->store, sp->id, json, verifier_now());
	if (rc == 0 && json != NULL) {
		struct store_event_new e = {
		    .kind = "policy",
		    .actor = "verifier",
		    .message = "built-in default policy upgraded: it now quotes sha256 PCRs 0-9 "
		               "(was 0-7), so the boot loader's PCRs 8 and 9 are verified"};
		(void)store_event_add(v->store, &e, verifier_now(), NULL);
		log_notice("%s", e.message);
	}
	if (rc < 0)
		log_error("cannot upgrade the default policy: %s", attest_strerror(rc));
	free(json);
	store_policy_free(sp);
	return rc < 0 ? rc : 0;
}

/* Leases held under our instance name by an earlier run of this process
 * (killed): give them back at once rather than waiting for them to expire. */
static void release_own_leases(struct verifier *v)
{
	uint64_t off = 0;
	for (;;) {
		struct store_host_list *hl = NULL;
		struct store_page pg = {.limit = STORE_PAGE_MAX, .offset = off};
		if (store_host_list(v->store, &pg, &hl) < 0)
			return;
		for (size_t i = 0; i < hl->n; i++) {
			const struct store_host *h = &hl->v[i];
			if (h->lease_owner != NULL && strcmp(h->lease_owner, v->cfg.instance) == 0)
				(void)store_lease_release(v->store, h->id, v->cfg.instance,
				                          verifier_now(), -1, verifier_now());
		}
		size_t n = hl->n;
		store_host_list_free(hl);
		if (n < STORE_PAGE_MAX)
			return;
		off += n;
	}
}

/* A URL for messages: the password of "scheme://user:password@host" hidden. */
static void url_redacted(const char *url, char *buf, size_t cap)
{
	const char *scheme = strstr(url, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
	if (at != NULL && colon != NULL && colon < at)
		snprintf(buf, cap, "%.*s:***%s", (int)(colon - url), url, at);
	else
		snprintf(buf, cap, "%s", url);
}

static void copy_progress(const char *table, int64_t rows, bool done, void *arg)
{
	(void)arg;
	if (done)
		printf("  %-12s %lld row(s)\n", table, (long long)rows);
	else
		printf("  %-12s %lld row(s) so far...\n", table, (long long)rows);
	fflush(stdout);
}

/* attest-verifier migrate-db --from URL --to URL: the whole database into
 * an empty one (store_copy), e.g. SQLite to PostgreSQL. */
static int migrate_db(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"to", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *from = NULL, *to = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'h':
			printf(
			    "usage: attest-verifier migrate-db --from URL --to URL\n"
			    "Copy every record of the database at --from (e.g.\n"
			    "sqlite:/var/lib/attest/verifier.db) into the empty database at --to\n"
			    "(e.g. postgresql://attest@db/attest), ids kept. Stop the verifiers\n"
			    "first. See docs/operations.md.\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc || from == NULL || to == NULL) {
		fprintf(stderr, "usage: attest-verifier migrate-db --from URL --to URL\n");
		return 2;
	}
	char sf[STORE_URL_MAX], st[STORE_URL_MAX];
	url_redacted(from, sf, sizeof sf);
	url_redacted(to, st, sizeof st);
	if (strcmp(from, to) == 0) {
		fprintf(stderr,
		        "attest-verifier: migrate-db: --from and --to are the same database\n");
		return 2;
	}
	struct store *src = NULL, *dst = NULL;
	char *err = NULL;
	int rc = 1;
	int64_t rows = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("opening the source %s\n", sf);
	fflush(stdout);
	if (store_open(from, &src, &err) < 0) {
		log_error("migrate-db: source %s: %s", sf, err ? err : "cannot open it");
		goto out;
	}
	printf("opening the destination %s (creating the schema if needed)\n", st);
	fflush(stdout);
	if (store_open(to, &dst, &err) < 0) {
		log_error("migrate-db: destination %s: %s", st, err ? err : "cannot open it");
		goto out;
	}
	printf("copying %s -> %s, one transaction on each side:\n", store_backend_name(src),
	       store_backend_name(dst));
	fflush(stdout);
	int r = store_copy_progress(src, dst, copy_progress, NULL, &rows, &err);
	if (r == ATTEST_E_STATE && err != NULL && strstr(err, "already holds") != NULL) {
		log_error("migrate-db: refused: the destination %s is not empty "
		          "(%s). migrate-db only copies into a database without records, so that "
		          "nothing there is overwritten or mixed; create a new database (e.g. "
		          "createdb) and run it again. Nothing was written.",
		          st, err);
		goto out;
	}
	if (r < 0) {
		log_error("migrate-db: %s; nothing was written to the destination",
		          err ? err : attest_strerror(r));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("done: %lld row(s) copied in %.1f s; start the verifiers with --db %s\n",
	       (long long)rows,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, st);
	rc = 0;
out:
	free(err);
	store_close(dst);
	store_close(src);
	return rc;
}

/* The storage writer has completions for the loop. */
static void on_writer(evutil_socket_t fd, short what, void *arg)
{
	struct verifier *v = arg;
	(void)store_writer_deliver(v->writer);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct verifier *v = arg;
	log_info("signal %d, stopping", (int)sig);
	event_base_loopbreak(v->base);
}

/* attest-verifier thumbprint --data-dir DIR: the identity's thumbprint,
 * for attest-agent --trust-verifier, without starting the service (the
 * identity is created as at a first start if it does not exist yet). */
static int show_thumbprint(int argc, char **argv)
{
	static const struct option opts[] = {{"data-dir", required_argument, NULL, 'D'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *dir = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'D': dir = optarg; break;
		case 'h':
			printf("usage: attest-verifier thumbprint --data-dir DIR\n"
			       "Print \"thumbprint SHA256:...\" of the verifier's TLS identity in "
			       "DIR\n"
			       "(created if missing): give it to every agent with\n"
			       "attest-agent --trust-verifier.\n");
			return 0;
		default: return 2;
		}
	}
	if (optind != argc || dir == NULL) {
		fprintf(stderr, "usage: attest-verifier thumbprint --data-dir DIR\n");
		return 2;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create %s: %s", dir, strerror(errno));
		return 1;
	}
	struct tlsid *id = NULL;
	char errbuf[512];
	if (tlsid_load_or_create(dir, "verifier", NULL, &id, errbuf, sizeof errbuf) < 0) {
		log_error("TLS identity: %s", errbuf);
		return 1;
	}
	printf("thumbprint %s\n", id->thumbprint);
	tlsid_free(id);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Options into cfg: -1 to go on, else the exit code (help, version,
 * routes: 0; a bad option: 2). */
static int parse_options(int argc, char **argv, struct verifier_config *cfg)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"db", required_argument, NULL, 'd'},
	    {"data-dir", required_argument, NULL, 'D'},
	    {"attest-interval", required_argument, NULL, 'i'},
	    {"ca-dir", required_argument, NULL, 'c'},
	    {"concurrency", required_argument, NULL, 'n'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"evidence-validity", required_argument, NULL, 'e'},
	    {"instance", required_argument, NULL, 'I'},
	    {"lease-seconds", required_argument, NULL, 'L'},
	    {"db-lock-wait-ms", required_argument, NULL, 'W'},
	    {"coverage-alarm", required_argument, NULL, 'C'},
	    {"dead-man", required_argument, NULL, 'M'},
	    {"alarm-hold", required_argument, NULL, 'H'},
	    {"stall-seconds", required_argument, NULL, 'S'},
	    {"push-listen", required_argument, NULL, 'P'},
	    {"db-sync", required_argument, NULL, 'Y'},
	    {"agent-keepalive", required_argument, NULL, 'K'},
	    {"commit-window-ms", required_argument, NULL, 'G'},
	    {"ak-type", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"routes", no_argument, NULL, 'R'},
	    {NULL, 0, NULL, 0},
	};
	cfg->listen = DEFAULT_LISTEN;
	cfg->interval_s = VERIFIER_DEFAULT_INTERVAL;
	cfg->concurrency = VERIFIER_DEFAULT_CONCURRENCY;
	cfg->timeout_ms = VERIFIER_DEFAULT_TIMEOUT_MS;
	cfg->lease_s = VERIFIER_DEFAULT_LEASE_S;
	cfg->db_lock_ms = VERIFIER_DEFAULT_DB_LOCK_MS;
	cfg->dead_man_s = VERIFIER_DEFAULT_DEAD_MAN_S;
	cfg->alarm_hold_s = VERIFIER_DEFAULT_ALARM_HOLD_S;
	cfg->stall_s = VERIFIER_DEFAULT_STALL_S;
	cfg->db_sync_full = true;
	cfg->commit_window_ms = VERIFIER_COMMIT_WINDOW_MS;
	cfg->agent_keepalive_s = -1;
	long long x;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l': cfg->listen = optarg; break;
		case 'P': cfg->push_listen = optarg; break;
		case 'd': cfg->db_url = optarg; break;
		case 'D': cfg->data_dir = optarg; break;
		case 'c': cfg->ca_dir = optarg; break;
		case 'K':
			if (parse_num("--agent-keepalive", optarg, 0, 3600, &x) < 0)
				return 2;
			cfg->agent_keepalive_s = x;
			break;
		case 'i':
			if (parse_num("--attest-interval", optarg, 1, 86400 * 7, &x) < 0)
				return 2;
			cfg->interval_s = x;
			break;
		case 'n':
			if (parse_num("--concurrency", optarg, 1, VERIFIER_MAX_CONCURRENCY, &x) < 0)
				return 2;
			cfg->concurrency = (unsigned)x;
			break;
		case 't':
			if (parse_num("--timeout-ms", optarg, 100, 600000, &x) < 0)
				return 2;
			cfg->timeout_ms = (unsigned)x;
			break;
		case 'e':
			if (parse_num("--evidence-validity", optarg, 1, 86400 * 30, &x) < 0)
				return 2;
			cfg->evidence_validity_s = x;
			break;
		case 'I':
			if (strlen(optarg) == 0 || strlen(optarg) > STORE_NAME_MAX) {
				fprintf(stderr, "attest-verifier: bad --instance\n");
				return 2;
			}
			memcpy(cfg->instance, optarg, strlen(optarg) + 1);
			break;
		case 'L':
			if (parse_num("--lease-seconds", optarg, VERIFIER_MIN_LEASE_S, 3600, &x) <
			    0)
				return 2;
			cfg->lease_s = x;
			break;
		case 'W':
			if (parse_num("--db-lock-wait-ms", optarg, 1, 60000, &x) < 0)
				return 2;
			cfg->db_lock_ms = (unsigned)x;
			break;
		case 'C':
			if (parse_num("--coverage-alarm", optarg, 1, 100, &x) < 0)
				return 2;
			cfg->coverage_alarm_pct = (unsigned)x;
			break;
		case 'M':
			if (parse_num("--dead-man", optarg, 0, 86400 * 7, &x) < 0)
				return 2;
			cfg->dead_man_s = x;
			break;
		case 'H':
			if (parse_num("--alarm-hold", optarg, 0, 86400, &x) < 0)
				return 2;
			cfg->alarm_hold_s = x;
			break;
		case 'S':
			if (parse_num("--stall-seconds", optarg, 1, 86400, &x) < 0)
				return 2;
			cfg->stall_s = x;
			break;
		case 'Y':
			if (strcmp(optarg, "full") != 0 && strcmp(optarg, "normal") != 0) {
				fprintf(stderr,
				        "attest-verifier: --db-sync must be full or normal\n");
				return 2;
			}
			cfg->db_sync_full = strcmp(optarg, "full") == 0;
			break;
		case 'A':
			if (strcmp(optarg, "rsa") != 0 && strcmp(optarg, "ecc") != 0) {
				fprintf(stderr,
				        "attest-verifier: --ak-type must be rsa or ecc, not "
				        "\"%.32s\"\n",
				        optarg);
				return 2;
			}
			cfg->ak_ecc = strcmp(optarg, "ecc") == 0;
			break;
		case 'G':
			if (parse_num("--commit-window-ms", optarg, 0, STORE_WRITER_WINDOW_MAX_MS,
			              &x) < 0)
				return 2;
			cfg->commit_window_ms = (unsigned)x;
			break;
		case 'h': usage(stdout); return 0;
		case 'R': api_routes_print(stdout); return 0;
		case 'V': printf("attest-verifier %s\n", ATTEST_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || cfg->data_dir == NULL) {
		usage(stderr);
		return 2;
	}
	if (cfg->evidence_validity_s == 0)
		cfg->evidence_validity_s = 3 * cfg->interval_s;
	/* A job keeps its lease through its end's window, and renews only
	 * while less than half of it is left: the window stays well inside
	 * that half, so a short lease cannot run out while a verdict waits. */
	if (cfg->commit_window_ms > cfg->lease_s * 250)
		cfg->commit_window_ms = (unsigned)(cfg->lease_s * 250);
	return -1;
}

/* The data directory, the database, the TLS identity, and what a first
 * start sets up. -2 if nothing was opened, -1 on a later failure (then
 * close_service), 0. */
static int open_service(struct verifier *v, char *tokpath, size_t tokcap)
{
	static char dburl[PATH_MAX + 16]; /* cfg->db_url points here */
	char errbuf[512];
	struct verifier_config *cfg = &v->cfg;
	if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) {
		log_error("cannot create %s: %s", cfg->data_dir, strerror(errno));
		return -2;
	}
	if (cfg->db_url == NULL) {
		snprintf(dburl, sizeof dburl, "sqlite:%s/verifier.db", cfg->data_dir);
		cfg->db_url = dburl;
	}
	char *serr = NULL;
	if (store_open(cfg->db_url, &v->store, &serr) < 0) {
		log_error("%s", serr ? serr : "cannot open the database");
		free(serr);
		return -2;
	}
	if (tlsid_load_or_create(cfg->data_dir, "verifier", NULL, &v->id, errbuf, sizeof errbuf) <
	    0) {
		log_error("TLS identity: %s", errbuf);
		return -1;
	}
	bool first = false;
	if (database_is_new(v, &first) < 0)
		return -1;
	/* CAs before the token: the token marks a finished first start. */
	if (castore_import_dir(v, first) < 0 || store_builtin_default(v, first) < 0 ||
	    upgrade_builtin_default(v) < 0)
		return -1;
	if (ensure_admin_token(v, first, tokpath, tokcap) < 0)
		return -1;
	/* From here on the loop's connection never waits long for a lock; the
	 * writer thread, with a connection of its own, does (docs/storage.md). */
	if (store_writer_open(cfg->db_url, VERIFIER_WRITER_LOCK_MS, &v->writer, &serr) < 0) {
		log_error("storage writer: %s", serr ? serr : "cannot start");
		free(serr);
		return -1;
	}
	store_writer_set_sync(v->writer, cfg->db_sync_full);
	store_writer_set_window(v->writer, cfg->commit_window_ms, 0);
	if (store_set_lock_wait(v->store, cfg->db_lock_ms) < 0) {
		log_error("database: cannot set the lock wait: %s", store_errmsg(v->store));
		return -1;
	}
	return 0;
}

/* Memory the heap holds free goes back to the system now and then: the
 * burst of enrolling a fleet, or a round of large evidence, leaves free
 * pages between the long-lived per-host objects, which glibc returns only
 * from the top of the heap by itself. malloc_trim() returns every whole free
 * page (a few ms for a heap of 100 MB, on the loop, once a period). */
#define VERIFIER_TRIM_S 30
static struct event *trim_ev;

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

/* The event loop, the API server, the HTTPS client, the scheduler and the
 * signals. 0 or -1 (then close_service). */
static int start_service(struct verifier *v)
{
	struct verifier_config *cfg = &v->cfg;
	char errbuf[512];
	v->base = event_base_new();
	if (v->base == NULL)
		return -1;
	struct https_server_config sc = {
	    .listen = cfg->listen,
	    .identity = v->id,
	    .client_cert = HTTPS_CLIENT_CERT_NONE,
	    .max_body = VERIFIER_POLICY_BODY_MAX,
	};
	if (https_server_new(v->base, &sc, &v->srv, errbuf, sizeof errbuf) < 0) {
		log_error("%s", errbuf);
		return -1;
	}
	if (https_client_new(v->base, v->id, NULL, &v->cli, errbuf, sizeof errbuf) < 0) {
		log_error("HTTPS client: %s", errbuf);
		return -1;
	}
	https_client_set_keepalive(v->cli, verifier_agent_pool_max(), verifier_agent_idle_ms(cfg));
	https_client_set_resumption(v->cli, VERIFIER_AGENT_SESSIONS_MAX);
	if (api_register(v) < 0 || api_admin_register(v) < 0 || web_register(v) < 0 ||
	    coverage_register(v) < 0) {
		log_error("cannot register the API routes");
		return -1;
	}
	/* Default lease owner name: HOSTNAME:PORT, unique among instances on
	 * one machine and the same across restarts with a fixed port. */
	if (cfg->instance[0] == '\0') {
		char hn[STORE_NAME_MAX - 8];
		if (gethostname(hn, sizeof hn) != 0)
			memcpy(hn, "verifier", sizeof "verifier");
		hn[sizeof hn - 1] = '\0';
		snprintf(cfg->instance, sizeof cfg->instance, "%s:%u", hn,
		         (unsigned)https_server_port(v->srv));
	}
	if (cfg->push_listen != NULL && push_start(v, cfg->push_listen) < 0)
		return -1;
	release_own_leases(v);
	v->writer_ev =
	    event_new(v->base, store_writer_fd(v->writer), EV_READ | EV_PERSIST, on_writer, v);
	if (v->writer_ev == NULL || event_add(v->writer_ev, NULL) < 0)
		return -1;
	if (scheduler_start(v) < 0 || notify_start(v) < 0 || coverage_start(v) < 0)
		return -1;
	v->sigint = evsignal_new(v->base, SIGINT, on_signal, v);
	v->sigterm = evsignal_new(v->base, SIGTERM, on_signal, v);
	if (v->sigint == NULL || v->sigterm == NULL || evsignal_add(v->sigint, NULL) < 0 ||
	    evsignal_add(v->sigterm, NULL) < 0)
		return -1;
	struct timeval trim_tv = {VERIFIER_TRIM_S, 0};
	trim_ev = event_new(v->base, -1, EV_PERSIST, on_trim, NULL);
	if (trim_ev == NULL || event_add(trim_ev, &trim_tv) < 0)
		return -1;
	return 0;
}

/* Undo open_service and start_service (any part may be missing). */
static void close_service(struct verifier *v)
{
	/* The writer finishes (commits) what it was given and the completions
	 * run (jobs end, waiters are answered) before the jobs are freed. */
	v->stopping = true;
	scheduler_stop(v);
	notify_stop(v);
	store_writer_close(v->writer);
	v->writer = NULL;
	if (v->writer_ev)
		event_free(v->writer_ev);
	push_stop(v);
	scheduler_free(v);
	notify_free(v);
	coverage_free(v);
	castore_free(v);
	appraise_cache_free(v);
	if (v->sigint)
		event_free(v->sigint);
	if (v->sigterm)
		event_free(v->sigterm);
	if (trim_ev)
		event_free(trim_ev);
	trim_ev = NULL;
	https_client_free(v->cli);
	https_server_free(v->srv);
	/* A connection freed in the middle of its I/O (jobs in flight at a
	 * SIGTERM) may hold a deferred callback, and libevent frees its
	 * bufferevent only once that has run: run them before freeing the base. */
	for (int i = 0; v->base != NULL && i < 3; i++)
		(void)event_base_loop(v->base, EVLOOP_NONBLOCK);
	if (v->base)
		event_base_free(v->base);
	tlsid_free(v->id);
	store_close(v->store);
}

int main(int argc, char **argv)
{
	/* tss2-mu writes a warning to stderr for every malformed structure it is
	 * given; evidence comes from peers, so keep them from flooding the log. */
	setenv("TSS2_LOG", "all+none", 0);
	log_init("attest-verifier", LOG_LEVEL_INFO);
	if (argc >= 2 && strcmp(argv[1], "migrate-db") == 0)
		return migrate_db(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "thumbprint") == 0)
		return show_thumbprint(argc - 1, argv + 1);
	static struct verifier v; /* zeroed; one per process */
	struct verifier_config *cfg = &v.cfg;
	int rc = parse_options(argc, argv, cfg);
	if (rc >= 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);

	char tokpath[PATH_MAX];
	rc = open_service(&v, tokpath, sizeof tokpath);
	if (rc == -2)
		return 1;
	if (rc < 0 || start_service(&v) < 0) {
		close_service(&v);
		return 1;
	}
	/* The listen URL with the bound port (the host part as given). */
	const char *colon = strrchr(cfg->listen, ':');
	int hl = colon ? (int)(colon - cfg->listen) : (int)strlen(cfg->listen);
	printf("listen https://%.*s:%u\n", hl, cfg->listen, (unsigned)https_server_port(v.srv));
	if (cfg->push_listen != NULL) {
		const char *pc = strrchr(cfg->push_listen, ':');
		int pl = pc ? (int)(pc - cfg->push_listen) : (int)strlen(cfg->push_listen);
		printf("push-listen https://%.*s:%u\n", pl, cfg->push_listen,
		       (unsigned)push_port(&v));
	}
	printf("thumbprint %s\n", v.id->thumbprint);
	printf("admin-token %s\n", tokpath);
	fflush(stdout);
	fprintf(stderr, "attest-verifier %s: instance %s, database %s (%s)\n", ATTEST_VERSION,
	        cfg->instance, cfg->db_url, store_backend_name(v.store));

	event_base_dispatch(v.base);
	close_service(&v);
	return 0;
}
