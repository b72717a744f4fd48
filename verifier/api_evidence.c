/* Operator API, read-only views of a host's last evidence (docs/api.md,
 * "Evidence and dry runs"), for the dashboard's Security view:
 *   GET  /api/v1/hosts/NAME/evidence   the last attestation's event log
 *        (every event decoded), quoted vs replayed PCRs, facts, and which
 *        events diverge;
 *   POST /api/v1/policies {"from_host": H, "dry_run": true}   what learning
 *        a policy from H would approve, computed from the last evidence,
 *        storing nothing.
 * The evidence itself is kept by the attestation job (appraise.c). Nothing
 * here changes a host's state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "api_policy_check.h"
#include "err.h"
#include "eventlog.h"
#include "eventlog_facts.h"
#include "hex.h"
#include "host_policy.h"
#include "policy.h"
#include "reason.h"
#include "verifier.h"

#define EVIDENCE_EVENTS_MAX 10000u /* events listed in one answer (real logs: < 1000) */
#define EVIDENCE_DESC_MAX   512u   /* one event's decoded description */

/* A JSON string from text that may hold bytes that are not UTF-8 (event
 * data a host chose): such bytes become '?'. NULL text gives null. */
static json_t *jtext(const char *s)
{
	if (s == NULL)
		return json_null();
	json_t *j = json_string(s);
	if (j != NULL)
		return j;
	size_t n = strlen(s);
	char *t = malloc(n + 1);
	if (t == NULL)
		return json_null();
	for (size_t i = 0; i <= n; i++)
		t[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	j = json_string(t);
	free(t);
	return j ? j : json_null();
}

static json_t *jhex(const uint8_t *b, size_t n)
{
	char buf[2 * QUOTE_MAX_DIGEST + 1];
	if (n > QUOTE_MAX_DIGEST)
		return json_null();
	hex_encode(b, n, buf);
	return json_string(buf);
}

/* Back from the form appraise.c stores (by us, still checked). */
int evidence_pcrs_from_json(json_t *j, struct quote_pcrs *out)
{
	const char *bank, *idx;
	json_t *vals, *x;
	memset(out, 0, sizeof *out);
	json_object_foreach(j, bank, vals)
	{
		uint16_t alg = bundle_bank_alg(bank);
		if (alg == 0 || !json_is_object(vals))
			return ATTEST_E_FORMAT;
		json_object_foreach(vals, idx, x)
		{
			char *end = NULL;
			unsigned long i = strtoul(idx, &end, 10);
			uint8_t d[QUOTE_MAX_DIGEST];
			size_t dl = 0;
			if (end == idx || *end != '\0' || i >= QUOTE_NUM_PCRS ||
			    !json_is_string(x) ||
			    hex_decode(json_string_value(x), d, sizeof d, &dl) < 0)
				return ATTEST_E_FORMAT;
			int rc = quote_pcrs_set(out, alg, (unsigned)i, d, dl);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* The parsed log with its sha256 content checks and facts, as the
 * verification pipeline computes them. */
struct parsed {
	struct eventlog *log;
	struct eventlog_checks *checks;
	struct eventlog_facts *facts;
	struct eventlog_error err;
};

static void parsed_free(struct parsed *p)
{
	eventlog_facts_free(p->facts);
	eventlog_checks_free(p->checks);
	eventlog_free(p->log);
}

static int parse_log(const struct store_evidence *e, struct parsed *p)
{
	memset(p, 0, sizeof *p);
	if (e->eventlog == NULL)
		return ATTEST_E_NOTFOUND;
	int rc = eventlog_parse(e->eventlog, e->eventlog_len, &p->log, &p->err);
	if (rc < 0)
		return rc;
	rc = eventlog_content_check_bank(p->log, TPM2_ALG_SHA256, &p->checks);
	if (rc == ATTEST_E_NOTFOUND) /* a SHA-1-only log: check what it has */
		rc = eventlog_content_check(p->log, &p->checks);
	if (rc == 0)
		rc = eventlog_facts_derive(p->log, p->checks, &p->facts);
	return rc;
}

static const char *check_name(uint8_t st)
{
	switch (st) {
	case EVENTLOG_CHECK_PASS: return "pass";
	case EVENTLOG_CHECK_FAIL: return "fail";
	case EVENTLOG_CHECK_UNVERIFIABLE: return "unverifiable";
	default: return "none";
	}
}

static json_t *sigdb_json(const struct eventlog_sigdb *d)
{
	if (!d->present)
		return json_pack("{s:b}", "present", 0);
	return json_pack("{s:b,s:b,s:b,s:I,s:I,s:I,s:I}", "present", 1, "verified", d->verified,
	                 "well_formed", d->well_formed, "event", (json_int_t)d->event, "lists",
	                 (json_int_t)d->lists, "entries", (json_int_t)d->entries, "bytes",
	                 (json_int_t)d->data_len);
}

static json_t *facts_json(const struct eventlog_facts *f)
{
	json_t *fw = json_array(), *apps = json_array();
	for (size_t i = 0; fw && i < f->firmware_count; i++)
		json_array_append_new(
		    fw, json_pack("{s:I,s:s,s:b,s:o}", "event", (json_int_t)f->firmware[i].event,
		                  "type", eventlog_type_name(f->firmware[i].type), "verified",
		                  f->firmware[i].verified, "text", jtext(f->firmware[i].text)));
	for (size_t i = 0; apps && i < f->boot_app_count; i++)
		json_array_append_new(apps, json_pack("{s:I,s:I,s:o,s:o}", "event",
		                                      (json_int_t)f->boot_apps[i].event, "pcr",
		                                      (json_int_t)f->boot_apps[i].pcr, "path",
		                                      jtext(f->boot_apps[i].path), "device_path",
		                                      jtext(f->boot_apps[i].device_path)));
	return json_pack(
	    "{s:b,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "uefi", f->is_uefi,
	    "secure_boot", eventlog_secure_boot_name(f->secure_boot), "secure_boot_event",
	    f->has_secure_boot_event ? json_integer(f->secure_boot_event) : json_null(), "pk",
	    sigdb_json(&f->pk), "kek", sigdb_json(&f->kek), "db", sigdb_json(&f->db), "dbx",
	    sigdb_json(&f->dbx), "firmware", fw ? fw : json_array(), "boot_apps",
	    apps ? apps : json_array(), "kernel_cmdline", jtext(f->kernel_cmdline),
	    "kernel_cmdline_event",
	    f->kernel_cmdline_event >= 0 ? json_integer(f->kernel_cmdline_event) : json_null(),
	    "kernel_image", jtext(f->kernel_image), "kernel_image_event",
	    f->kernel_image_event >= 0 ? json_integer(f->kernel_image_event) : json_null());
}

/* Events the host's reasons name, with the reason codes, into why[number]
 * (an object: "number" -> [codes]). */
static json_t *reason_events(const char *reasons_json)
{
	json_t *why = json_object();
	json_t *rs = api_parse_stored(reasons_json);
	size_t i;
	json_t *r;
	json_array_foreach(rs, i, r)
	{
		json_t *ev = json_object_get(json_object_get(r, "evidence"), "event");
		const char *code = json_string_value(json_object_get(r, "code"));
		if (!json_is_integer(ev) || code == NULL)
			continue;
		char k[24];
		snprintf(k, sizeof k, "%lld", (long long)json_integer_value(ev));
		json_t *list = json_object_get(why, k);
		if (list == NULL) {
			list = json_array();
			json_object_set_new(why, k, list);
		}
		json_array_append_new(list, json_string(code));
	}
	json_decref(rs);
	return why;
}

/* PCR table: every PCR quoted or replayed, per bank, and whether they agree. */
static json_t *pcr_table(const struct quote_pcrs *q, const struct eventlog *log)
{
	json_t *rows = json_array();
	struct eventlog_pcrs rp;
	bool replayed = log != NULL && eventlog_replay(log, &rp) == 0;
	for (uint32_t b = 0; b < q->bank_count && b < QUOTE_MAX_BANKS; b++) {
		const struct quote_pcr_bank *bk = &q->banks[b];
		const struct eventlog_pcr_bank *rb =
		    replayed ? eventlog_pcrs_bank(&rp, bk->alg) : NULL;
		for (unsigned i = 0; i < QUOTE_NUM_PCRS; i++) {
			if (!(bk->present & (1u << i)))
				continue;
			json_t *rv = json_null(), *match = json_null();
			if (rb != NULL && i < EVENTLOG_NUM_PCRS && rb->size == bk->size) {
				rv = jhex(rb->pcr[i], rb->size);
				match =
				    json_boolean(memcmp(rb->pcr[i], bk->value[i], bk->size) == 0);
			}
			json_array_append_new(
			    rows, json_pack("{s:I,s:s,s:o,s:o,s:o,s:b}", "index", (json_int_t)i,
			                    "bank", bundle_bank_name(bk->alg), "quoted",
			                    jhex(bk->value[i], bk->size), "replayed", rv, "matches",
			                    match, "extended_by_log",
			                    rb != NULL && (rb->touched & (1u << i))));
		}
	}
	return rows;
}

static void evidence_show(struct verifier *v, struct https_request *req, const struct store_host *h)
{
	struct store_evidence *e = NULL;
	int rc = store_evidence_get(v->store, h->id, &e);
	if (rc == ATTEST_E_NOTFOUND) {
		https_reply_error(req, 404, "NOT_FOUND",
		                  "no evidence stored for this host yet: it has not been attested "
		                  "since the verifier started keeping evidence");
		return;
	}
	if (rc < 0) {
		api_store_error(v, req, rc, "evidence");
		return;
	}
	struct quote_pcrs q;
	json_t *pj = api_parse_stored(e->pcrs_json);
	if (evidence_pcrs_from_json(pj, &q) < 0)
		memset(&q, 0, sizeof q);
	json_decref(pj);

	struct parsed p;
	int prc = parse_log(e, &p);
	json_t *why = reason_events(h->reasons_json);
	json_t *events = json_array(), *diverging = json_array();
	json_t *logj = json_null();
	if (p.log != NULL) {
		json_t *banks = json_array();
		for (uint32_t b = 0; b < p.log->bank_count && b < EVENTLOG_MAX_BANKS; b++) {
			const char *bn = eventlog_alg_name(p.log->banks[b].alg);
			json_array_append_new(banks, json_string(bn ? bn : "unknown"));
		}
		size_t shown = p.log->event_count < EVIDENCE_EVENTS_MAX ? p.log->event_count
		                                                        : EVIDENCE_EVENTS_MAX;
		logj = json_pack("{s:s,s:o,s:I,s:b,s:I}", "format",
		                 p.log->format == EVENTLOG_FORMAT_CRYPTO_AGILE ? "crypto-agile"
		                                                               : "legacy-sha1",
		                 "banks", banks, "event_count", (json_int_t)p.log->event_count,
		                 "events_truncated", shown < p.log->event_count, "bytes",
		                 (json_int_t)e->eventlog_len);
		char desc[EVIDENCE_DESC_MAX];
		for (size_t i = 0; i < shown; i++) {
			const struct eventlog_event *ev = &p.log->events[i];
			json_t *dg = json_object();
			for (uint32_t k = 0; k < ev->digest_count && k < EVENTLOG_MAX_BANKS; k++) {
				const char *an = eventlog_alg_name(ev->digests[k].alg);
				if (an != NULL)
					json_object_set_new(
					    dg, an,
					    jhex(ev->digests[k].bytes, ev->digests[k].size));
			}
			if (eventlog_event_describe(ev, desc, sizeof desc) < 0)
				desc[0] = '\0';
			uint8_t st = p.checks && i < p.checks->event_count ? p.checks->status[i]
			                                                   : EVENTLOG_CHECK_NONE;
			char k[24];
			snprintf(k, sizeof k, "%zu", i);
			json_t *codes = json_object_get(why, k);
			json_t *reasons = codes ? json_incref(codes) : json_array();
			if (st == EVENTLOG_CHECK_FAIL && codes == NULL)
				json_array_append_new(reasons,
				                      json_string(REASON_EVENT_CONTENT_MISMATCH));
			bool diverges = json_array_size(reasons) > 0;
			if (diverges)
				json_array_append_new(diverging, json_integer((json_int_t)i));
			json_array_append_new(
			    events,
			    json_pack("{s:I,s:o,s:I,s:s,s:o,s:o,s:s,s:b,s:o,s:I}", "number",
			              (json_int_t)ev->number, "pcr",
			              ev->pcr == EVENTLOG_PCR_NONE ? json_null()
			                                           : json_integer(ev->pcr),
			              "type", (json_int_t)ev->type, "type_name",
			              eventlog_type_name(ev->type), "digests", dg, "description",
			              jtext(desc), "check", check_name(st), "diverges", diverges,
			              "reasons", reasons, "data_bytes", (json_int_t)ev->data_len));
		}
	} else if (e->eventlog != NULL) {
		logj = json_pack("{s:o,s:I}", "error", jtext(p.err.message), "bytes",
		                 (json_int_t)e->eventlog_len);
	}
	json_t *ak = json_null();
	struct store_ak *cur = NULL;
	if (store_ak_current(v->store, h->id, &cur) == 0) {
		ak = json_pack("{s:s,s:o}", "name", cur->name_hex, "enrolled_at",
		               api_time(cur->enrolled_at));
		store_ak_free(cur);
	}
	json_t *out = json_pack(
	    "{s:s,s:o,s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "host", h->name, "at", api_time(e->at),
	    "verified", e->verified, "ak", ak ? ak : json_null(), "metadata",
	    api_parse_stored(e->metadata_json), "eventlog", logj ? logj : json_null(), "events",
	    events, "diverging", diverging, "pcrs", pcr_table(&q, p.log), "facts",
	    prc == 0 && p.facts ? facts_json(p.facts) : json_null());
	json_decref(why);
	parsed_free(&p);
	store_evidence_free(e);
	if (out == NULL) {
		https_reply_error(req, 500, "INTERNAL", "out of memory");
		return;
	}
	https_reply_json(req, 200, out);
}

void api_evidence_host(struct verifier *v, struct https_request *req, const struct store_host *h)
{
	if (strcmp(https_request_method(req), "GET") != 0) {
		https_reply_error(req, 405, "METHOD_NOT_ALLOWED", "GET");
		return;
	}
	evidence_show(v, req, h);
}

void api_evidence_dry_run(struct verifier *v, struct https_request *req, json_t *b)
{
	static const char *const keys[] = {"name", "from_host", "dry_run", NULL};
	if (!api_known_fields(req, b, keys))
		return;
	json_t *jname = json_object_get(b, "name"), *from = json_object_get(b, "from_host");
	if (!json_is_true(json_object_get(b, "dry_run"))) {
		https_reply_error(req, 400, "INVALID_FIELD", "dry_run must be true or false");
		return;
	}
	if (!json_is_string(from)) {
		https_reply_error(req, 400, from ? "INVALID_FIELD" : "MISSING_FIELD",
		                  "a dry run needs from_host (a host name)");
		return;
	}
	const char *name = NULL;
	if (jname != NULL && !json_is_null(jname)) {
		name = json_string_value(jname);
		char nb[160], msg[200];
		const char *np = name ? api_name_problem(name, nb, sizeof nb) : "must be a string";
		if (np != NULL) {
			snprintf(msg, sizeof msg, "policy name %s", np);
			https_reply_error(req, 400, "INVALID_FIELD", msg);
			return;
		}
		struct store_policy *exist = NULL;
		if (store_policy_get_by_name(v->store, name, &exist) == 0) {
			store_policy_free(exist);
			https_reply_error(req, 409, "EXISTS", "a policy with that name exists");
			return;
		}
	}
	struct store_host *h = NULL;
	struct store_evidence *e = NULL;
	struct policy *base = NULL, *learned = NULL;
	struct parsed p;
	memset(&p, 0, sizeof p);
	char *summary = NULL, *text = NULL;
	int rc = store_host_get_by_name(v->store, json_string_value(from), &h);
	if (rc < 0) {
		api_store_error(v, req, rc, "host");
		goto out;
	}
	rc = store_evidence_get(v->store, h->id, &e);
	if (rc == ATTEST_E_NOTFOUND || (rc == 0 && !e->verified)) {
		https_reply_error(req, 409, "HOST_NOT_ATTESTED",
		                  rc == 0
		                      ? "the host's last evidence did not verify (see its "
		                        "reasons): nothing can be learned from it"
		                      : "no evidence of this host is stored yet: attest it first");
		goto out;
	}
	if (rc < 0) {
		api_store_error(v, req, rc, "evidence");
		goto out;
	}
	struct quote_pcrs q;
	json_t *pj = api_parse_stored(e->pcrs_json);
	rc = evidence_pcrs_from_json(pj, &q);
	json_decref(pj);
	if (rc == 0)
		rc = parse_log(e, &p);
	struct policy_error pe = {0};
	if (rc == 0)
		rc = host_policy_load(v->store, h->id, &base, &pe);
	if (rc == 0) {
		struct policy_learn_input in = {
		    .log = p.log, .checks = p.checks, .facts = p.facts, .pcrs = &q, .base = base};
		rc = policy_learn(&in, &learned, &summary);
	}
	if (rc == 0)
		rc = policy_to_json(learned, false, &text);
	if (rc < 0) {
		char msg[320];
		snprintf(msg, sizeof msg,
		         "the policy could not be learned from the stored evidence%s%.227s",
		         pe.message[0] ? ": the host's policy does not parse: " : "", pe.message);
		https_reply_error(req, 500, "INTERNAL", msg);
		goto out;
	}
	json_t *lines = json_array();
	char *save = NULL;
	for (char *line = summary ? strtok_r(summary, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		json_array_append_new(lines, jtext(line));
	json_t *body = json_loads(text, 0, NULL);
	https_reply_json(req, 200,
	                 json_pack("{s:b,s:o,s:s,s:o,s:o,s:o}", "dry_run", 1, "name",
	                           name ? json_string(name) : json_null(), "from_host", h->name,
	                           "evidence_at", api_time(e->at), "body",
	                           body ? body : json_null(), "learned", lines));
out:
	free(summary);
	free(text);
	policy_free(learned);
	policy_free(base);
	parsed_free(&p);
	store_evidence_free(e);
	store_host_free(h);
}
