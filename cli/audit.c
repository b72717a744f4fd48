/* attestctl audit verify|export, and the offline re-check of a past verdict
 * behind 'attestctl verify --audit FILE --record SEQ' (docs/cli.md;
 * docs/security.md says what the chain proves). The chain's rules are
 * lib/audit.h's; this file reads records from the verifier's API or from an
 * export file and feeds them in order. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "audit.h"
#include "base64.h"
#include "bundle.h"
#include "cli.h"
#include "client.h"
#include "err.h"
#include "hex.h"

#define AUDIT_PAGE_CLI    2000u               /* records per request */
#define AUDIT_EXPORT_LINE (32u * 1024 * 1024) /* one line of an export file */
#define AUDIT_EXPORT_FMT  "attest-audit-export/1"
#define AUDIT_PRUNE_BATCH 50000ul /* records per prune request */

static void usage(FILE *f)
{
	fprintf(f, "usage: attestctl audit COMMAND [ARGS...] [--json]\n"
	           "\n"
	           "The audit chain: every verdict, alarm and operator action, each record\n"
	           "carrying the SHA-256 of the one before it (docs/security.md).\n"
	           "  verify [--expect-head HASH] [--page N]\n"
	           "      Read the whole chain from the verifier, a page of N records (default\n"
	           "      2000, at most 5000) at a time, and check it: every record's hash\n"
	           "      recomputed, seqs continuous from 1, each record linked to the one\n"
	           "      before, the last record the chain's head. Prints the head hash: keep\n"
	           "      it outside the database, and give it back later with --expect-head\n"
	           "      HASH (that record must still be in the chain). Progress on stderr.\n"
	           "      A chain pruned by 'audit prune' starts after the pruned records; it\n"
	           "      is whole only if its prune record names exactly them.\n"
	           "  export [--out FILE] [--since SEQ] [--page N]\n"
	           "      Write the chain (from record SEQ on; default 1) as JSON lines with\n"
	           "      the event logs its verdicts were judged by, to FILE (default stdout),\n"
	           "      for 'attestctl verify --audit FILE --record SEQ' to re-check a past\n"
	           "      verdict offline.\n"
	           "  prune --through SEQ [--batch N]\n"
	           "      Retention (admin): delete the records up to SEQ, after exporting them,\n"
	           "      and append a record saying so, with the hash the first record kept\n"
	           "      links to. Event logs are kept. Deletes N records (default 50000) per\n"
	           "      request, oldest first, each batch with its own prune record, so the\n"
	           "      verifier's writer is never held for long; progress on stderr.\n"
	           "\n"
	           "Any valid token reads the chain (viewer or admin).\n"
	           "Global options: see 'attestctl host --help'.\n"
	           "Exit status: 0 whole (verify) or written (export), 1 the chain is broken\n"
	           "(the first broken record is named) or the verifier refused or is not\n"
	           "reachable, 2 usage.\n");
}

/* ------------------------------------------------------------------ */
/* records as JSON (the API's and the export's form) */

static int hash_field(const json_t *o, const char *key, uint8_t out[static AUDIT_HASH_SIZE])
{
	const char *h = client_str(o, key);
	size_t n = 0;
	if (h == NULL || strlen(h) != 2 * AUDIT_HASH_SIZE ||
	    hex_decode(h, out, AUDIT_HASH_SIZE, &n) < 0 || n != AUDIT_HASH_SIZE)
		return ATTEST_E_FORMAT;
	return 0;
}

/* A record object into r (strings borrowed from o). 0, or ATTEST_E_FORMAT
 * with a sentence in err. */
static int record_from_json(const json_t *o, struct audit_record *r, char *err, size_t cap)
{
	memset(r, 0, sizeof *r);
	const char *bad = NULL;
	if (!client_int(o, "seq", &r->seq) || r->seq < 1)
		bad = "seq";
	else if (!client_int(o, "at", &r->at))
		bad = "at";
	else if (!(r->kind = client_str(o, "kind")))
		bad = "kind";
	else if (!(r->actor = client_str(o, "actor")))
		bad = "actor";
	else if (!client_int(o, "host_id", &r->host_id))
		bad = "host_id";
	else if (!(r->host = client_str(o, "host")))
		bad = "host";
	else if (!(r->body = client_str(o, "body")))
		bad = "body";
	else if (hash_field(o, "prev_hash", r->prev_hash) < 0)
		bad = "prev_hash";
	else if (hash_field(o, "hash", r->hash) < 0)
		bad = "hash";
	if (bad) {
		int64_t seq = 0;
		client_int(o, "seq", &seq);
		snprintf(err, cap, "record %" PRId64 ": its %s is missing or malformed", seq, bad);
		return ATTEST_E_FORMAT;
	}
	r->body_len = strlen(r->body);
	return 0;
}

/* ------------------------------------------------------------------ */
/* audit verify */

struct check {
	struct audit_chain chain;
	bool started;
	/* A chain whose first record is not record 1 (pruned): the records
	 * before it are accounted for only by a prune record in the chain
	 * naming exactly them (through = first - 1, through_hash = the first
	 * record's link). */
	int64_t first;
	uint8_t anchor[AUDIT_HASH_SIZE];
	int64_t prune_seq; /* the prune record found, or 0 */
	struct audit_problem problem;
	bool broken;
	bool have_expect;
	uint8_t expect[AUDIT_HASH_SIZE];
	bool expect_found;
	int64_t expect_seq;
};

/* Feed one record; false once the chain is broken. */
static bool check_one(struct check *c, const json_t *o)
{
	struct audit_record r;
	char err[200];
	if (record_from_json(o, &r, err, sizeof err) < 0) {
		c->broken = true;
		c->problem.fault = AUDIT_FAULT_INVALID;
		client_int(o, "seq", &c->problem.seq);
		snprintf(c->problem.message, sizeof c->problem.message, "%s", err);
		return false;
	}
	if (!c->started) {
		c->started = true;
		c->first = r.seq;
		if (r.seq > 1) {
			memcpy(c->anchor, r.prev_hash, AUDIT_HASH_SIZE);
			audit_chain_init(&c->chain, r.seq, r.prev_hash);
		}
	}
	int rc = audit_chain_next(&c->chain, &r, &c->problem);
	if (rc != 0) {
		c->broken = true;
		if (rc < 0) {
			c->problem.fault = AUDIT_FAULT_INVALID;
			c->problem.seq = r.seq;
			snprintf(c->problem.message, sizeof c->problem.message,
			         "record %" PRId64 ": cannot hash: %s", r.seq, attest_strerror(rc));
		}
		return false;
	}
	if (c->first > 1 && strcmp(r.kind, "audit") == 0) {
		json_t *b = json_loadb(r.body, r.body_len, 0, NULL);
		const char *ev = json_string_value(json_object_get(b, "event"));
		const char *th = json_string_value(json_object_get(b, "through_hash"));
		json_t *t = json_object_get(b, "through");
		uint8_t h[AUDIT_HASH_SIZE];
		size_t n = 0;
		if (ev && strcmp(ev, "pruned") == 0 && json_is_integer(t) &&
		    json_integer_value(t) == c->first - 1 && th && strlen(th) == 64 &&
		    hex_decode(th, h, sizeof h, &n) == 0 && n == sizeof h &&
		    CRYPTO_memcmp(h, c->anchor, sizeof h) == 0)
			c->prune_seq = r.seq;
		json_decref(b);
	}
	if (c->have_expect && !c->expect_found &&
	    CRYPTO_memcmp(r.hash, c->expect, AUDIT_HASH_SIZE) == 0) {
		c->expect_found = true;
		c->expect_seq = r.seq;
	}
	return true;
}

static unsigned long page_option(const char *page)
{
	unsigned long n = AUDIT_PAGE_CLI;
	if (page && client_parse_uint(page, 1, 5000, &n) < 0) {
		client_err("--page wants a number from 1 to 5000, not \"%s\"", page);
		return 0;
	}
	return n;
}

static int audit_verify(int argc, char **argv)
{
	const char *expect = NULL, *page = NULL, *pos[1];
	const struct client_opt opts[] = {
	    {"--expect-head", &expect, NULL}, {"--page", &page, NULL}, {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("audit verify", usage, argc, argv, opts, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	unsigned long lim = page_option(page);
	if (lim == 0)
		return CLIENT_EXIT_USAGE;
	struct check c = {0};
	audit_chain_init(&c.chain, 1, NULL);
	if (expect) {
		const char *h = strncmp(expect, "sha256:", 7) == 0 ? expect + 7 : expect;
		size_t n = 0;
		if (strlen(h) != 64 || hex_decode(h, c.expect, sizeof c.expect, &n) < 0) {
			client_err("--expect-head wants the 64 hex digits 'audit verify' printed");
			return CLIENT_EXIT_USAGE;
		}
		c.have_expect = true;
	}
	int64_t after = 0, head_seq = -1;
	char head_hash[AUDIT_HASH_HEX] = "";
	bool tty = isatty(STDERR_FILENO);
	for (;;) {
		char path[96];
		snprintf(path, sizeof path, "/audit?after=%" PRId64 "&limit=%lu", after, lim);
		json_t *j = NULL;
		if ((rc = client_request("GET", path, NULL, 0, &j)) != 0)
			return rc;
		json_t *head = json_object_get(j, "head");
		if (head_seq < 0) { /* the head when the check began */
			client_int(head, "seq", &head_seq);
			snprintf(head_hash, sizeof head_hash, "%s",
			         client_str(head, "hash") ? client_str(head, "hash") : "");
		}
		json_t *recs = json_object_get(j, "records");
		size_t i;
		json_t *o;
		json_array_foreach(recs, i, o)
		{
			if (!check_one(&c, o))
				break;
			client_int(o, "seq", &after);
		}
		bool more = !c.broken && json_array_size(recs) == lim &&
		            json_object_get(j, "next_after") != NULL;
		json_decref(j);
		if (more && head_seq > (int64_t)lim)
			fprintf(stderr, "%s%" PRId64 " of %" PRId64 " records checked%s",
			        tty ? "\r" : "", c.chain.count, head_seq, tty ? "" : "\n");
		if (!more)
			break;
	}
	if (tty && head_seq > (int64_t)lim)
		fprintf(stderr, "\n");
	/* Records removed from the end leave the head row pointing past them;
	 * a head row edited alone no longer names the last record's hash. */
	char last[AUDIT_HASH_HEX];
	hex_encode(c.chain.last, AUDIT_HASH_SIZE, last);
	if (!c.broken && c.first > 1 && c.prune_seq == 0) {
		/* The start is missing and nothing in the chain says it was pruned. */
		c.broken = true;
		c.problem.fault = AUDIT_FAULT_MISSING;
		c.problem.seq = c.first - 1;
		snprintf(c.problem.message, sizeof c.problem.message,
		         "records 1 to %" PRId64 " are missing and no prune record in the chain "
		         "accounts for them",
		         c.first - 1);
	} else if (!c.broken && c.chain.next_seq - 1 < head_seq) {
		c.broken = true;
		c.problem.fault = AUDIT_FAULT_MISSING;
		c.problem.seq = c.chain.next_seq;
		snprintf(c.problem.message, sizeof c.problem.message,
		         "record %" PRId64 ": missing, and the records after it up to %" PRId64
		         ", at the end of the chain (its head row says %" PRId64 ")",
		         c.chain.next_seq, head_seq, head_seq);
	} else if (!c.broken && c.chain.count > 0 && c.chain.next_seq - 1 == head_seq &&
	           strcmp(head_hash, last) != 0) {
		c.broken = true;
		c.problem.fault = AUDIT_FAULT_LINK;
		c.problem.seq = head_seq;
		snprintf(c.problem.message, sizeof c.problem.message,
		         "record %" PRId64 ": the chain's head row says its hash is %s, it is %s",
		         head_seq, head_hash, last);
	}
	bool anchor_bad = c.have_expect && !c.expect_found;
	if (client_g.json) {
		json_t *o = json_pack("{s:b,s:I,s:{s:I,s:s}}", "whole", !c.broken && !anchor_bad,
		                      "records", (json_int_t)c.chain.count, "head", "seq",
		                      (json_int_t)(c.chain.next_seq - 1), "hash", last);
		if (c.broken)
			json_object_set_new(o, "broken",
			                    json_pack("{s:I,s:s,s:s}", "seq",
			                              (json_int_t)c.problem.seq, "fault",
			                              audit_fault_name(c.problem.fault), "message",
			                              c.problem.message));
		if (c.have_expect)
			json_object_set_new(o, "expect_head_found", json_boolean(c.expect_found));
		if (c.first > 1)
			json_object_set_new(o, "pruned",
			                    json_pack("{s:I,s:I}", "through",
			                              (json_int_t)(c.first - 1), "record",
			                              (json_int_t)c.prune_seq));
		client_print_json(o);
		json_decref(o);
	} else if (c.broken) {
		client_line(stdout, "audit chain BROKEN at record %" PRId64 " (%s): %s",
		            c.problem.seq, audit_fault_name(c.problem.fault), c.problem.message);
		printf("%" PRId64 " records before it are whole.\n", c.chain.count);
	} else {
		printf("audit chain whole: %" PRId64 " records, head %" PRId64 " %s\n",
		       c.chain.count, c.chain.next_seq - 1, last);
		if (c.first > 1)
			printf("records 1 to %" PRId64 " were pruned (record %" PRId64
			       " says so)\n",
			       c.first - 1, c.prune_seq);
		if (c.have_expect && c.expect_found)
			printf("the expected head is record %" PRId64 " of this chain\n",
			       c.expect_seq);
	}
	if (anchor_bad && !client_g.json)
		printf("audit chain REWRITTEN: the expected head %s is not in the chain%s\n",
		       expect, c.broken ? " read before the break" : "");
	return c.broken || anchor_bad ? CLIENT_EXIT_FAIL : CLIENT_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* audit export */

/* The event logs already written to this export (their digests). */
struct seen {
	char (*v)[AUDIT_HASH_HEX];
	size_t n, cap;
};

static bool seen_has(const struct seen *s, const char *h)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], h) == 0)
			return true;
	return false;
}

static int seen_add(struct seen *s, const char *h)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		void *p = realloc(s->v, cap * sizeof *s->v);
		if (!p)
			return ATTEST_E_NOMEM;
		s->v = p;
		s->cap = cap;
	}
	snprintf(s->v[s->n++], AUDIT_HASH_HEX, "%s", h);
	return 0;
}

static int write_line(FILE *f, const json_t *o)
{
	char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = t && fprintf(f, "%s\n", t) >= 0 ? 0 : ATTEST_E_IO;
	free(t);
	return rc;
}

/* The event log a verdict record names, if not written yet. */
static int export_eventlog(FILE *f, struct seen *seen, const char *body)
{
	json_t *b = json_loads(body, 0, NULL);
	const char *h = client_str(json_object_get(b, "evidence"), "eventlog_sha256");
	int rc = 0;
	if (h && strlen(h) == 64 && !seen_has(seen, h)) {
		char path[128];
		snprintf(path, sizeof path, "/eventlogs/%s", h);
		struct client_reply r;
		rc = client_call("GET", path, NULL, 0, &r);
		if (rc == 0 && r.status == 200 && client_str(r.json, "eventlog")) {
			json_t *o = json_pack("{s:{s:s,s:s}}", "eventlog", "sha256", h, "data",
			                      client_str(r.json, "eventlog"));
			rc = o ? write_line(f, o) : ATTEST_E_NOMEM;
			json_decref(o);
			if (rc == 0)
				rc = seen_add(seen, h);
		} else if (rc == 0 && r.status == 404) {
			client_line(
			    stderr,
			    "attestctl audit export: event log %s is not kept; its verdicts "
			    "cannot be re-checked offline",
			    h);
			rc = seen_add(seen, h);
		} else if (rc == 0) {
			client_print_http_error(&r);
			rc = CLIENT_EXIT_FAIL;
		}
		client_reply_clear(&r);
	}
	json_decref(b);
	return rc;
}

static int audit_export(int argc, char **argv)
{
	const char *out = NULL, *since = NULL, *page = NULL, *pos[1];
	const struct client_opt opts[] = {{"--out", &out, NULL},
	                                  {"--since", &since, NULL},
	                                  {"--page", &page, NULL},
	                                  {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("audit export", usage, argc, argv, opts, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	unsigned long lim = page_option(page), first = 1;
	if (lim == 0)
		return CLIENT_EXIT_USAGE;
	if (since && client_parse_uint(since, 1, 0x7fffffffffffffffUL, &first) < 0) {
		client_err("--since wants a record number (seq) from 1, not \"%s\"", since);
		return CLIENT_EXIT_USAGE;
	}
	FILE *f = stdout;
	if (out && !(f = fopen(out, "w"))) {
		client_err("%s: %s", out, strerror(errno));
		return CLIENT_EXIT_FAIL;
	}
	struct seen seen = {0};
	int64_t after = (int64_t)first - 1, n = 0, head_seq = -1;
	bool tty = isatty(STDERR_FILENO);
	for (rc = 0; rc == 0;) {
		char path[96];
		snprintf(path, sizeof path, "/audit?after=%" PRId64 "&limit=%lu", after, lim);
		json_t *j = NULL;
		if ((rc = client_request("GET", path, NULL, 0, &j)) != 0)
			break;
		if (head_seq < 0) {
			json_t *h =
			    json_pack("{s:s,s:O,s:I}", "format", AUDIT_EXPORT_FMT, "head",
			              json_object_get(j, "head"), "first_seq", (json_int_t)first);
			client_int(json_object_get(j, "head"), "seq", &head_seq);
			rc = h ? write_line(f, h) : ATTEST_E_NOMEM;
			json_decref(h);
		}
		json_t *recs = json_object_get(j, "records");
		size_t i;
		json_t *o;
		json_array_foreach(recs, i, o)
		{
			if (rc != 0)
				break;
			const char *kind = client_str(o, "kind");
			if (kind && strcmp(kind, "verdict") == 0 && client_str(o, "body"))
				rc = export_eventlog(f, &seen, client_str(o, "body"));
			if (rc == 0) {
				json_t *w = json_pack("{s:O}", "record", o);
				rc = w ? write_line(f, w) : ATTEST_E_NOMEM;
				json_decref(w);
			}
			client_int(o, "seq", &after);
			n++;
		}
		bool more = json_array_size(recs) == lim && json_object_get(j, "next_after");
		json_decref(j);
		if (rc == 0 && more && head_seq > (int64_t)lim)
			fprintf(stderr, "%s%" PRId64 " of %" PRId64 " records written%s",
			        tty ? "\r" : "", n, head_seq, tty ? "" : "\n");
		if (!more)
			break;
	}
	free(seen.v);
	if (tty && head_seq > (int64_t)lim)
		fprintf(stderr, "\n");
	if (f != stdout && fclose(f) != 0 && rc == 0)
		rc = ATTEST_E_IO;
	else if (f == stdout && fflush(stdout) != 0 && rc == 0)
		rc = ATTEST_E_IO;
	if (rc > 0)
		return rc; /* the request's own exit status, already reported */
	if (rc < 0) {
		client_err("writing the export: %s", attest_strerror(rc));
		return CLIENT_EXIT_FAIL;
	}
	if (out)
		fprintf(stderr, "%" PRId64 " records and %zu event logs written to %s\n", n, seen.n,
		        out);
	return CLIENT_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* audit prune */

/* The chain's first record's seq (0: the chain is empty), into *ret. */
static int first_seq(int64_t *ret)
{
	json_t *j = NULL;
	int rc = client_request("GET", "/audit?after=0&limit=1", NULL, 0, &j);
	if (rc != 0)
		return rc;
	json_t *recs = json_object_get(j, "records");
	int64_t seq = 0;
	if (!json_is_array(recs) ||
	    (json_array_size(recs) > 0 && !client_int(json_array_get(recs, 0), "seq", &seq))) {
		json_decref(j);
		client_err("the verifier's audit answer has no records list");
		return CLIENT_EXIT_FAIL;
	}
	json_decref(j);
	*ret = seq;
	return 0;
}

static int audit_prune(int argc, char **argv)
{
	const char *through = NULL, *batch = NULL, *pos[1];
	const struct client_opt opts[] = {
	    {"--through", &through, NULL}, {"--batch", &batch, NULL}, {NULL, NULL, NULL}};
	int npos;
	int rc = client_parse("audit prune", usage, argc, argv, opts, pos, 0, 0, &npos);
	if (rc != CLIENT_CONTINUE)
		return rc;
	unsigned long seq = 0, per = AUDIT_PRUNE_BATCH;
	if (!through || client_parse_uint(through, 1, 0x7fffffffffffffffUL, &seq) < 0) {
		client_err("audit prune needs --through SEQ, a record number from 1");
		return CLIENT_EXIT_USAGE;
	}
	if (batch && client_parse_uint(batch, 1, 0x7fffffffffffffffUL, &per) < 0) {
		client_err("--batch wants a number of records from 1, not \"%s\"", batch);
		return CLIENT_EXIT_USAGE;
	}
	/* A batch at a time, oldest first: each is one transaction of the
	 * verifier's (which holds the chain's head while it deletes) and
	 * appends its own prune record; the last one accounts for the chain's
	 * new start, which is what 'audit verify' checks. */
	bool tty = isatty(STDERR_FILENO);
	int64_t total = 0, batches = 0, first = 0;
	json_t *j = NULL;
	for (;;) {
		if ((rc = first_seq(&first)) != 0)
			break;
		/* Past the start (or an empty chain): the verifier's own answer
		 * says why, as for a single request. */
		unsigned long to = seq;
		if (first > 0 && (unsigned long)first <= seq && seq - (unsigned long)first >= per)
			to = (unsigned long)first + per - 1;
		json_t *body = json_pack("{s:I}", "through", (json_int_t)to);
		json_decref(j);
		j = NULL;
		rc = client_request("POST", "/audit/prune", body, 0, &j);
		json_decref(body);
		if (rc != 0)
			break;
		int64_t n = 0;
		client_int(j, "pruned", &n);
		total += n;
		batches++;
		if (to == seq)
			break;
		fprintf(stderr, "%spruned %lld records, through record %lu of %lu%s",
		        tty ? "\r" : "", (long long)total, to, seq, tty ? "" : "\n");
	}
	if (tty && batches > 1)
		fprintf(stderr, "\n");
	if (rc != 0) {
		if (total > 0)
			client_err("stopped after pruning %lld records in %lld batches",
			           (long long)total, (long long)batches);
		json_decref(j);
		return rc;
	}
	if (client_g.json) {
		json_object_set_new(j, "pruned", json_integer(total));
		json_object_set_new(j, "batches", json_integer(batches));
		client_print_json(j);
	} else {
		printf("Pruned %lld records, through record %lu; the first record kept links to "
		       "%s.\n",
		       (long long)total, seq, client_str(j, "through_hash"));
	}
	json_decref(j);
	return CLIENT_EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
	static const struct client_subcommand subs[] = {
	    {"verify", audit_verify},
	    {"export", audit_export},
	    {"prune", audit_prune},
	    {NULL, NULL},
	};
	return client_dispatch("audit", usage, subs, argc, argv);
}

/* ------------------------------------------------------------------ */
/* attestctl verify --audit FILE --record SEQ */

/* One line of an export (at most AUDIT_EXPORT_LINE bytes), parsed; NULL at
 * the end. *err set on a malformed line. */
static json_t *next_line(FILE *f, char **buf, size_t *cap, int64_t lineno, char *err, size_t ecap)
{
	ssize_t n = getline(buf, cap, f);
	if (n < 0)
		return NULL;
	if ((size_t)n > AUDIT_EXPORT_LINE) {
		snprintf(err, ecap, "line %" PRId64 ": longer than %u bytes", lineno,
		         AUDIT_EXPORT_LINE);
		return NULL;
	}
	json_error_t je;
	json_t *o = json_loadb(*buf, (size_t)n, 0, &je);
	if (!json_is_object(o)) {
		snprintf(err, ecap, "line %" PRId64 ": not a JSON object (%s)", lineno, je.text);
		json_decref(o);
		return NULL;
	}
	return o;
}

static int recheck_fail(bool json, const char *code, const char *msg, int64_t seq)
{
	if (json) {
		json_t *o = json_pack("{s:b,s:I,s:[{s:s,s:s}]}", "verified", 0, "record",
		                      (json_int_t)seq, "reasons", "code", code, "message", msg);
		client_print_json(o);
		json_decref(o);
	} else {
		printf("NOT verified: record %" PRId64 "\n", seq);
		client_line(stdout, "%s: %s", code, msg);
	}
	return 1;
}

int audit_recheck(const char *path, const char *record, bool json)
{
	unsigned long want = 0;
	if (client_parse_uint(record, 1, 0x7fffffffffffffffUL, &want) < 0) {
		fprintf(stderr, "attestctl verify: --record wants a record number (seq)\n");
		return 2;
	}
	FILE *f = fopen(path, "r");
	if (!f) {
		client_line(stderr, "attestctl verify: %s: %s", path, strerror(errno));
		return 1;
	}
	char *buf = NULL, err[400] = "";
	size_t cap = 0;
	int64_t lineno = 0, seq = (int64_t)want;
	json_t *o, *target = NULL;
	struct check c = {0};
	bool started = false;
	int status = 1;
	/* Pass 1: the chain from the export's first record to the one asked
	 * for. The first record's link to earlier ones (an export --since) is
	 * taken as given. */
	while (!target && (o = next_line(f, &buf, &cap, ++lineno, err, sizeof err))) {
		json_t *r = json_object_get(o, "record");
		if (r) {
			struct audit_record ar;
			if (!started && record_from_json(r, &ar, err, sizeof err) == 0) {
				audit_chain_init(&c.chain, ar.seq, ar.prev_hash);
				started = true;
			}
			if (!check_one(&c, r)) {
				json_decref(o);
				break;
			}
			if (c.chain.next_seq - 1 == seq)
				target = json_incref(r);
		}
		json_decref(o);
	}
	if (!target) {
		if (c.broken)
			snprintf(err, sizeof err, "the chain is broken before it: %s",
			         c.problem.message);
		else if (!err[0])
			snprintf(err, sizeof err, "the export holds no record %" PRId64, seq);
		status = recheck_fail(json, "AUDIT_CHAIN_BROKEN", err, seq);
		goto out;
	}
	const char *kind = client_str(target, "kind");
	json_t *body = json_loads(client_str(target, "body"), 0, NULL);
	json_t *ev = json_object_get(body, "evidence");
	if (!kind || strcmp(kind, "verdict") != 0 || !json_is_object(ev)) {
		json_decref(body);
		status = recheck_fail(json, "AUDIT_NO_EVIDENCE",
		                      "the record is no verdict judged from evidence", seq);
		goto out;
	}
	/* Pass 2: the event log it names, checked against its digest. */
	const char *lh = client_str(ev, "eventlog_sha256");
	json_t *bundle = json_deep_copy(ev);
	bool log_ok = lh == NULL;
	if (lh && bundle) {
		rewind(f);
		lineno = 0;
		while (!log_ok && (o = next_line(f, &buf, &cap, ++lineno, err, sizeof err))) {
			json_t *l = json_object_get(o, "eventlog");
			const char *data = client_str(l, "data");
			if (data && client_str(l, "sha256") &&
			    strcmp(client_str(l, "sha256"), lh) == 0) {
				uint8_t *bytes = NULL;
				size_t blen = 0;
				uint8_t d[32];
				char dh[65];
				if (base64_decode_alloc(data, strlen(data), AUDIT_EXPORT_LINE,
				                        &bytes, &blen) == 0 &&
				    EVP_Digest(bytes, blen, d, NULL, EVP_sha256(), NULL)) {
					hex_encode(d, 32, dh);
					if (strcmp(dh, lh) == 0) {
						json_object_set_new(bundle, "eventlog",
						                    json_string(data));
						log_ok = true;
					} else
						snprintf(err, sizeof err,
						         "the export's event log %s hashes to %s",
						         lh, dh);
				}
				free(bytes);
			}
			json_decref(o);
		}
		if (!log_ok && !err[0])
			snprintf(err, sizeof err, "the export holds no event log %s", lh);
	}
	if (!log_ok) {
		json_decref(bundle);
		json_decref(body);
		status = recheck_fail(json, "AUDIT_EVENTLOG_MISSING", err, seq);
		goto out;
	}
	/* The bundle as the agent sent it (the log's digest and the policy's
	 * are extra members bundle_parse ignores): checked as 'verify' does. */
	char *text = json_dumps(bundle, JSON_COMPACT);
	json_decref(bundle);
	struct bundle *b = NULL;
	struct diag be = {0};
	struct bundle_result *res = calloc(1, sizeof *res);
	int e = text && res ? bundle_parse((const uint8_t *)text, strlen(text), &b, &be)
	                    : ATTEST_E_NOMEM;
	free(text);
	if (e == 0)
		e = bundle_verify(b, NULL, b->nonce, b->nonce_len, res);
	const char *trust = client_str(body, "trust");
	if (e < 0) {
		snprintf(err, sizeof err, "%s", be.message[0] ? be.message : attest_strerror(e));
		status = recheck_fail(json, "BUNDLE_MALFORMED", err, seq);
	} else if (json) {
		json_t *reasons = json_array();
		for (size_t i = 0; i < res->reasons.count; i++)
			json_array_append_new(
			    reasons, json_pack("{s:s,s:s}", "code",
			                       quote_status_code(res->reasons.list[i].status),
			                       "message", res->reasons.list[i].message));
		json_t *out = json_pack(
		    "{s:b,s:I,s:s,s:s,s:I,s:s?,s:O?,s:o,s:s?,s:s?,s:b}", "verified",
		    res->reasons.count == 0, "record", (json_int_t)seq, "host",
		    client_str(target, "host") ? client_str(target, "host") : "", "kind", "verdict",
		    "at", (json_int_t)json_integer_value(json_object_get(target, "at")), "trust",
		    trust, "recorded_reasons", json_object_get(body, "reasons"), "reasons", reasons,
		    "eventlog_sha256", lh, "policy_digest", client_str(ev, "policy_digest"),
		    "chain_whole", 1);
		client_print_json(out);
		json_decref(out);
		status = res->reasons.count == 0 ? 0 : 1;
	} else {
		client_line(stdout, "record %" PRId64 ": verdict %s on host %s", seq,
		            trust ? trust : "?", client_str(target, "host"));
		printf("chain: whole from record %" PRId64 " to %" PRId64 "\n",
		       c.chain.next_seq - c.chain.count, seq);
		if (res->reasons.count == 0) {
			printf("evidence: verified: quote signed by the enrolled AK, nonce bound "
			       "(extraData), PCR digest matches the PCR values");
			if (lh)
				client_line(stdout, ", event log %s replays to the quoted PCRs",
				            lh);
			else
				printf("; no event log\n");
		} else {
			printf("evidence: NOT verified: %zu reason(s)\n", res->reasons.count);
			for (size_t i = 0; i < res->reasons.count; i++)
				client_line(stdout, "%s: %s",
				            quote_status_code(res->reasons.list[i].status),
				            res->reasons.list[i].message);
		}
		if (client_str(ev, "policy_digest"))
			client_line(stdout, "policy digest: %s", client_str(ev, "policy_digest"));
		status = res->reasons.count == 0 ? 0 : 1;
	}
	bundle_free(b);
	free(res);
	json_decref(body);
out:
	json_decref(target);
	free(buf);
	fclose(f);
	return status;
}
