/* Attestation, the steps that appraise a host: a fresh nonce and a quote
 * over the host policy's PCR selection, the evidence verified against the
 * AK and the policy (lib/verify.h), the verdict and boot counters stored, a
 * restart sent back to enrollment, the evidence kept for the dashboard, and
 * policies learned from evidence that verified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base64.h"
#include "bundle.h"
#include "catalog_appraise.h"
#include "err.h"
#include "eventlog.h"
#include "eventlog_facts.h"
#include "hex.h"
#include "host_policy.h"
#include "job.h"
#include "log.h"
#include "policy.h"
#include "quote.h"
#include "reason.h"
#include "store_loop.h"
#include "verifier.h"
#include "verify.h"
#include "verify_memo.h"

/* PCR indices in the order of their decimal keys ("0" "1" "10" ... "9"),
 * so the text below has its keys sorted as JSON_SORT_KEYS would. */
static const uint8_t pcr_key_order[QUOTE_NUM_PCRS] = {0, 1,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                                                      2, 20, 21, 22, 23, 3,  4,  5,  6,  7,  8,  9};

#define BANK_NAME_MAX 16 /* the longest name of lib/alg.c's banks, with room */

static int bank_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* {"sha256":{"0":"hex",...},...}: the bundle's own form, compact, keys
 * sorted at every level, written directly (an attestation writes it for
 * the kept evidence and for its audit record: building and dumping a tree
 * of some 50 JSON values each time was a visible part of the loop's
 * work). Bank names and hex digits need no escaping. NULL: out of memory. */
static char *pcrs_text(const struct quote_pcrs *p)
{
	const char *names[QUOTE_MAX_BANKS];
	const struct quote_pcr_bank *banks[QUOTE_MAX_BANKS];
	size_t n = 0;
	for (uint32_t b = 0; b < p->bank_count && b < QUOTE_MAX_BANKS; b++) {
		const char *name = bundle_bank_name(p->banks[b].alg);
		if (name != NULL)
			names[n++] = name;
	}
	qsort(names, n, sizeof names[0], bank_name_cmp);
	for (size_t k = 0; k < n; k++)
		for (uint32_t b = 0; b < p->bank_count && b < QUOTE_MAX_BANKS; b++)
			if (bundle_bank_name(p->banks[b].alg) == names[k])
				banks[k] = &p->banks[b];
	/* At most: per bank present its name and braces, per PCR its key,
	 * quotes, hex digits and comma. */
	size_t cap = 3 + n * (BANK_NAME_MAX + 6 + QUOTE_NUM_PCRS * (2 * QUOTE_MAX_DIGEST + 10));
	char *out = malloc(cap), *at = out;
	if (out == NULL)
		return NULL;
	*at++ = '{';
	for (size_t k = 0; k < n; k++) {
		if (k > 0 && strcmp(names[k], names[k - 1]) == 0)
			continue; /* one member per bank name, as a JSON object has */
		const struct quote_pcr_bank *bk = banks[k];
		size_t nl = strnlen(names[k], BANK_NAME_MAX);
		if (k > 0)
			*at++ = ',';
		*at++ = '"';
		memcpy(at, names[k], nl);
		at += nl;
		memcpy(at, "\":{", 3);
		at += 3;
		bool first = true;
		for (unsigned o = 0; o < QUOTE_NUM_PCRS; o++) {
			unsigned i = pcr_key_order[o];
			if (!(bk->present & (1u << i)))
				continue;
			if (!first)
				*at++ = ',';
			first = false;
			*at++ = '"';
			if (i >= 10)
				*at++ = (char)('0' + i / 10);
			*at++ = (char)('0' + i % 10);
			*at++ = '"';
			*at++ = ':';
			if (bk->size <= QUOTE_MAX_DIGEST) {
				*at++ = '"';
				hex_encode(bk->value[i], bk->size, at); /* writes its NUL too */
				at += 2 * (size_t)bk->size;
				*at++ = '"';
			} else {
				memcpy(at, "null", 4);
				at += 4;
			}
		}
		*at++ = '}';
	}
	*at++ = '}';
	*at = '\0';
	return out;
}

/* Keep b as the host's last evidence for the dashboard (api_evidence.c reads
 * it); verified = it passed every check but the approved configuration.
 * log_digest: the SHA-256 of the log it was judged by (NULL: none). The
 * writer thread rewrites only the other columns when the stored log is
 * this one (a log of tens of KB per attestation is most of what is
 * written); job.c keeps appraise_kept_log up to date when that write ends. */
static void evidence_keep(struct job *j, const struct bundle *b, const uint8_t *log_digest,
                          bool verified, char *pcrs, const char *meta)
{
	struct verifier *v = j->v;
	struct store_evidence e = {
	    .host_id = j->host_id,
	    .at = verifier_now(),
	    .eventlog = b->eventlog,
	    .eventlog_len = b->eventlog ? b->eventlog_len : 0,
	    .pcrs_json = pcrs,
	    .metadata_json = (char *)meta, /* copied (job_store_evidence), never written */
	    .verified = verified,
	};
	struct job_evidence_log kl = {.digest = log_digest, .unchanged = b->eventlog_unchanged};
	if (log_digest)
		(void)appraise_kept_log(v, j->host_id, log_digest, &kl.prev_at);
	/* Losing it only costs the dashboard's detail view: log and go on. */
	if (pcrs == NULL) {
		appraise_kept_log_set(v, j->host_id, NULL, 0);
		log_error("%s: last evidence not stored: out of memory", j->name);
	} else {
		job_store_evidence(j, &e, &kl);
	}
}

static char *put(char *at, const char *s, size_t n)
{
	memcpy(at, s, n);
	return at + n;
}

/* What this verdict is judged from, for its audit record (store.h,
 * store_audit_evidence): the bundle's members (ak_public: the enrolled AK)
 * but the log, which goes by its
 * SHA-256, and the policy's digest. The log's bytes, when the agent sent
 * them, move from b to the job (stored once per digest). Out of memory: the
 * record says no evidence. */
static void audit_evidence(struct job *j, struct bundle *b, const struct store_ak *enrolled,
                           const uint8_t *log_digest, const uint8_t *pdigest, const char *pcrs,
                           const char *meta)
{
	char nonce[2 * EVIDENCE_NONCE_MAX + 1], ld[65], pd[65];
	hex_encode(b->nonce, b->nonce_len, nonce);
	if (log_digest)
		hex_encode(log_digest, 32, ld);
	if (pdigest)
		hex_encode(pdigest, 32, pd);
	/* Compact, keys sorted (docs/security.md, "Bodies"); base64, hex and
	 * the two JSON texts (themselves compact and sorted) need no escaping.
	 * The pieces in order, texts or bytes to base64, written into one
	 * buffer of their summed size (no format parsing, no regrowth, no
	 * base64 copies: this runs once per attestation on the loop). */
	struct piece {
		const char *text;
		const uint8_t *bin; /* base64 of bin_len bytes when text is NULL */
		size_t bin_len;
	} piece[] = {
	    {"{\"ak_public\":\"", NULL, 0},
	    /* the AK the quote was checked against: the enrolled one */
	    {NULL, enrolled->public_area, enrolled->public_len},
	    {log_digest ? "\",\"eventlog_sha256\":\"" : "", NULL, 0},
	    {log_digest ? ld : "", NULL, 0},
	    {"\",\"metadata\":", NULL, 0},
	    {meta ? meta : "{}", NULL, 0},
	    {",\"nonce\":\"", NULL, 0},
	    {nonce, NULL, 0},
	    {"\",\"pcrs\":", NULL, 0},
	    {pcrs ? pcrs : "", NULL, 0},
	    {pdigest ? ",\"policy_digest\":\"" : "", NULL, 0},
	    {pdigest ? pd : "", NULL, 0},
	    {pdigest ? "\"" : "", NULL, 0},
	    {",\"quote\":\"", NULL, 0},
	    {NULL, b->quote, b->quote_len},
	    {"\",\"signature\":\"", NULL, 0},
	    {NULL, b->signature, b->signature_len},
	    {"\"}", NULL, 0},
	};
	enum { NPIECE = sizeof piece / sizeof piece[0] };
	size_t len[NPIECE], total = 1;
	/* Every piece is bounded (the bundle's and the AK's caps), so the sum
	 * cannot wrap; a text past the column's cap is no evidence. */
	for (size_t k = 0; k < NPIECE; k++)
		total += (len[k] = piece[k].text ? strlen(piece[k].text)
		                                 : BASE64_ENCODED_SIZE(piece[k].bin_len) - 1);
	char *o = NULL;
	if (pcrs && total <= STORE_JSON_MAX && (o = malloc(total)) != NULL) {
		char *at = o;
		for (size_t k = 0; k < NPIECE; k++) {
			if (piece[k].text)
				memcpy(at, piece[k].text, len[k]);
			else /* writes its NUL too, which the next piece covers */
				base64_encode(piece[k].bin, piece[k].bin_len, at);
			at += len[k];
		}
		*at = '\0';
	}
	free(j->audit_ev);
	free(j->audit_log);
	j->audit_ev = o;
	j->audit_log = NULL;
	j->audit_log_len = 0;
	j->audit_log_sha[0] = '\0';
	if (j->audit_ev && log_digest) {
		memcpy(j->audit_log_sha, ld, sizeof ld);
		if (b->eventlog) {
			j->audit_log = b->eventlog;
			j->audit_log_len = b->eventlog_len;
			b->eventlog = NULL;
		}
	}
}

/* "sha256:0,1,2" for the policy's selection, written without a format
 * (one snprintf per PCR was most of the start's own time). */
static void selection_text(const struct policy *p, char *buf, size_t cap)
{
	size_t off = 0;
	bool fits = true;
	buf[0] = '\0';
	for (size_t b = 0; b < p->selection_count && fits; b++) {
		const char *bank = bundle_bank_name(p->selection[b].alg);
		if (bank == NULL || p->selection[b].mask == 0)
			continue;
		size_t bl = strlen(bank), need = (off ? 1 : 0) + bl + 1;
		unsigned count = 0;
		for (unsigned i = 0; i < QUOTE_NUM_PCRS; i++)
			if (p->selection[b].mask & (1u << i))
				need += (count++ ? 1 : 0) + (i >= 10 ? 2 : 1);
		if (off + need + 1 > cap) { /* with its NUL */
			fits = false;
			break;
		}
		if (off)
			buf[off++] = '+';
		memcpy(buf + off, bank, bl);
		off += bl;
		buf[off++] = ':';
		bool first = true;
		for (unsigned i = 0; i < QUOTE_NUM_PCRS; i++)
			if (p->selection[b].mask & (1u << i)) {
				if (!first)
					buf[off++] = ',';
				first = false;
				if (i >= 10)
					buf[off++] = (char)('0' + i / 10);
				buf[off++] = (char)('0' + i % 10);
			}
		buf[off] = '\0';
	}
	if (buf[0] == '\0' || !fits)
		snprintf(buf, cap, "sha256:0-9");
}

/* Whether s needs no escaping inside a JSON string (a selection is made of
 * bank names, digits and ":,+-"; checked anyway). */
static bool json_plain(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s == '"' || *s == '\\' || (unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* A quote's nonce: 8 bytes of the time in microseconds, big-endian and
 * rising from one nonce to the next, then 24 random bytes. The random part
 * is what makes it unguessable (192 bits, so no quote can be made for it
 * in advance); the rising prefix makes each used nonce's row land at the
 * end of the nonces table's key instead of on a random page of it (a
 * fifth of the pages a group commit wrote). A collision with a stored
 * nonce (refused by that unique key) would end the job as a store error.
 * Only the loop thread draws. */
static int nonce_draw(uint8_t out[static VERIFIER_NONCE_SIZE])
{
	static uint64_t last;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t t = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (t <= last)
		t = last + 1;
	last = t;
	for (int i = 7; i >= 0; i--, t >>= 8)
		out[i] = (uint8_t)t;
	return RAND_bytes(out + 8, VERIFIER_NONCE_SIZE - 8) == 1 ? 0 : -1;
}

/* Ask for the quote over j->nonce. The body is written directly, not
 * built as a JSON tree and encoded: it is the same three fields every
 * time. */
static void quote_send(struct job *j)
{
	char hexnonce[2 * VERIFIER_NONCE_SIZE + 1], hexlog[65] = "";
	hex_encode(j->nonce, sizeof j->nonce, hexnonce);
	/* The log this verifier holds memoized: the agent may leave it out. */
	const uint8_t *held = j->log_wanted ? NULL : appraise_log_held(j->v, j->host_id);
	j->log_named = false;
	if (held)
		hex_encode(held, 32, hexlog);
	char *body = NULL;
	if (json_plain(j->quote_sel)) {
		/* {"nonce":"HEX","pcrs":"SEL"[,"eventlog_sha256":"HEX"]} */
		static const char k1[] = "{\"nonce\":\"", k2[] = "\",\"pcrs\":\"",
		                  k3[] = "\",\"eventlog_sha256\":\"";
		size_t sl = strlen(j->quote_sel), nl = sizeof hexnonce - 1;
		size_t cap = sizeof k1 + nl + sizeof k2 + sl + sizeof k3 + 64 + 3;
		char *at = body = malloc(cap);
		if (body != NULL) {
			at = put(at, k1, sizeof k1 - 1);
			at = put(at, hexnonce, nl);
			at = put(at, k2, sizeof k2 - 1);
			at = put(at, j->quote_sel, sl);
			if (held) {
				at = put(at, k3, sizeof k3 - 1);
				at = put(at, hexlog, 64);
			}
			memcpy(at, "\"}", 3);
		}
	}
	if (body == NULL) {
		json_t *o = json_pack("{s:s,s:s}", "nonce", hexnonce, "pcrs", j->quote_sel);
		if (o && held)
			(void)json_object_set_new(o, "eventlog_sha256", json_string(hexlog));
		body = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
	}
	if (body && held) {
		memcpy(j->log_sha256, held, sizeof j->log_sha256);
		j->log_named = true;
	}
	j->step = STEP_QUOTE;
	job_request_text(j, "POST", "/v1/quote", body, QUOTE_ANSWER_MAX);
}

void quote_start(struct job *j)
{
	struct verifier *v = j->v;
	const struct policy *p = NULL;
	const uint8_t *pdigest = NULL;
	struct policy_error pe;
	int prc = appraise_policy(v, j->host_id, j->policy_id, &p, &pdigest, &pe);
	if (job_store_failure(prc)) {
		job_store_error(j, "loading the host's policy");
		return;
	}
	if (prc < 0) {
		char msg[320];
		snprintf(msg, sizeof msg, "the host's policy cannot be loaded%s%s",
		         pe.message[0] ? ": " : "", pe.message);
		job_red(j, REASON_VERIFIER_ERROR, msg, NULL, NULL);
		return;
	}
	memcpy(j->policy_digest, pdigest, sizeof j->policy_digest);
	j->have_policy = true;
	char sel[256];
	selection_text(p, sel, sizeof sel);
	j->quote_sha256_only = !strncmp(sel, "sha256:", 7) && !strchr(sel, '+');
	int64_t validity = (int64_t)(v->cfg.timeout_ms / 1000) * 2 + 30;
	if (nonce_draw(j->nonce) != 0) {
		job_store_failed(j, "issuing a nonce", "no random bytes");
		return;
	}
	free(j->quote_sel);
	j->quote_sel = strdup(sel);
	if (j->quote_sel == NULL) {
		job_store_failed(j, "issuing a nonce", "out of memory");
		return;
	}
	/* Kept on the job; written as used with the verdict. */
	(void)job_nonce_issue(j, validity);
	quote_send(j);
}

/* Answer the learn requests waiting for this job with a policy learned
 * from evidence b (already verified by the caller). */
static void learn_from(struct job *j, const struct bundle *b, const struct policy *base)
{
	struct verifier *v = j->v;
	for (struct learn **lp = &v->learns; *lp;) {
		struct learn *l = *lp;
		if (l->host_id != j->host_id || j->seq <= l->after_seq) {
			lp = &l->next;
			continue;
		}
		*lp = l->next;
		struct eventlog *log = NULL;
		struct eventlog_checks *c = NULL;
		struct eventlog_facts *f = NULL;
		struct policy *p = NULL;
		char *summary = NULL, *text = NULL;
		int64_t id = 0;
		int rc = b->eventlog ? eventlog_parse(b->eventlog, b->eventlog_len, &log, NULL)
		                     : ATTEST_E_FORMAT;
		if (rc == 0)
			rc = eventlog_content_check_bank(log, TPM2_ALG_SHA256, &c);
		if (rc == 0)
			rc = eventlog_facts_derive(log, c, &f);
		if (rc == 0) {
			struct policy_learn_input in = {
			    .log = log, .checks = c, .facts = f, .pcrs = &b->pcrs, .base = base};
			rc = policy_learn(&in, &p, &summary);
		}
		if (rc == 0)
			rc = policy_to_json(p, false, &text);
		if (rc == 0)
			rc = store_policy_add(v->store, l->name, text, false, verifier_now(), &id);
		if (rc == 0) {
			verifier_event(v, j->host_id, "policy", l->actor,
			               "policy %s learned from host %s", l->name, j->name);
			json_t *learned = json_array();
			char *save = NULL;
			for (char *line = summary ? strtok_r(summary, "\n", &save) : NULL; line;
			     line = strtok_r(NULL, "\n", &save))
				json_array_append_new(learned, json_string(line));
			json_t *body = json_loads(text, 0, NULL);
			https_reply_json(l->req, 201,
			                 json_pack("{s:s,s:b,s:I,s:o,s:o}", "name", l->name,
			                           "default", 0, "hosts", (json_int_t)0, "body",
			                           body ? body : json_null(), "learned", learned));
		} else if (rc == ATTEST_E_EXISTS) {
			https_reply_error(l->req, 409, "EXISTS", "a policy with that name exists");
		} else {
			https_reply_error(l->req, 500, "INTERNAL",
			                  "the policy could not be learned from this evidence");
		}
		free(summary);
		free(text);
		policy_free(p);
		eventlog_facts_free(f);
		eventlog_checks_free(c);
		eventlog_free(log);
		free(l);
	}
}

/* A learn request waits for this job's evidence. */
static bool learn_waiting(const struct job *j)
{
	for (const struct learn *l = j->v->learns; l; l = l->next)
		if (l->host_id == j->host_id && j->seq > l->after_seq)
			return true;
	return false;
}

static uint16_t bank_id(const char *s)
{
	return s ? bundle_bank_alg(s) : 0;
}

/* The host's stored boot counters and boot id are what this quote says
 * (read in this attestation): nothing to write. */
static bool boot_unchanged(const struct store_host *h, const struct verify_clock *c)
{
	const char *now = c->boot_id[0] ? c->boot_id : NULL;
	return h->reset_count == (int64_t)c->reset_count &&
	       h->restart_count == (int64_t)c->restart_count &&
	       (now && h->boot_id ? strcmp(now, h->boot_id) == 0 : now == h->boot_id);
}

/* The host facts a verification reads from the TPM facts the host reported
 * at enrollment (hosts.tpm_json), in one block with their strings. */
struct host_facts {
	uint16_t banks[QUOTE_MAX_BANKS];
	size_t bank_count;
	const char *interface, *agent_version, *ek_trust; /* NULL: absent */
	char text[];
};

static struct host_facts *facts_parse(const char *tpm_json)
{
	json_t *tpm = verifier_json_stored(tpm_json);
	const char *str[3] = {json_string_value(json_object_get(tpm, "interface")),
	                      json_string_value(json_object_get(tpm, "agent_version")),
	                      json_string_value(json_object_get(tpm, "ek_trust"))};
	size_t len[3], total = 0;
	for (int k = 0; k < 3; k++)
		total += (len[k] = str[k] ? strlen(str[k]) + 1 : 0);
	struct host_facts *f = calloc(1, sizeof *f + total);
	if (f) {
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(tpm, "banks"), i, x)
		{
			uint16_t id = bank_id(json_string_value(x));
			if (id != 0 && f->bank_count < QUOTE_MAX_BANKS)
				f->banks[f->bank_count++] = id;
		}
		const char **dst[3] = {&f->interface, &f->agent_version, &f->ek_trust};
		char *at = f->text;
		for (int k = 0; k < 3; k++) {
			if (!str[k])
				continue;
			memcpy(at, str[k], len[k]);
			*dst[k] = at;
			at += len[k];
		}
	}
	json_decref(tpm);
	return f;
}

/* h's facts: parsed once per distinct text and kept beside its memo (the
 * text changes only at enrollment); *ret_own is what the caller frees
 * (NULL when the memo keeps them). NULL: out of memory. */
static const struct host_facts *host_facts(struct verifier *v, const struct store_host *h,
                                           struct host_facts **ret_own)
{
	*ret_own = NULL;
	const char *text = h->tpm_json ? h->tpm_json : "";
	uint8_t d[32];
	bool hashed = EVP_Digest(text, strlen(text), d, NULL, EVP_sha256(), NULL) == 1;
	struct host_facts *f = hashed ? appraise_facts(v, h->id, d) : NULL;
	if (f)
		return f;
	if ((f = facts_parse(h->tpm_json)) == NULL)
		return NULL;
	if (!hashed || !appraise_facts_set(v, h->id, d, f))
		*ret_own = f;
	return f;
}

static void verify_and_store(struct job *j, struct bundle *b, const struct store_host *h,
                             const struct store_ak *ak, const struct policy *p,
                             const uint8_t *pdigest)
{
	struct verifier *v = j->v;
	struct host_facts *own = NULL;
	const struct host_facts *facts = host_facts(v, h, &own);
	if (facts == NULL) {
		job_red(j, REASON_VERIFIER_ERROR, "the verification could not run: out of memory",
		        NULL, NULL);
		return;
	}
	/* The log's SHA-256, hashed once here: it keys the memo and the boot
	 * digests; for a log the agent left out, the digest we named. */
	uint8_t dbuf[32];
	const uint8_t *ld = NULL;
	if (b->eventlog_unchanged)
		ld = j->log_sha256;
	else if (b->eventlog &&
	         EVP_Digest(b->eventlog, b->eventlog_len, dbuf, NULL, EVP_sha256(), NULL))
		ld = dbuf;
	struct verify_memo *memo = appraise_memo(v, j->host_id);
	struct catalog_entry *cat = NULL; /* names boot apps; serves catalog rules */
	size_t ncat = 0;
	catalog_appraise_load(v, j->host_id, ld, b->eventlog, b->eventlog_len, &cat, &ncat);
	struct verify_input in = {
	    .catalog = cat,
	    .catalog_count = ncat,
	    .bundle = b,
	    .ak_public = ak->public_area,
	    .ak_public_len = ak->public_len,
	    .nonce = j->nonce,
	    .nonce_len = sizeof j->nonce,
	    .previous = {.have_clock = h->reset_count >= 0 && h->restart_count >= 0,
	                 .reset_count = (uint32_t)(h->reset_count < 0 ? 0 : h->reset_count),
	                 .restart_count = (uint32_t)(h->restart_count < 0 ? 0 : h->restart_count),
	                 .boot_id = h->boot_id},
	    .host = {.tpm_interface = facts->interface,
	             .banks = facts->banks,
	             .bank_count = facts->bank_count,
	             .agent_version = facts->agent_version,
	             .ek_certified = h->ek_certified,
	             .ek_trust = facts->ek_trust},
	    .policy = p,
	    /* an unchanged log costs one hash (lib/verify_memo.h) */
	    .memo = memo,
	    .policy_digest = pdigest,
	    .eventlog_digest = ld,
	};
	struct verify_result *r = NULL;
	int rc = verify_attestation(&in, &r);
	free(cat);
	free(own);
	if (rc < 0) {
		job_red(j, REASON_VERIFIER_ERROR, "the verification could not run", NULL, NULL);
		return;
	}
	if (r->need_eventlog && !j->log_wanted) {
		/* The agent left out a log the memo cannot stand for here (the
		 * policy, catalog or a PCR changed): quote again, asking for it. */
		log_info("%s: event log unchanged but not memoized for this quote: asking for it",
		         j->name);
		verify_result_free(r);
		v->m.eventlog_asked_again++;
		j->log_wanted = true;
		quote_start(j);
		return;
	}
	if (r->memo_hit)
		v->m.eventlog_memo_hit++;
	else
		v->m.eventlog_memo_miss++;
	if (b->eventlog_unchanged)
		v->m.eventlog_unchanged++;
	if (r->verdict == VERIFY_RESTARTED && j->enrollments < 2) {
		verify_result_free(r);
		enroll_again(j);
		return;
	}
	/* Learning needs evidence that verified; differences from the current
	 * policy are what a new policy is for. */
	bool learnable = r->verdict != VERIFY_RESTARTED;
	for (size_t k = 0; k < r->reason_count && learnable; k++)
		if (strcmp(r->reasons[k].code, REASON_CONFIGURATION_NOT_APPROVED) != 0)
			learnable = false;
	if (learnable && b->eventlog_unchanged && !j->log_wanted && learn_waiting(j)) {
		/* Learning reads the log itself: quote again, asking for it. */
		verify_result_free(r);
		j->log_wanted = true;
		quote_start(j);
		return;
	}
	if (learnable && v->learns != NULL)
		learn_from(j, b, p);
	char *pcrs = pcrs_text(&b->pcrs);
	/* The metadata as the quote binds it: compact, keys sorted (the
	 * bundle's parse wrote it once already). */
	const char *meta = b->metadata_canonical;
	evidence_keep(j, b, ld, learnable, pcrs, meta);    /* for the dashboard */
	audit_evidence(j, b, ak, ld, pdigest, pcrs, meta); /* for the audit chain */
	free(pcrs);
	/* The verdict's texts, as verify_result_json() would dump its
	 * "reasons" and "software", written without the tree. */
	char *rj = NULL, *sw = NULL;
	(void)verify_reasons_text(r, &rj);
	(void)verify_software_text(r, &sw);
	/* Unchanged software (the usual case) has no change to record, and
	 * is not written again; a change is read back as a tree for its
	 * catalog events. */
	bool sw_same = sw && h->software_json && strcmp(sw, h->software_json) == 0;
	if (sw && !sw_same) {
		json_t *tree = json_loads(sw, 0, NULL);
		if (tree)
			catalog_appraise_changes(v, j->host_id, h->software_json, tree);
		json_decref(tree);
	}
	enum store_trust t = r->verdict == VERIFY_GREEN ? STORE_TRUST_GREEN : STORE_TRUST_RED;
	if (r->restarted) {
		/* Red with a restart: enroll afresh next time. */
		job_store_restarted(j);
	} else if (r->clock.known && !boot_unchanged(h, &r->clock)) {
		job_store_boot(j, r->clock.reset_count, r->clock.restart_count,
		               r->clock.boot_id[0] ? r->clock.boot_id : NULL);
	}
	if (t == STORE_TRUST_RED && r->reason_count > 0)
		log_info("%s: red: %s: %s", j->name, r->reasons[0].code, r->reasons[0].message);
	verify_result_free(r);
	job_verdict(j, t, rj ? rj : "[]", sw_same ? NULL : sw, true);
	free(rj);
	free(sw);
}

static job_consumed_fn appraise_consumed;

void appraise_on_quote(const struct https_result *res, void *arg)
{
	struct job *j = arg;
	struct verifier *v = j->v;
	if (!job_answer_ok(j, res))
		return;
	char m[700], code[64];
	if (res->status != 200) {
		job_agent_error(res, m, sizeof m, code, sizeof code);
		job_nonce_consume(j, NULL, NULL);
		if (job_tpm_timeout(j, res, code, m))
			return;
		if (res->status == 409 && strcmp(code, "NO_AK") == 0 && j->enrollments == 0) {
			(void)store_ak_retire_all(v->store, j->host_id, verifier_now(), NULL);
			enroll_start(j);
			return;
		}
		if (res->status == 422 && strcmp(code, "PCR_BANK_INACTIVE") == 0) {
			/* A TPM without the bank the policy quotes (a SHA-1-only TPM):
			 * a requirement unmet, named as such, not an agent fault. */
			job_red(j,
			        j->quote_sha256_only ? REASON_SHA256_BANK_MISSING
			                             : REASON_PCR_BANK_MISSING,
			        m, NULL, NULL);
			return;
		}
		job_red(j, REASON_AGENT_ERROR, m, NULL, NULL);
		return;
	}
	struct bundle *b = NULL;
	struct bundle_error be = {0};
	if (bundle_parse(res->body, res->body_len, &b, &be) < 0) {
		snprintf(m, sizeof m, "the agent's evidence is malformed: %s", be.message);
		job_red(j, REASON_EVIDENCE_MALFORMED, m, NULL, NULL);
		return;
	}
	j->host_us = b->host_us;
	if (b->eventlog_unchanged && !j->log_named) {
		bundle_free(b);
		job_red(j, REASON_EVIDENCE_MALFORMED,
		        "the agent's evidence is malformed: it says the event log is unchanged, "
		        "but this verifier named no event log",
		        NULL, NULL);
		return;
	}
	/* Single use: consumed on the job, then appraised; recorded as used
	 * with the verdict (docs/security.md, "Nonces"). */
	job_nonce_consume(j, appraise_consumed, b);
}

/* The host's current AK: the one its memo entry keeps when the host row
 * (read a moment ago) names it, else read from the store and kept there.
 * *ret points at held or at *ret_read (the caller frees that one). */
static int current_ak(struct verifier *v, const struct store_host *h, struct store_ak **ret_read,
                      struct store_ak *held, const struct store_ak **ret)
{
	if (appraise_ak(v, h->id, h->ak_name, &held->public_area, &held->public_len)) {
		held->host_id = h->id;
		held->name_hex = h->ak_name;
		*ret = held;
		return 0;
	}
	int rc = store_ak_current(v->store, h->id, ret_read);
	if (rc < 0)
		return rc;
	appraise_ak_set(v, h->id, (*ret_read)->name_hex, (*ret_read)->public_area,
	                (*ret_read)->public_len);
	*ret = *ret_read;
	return 0;
}

static void appraise_consumed(struct job *j, void *arg, int rc, const char *cmsg)
{
	struct bundle *b = arg;
	struct verifier *v = j->v;
	if (rc < 0 && rc != ATTEST_E_STATE && rc != ATTEST_E_NOTFOUND) {
		/* Not decided: the database could not say whether it is fresh. */
		bundle_free(b);
		job_store_failed(j, "consuming the nonce", cmsg);
		return;
	}
	if (rc < 0) {
		bundle_free(b);
		job_red(j, quote_status_code(QUOTE_NONCE_NOT_FRESH),
		        "the nonce of this quote was already used or has expired", NULL, NULL);
		return;
	}
	struct store_host *own = NULL;
	const struct store_host *h = NULL;
	struct store_ak *ak = NULL, held = {0};
	const struct store_ak *akp = NULL;
	const struct policy *p = NULL;
	const uint8_t *pdigest = NULL;
	struct policy_error pe = {0};
	/* The policy the quote was asked under (read from the store at
	 * quote_start, a moment ago), while it is still parsed in the cache. */
	if (j->have_policy)
		p = appraise_policy_seen(v, j->policy_digest, &pdigest);
	/* The host's row the verdict is judged against (boot counters, facts,
	 * AK, software): the claim's, read by the writer when it leased the
	 * host for this attestation, unless the job enrolled (job_host). */
	if ((rc = job_host(j, &h, &own)) < 0 || (rc = current_ak(v, h, &ak, &held, &akp)) < 0 ||
	    (!p && (rc = appraise_policy(v, j->host_id, h->policy_id, &p, &pdigest, &pe)) < 0)) {
		char msg[320];
		snprintf(msg, sizeof msg, "the host, its AK or its policy cannot be loaded%s%s",
		         pe.message[0] ? ": " : "", pe.message);
		if (job_store_failure(rc))
			job_store_error(j, "loading the host, its AK or its policy");
		else
			job_red(j, REASON_VERIFIER_ERROR, msg, NULL, NULL);
	} else {
		j->host_now = h; /* the verdict needs no fresher read */
		verify_and_store(j, b, h, akp, p, pdigest);
		j->host_now = NULL;
	}
	store_ak_free(ak);
	store_host_free(own);
	bundle_free(b);
}
