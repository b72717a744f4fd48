/* The verification pipeline (verify.h). Read top to bottom: one function
 * per step, called in DESIGN.md's order by verify_attestation() at the end
 * of this file. Failures are reasons in the result; a negative return from
 * a step means the step could not run (the pipeline then ends RED with a
 * VERIFIER_ERROR reason). */
#include "verify.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "evidence.h"
#include "eventlog.h"
#include "eventlog_facts.h"
#include "hex.h"
#include "reason.h"
#include "tpm.h"
#include "verify_memo.h"

/* Everything one run of the pipeline knows so far. */
struct run {
	const struct verify_input *in;
	struct verify_result *r;
	struct verify_reason scratch; /* target of reasons past the cap */
	const EVP_MD *sha256;         /* the memo's, fetched once; else EVP_sha256() */
	TPMT_PUBLIC ak;               /* decoded, unless qak is the memo's */
	struct quote_ak *qak;         /* the enrolled AK prepared, from the memo */
	struct quote_info qi;
	bool authentic;      /* the quote decoded and the enrolled AK signed it */
	bool fresh;          /* ... and it answers our nonce and this metadata */
	bool pcrs_bound;     /* ... and the reported PCR values are the quoted ones */
	uint32_t quoted256;  /* sha256 PCRs the quote covers */
	uint32_t trusted256; /* of those: bound, and the log replays to them */
	struct eventlog *log;
	struct eventlog_checks *checks;
	struct eventlog_facts *facts;
	/* the host's memo (verify_memo.h), when the caller gave one */
	bool have_log_digest;
	uint8_t log_digest[VERIFY_MEMO_DIGEST];
	bool replay_clean; /* step 7 added no reason and every bank replayed */
	uint32_t staged_count;
	struct verify_memo_bank staged[QUOTE_MAX_BANKS]; /* replayed values to memoize */
};

/* ---- reasons ---- */

static struct verify_reason *add(struct run *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static struct verify_reason *add(struct run *c, const char *code, const char *fmt, ...)
{
	struct verify_result *r = c->r;
	struct verify_reason *rs = &c->scratch;
	if (r->reason_count == r->reason_cap && r->reason_cap < VERIFY_MAX_REASONS) {
		size_t cap = r->reason_cap ? 2 * r->reason_cap : 4;
		if (cap > VERIFY_MAX_REASONS)
			cap = VERIFY_MAX_REASONS;
		struct verify_reason *n = realloc(r->reasons, cap * sizeof *n);
		if (n) {
			r->reasons = n;
			r->reason_cap = cap;
		}
	}
	if (r->reason_count < r->reason_cap)
		rs = &r->reasons[r->reason_count++];
	else
		r->reasons_dropped++;
	memset(rs, 0, sizeof *rs);
	rs->code = code;
	rs->pcr = -1;
	rs->event = -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rs->message, sizeof rs->message, fmt, ap);
	va_end(ap);
	return rs;
}

static void hexto(char *out, const uint8_t *d, size_t n)
{
	if (n > (VERIFY_VALUE_MAX - 1) / 2)
		n = (VERIFY_VALUE_MAX - 1) / 2;
	hex_encode(d, n, out);
}

/* Copy text into a fixed field, cut with "..." if it does not fit. */
static void textto(char *out, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (n < cap) {
		memcpy(out, s, n + 1);
		return;
	}
	memcpy(out, s, cap - 4);
	memcpy(out + cap - 4, "...", 4);
}

/* Point a reason at one event of the log. */
static void at_event(struct run *c, struct verify_reason *rs, size_t i)
{
	const struct eventlog_event *ev = &c->log->events[i];
	rs->event = ev->number;
	rs->event_type = eventlog_type_name(ev->type);
	rs->pcr = ev->pcr < EVENTLOG_NUM_PCRS ? (int)ev->pcr : -1;
	eventlog_event_describe(ev, rs->description, sizeof rs->description);
}

/* "one of: a, b, c" into a reason's allowed field. */
static void allowed_strings(struct verify_reason *rs, const struct policy_strings *s)
{
	char buf[VERIFY_TEXT_MAX * 2];
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < s->count && len < sizeof buf - 1; i++) {
		int n = snprintf(buf + len, sizeof buf - len, "%s\"%s\"",
		                 i ? ", " : "one of: ", s->v[i]);
		if (n < 0)
			break;
		len += (size_t)n < sizeof buf - len ? (size_t)n : sizeof buf - len - 1;
	}
	textto(rs->allowed, sizeof rs->allowed, s->count ? buf : "nothing (empty list)");
}

static void allowed_digests(struct verify_reason *rs, const struct policy_digests *d)
{
	if (d->count == 1) {
		char h[2 * POLICY_DIGEST_SIZE + 1];
		hex_encode(d->v[0], POLICY_DIGEST_SIZE, h);
		snprintf(rs->allowed, sizeof rs->allowed, "%s", h);
		hexto(rs->expected, d->v[0], POLICY_DIGEST_SIZE);
	} else {
		snprintf(rs->allowed, sizeof rs->allowed, "one of %zu approved SHA-256 digests",
		         d->count);
	}
}

static bool has_digest(const struct policy_digests *d, const uint8_t *v)
{
	for (size_t i = 0; i < d->count; i++)
		if (CRYPTO_memcmp(d->v[i], v, POLICY_DIGEST_SIZE) == 0)
			return true;
	return false;
}

static bool has_string(const struct policy_strings *s, const char *v)
{
	for (size_t i = 0; i < s->count; i++)
		if (!strcmp(s->v[i], v))
			return true;
	return false;
}

/* A metadata string, or NULL. */
static const char *meta(const struct run *c, const char *key)
{
	json_t *v = json_object_get(c->in->bundle->metadata, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Whether the log event i can be believed: it lies in a sha256 PCR the
 * quote covers, whose reported value is bound to the quote and equals the
 * log's replay, and its content check did not fail. */
static bool event_ok(const struct run *c, int64_t i)
{
	if (!c->log || !c->checks || i < 0 || (size_t)i >= c->log->event_count)
		return false;
	uint32_t pcr = c->log->events[i].pcr;
	return pcr < EVENTLOG_NUM_PCRS && (c->trusted256 & (1u << pcr)) &&
	       c->checks->status[i] != EVENTLOG_CHECK_FAIL;
}

static const uint8_t *sha256_digest(const struct run *c, int64_t i)
{
	const struct eventlog_digest *d =
	    eventlog_event_digest(&c->log->events[i], TPM2_ALG_SHA256);
	return d && d->size == POLICY_DIGEST_SIZE ? d->bytes : NULL;
}

/* ---- steps 1-4: the quote ---- */

static bool quote_reason_breaks_authenticity(enum quote_status s)
{
	switch (s) {
	case QUOTE_MALFORMED:
	case QUOTE_SIGNATURE_MALFORMED:
	case QUOTE_SIGNATURE_UNSUPPORTED:
	case QUOTE_SIGNATURE_SCHEME_MISMATCH:
	case QUOTE_SIGNATURE_INVALID:
	case QUOTE_BAD_MAGIC:
	case QUOTE_BAD_TYPE:
	case QUOTE_AK_UNSUPPORTED: return true;
	default: return false;
	}
}

static bool quote_reason_unbinds_pcrs(enum quote_status s)
{
	return s == QUOTE_PCR_DIGEST_MISMATCH || s == QUOTE_PCR_SELECTION_UNSUPPORTED ||
	       s == QUOTE_PCR_VALUE_MISSING || s == QUOTE_PCR_NOT_QUOTED;
}

/* Signature by the enrolled AK, magic/type, extraData, PCR digest: quote.c
 * checks them in that order; its reasons are copied over unchanged. */
static int step_quote(struct run *c)
{
	const struct bundle *b = c->in->bundle;
	const char *m = b->metadata_canonical ? b->metadata_canonical : "";
	uint8_t qd[EVIDENCE_QUALIFYING_SIZE];
	int e = evidence_qualifying_data_md(c->sha256, c->in->nonce, c->in->nonce_len,
	                                    (const uint8_t *)m, strlen(m), qd);
	if (e < 0)
		return e; /* our own nonce is unusable: nothing can be checked */
	TPML_PCR_SELECTION want;
	policy_tpm_selection(c->in->policy, &want);
	/* ~17 KB, on the stack: a block that size from malloc per quote
	 * costs glibc a sort of its free lists; not zeroed for nothing. */
	struct quote_reasons qrs;
	struct quote_reasons *qr = &qrs;
	qr->count = qr->dropped = 0;
	if (c->qak)
		e = quote_verify_ak(c->qak, b->quote, b->quote_len, b->signature, b->signature_len,
		                    qd, sizeof qd, &b->pcrs, &want, &c->qi, qr);
	else
		e = quote_verify(&c->ak, NULL, b->quote, b->quote_len, b->signature,
		                 b->signature_len, qd, sizeof qd, &b->pcrs, &want, &c->qi, qr);
	if (e < 0)
		goto out;
	c->authentic = c->qi.decoded;
	c->fresh = c->qi.decoded;
	c->pcrs_bound = c->qi.decoded;
	for (size_t i = 0; i < qr->count; i++) {
		const struct quote_reason *q = &qr->list[i];
		struct verify_reason *rs = add(c, quote_status_code(q->status), "%s", q->message);
		rs->pcr = q->pcr;
		rs->bank = q->alg;
		textto(rs->expected, sizeof rs->expected, q->expected);
		textto(rs->actual, sizeof rs->actual, q->actual);
		if (quote_reason_breaks_authenticity(q->status))
			c->authentic = false;
		if (q->status == QUOTE_NONCE_MISMATCH)
			c->fresh = false;
		if (quote_reason_unbinds_pcrs(q->status))
			c->pcrs_bound = false;
	}
	if (qr->dropped)
		c->r->reasons_dropped += qr->dropped;
	c->fresh = c->fresh && c->authentic;
	c->pcrs_bound = c->pcrs_bound && c->authentic;
	for (uint32_t i = 0; c->authentic && i < c->qi.selection.count && i < TPM2_NUM_PCR_BANKS;
	     i++) {
		const TPMS_PCR_SELECTION *s = &c->qi.selection.pcrSelections[i];
		if (s->hash != TPM2_ALG_SHA256)
			continue;
		for (unsigned k = 0; k < s->sizeofSelect && k < 3; k++)
			c->quoted256 |= (uint32_t)s->pcrSelect[k] << (8 * k);
	}
	e = 0;
out:
	return e;
}

/* ---- step 5: restart counters ---- */

static void step_restart(struct run *c)
{
	const struct verify_previous *prev = &c->in->previous;
	struct verify_clock *clk = &c->r->clock;
	clk->known = true;
	clk->clock = c->qi.clock.clock;
	clk->reset_count = c->qi.clock.resetCount;
	clk->restart_count = c->qi.clock.restartCount;
	clk->safe = c->qi.clock.safe != 0;
	const char *boot_id = meta(c, "boot_id");
	if (boot_id)
		textto(clk->boot_id, sizeof clk->boot_id, boot_id);
	if (!c->fresh)
		return; /* counters of a stale quote say nothing about now */
	if (prev->have_clock &&
	    (clk->reset_count != prev->reset_count || clk->restart_count != prev->restart_count)) {
		struct verify_reason *rs = add(
		    c, REASON_HOST_RESTARTED_REENROLLING,
		    "the TPM's resetCount/restartCount changed from %u/%u to %u/%u: the "
		    "host restarted",
		    prev->reset_count, prev->restart_count, clk->reset_count, clk->restart_count);
		snprintf(rs->expected, sizeof rs->expected, "resetCount=%u restartCount=%u",
		         prev->reset_count, prev->restart_count);
		snprintf(rs->actual, sizeof rs->actual, "resetCount=%u restartCount=%u",
		         clk->reset_count, clk->restart_count);
		c->r->restarted = true;
	} else if (prev->boot_id && boot_id && strcmp(prev->boot_id, boot_id) != 0) {
		struct verify_reason *rs = add(c, REASON_HOST_RESTARTED_REENROLLING,
		                               "the host's boot id changed: the host restarted");
		textto(rs->expected, sizeof rs->expected, prev->boot_id);
		textto(rs->actual, sizeof rs->actual, boot_id);
		c->r->restarted = true;
	}
}

/* ---- step 6: the event log parses ---- */

static int step_eventlog_parse(struct run *c)
{
	const struct bundle *b = c->in->bundle;
	if (!b->eventlog) {
		add(c, quote_status_code(QUOTE_EVENTLOG_MISSING),
		    "the evidence carries no event log, so the PCR values are unexplained");
		return 0;
	}
	struct diag lerr;
	memset(&lerr, 0, sizeof lerr);
	int e = eventlog_parse(b->eventlog, b->eventlog_len, &c->log, &lerr);
	if (e == ATTEST_E_NOMEM)
		return e;
	if (e < 0) {
		c->log = NULL;
		struct verify_reason *rs =
		    add(c, quote_status_code(QUOTE_EVENTLOG_INVALID),
		        "the event log does not parse: event %zu at offset %zu: %s", lerr.event,
		        lerr.offset, lerr.message);
		rs->event = (int64_t)lerr.event;
	}
	return 0;
}

/* ---- step 7: replay equals the quoted PCRs ---- */

/* Explain a PCR whose replay differs from the quoted value: walk the log's
 * events for that PCR, extending as the TPM would, and look for the point
 * where the running value equals what the TPM holds.
 *  - found before the end: the log has events the TPM never saw; name the
 *    first of them;
 *  - not found: the TPM holds measurements the log does not show (an event
 *    extended without being logged, or a logged digest was altered); name
 *    the PCR's last logged event. */
static int explain_mismatch(struct run *c, uint16_t alg, unsigned idx, const uint8_t *quoted,
                            const uint8_t *replayed, size_t size)
{
	const EVP_MD *md = tpm_alg_md(alg);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!md || !ctx) {
		EVP_MD_CTX_free(ctx);
		return md ? ATTEST_E_NOMEM : ATTEST_E_UNSUPPORTED;
	}
	uint8_t v[EVENTLOG_MAX_DIGEST];
	memset(v, 0, sizeof v);
	if (idx == 0)
		v[size - 1] = c->log->has_hcrtm              ? 4
		              : c->log->has_startup_locality ? c->log->startup_locality
		                                             : 0;
	int64_t matched = memcmp(v, quoted, size) == 0 ? -1 : -2; /* -2: never */
	int64_t last = -1, extra = -1;
	size_t extra_count = 0;
	int e = 0;
	for (size_t i = 0; i < c->log->event_count; i++) {
		const struct eventlog_event *ev = &c->log->events[i];
		if (ev->pcr != idx || ev->type == EV_NO_ACTION)
			continue;
		const struct eventlog_digest *d = eventlog_event_digest(ev, alg);
		if (!d || d->size != size)
			continue;
		if (matched != -2) { /* already explained: this one is extra */
			if (extra < 0)
				extra = (int64_t)i;
			extra_count++;
			continue;
		}
		unsigned int n = 0;
		if (!EVP_DigestInit_ex2(ctx, md, NULL) || !EVP_DigestUpdate(ctx, v, size) ||
		    !EVP_DigestUpdate(ctx, d->bytes, size) || !EVP_DigestFinal_ex(ctx, v, &n)) {
			e = ATTEST_E_CRYPTO;
			goto out;
		}
		last = (int64_t)i;
		if (memcmp(v, quoted, size) == 0)
			matched = (int64_t)i;
	}
	struct verify_reason *rs;
	const char *bank = eventlog_alg_name(alg);
	if (extra >= 0) {
		rs =
		    add(c, quote_status_code(QUOTE_EVENTLOG_REPLAY_MISMATCH),
		        "PCR %u (%s): the TPM's value is explained by the log only up to %s; event "
		        "%zu and %zu event(s) in all after it are in the log but were never "
		        "measured into the TPM",
		        idx, bank, matched < 0 ? "its initial value" : "an earlier event",
		        (size_t)c->log->events[extra].number, extra_count);
		at_event(c, rs, (size_t)extra);
	} else if (last >= 0) {
		rs = add(c, quote_status_code(QUOTE_EVENTLOG_REPLAY_MISMATCH),
		         "PCR %u (%s): the TPM holds measurements the log does not show (or a "
		         "logged digest was altered); the log's last event for this PCR is event "
		         "%u",
		         idx, bank, c->log->events[last].number);
		at_event(c, rs, (size_t)last);
	} else {
		rs = add(c, quote_status_code(QUOTE_EVENTLOG_REPLAY_MISMATCH),
		         "PCR %u (%s): the log shows no event for this PCR, yet the TPM's value is "
		         "not its initial value: the TPM holds measurements the log does not show",
		         idx, bank);
	}
	rs->pcr = (int)idx;
	rs->bank = alg;
	hexto(rs->expected, quoted, size);
	hexto(rs->actual, replayed, size);
out:
	EVP_MD_CTX_free(ctx);
	return e;
}

static int step_replay(struct run *c)
{
	const struct bundle *b = c->in->bundle;
	struct eventlog_pcrs *rep = malloc(sizeof *rep);
	if (!rep)
		return ATTEST_E_NOMEM;
	int e = 0;
	c->replay_clean = true;
	const TPML_PCR_SELECTION *sel = &c->qi.selection;
	for (uint32_t i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS && e == 0; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		const struct quote_pcr_bank *q = quote_pcrs_bank(&b->pcrs, s->hash);
		if (!q)
			continue; /* already PCR_VALUE_MISSING */
		e = eventlog_replay_bank(c->log, s->hash, rep);
		if (e < 0)
			break;
		const struct eventlog_pcr_bank *r = eventlog_pcrs_bank(rep, s->hash);
		if (!r || !r->size) {
			c->replay_clean = false;
			struct verify_reason *rs =
			    add(c, quote_status_code(QUOTE_EVENTLOG_BANK_MISSING),
			        "the event log has no %s digests, but the quote covers that bank",
			        tpm_alg_name(s->hash));
			rs->bank = s->hash;
			continue;
		}
		if (c->in->memo && c->staged_count < QUOTE_MAX_BANKS &&
		    r->size <= QUOTE_MAX_DIGEST) {
			struct verify_memo_bank *mb = &c->staged[c->staged_count];
			mb->pcr = malloc((size_t)QUOTE_NUM_PCRS * r->size);
			if (!mb->pcr) {
				e = ATTEST_E_NOMEM;
				break;
			}
			mb->alg = s->hash;
			mb->size = r->size;
			for (unsigned k = 0; k < QUOTE_NUM_PCRS; k++)
				memcpy(mb->pcr + (size_t)k * r->size, r->pcr[k], r->size);
			c->staged_count++;
		} else {
			c->replay_clean = false;
		}
		for (unsigned idx = 0; idx < QUOTE_NUM_PCRS && e == 0; idx++) {
			unsigned byte = idx / 8;
			if (byte >= s->sizeofSelect || !(s->pcrSelect[byte] & (1u << (idx % 8))) ||
			    !(q->present & (1u << idx)))
				continue;
			if (CRYPTO_memcmp(q->value[idx], r->pcr[idx], q->size) != 0) {
				c->replay_clean = false;
				e = explain_mismatch(c, s->hash, idx, q->value[idx], r->pcr[idx],
				                     q->size);
				continue;
			}
			if (s->hash == TPM2_ALG_SHA256 && c->pcrs_bound)
				c->trusted256 |= 1u << idx;
		}
	}
	free(rep);
	return e;
}

/* ---- step 8: the content of every event whose data is used ---- */

static int step_content(struct run *c)
{
	int e = eventlog_content_check_bank(c->log, TPM2_ALG_SHA256, &c->checks);
	if (e == ATTEST_E_NOTFOUND) /* no sha256 bank: requirements say so */
		e = eventlog_content_check(c->log, &c->checks);
	if (e < 0)
		return e;
	for (size_t i = 0; i < c->checks->failures_kept; i++) {
		const struct eventlog_check_failure *f = &c->checks->failures[i];
		if (f->pcr >= EVENTLOG_NUM_PCRS || !(c->quoted256 & (1u << f->pcr)))
			continue; /* a PCR nothing relies on */
		struct verify_reason *rs =
		    add(c, REASON_EVENT_CONTENT_MISMATCH,
		        "event %u (%s, PCR %u): its %s digest is not the hash of the data it "
		        "shows, so the log lies about what was measured",
		        f->event, eventlog_type_name(f->type), f->pcr, eventlog_alg_name(f->alg));
		at_event(c, rs, f->event);
		rs->bank = f->alg;
		hexto(rs->expected, f->expected, f->size);
		hexto(rs->actual, f->actual, f->size);
		textto(rs->allowed, sizeof rs->allowed, f->rule ? f->rule : "");
	}
	return eventlog_facts_derive(c->log, c->checks, &c->facts);
}

/* ---- step 9: requirements ---- */

static void check_secure_boot(struct run *c)
{
	const struct eventlog_facts *f = c->facts;
	if (!c->in->policy->secure_boot || !f)
		return;
	if (f->secure_boot == EVENTLOG_SECURE_BOOT_ENABLED && event_ok(c, f->secure_boot_event))
		return;
	struct verify_reason *rs;
	if (!f->has_secure_boot_event)
		rs = add(c, REASON_SECURE_BOOT_DISABLED,
		         "the event log has no SecureBoot variable event: Secure Boot is not shown "
		         "enabled");
	else if (f->secure_boot == EVENTLOG_SECURE_BOOT_DISABLED)
		rs = add(
		    c, REASON_SECURE_BOOT_DISABLED,
		    "Secure Boot is disabled (the SecureBoot variable measured in event %u is 0)",
		    f->secure_boot_event);
	else if (f->secure_boot == EVENTLOG_SECURE_BOOT_ENABLED)
		rs = add(c, REASON_SECURE_BOOT_DISABLED,
		         "Secure Boot cannot be confirmed: event %u is in a PCR that is not quoted "
		         "or does not replay",
		         f->secure_boot_event);
	else
		rs = add(c, REASON_SECURE_BOOT_DISABLED,
		         "Secure Boot state is unknown: the SecureBoot event %u does not verify or "
		         "has an unexpected value",
		         f->secure_boot_event);
	if (f->has_secure_boot_event)
		at_event(c, rs, f->secure_boot_event);
	textto(rs->actual, sizeof rs->actual, eventlog_secure_boot_name(f->secure_boot));
	textto(rs->expected, sizeof rs->expected, "enabled");
}

static void check_banks(struct run *c)
{
	const struct policy *p = c->in->policy;
	const struct verify_host *h = &c->in->host;
	for (size_t i = 0; i < p->bank_count; i++) {
		uint16_t alg = p->banks[i];
		bool active = h->bank_count == 0;
		for (size_t k = 0; k < h->bank_count && h->banks; k++)
			active = active || h->banks[k] == alg;
		bool quoted = false;
		for (uint32_t k = 0;
		     c->authentic && k < c->qi.selection.count && k < TPM2_NUM_PCR_BANKS; k++) {
			const TPMS_PCR_SELECTION *s = &c->qi.selection.pcrSelections[k];
			quoted = quoted || (s->hash == alg && s->sizeofSelect &&
			                    (s->pcrSelect[0] | s->pcrSelect[1] | s->pcrSelect[2]));
		}
		bool logged = !c->log;
		for (uint32_t k = 0; c->log && k < c->log->bank_count; k++)
			logged = logged || c->log->banks[k].alg == alg;
		if (active && quoted && logged)
			continue;
		const char *name = bundle_bank_name(alg);
		struct verify_reason *rs = add(
		    c,
		    alg == TPM2_ALG_SHA256 ? REASON_SHA256_BANK_MISSING : REASON_PCR_BANK_MISSING,
		    "the %s PCR bank is required but%s%s%s", name,
		    active ? "" : " not active in the TPM", quoted ? "" : " not quoted",
		    logged ? "" : " not in the event log");
		rs->bank = alg;
		textto(rs->expected, sizeof rs->expected, name);
	}
}

static void check_uefi(struct run *c)
{
	if (!c->in->policy->uefi || !c->log)
		return;
	for (size_t i = 0; i < c->log->event_count; i++)
		if (c->log->events[i].type >= EV_EFI_EVENT_BASE && event_ok(c, (int64_t)i))
			return;
	add(c, REASON_NOT_UEFI,
	    "the event log shows no verifiable UEFI event in a quoted PCR: the host did not "
	    "boot with UEFI");
}

static void check_interface(struct run *c)
{
	uint32_t allowed = c->in->policy->tpm_interfaces;
	if (!allowed)
		return;
	const char *have = c->in->host.tpm_interface ? c->in->host.tpm_interface : "unknown";
	uint32_t bit = !strcmp(have, "tis")   ? POLICY_TPM_TIS
	               : !strcmp(have, "crb") ? POLICY_TPM_CRB
	                                      : 0;
	if (allowed & bit)
		return;
	struct verify_reason *rs =
	    add(c, REASON_TPM_INTERFACE_NOT_ALLOWED,
	        "the TPM's interface is %s, which the policy does not allow", have);
	textto(rs->actual, sizeof rs->actual, have);
	snprintf(rs->allowed, sizeof rs->allowed, "%s%s%s", allowed & POLICY_TPM_TIS ? "tis" : "",
	         (allowed & POLICY_TPM_TIS) && (allowed & POLICY_TPM_CRB) ? ", " : "",
	         allowed & POLICY_TPM_CRB ? "crb" : "");
}

static void check_agent_version(struct run *c)
{
	const char *min = c->in->policy->min_agent_version;
	if (!min)
		return;
	/* the identity's version, else the one signed into the quote's metadata */
	const char *have = c->in->host.agent_version ? c->in->host.agent_version
	                                             : (c->fresh ? meta(c, "agent_version") : NULL);
	int cmp = -1;
	if (have && policy_version_compare(have, min, &cmp) == 0 && cmp >= 0)
		return;
	struct verify_reason *rs = add(c, REASON_AGENT_VERSION_TOO_OLD,
	                               "the agent's version is %s; the policy requires %s or later",
	                               have ? have : "unknown", min);
	textto(rs->actual, sizeof rs->actual, have ? have : "unknown");
	snprintf(rs->allowed, sizeof rs->allowed, "%.64s or later", min);
}

static void check_certified(struct run *c)
{
	if (!c->in->policy->certified_tpm || c->in->host.ek_certified)
		return;
	const char *t = c->in->host.ek_trust;
	if (t && !strcmp(t, "operator_key"))
		add(c, REASON_TPM_NOT_CERTIFIED,
		    "the TPM's endorsement key is trusted only because the operator approved its "
		    "key hash (ek_trust operator_key), and the policy requires a TPM of a "
		    "certified "
		    "vendor (requirements.certified_tpm)");
	else
		add(c, REASON_TPM_NOT_CERTIFIED,
		    "the TPM's endorsement key certificate was not verified against the certified "
		    "TPM list at enrollment");
}

static void check_ek_trust(struct run *c)
{
	uint32_t allowed = c->in->policy->ek_trust;
	if (!allowed)
		return;
	const char *t = c->in->host.ek_trust;
	if (!t && c->in->host.ek_certified)
		t = "certified";
	if (policy_ek_trust_bit(t) & allowed)
		return;
	struct verify_reason *rs =
	    add(c, REASON_EK_TRUST_NOT_ALLOWED,
	        "the host's EK is trusted as %s; the policy accepts only %s%s%s", t ? t : "nothing",
	        (allowed & POLICY_EK_CERTIFIED) ? "certified " : "",
	        (allowed & POLICY_EK_OPERATOR_CERTIFICATE) ? "operator_certificate " : "",
	        (allowed & POLICY_EK_OPERATOR_KEY) ? "operator_key" : "");
	textto(rs->actual, sizeof rs->actual, t ? t : "none");
}

static void step_requirements(struct run *c)
{
	check_secure_boot(c);
	check_banks(c);
	check_uefi(c);
	check_interface(c);
	check_agent_version(c);
	check_certified(c);
	check_ek_trust(c);
}

/* ---- step 10: the approved configuration ---- */

static struct verify_reason *not_approved(struct run *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct verify_reason *not_approved(struct run *c, const char *fmt, ...)
{
	char what[VERIFY_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return add(c, REASON_CONFIGURATION_NOT_APPROVED, "%s", what);
}

static void check_firmware(struct run *c)
{
	const struct policy *p = c->in->policy;
	const struct eventlog_facts *f = c->facts;
	if (p->has_firmware_versions) {
		size_t seen = 0;
		for (size_t i = 0; i < f->firmware_count; i++) {
			const struct eventlog_fact_text *t = &f->firmware[i];
			if (t->type != EV_S_CRTM_VERSION)
				continue;
			seen++;
			if (t->verified && event_ok(c, t->event) &&
			    has_string(&p->firmware_versions, t->text))
				continue;
			struct verify_reason *rs = not_approved(
			    c, "firmware version \"%.200s\" (event %u) is %s", t->text, t->event,
			    t->verified && event_ok(c, t->event) ? "not approved"
			                                         : "not verifiable");
			at_event(c, rs, t->event);
			textto(rs->actual, sizeof rs->actual, t->text);
			allowed_strings(rs, &p->firmware_versions);
		}
		if (!seen) {
			struct verify_reason *rs =
			    not_approved(c, "the event log shows no firmware version (S-CRTM)");
			allowed_strings(rs, &p->firmware_versions);
		}
	}
	if (p->has_firmware_blobs) {
		for (size_t i = 0; i < c->log->event_count; i++) {
			const struct eventlog_event *ev = &c->log->events[i];
			if (ev->type != EV_EFI_PLATFORM_FIRMWARE_BLOB &&
			    ev->type != EV_EFI_PLATFORM_FIRMWARE_BLOB2)
				continue;
			const uint8_t *d = sha256_digest(c, (int64_t)i);
			if (d && event_ok(c, (int64_t)i) && has_digest(&p->firmware_blobs, d))
				continue;
			struct verify_reason *rs = not_approved(
			    c, "firmware blob (event %u) is %s", ev->number,
			    d && event_ok(c, (int64_t)i) ? "not approved" : "not verifiable");
			at_event(c, rs, i);
			rs->bank = TPM2_ALG_SHA256;
			if (d)
				hexto(rs->actual, d, POLICY_DIGEST_SIZE);
			allowed_digests(rs, &p->firmware_blobs);
		}
	}
}

static bool boot_app_approved(const struct policy *p, const char *path, const uint8_t *d)
{
	for (size_t i = 0; i < p->boot_app_count; i++) {
		const struct policy_boot_app *a = &p->boot_apps[i];
		if (CRYPTO_memcmp(a->digest, d, POLICY_DIGEST_SIZE) != 0)
			continue;
		if (!a->path || (path && !strcmp(a->path, path)))
			return true;
	}
	return false;
}

/* A boot application the policy's catalog rules judge: NULL if they
 * approve it (or the policy has none), else the sentence's tail. */
static const char *catalog_refusal(struct run *c, const uint8_t *d, char *why, size_t cap)
{
	const struct policy *p = c->in->policy;
	struct policy_catalog_judgement j;
	policy_catalog_judge(p, c->in->catalog, c->in->catalog_count, d, &j);
	char hex[65];
	hex_encode(d, 32, hex);
	switch (j.verdict) {
	case POLICY_CATALOG_APPROVED: return NULL;
	case POLICY_CATALOG_NOT_IN_CATALOG:
		snprintf(why, cap, "not in the catalog (digest %.64s)", hex);
		break;
	case POLICY_CATALOG_TOO_OLD:
		snprintf(
		    why, cap,
		    "%.32s %.100s %.60s, older than the minimum %.60s of catalog rule \"%.60s\" "
		    "(rollback)",
		    j.entry->kind, j.entry->package, j.entry->version, j.rule->min_version,
		    j.rule->name);
		break;
	case POLICY_CATALOG_NO_RULE:
		snprintf(why, cap, "%.32s %.100s %.60s in the catalog, approved by no catalog rule",
		         j.entry->kind, j.entry->package, j.entry->version);
		break;
	}
	return why;
}

static void check_boot_apps(struct run *c)
{
	const struct policy *p = c->in->policy;
	const struct eventlog_facts *f = c->facts;
	if (!p->has_boot_apps && !p->has_catalog_rules)
		return;
	for (size_t i = 0; i < f->boot_app_count; i++) {
		const struct eventlog_boot_app *a = &f->boot_apps[i];
		const uint8_t *d = sha256_digest(c, a->event);
		bool ok = d && event_ok(c, a->event);
		char why[VERIFY_TEXT_MAX - 64];
		const char *refused = NULL;
		if (ok && p->has_boot_apps && boot_app_approved(p, a->path, d))
			continue;
		if (ok && p->has_catalog_rules &&
		    !(refused = catalog_refusal(c, d, why, sizeof why)))
			continue;
		struct verify_reason *rs =
		    not_approved(c, "boot application %.200s (event %u) is %s",
		                 a->path && a->path[0] ? a->path : "(no path)", a->event,
		                 !ok       ? "not verifiable"
		                 : refused ? refused
		                           : "not approved");
		at_event(c, rs, a->event);
		rs->bank = TPM2_ALG_SHA256;
		if (d)
			hexto(rs->actual, d, POLICY_DIGEST_SIZE);
		size_t len = 0;
		for (size_t k = 0; k < p->catalog_rule_count && len + 1 < sizeof rs->allowed; k++) {
			const struct policy_catalog_rule *r = &p->catalog_rules[k];
			int n = snprintf(
			    rs->allowed + len, sizeof rs->allowed - len,
			    "%scatalog rule \"%s\" (%s%s%s%s%s)", len ? ", " : "", r->name,
			    r->package ? r->package : "any package", r->min_version ? " >= " : "",
			    r->min_version ? r->min_version : "", r->signer ? ", signed by " : "",
			    r->signer ? r->signer : "");
			if (n < 0 || (size_t)n >= sizeof rs->allowed - len)
				break;
			len += (size_t)n;
		}
		for (size_t k = 0; k < p->boot_app_count && len + 1 < sizeof rs->allowed; k++) {
			char h[17];
			hex_encode(p->boot_apps[k].digest, 8, h);
			int n =
			    snprintf(rs->allowed + len, sizeof rs->allowed - len, "%s%s %s...",
			             len ? ", " : "",
			             p->boot_apps[k].path ? p->boot_apps[k].path : "(any path)", h);
			if (n < 0 || (size_t)n >= sizeof rs->allowed - len)
				break;
			len += (size_t)n;
		}
	}
}

static void check_kernel(struct run *c)
{
	const struct policy *p = c->in->policy;
	const struct eventlog_facts *f = c->facts;
	if (p->has_kernel_cmdlines) {
		bool ok = f->kernel_cmdline && event_ok(c, f->kernel_cmdline_event);
		if (!ok || !has_string(&p->kernel_cmdlines, f->kernel_cmdline)) {
			struct verify_reason *rs;
			if (!f->kernel_cmdline)
				rs = not_approved(c,
				                  "the event log shows no verified kernel command "
				                  "line");
			else
				rs = not_approved(
				    c, "kernel command line \"%.300s\" (event %lld) is %s",
				    f->kernel_cmdline, (long long)f->kernel_cmdline_event,
				    ok ? "not approved"
				       : "not verifiable (its PCR is not quoted or does not "
				         "replay)");
			if (f->kernel_cmdline) {
				at_event(c, rs, (size_t)f->kernel_cmdline_event);
				textto(rs->actual, sizeof rs->actual, f->kernel_cmdline);
			}
			allowed_strings(rs, &p->kernel_cmdlines);
		}
	}
	if (p->has_kernel_images) {
		bool ok = f->kernel_image && event_ok(c, f->kernel_image_event);
		if (!ok || !has_string(&p->kernel_images, f->kernel_image)) {
			struct verify_reason *rs;
			if (!f->kernel_image)
				rs = not_approved(c, "the event log shows no kernel image");
			else
				rs = not_approved(c, "kernel image %.300s (event %lld) is %s",
				                  f->kernel_image, (long long)f->kernel_image_event,
				                  ok ? "not approved" : "not verifiable");
			if (f->kernel_image) {
				at_event(c, rs, (size_t)f->kernel_image_event);
				textto(rs->actual, sizeof rs->actual, f->kernel_image);
			}
			allowed_strings(rs, &p->kernel_images);
		}
	}
}

static void check_sigdb(struct run *c, const char *name, const struct eventlog_sigdb *s,
                        const struct policy_sigdb *ps)
{
	if (!ps->set)
		return;
	struct verify_reason *rs;
	if (!s->present || !s->verified || !s->well_formed || !event_ok(c, s->event)) {
		rs = not_approved(c, "%s: %s", name,
		                  !s->present       ? "the event log does not show this variable"
		                  : !s->verified    ? "its event does not verify"
		                  : !s->well_formed ? "its signature lists do not parse"
		                                    : "its event is in a PCR that is not quoted or "
		                                      "does not replay");
		if (s->present)
			at_event(c, rs, s->event);
		return;
	}
	const uint8_t *d = sha256_digest(c, s->event);
	if (ps->digests.count && (!d || !has_digest(&ps->digests, d))) {
		rs = not_approved(c, "%s (event %u) is not an approved %s", name, s->event, name);
		at_event(c, rs, s->event);
		rs->bank = TPM2_ALG_SHA256;
		if (d)
			hexto(rs->actual, d, POLICY_DIGEST_SIZE);
		allowed_digests(rs, &ps->digests);
	}
	if (ps->entries >= 0 && (int64_t)s->entries != ps->entries) {
		rs = not_approved(c, "%s (event %u) has %u entries; the policy approves %lld", name,
		                  s->event, s->entries, (long long)ps->entries);
		at_event(c, rs, s->event);
		snprintf(rs->actual, sizeof rs->actual, "%u entries", s->entries);
		snprintf(rs->allowed, sizeof rs->allowed, "%lld entries", (long long)ps->entries);
	}
	if (ps->min_entries >= 0 && (int64_t)s->entries < ps->min_entries) {
		rs = not_approved(c,
		                  "%s (event %u) has %u entries, fewer than the %lld the policy "
		                  "requires: it is older than the approved one",
		                  name, s->event, s->entries, (long long)ps->min_entries);
		at_event(c, rs, s->event);
		snprintf(rs->actual, sizeof rs->actual, "%u entries", s->entries);
		snprintf(rs->allowed, sizeof rs->allowed, "at least %lld entries",
		         (long long)ps->min_entries);
	}
}

static void check_pcr_values(struct run *c)
{
	const struct policy *p = c->in->policy;
	for (size_t i = 0; i < p->pcr_value_count; i++) {
		const struct policy_pcr_values *pv = &p->pcr_values[i];
		const struct quote_pcr_bank *q = quote_pcrs_bank(&c->in->bundle->pcrs, pv->alg);
		const char *bank = bundle_bank_name(pv->alg);
		struct verify_reason *rs;
		if (!c->pcrs_bound || !q || !(q->present & (1u << pv->index))) {
			rs = not_approved(c,
			                  "PCR %u (%s) cannot be checked: its value is not "
			                  "quoted",
			                  pv->index, bank);
		} else {
			bool ok = false;
			for (size_t k = 0; k < pv->count && !ok; k++)
				ok = CRYPTO_memcmp(pv->v[k], q->value[pv->index], q->size) == 0;
			if (ok)
				continue;
			rs = not_approved(c, "PCR %u (%s) has a value the policy does not approve",
			                  pv->index, bank);
			hexto(rs->actual, q->value[pv->index], q->size);
		}
		rs->pcr = (int)pv->index;
		rs->bank = pv->alg;
		if (pv->count)
			hexto(rs->expected, pv->v[0], eventlog_alg_size(pv->alg));
		snprintf(rs->allowed, sizeof rs->allowed, "%zu approved value%s", pv->count,
		         pv->count == 1 ? "" : "s");
	}
}

static bool needs_facts(const struct policy *p)
{
	return p->has_firmware_versions || p->has_firmware_blobs || p->has_boot_apps ||
	       p->has_catalog_rules || p->has_kernel_cmdlines || p->has_kernel_images ||
	       p->pk.set || p->kek.set || p->db.set || p->dbx.set;
}

static void step_configuration(struct run *c)
{
	const struct policy *p = c->in->policy;
	const struct eventlog_facts *f = c->facts;
	if (needs_facts(p) && !f) {
		not_approved(c, "the approved configuration cannot be checked without a usable "
		                "event log");
	} else if (f) {
		check_firmware(c);
		check_boot_apps(c);
		check_kernel(c);
		check_sigdb(c, "PK", &f->pk, &p->pk);
		check_sigdb(c, "KEK", &f->kek, &p->kek);
		check_sigdb(c, "db", &f->db, &p->db);
		check_sigdb(c, "dbx", &f->dbx, &p->dbx);
	}
	check_pcr_values(c);
}

/* ---- software versions (shown, not judged) ---- */

static int set_text(char **slot, const char *s)
{
	if (!s)
		return 0;
	size_t n = strnlen(s, EVENTLOG_MAX_FACT_TEXT);
	char *d = malloc(n + 1);
	if (!d)
		return ATTEST_E_NOMEM;
	memcpy(d, s, n);
	d[n] = '\0';
	*slot = d;
	return 0;
}

/* Why the text event i shows is not proven, into why (NULL: it is). The
 * event must lie in a quoted sha256 PCR that replays, and its content
 * check must have passed: only then is the text the one the TPM measured. */
static const char *not_proven(const struct run *c, int64_t i, char *why, size_t cap)
{
	if (!c->log || !c->checks || i < 0 || (size_t)i >= c->log->event_count) {
		snprintf(why, cap, "no event of the log shows it");
		return why;
	}
	uint32_t pcr = c->log->events[i].pcr;
	uint8_t st = c->checks->status[i];
	if (pcr >= EVENTLOG_NUM_PCRS || !(c->quoted256 & (1u << pcr)))
		snprintf(why, cap, "event %lld is in PCR %u, which the quote does not cover",
		         (long long)i, pcr);
	else if (!(c->trusted256 & (1u << pcr)))
		snprintf(why, cap, "PCR %u does not replay to the quoted value", pcr);
	else if (st == EVENTLOG_CHECK_FAIL)
		snprintf(why, cap, "event %lld's digest is not the hash of its data", (long long)i);
	else if (st != EVENTLOG_CHECK_PASS)
		snprintf(why, cap, "event %lld's digest does not cover this text", (long long)i);
	else
		return NULL;
	return why;
}

static bool pcr_trusted(const struct run *c, int64_t i)
{
	if (!c->log || i < 0 || (size_t)i >= c->log->event_count)
		return false;
	uint32_t pcr = c->log->events[i].pcr;
	return pcr < EVENTLOG_NUM_PCRS && (c->trusted256 & (1u << pcr));
}

/* For a file path the log gives beside an image's digest (event i). */
static const char *path_why(const struct run *c, int64_t i, char *why, size_t cap)
{
	if (!pcr_trusted(c, i) && not_proven(c, i, why, cap))
		return why;
	return "a file path from the log: the measured digest covers the image, not its name";
}

static int unverified(struct run *c, const char *field, const char *value, int64_t event,
                      const char *why)
{
	struct verify_software *sw = &c->r->software;
	if (!value || sw->not_verified_count >= VERIFY_SOFTWARE_FIELDS)
		return 0;
	struct verify_unverified *u = &sw->not_verified[sw->not_verified_count];
	memset(u, 0, sizeof *u);
	int e = set_text(&u->value, value);
	if (e < 0)
		return e;
	u->field = field;
	u->event = event;
	u->pcr = -1;
	if (event >= 0 && c->log && (size_t)event < c->log->event_count &&
	    c->log->events[event].pcr < EVENTLOG_NUM_PCRS)
		u->pcr = (int)c->log->events[event].pcr;
	textto(u->why, sizeof u->why, why);
	sw->not_verified_count++;
	return 0;
}

/* One text fact from event i: into *slot if proven, else not_verified. */
static int fact(struct run *c, const char *field, char **slot, const char *value, int64_t i)
{
	char why[VERIFY_TEXT_MAX];
	if (!value)
		return 0;
	const char *no = not_proven(c, i, why, sizeof why);
	return no ? unverified(c, field, value, i, no) : set_text(slot, value);
}

/* The boot applications, named by the catalog where it knows their
 * digests (and by the policy's catalog rule that approves them). */
static int components(struct run *c)
{
	struct verify_software *sw = &c->r->software;
	const struct eventlog_facts *f = c->facts;
	const struct policy *p = c->in->policy;
	for (size_t i = 0; i < f->boot_app_count && sw->component_count < VERIFY_MAX_COMPONENTS;
	     i++) {
		const struct eventlog_boot_app *a = &f->boot_apps[i];
		const uint8_t *d = sha256_digest(c, a->event);
		if (!d)
			continue;
		struct verify_component *k = &sw->components[sw->component_count++];
		memset(k, 0, sizeof *k);
		k->event = a->event;
		k->pcr =
		    (size_t)a->event < c->log->event_count ? (int)c->log->events[a->event].pcr : -1;
		hex_encode(d, 32, k->digest);
		if (a->path)
			textto(k->log_path, sizeof k->log_path, a->path);
		k->verified = pcr_trusted(c, a->event);
		const struct catalog_entry *e =
		    policy_catalog_find(c->in->catalog, c->in->catalog_count, d);
		if (p->has_catalog_rules) {
			struct policy_catalog_judgement j;
			policy_catalog_judge(p, c->in->catalog, c->in->catalog_count, d, &j);
			if (j.entry)
				e = j.entry;
			if (j.verdict == POLICY_CATALOG_APPROVED)
				snprintf(k->rule, sizeof k->rule, "%s", j.rule->name);
		}
		if (!e) {
			snprintf(k->text, sizeof k->text, "%.200s: not in the catalog",
			         k->log_path[0] ? k->log_path : k->digest);
			continue;
		}
		k->in_catalog = true;
		snprintf(k->kind, sizeof k->kind, "%s", e->kind);
		snprintf(k->package, sizeof k->package, "%s", e->package);
		snprintf(k->version, sizeof k->version, "%s", e->version);
		char what[VERIFY_TEXT_MAX - 40];
		catalog_entry_describe(e, what, sizeof what);
		snprintf(k->text, sizeof k->text, "%s: %s", e->kind, what);
	}
	return 0;
}

/* What the agent reports and the quote says (never memoized). */
static int step_software_quote(struct run *c)
{
	struct verify_software *sw = &c->r->software;
	int e = 0;
	if (c->fresh) {
		if ((e = set_text(&sw->kernel, meta(c, "kernel"))) < 0 ||
		    (e = set_text(&sw->os, meta(c, "os_release"))) < 0 ||
		    (e = set_text(&sw->agent_version, meta(c, "agent_version"))) < 0)
			return e;
	}
	if (c->authentic) {
		char v[32];
		snprintf(v, sizeof v, "0x%016llx", (unsigned long long)c->qi.firmware_version);
		if ((e = set_text(&sw->tpm_firmware, v)) < 0)
			return e;
	}
	return 0;
}

/* What the event log shows (memoized with steps 8-10). */
static int step_software_log(struct run *c)
{
	struct verify_software *sw = &c->r->software;
	const struct eventlog_facts *f = c->facts;
	int e = 0;
	if (!f)
		return 0;
	/* Firmware: the first S-CRTM version that is proven; else what the
	 * log says, marked. A firmware blob's description is never covered
	 * by its digest (the digest is of the blob). */
	const struct eventlog_fact_text *fw = NULL, *claimed = NULL;
	char why[VERIFY_TEXT_MAX];
	for (size_t i = 0; i < f->firmware_count && !fw; i++) {
		const struct eventlog_fact_text *t = &f->firmware[i];
		if (t->type == EV_S_CRTM_VERSION && !not_proven(c, t->event, why, sizeof why))
			fw = t;
		else if (!claimed)
			claimed = t;
	}
	if (fw)
		e = set_text(&sw->firmware, fw->text);
	else if (claimed)
		e = unverified(c, "firmware", claimed->text, claimed->event,
		               not_proven(c, claimed->event, why, sizeof why)
		                   ? why
		                   : "the description is not covered by the measured digest");
	if (e < 0)
		return e;
	/* Kernel command line and image: grub's strings (PCR 8) are proven
	 * when their PCR is; an image guessed from the last boot application
	 * is a file path, which the application's digest does not cover. */
	if ((e = fact(c, "kernel_cmdline", &sw->kernel_cmdline, f->kernel_cmdline,
	              f->kernel_cmdline_event)) < 0)
		return e;
	if (f->kernel_image && f->kernel_image_from_boot_app)
		e = unverified(c, "kernel_image", f->kernel_image, f->kernel_image_event,
		               path_why(c, f->kernel_image_event, why, sizeof why));
	else
		e = fact(c, "kernel_image", &sw->kernel_image, f->kernel_image,
		         f->kernel_image_event);
	if (e < 0)
		return e;
	if ((e = components(c)) < 0)
		return e;
	/* Boot loader: the boot applications' file paths. The firmware
	 * measures each image (the digest that the policy's boot_applications
	 * approve); the path beside it is the log's label, never proven. */
	char chain[1024];
	size_t len = 0;
	chain[0] = '\0';
	const char *pcr_why = NULL;
	int64_t one = -1;
	for (size_t i = 0; i < f->boot_app_count; i++) {
		const char *path = f->boot_apps[i].path;
		if (!path || !path[0])
			continue;
		int64_t ev = f->boot_apps[i].event;
		one = one == -1 ? ev : -2;
		if (!pcr_why && !pcr_trusted(c, ev))
			pcr_why = not_proven(c, ev, why, sizeof why);
		int n = snprintf(chain + len, sizeof chain - len, "%s%s", len ? " -> " : "", path);
		if (n < 0 || (size_t)n >= sizeof chain - len)
			break;
		len += (size_t)n;
	}
	if (len)
		e = unverified(c, "boot_loader", chain, one >= 0 ? one : -1,
		               pcr_why ? pcr_why
		                       : "file paths from the log: the measured digests cover the "
		                         "images, not their names (a policy's boot_applications "
		                         "approve the digests)");
	return e;
}

/* ---- the host's memo (verify_memo.h) ---- */

/* The memo key is many short fields: they are gathered in a buffer and
 * hashed a buffer at a time (each EVP_DigestUpdate has its own overhead). */
struct keyhash {
	EVP_MD_CTX *h;
	bool failed;
	size_t n;
	uint8_t buf[1024];
};

static void hash_bytes(struct keyhash *k, const void *p, size_t n)
{
	const uint8_t *s = p;
	while (n) {
		if (k->n == sizeof k->buf) {
			k->failed |= !EVP_DigestUpdate(k->h, k->buf, k->n);
			k->n = 0;
		}
		size_t t = sizeof k->buf - k->n < n ? sizeof k->buf - k->n : n;
		memcpy(k->buf + k->n, s, t);
		k->n += t;
		s += t;
		n -= t;
	}
}

static void hash_u64(struct keyhash *k, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	hash_bytes(k, b, sizeof b);
}

static void hash_text(struct keyhash *k, const char *s)
{
	if (!s) {
		hash_u64(k, UINT64_MAX); /* NULL differs from "" */
		return;
	}
	size_t n = strlen(s);
	hash_u64(k, n);
	hash_bytes(k, s, n);
}

/* The key of the memoized conclusions: every input steps 8-10 and the
 * log's software facts read besides the log itself (whose digest is the
 * memo's other key). Called with the state those steps start from. */
static int tail_key(const struct run *c, uint8_t out[VERIFY_MEMO_DIGEST])
{
	const struct verify_input *in = c->in;
	const struct bundle *b = in->bundle;
	struct keyhash kh = {.h = EVP_MD_CTX_new()}, *h = &kh;
	if (!kh.h || !EVP_DigestInit_ex2(kh.h, c->sha256, NULL)) {
		EVP_MD_CTX_free(kh.h);
		return ATTEST_E_CRYPTO;
	}
	hash_text(h, "attest verify memo 1");
	hash_bytes(h, c->log_digest, sizeof c->log_digest);
	hash_bytes(h, in->policy_digest, VERIFY_MEMO_DIGEST);
	hash_u64(h, c->quoted256);
	hash_u64(h, c->trusted256);
	hash_u64(h,
	         (uint64_t)c->authentic | (uint64_t)c->fresh << 1 | (uint64_t)c->pcrs_bound << 2);
	hash_u64(h, c->r->reason_count);
	hash_u64(h, c->r->reasons_dropped);
	const TPML_PCR_SELECTION *sel = &c->qi.selection;
	hash_u64(h, sel->count);
	for (uint32_t i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *ps = &sel->pcrSelections[i];
		uint8_t n = ps->sizeofSelect <= sizeof ps->pcrSelect ? ps->sizeofSelect : 0;
		hash_u64(h, ps->hash);
		hash_u64(h, n);
		hash_bytes(h, ps->pcrSelect, n);
	}
	hash_u64(h, b->pcrs.bank_count);
	for (uint32_t i = 0; i < b->pcrs.bank_count && i < QUOTE_MAX_BANKS; i++) {
		const struct quote_pcr_bank *q = &b->pcrs.banks[i];
		size_t sz = q->size <= QUOTE_MAX_DIGEST ? q->size : 0;
		hash_u64(h, q->alg);
		hash_u64(h, sz);
		hash_u64(h, q->present);
		for (unsigned k = 0; k < QUOTE_NUM_PCRS; k++)
			if (q->present & (1u << k))
				hash_bytes(h, q->value[k], sz);
	}
	const struct verify_host *hs = &in->host;
	/* The catalog entries given (they name the components and serve the
	 * policy's catalog rules): an import or removal changes the key. */
	hash_u64(h, in->catalog ? in->catalog_count : 0);
	for (size_t i = 0; in->catalog && i < in->catalog_count; i++) {
		const struct catalog_entry *ce = &in->catalog[i];
		hash_u64(h, (uint64_t)ce->id);
		hash_text(h, ce->kind);
		hash_text(h, ce->package);
		hash_text(h, ce->version);
		hash_text(h, ce->vendor);
		hash_text(h, ce->path);
		hash_text(h, ce->authenticode_sha256);
		hash_text(h, ce->file_sha256);
		hash_text(h, ce->signer_subject);
		hash_text(h, ce->signer_issuer);
	}
	hash_text(h, hs->tpm_interface);
	hash_u64(h, hs->banks ? hs->bank_count : 0);
	for (size_t i = 0; hs->banks && i < hs->bank_count; i++)
		hash_u64(h, hs->banks[i]);
	hash_text(h, hs->agent_version);
	hash_u64(h, hs->ek_certified);
	hash_text(h, hs->ek_trust);
	hash_text(h, meta(c, "agent_version"));
	unsigned int n = 0;
	int ok =
	    !kh.failed && EVP_DigestUpdate(kh.h, kh.buf, kh.n) && EVP_DigestFinal_ex(kh.h, out, &n);
	EVP_MD_CTX_free(kh.h);
	return ok && n == VERIFY_MEMO_DIGEST ? 0 : ATTEST_E_CRYPTO;
}

static int copy_text(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : ATTEST_E_NOMEM;
}

static int copy_unverified(struct verify_unverified *dst, const struct verify_unverified *src)
{
	*dst = *src;
	return copy_text(&dst->value, src->value);
}

/* Steps 6-10 and the log's software facts from the memo. 1: done from it;
 * 0: the whole pipeline must run (another log, a PCR that does not match
 * the memoized replay, other inputs); negative: an error. */
static int memo_try(struct run *c)
{
	struct verify_memo *m = c->in->memo;
	const struct bundle *b = c->in->bundle;
	if (!m || (!b->eventlog && !b->eventlog_unchanged))
		return 0;
	if (c->in->eventlog_digest)
		memcpy(c->log_digest, c->in->eventlog_digest, sizeof c->log_digest);
	else if (b->eventlog_unchanged)
		return 0; /* no digest named: nothing to look up */
	else if (!EVP_Digest(b->eventlog, b->eventlog_len, c->log_digest, NULL, c->sha256, NULL))
		return ATTEST_E_CRYPTO;
	c->have_log_digest = true;
	if (!m->have_log || CRYPTO_memcmp(c->log_digest, m->log_digest, VERIFY_MEMO_DIGEST) != 0)
		return 0;
	/* Step 7 on every quote: the quoted values against the memoized replay. */
	uint32_t trusted = 0;
	const TPML_PCR_SELECTION *sel = &c->qi.selection;
	for (uint32_t i = 0; i < sel->count && i < TPM2_NUM_PCR_BANKS; i++) {
		const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
		const struct quote_pcr_bank *q = quote_pcrs_bank(&b->pcrs, s->hash);
		if (!q)
			continue;
		const struct verify_memo_bank *mb = NULL;
		for (uint32_t k = 0; k < m->bank_count && k < QUOTE_MAX_BANKS && !mb; k++)
			if (m->banks[k].alg == s->hash)
				mb = &m->banks[k];
		if (!mb || mb->size != q->size)
			return 0;
		for (unsigned idx = 0; idx < QUOTE_NUM_PCRS; idx++) {
			unsigned byte = idx / 8;
			if (byte >= s->sizeofSelect || !(s->pcrSelect[byte] & (1u << (idx % 8))) ||
			    !(q->present & (1u << idx)))
				continue;
			if (CRYPTO_memcmp(q->value[idx], mb->pcr + (size_t)idx * mb->size, q->size))
				return 0; /* the whole pipeline explains the mismatch */
			if (s->hash == TPM2_ALG_SHA256 && c->pcrs_bound)
				trusted |= 1u << idx;
		}
	}
	if (!c->in->policy_digest || !m->have_tail)
		return 0;
	uint32_t saved = c->trusted256;
	c->trusted256 = trusted;
	uint8_t key[VERIFY_MEMO_DIGEST];
	int e = tail_key(c, key);
	if (e < 0 || CRYPTO_memcmp(key, m->tail_key, sizeof key) != 0) {
		c->trusted256 = saved;
		return e < 0 ? e : 0;
	}
	for (size_t i = 0; i < m->reason_count; i++) {
		struct verify_reason *rs = add(c, m->reasons[i].code, "%s", m->reasons[i].message);
		*rs = m->reasons[i];
	}
	c->r->reasons_dropped += m->reasons_dropped;
	struct verify_software *sw = &c->r->software;
	if ((e = copy_text(&sw->firmware, m->firmware)) < 0 ||
	    (e = copy_text(&sw->boot_loader, m->boot_loader)) < 0 ||
	    (e = copy_text(&sw->kernel_image, m->kernel_image)) < 0 ||
	    (e = copy_text(&sw->kernel_cmdline, m->kernel_cmdline)) < 0)
		return e;
	for (size_t i = 0; i < m->not_verified_count && i < VERIFY_SOFTWARE_FIELDS; i++) {
		if ((e = copy_unverified(&sw->not_verified[i], &m->not_verified[i])) < 0)
			return e;
		sw->not_verified_count++;
	}
	sw->component_count = verify_memo_get_components(m, sw->components, VERIFY_MAX_COMPONENTS);
	c->r->memo_hit = true;
	return 1;
}

/* After the whole pipeline: memoize the log's replay and, when the caller
 * gave a policy digest and there are few, the conclusions of steps 8-10
 * (reasons from index first on, and the software fields from the log). */
static int memo_save(struct run *c, const uint8_t key[VERIFY_MEMO_DIGEST], size_t first,
                     size_t dropped_before)
{
	struct verify_memo *m = c->in->memo;
	if (!m || !c->have_log_digest || !c->log || !c->replay_clean)
		return 0;
	verify_memo_clear_tail(m);
	for (uint32_t i = 0; i < m->bank_count && i < QUOTE_MAX_BANKS; i++)
		free(m->banks[i].pcr);
	memcpy(m->banks, c->staged, sizeof m->banks);
	m->bank_count = c->staged_count;
	memset(c->staged, 0, sizeof c->staged);
	c->staged_count = 0;
	memcpy(m->log_digest, c->log_digest, sizeof m->log_digest);
	m->have_log = true;
	struct verify_result *r = c->r;
	size_t n = r->reason_count - first;
	if (!key || n > VERIFY_MEMO_MAX_REASONS)
		return 0;
	const struct verify_software *sw = &r->software;
	int e = 0;
	if (n) {
		m->reasons = malloc(n * sizeof *m->reasons);
		if (!m->reasons)
			return ATTEST_E_NOMEM;
		memcpy(m->reasons, &r->reasons[first], n * sizeof *m->reasons);
		m->reason_count = n;
	}
	m->reasons_dropped = r->reasons_dropped - dropped_before;
	if ((e = copy_text(&m->firmware, sw->firmware)) < 0 ||
	    (e = copy_text(&m->boot_loader, sw->boot_loader)) < 0 ||
	    (e = copy_text(&m->kernel_image, sw->kernel_image)) < 0 ||
	    (e = copy_text(&m->kernel_cmdline, sw->kernel_cmdline)) < 0)
		goto fail;
	if (sw->not_verified_count) {
		m->not_verified = calloc(sw->not_verified_count, sizeof *m->not_verified);
		if (!m->not_verified) {
			e = ATTEST_E_NOMEM;
			goto fail;
		}
		for (size_t i = 0; i < sw->not_verified_count; i++) {
			if ((e = copy_unverified(&m->not_verified[i], &sw->not_verified[i])) < 0)
				goto fail;
			m->not_verified_count++;
		}
	}
	if ((e = verify_memo_put_components(m, sw->components, sw->component_count)) < 0)
		goto fail;
	memcpy(m->tail_key, key, VERIFY_MEMO_DIGEST);
	m->have_tail = true;
	return 0;
fail:
	verify_memo_clear_tail(m);
	return e;
}

/* ---- the pipeline ---- */

/* The enrolled AK: the memo's prepared one when the caller's public area
 * is the one it was prepared from (its digest), else decoded here and
 * prepared into the memo. A prepared AK saves decoding the public area,
 * converting the key and setting up OpenSSL's context on every quote; the
 * signature itself is verified every time. */
static int decode_ak(struct run *c)
{
	const struct verify_input *in = c->in;
	if (in->ak) {
		c->ak = *in->ak;
		return 0;
	}
	struct verify_memo *m = in->memo;
	uint8_t d[VERIFY_MEMO_DIGEST];
	bool keyed = m && in->ak_public;
	if (keyed) {
		if (!EVP_Digest(in->ak_public, in->ak_public_len, d, NULL, c->sha256, NULL))
			return ATTEST_E_CRYPTO;
		if (m->have_ak && CRYPTO_memcmp(d, m->ak_digest, sizeof d) == 0) {
			c->qak = m->ak;
			return 0;
		}
	}
	struct diag terr;
	if (!in->ak_public ||
	    tpm_public_decode(in->ak_public, in->ak_public_len, &c->ak, &terr) != 0) {
		add(c, REASON_AK_NOT_ENROLLED, "%s",
		    in->ak_public ? "the enrolled AK does not decode"
		                  : "no attestation key is enrolled for this host");
		return 1; /* nothing can be checked, but that is a result, not an error */
	}
	if (keyed) {
		quote_ak_free(m->ak);
		m->ak = NULL;
		m->have_ak = false;
		/* Not preparable: quote_verify converts it and reports what is wrong. */
		if (quote_ak_new(&c->ak, &m->ak) == 0) {
			memcpy(m->ak_digest, d, sizeof d);
			m->have_ak = true;
			c->qak = m->ak;
		}
	}
	return 0;
}

static int run_pipeline(struct run *c)
{
	int e = decode_ak(c);
	if (e != 0)
		return e < 0 ? e : 0;
	if ((e = step_quote(c)) < 0) /* 1-4 */
		return e;
	if (!c->authentic)
		return 0;           /* nothing else in this evidence can be believed */
	step_restart(c);            /* 5 */
	if ((e = memo_try(c)) != 0) /* 6-10 from the host's memo */
		return e < 0 ? e : step_software_quote(c);
	if (c->in->bundle->eventlog_unchanged) {
		/* Nothing to replay: red unless the caller asks again with the log. */
		c->r->need_eventlog = true;
		add(c, quote_status_code(QUOTE_EVENTLOG_MISSING), "%s",
		    "the agent sent no event log, saying it is unchanged, and the memo of "
		    "this host's log does not explain this quote");
		return 0;
	}
	if ((e = step_eventlog_parse(c)) < 0) /* 6 */
		return e;
	if (c->log && (e = step_replay(c)) < 0) /* 7 */
		return e;
	/* The conclusions' key, from the state steps 8-10 start with. */
	uint8_t key[VERIFY_MEMO_DIGEST];
	bool keyed = c->in->memo && c->in->policy_digest && c->log && c->have_log_digest &&
	             c->replay_clean && tail_key(c, key) == 0;
	size_t first = c->r->reason_count, dropped = c->r->reasons_dropped;
	if (c->log && (e = step_content(c)) < 0) /* 8 */
		return e;
	step_requirements(c);  /* 9 */
	step_configuration(c); /* 10 */
	if ((e = step_software_log(c)) < 0 || (e = step_software_quote(c)) < 0)
		return e;
	/* A memo that cannot be written is only a slower next time. */
	(void)memo_save(c, keyed ? key : NULL, first, dropped);
	return 0;
}

/* Stored evidence (verify_stored): its quote was verified when it was
 * stored, so steps 1-5 count as passed; the stored PCR values are the
 * quoted ones, the selection is what they cover. */
static int run_stored(struct run *c)
{
	const struct bundle *b = c->in->bundle;
	c->authentic = c->fresh = c->pcrs_bound = true;
	TPML_PCR_SELECTION *sel = &c->qi.selection;
	for (uint32_t i = 0; i < b->pcrs.bank_count && i < QUOTE_MAX_BANKS; i++) {
		const struct quote_pcr_bank *bk = &b->pcrs.banks[i];
		if (sel->count >= TPM2_NUM_PCR_BANKS || !bk->present)
			continue;
		TPMS_PCR_SELECTION *s = &sel->pcrSelections[sel->count++];
		s->hash = bk->alg;
		s->sizeofSelect = 3;
		for (unsigned k = 0; k < 3; k++)
			s->pcrSelect[k] = (uint8_t)(bk->present >> (8 * k));
		if (bk->alg == TPM2_ALG_SHA256)
			c->quoted256 = bk->present & 0xffffffu;
	}
	int e;
	if ((e = step_eventlog_parse(c)) < 0)
		return e;
	if (c->log && (e = step_replay(c)) < 0)
		return e;
	if (c->log && (e = step_content(c)) < 0)
		return e;
	step_requirements(c);
	step_configuration(c);
	if ((e = step_software_log(c)) < 0)
		return e;
	return step_software_quote(c);
}

static int verify_run(const struct verify_input *in, bool stored, struct verify_result **ret)
{
	if (!in || !ret)
		return ATTEST_E_ARG;
	struct verify_result *r = calloc(1, sizeof *r);
	if (!r)
		return ATTEST_E_NOMEM;
	r->verdict = VERIFY_RED;
	struct run c;
	memset(&c, 0, sizeof c);
	c.in = in;
	c.r = r;
	c.sha256 = in->memo && in->memo->sha256 ? in->memo->sha256 : EVP_sha256();
	int e;
	if (!in->bundle || !in->policy || (!stored && !in->nonce))
		e = ATTEST_E_ARG;
	else
		e = stored ? run_stored(&c) : run_pipeline(&c);
	if (e < 0)
		add(&c, REASON_VERIFIER_ERROR, "the verifier could not complete its checks (%s)",
		    attest_strerror(e));
	eventlog_facts_free(c.facts);
	eventlog_checks_free(c.checks);
	eventlog_free(c.log);
	for (uint32_t i = 0; i < c.staged_count; i++)
		free(c.staged[i].pcr);

	bool only_restart = r->restarted && r->reasons_dropped == 0;
	for (size_t i = 0; i < r->reason_count && only_restart; i++)
		only_restart = !strcmp(r->reasons[i].code, REASON_HOST_RESTARTED_REENROLLING);
	if (e < 0)
		r->verdict = VERIFY_RED;
	else if (r->reason_count == 0 && r->reasons_dropped == 0)
		r->verdict = VERIFY_GREEN;
	else if (only_restart)
		r->verdict = VERIFY_RESTARTED;
	else
		r->verdict = VERIFY_RED;
	*ret = r;
	return 0;
}

int verify_attestation(const struct verify_input *in, struct verify_result **ret)
{
	return verify_run(in, false, ret);
}

int verify_stored(const struct verify_input *in, struct verify_result **ret)
{
	return verify_run(in, true, ret);
}

void verify_result_free(struct verify_result *r)
{
	if (!r)
		return;
	free(r->software.firmware);
	free(r->software.boot_loader);
	free(r->software.kernel);
	free(r->software.kernel_image);
	free(r->software.kernel_cmdline);
	free(r->software.os);
	free(r->software.tpm_firmware);
	free(r->software.agent_version);
	for (size_t i = 0; i < r->software.not_verified_count; i++)
		free(r->software.not_verified[i].value);
	free(r->reasons);
	free(r);
}

const char *verify_trust_name(const struct verify_result *r)
{
	if (!r)
		return "unknown";
	switch (r->verdict) {
	case VERIFY_GREEN: return "green";
	case VERIFY_RED: return "red";
	default: return "unknown";
	}
}

bool verify_result_has(const struct verify_result *r, const char *code)
{
	for (size_t i = 0; r && code && i < r->reason_count; i++)
		if (!strcmp(r->reasons[i].code, code))
			return true;
	return false;
}

/* ---- JSON ---- */

static int jset(json_t *o, const char *k, json_t *v)
{
	return json_object_set_new(o, k, v) == 0 ? 0 : ATTEST_E_NOMEM;
}

/* A JSON string of text that may have been cut inside a UTF-8 sequence (or
 * quote bytes a host sent): invalid UTF-8 bytes become '?'. */
static json_t *jstr(const char *s)
{
	json_t *v = json_string(s);
	if (v)
		return v;
	size_t n = strlen(s);
	char *t = malloc(n + 1);
	if (!t)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		t[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	v = json_string(t);
	free(t);
	return v;
}

static int reason_json(const struct verify_reason *rs, json_t **ret)
{
	json_t *o = json_object(), *ev = json_object();
	int e = 0;
	if (!o || !ev) {
		json_decref(o);
		json_decref(ev);
		return ATTEST_E_NOMEM;
	}
	if ((e = jset(o, "evidence", ev)) < 0 || (e = jset(o, "code", json_string(rs->code))) < 0 ||
	    (e = jset(o, "message", jstr(rs->message))) < 0)
		goto out;
	if (rs->pcr >= 0 && (e = jset(ev, "pcr", json_integer(rs->pcr))) < 0)
		goto out;
	if (rs->bank && bundle_bank_name(rs->bank) &&
	    (e = jset(ev, "bank", json_string(bundle_bank_name(rs->bank)))) < 0)
		goto out;
	if (rs->event >= 0 && (e = jset(ev, "event", json_integer(rs->event))) < 0)
		goto out;
	if (rs->event_type && (e = jset(ev, "event_type", json_string(rs->event_type))) < 0)
		goto out;
	const struct {
		const char *key;
		const char *val;
	} texts[] = {{"description", rs->description},
	             {"expected", rs->expected},
	             {"actual", rs->actual},
	             {"allowed", rs->allowed}};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		if (texts[i].val[0] && (e = jset(ev, texts[i].key, jstr(texts[i].val))) < 0)
			goto out;
out:
	if (e < 0) {
		json_decref(o);
		return e;
	}
	*ret = o;
	return 0;
}

int verify_reasons_json(const struct verify_result *r, json_t **ret)
{
	if (!r || !ret)
		return ATTEST_E_ARG;
	json_t *a = json_array();
	if (!a)
		return ATTEST_E_NOMEM;
	for (size_t i = 0; i < r->reason_count; i++) {
		json_t *o;
		int e = reason_json(&r->reasons[i], &o);
		if (e < 0 || json_array_append_new(a, o) < 0) {
			json_decref(a);
			return ATTEST_E_NOMEM;
		}
	}
	*ret = a;
	return 0;
}

static json_t *opt_string(const char *s)
{
	return s ? jstr(s) : json_null();
}

/* "reported_by_agent" and "not_verified" beside the software fields. */
static int software_claims_json(const struct verify_software *s, json_t *sw)
{
	json_t *agent = json_array(), *nv = json_object();
	int e = ATTEST_E_NOMEM;
	if (!agent || !nv) {
		json_decref(agent);
		json_decref(nv);
		return e;
	}
	if ((e = jset(sw, "reported_by_agent", agent)) < 0 ||
	    (e = jset(sw, "not_verified", nv)) < 0)
		return e;
	const struct {
		const char *key;
		const char *val;
	} rep[] = {{"kernel", s->kernel}, {"os", s->os}, {"agent_version", s->agent_version}};
	for (size_t i = 0; i < sizeof rep / sizeof rep[0]; i++)
		if (rep[i].val && json_array_append_new(agent, json_string(rep[i].key)) < 0)
			return ATTEST_E_NOMEM;
	for (size_t i = 0; i < s->not_verified_count; i++) {
		const struct verify_unverified *u = &s->not_verified[i];
		json_t *o = json_object();
		if (!o || jset(nv, u->field, o) < 0 || jset(o, "value", jstr(u->value)) < 0 ||
		    jset(o, "why", jstr(u->why)) < 0 ||
		    (u->event >= 0 && jset(o, "event", json_integer(u->event)) < 0) ||
		    (u->pcr >= 0 && jset(o, "pcr", json_integer(u->pcr)) < 0))
			return ATTEST_E_NOMEM;
	}
	return 0;
}

/* "components": the boot applications as the catalog names them. */
static int components_json(const struct verify_software *s, json_t *sw)
{
	json_t *a = json_array();
	if (!a || jset(sw, "components", a) < 0)
		return ATTEST_E_NOMEM;
	for (size_t i = 0; i < s->component_count; i++) {
		const struct verify_component *k = &s->components[i];
		json_t *o = json_object();
		if (!o || json_array_append_new(a, o) < 0 ||
		    jset(o, "event", json_integer(k->event)) < 0 ||
		    jset(o, "pcr", json_integer(k->pcr)) < 0 ||
		    jset(o, "digest", json_string(k->digest)) < 0 ||
		    jset(o, "log_path", opt_string(k->log_path[0] ? k->log_path : NULL)) < 0 ||
		    jset(o, "verified", json_boolean(k->verified)) < 0 ||
		    jset(o, "in_catalog", json_boolean(k->in_catalog)) < 0 ||
		    jset(o, "kind", opt_string(k->kind[0] ? k->kind : NULL)) < 0 ||
		    jset(o, "package", opt_string(k->package[0] ? k->package : NULL)) < 0 ||
		    jset(o, "version", opt_string(k->version[0] ? k->version : NULL)) < 0 ||
		    jset(o, "rule", opt_string(k->rule[0] ? k->rule : NULL)) < 0 ||
		    jset(o, "text", json_string(k->text)) < 0)
			return ATTEST_E_NOMEM;
	}
	return 0;
}

int verify_result_json(const struct verify_result *r, json_t **ret)
{
	if (!r || !ret)
		return ATTEST_E_ARG;
	json_t *o = json_object(), *reasons = NULL, *sw = json_object(), *clk = json_object();
	int e = ATTEST_E_NOMEM;
	if (!o || !sw || !clk) {
		json_decref(sw);
		json_decref(clk);
		goto out;
	}
	if ((e = jset(o, "software", sw)) < 0 || (e = jset(o, "clock", clk)) < 0 ||
	    (e = verify_reasons_json(r, &reasons)) < 0 || (e = jset(o, "reasons", reasons)) < 0 ||
	    (e = jset(o, "trust", json_string(verify_trust_name(r)))) < 0 ||
	    (e = jset(o, "restarted", json_boolean(r->restarted))) < 0)
		goto out;
	if (r->reasons_dropped &&
	    (e = jset(o, "reasons_dropped", json_integer((json_int_t)r->reasons_dropped))) < 0)
		goto out;
	const struct verify_software *s = &r->software;
	if ((e = jset(sw, "firmware", opt_string(s->firmware))) < 0 ||
	    (e = jset(sw, "boot_loader", opt_string(s->boot_loader))) < 0 ||
	    (e = jset(sw, "kernel", opt_string(s->kernel))) < 0 ||
	    (e = jset(sw, "kernel_image", opt_string(s->kernel_image))) < 0 ||
	    (e = jset(sw, "kernel_cmdline", opt_string(s->kernel_cmdline))) < 0 ||
	    (e = jset(sw, "os", opt_string(s->os))) < 0 ||
	    (e = jset(sw, "tpm_firmware", opt_string(s->tpm_firmware))) < 0 ||
	    (e = jset(sw, "agent_version", opt_string(s->agent_version))) < 0 ||
	    (e = software_claims_json(s, sw)) < 0 || (e = components_json(s, sw)) < 0)
		goto out;
	const struct verify_clock *k = &r->clock;
	if ((e = jset(clk, "known", json_boolean(k->known))) < 0)
		goto out;
	if (k->known &&
	    ((e = jset(clk, "clock", json_integer((json_int_t)k->clock))) < 0 ||
	     (e = jset(clk, "reset_count", json_integer(k->reset_count))) < 0 ||
	     (e = jset(clk, "restart_count", json_integer(k->restart_count))) < 0 ||
	     (e = jset(clk, "safe", json_boolean(k->safe))) < 0 ||
	     (e = jset(clk, "boot_id", opt_string(k->boot_id[0] ? k->boot_id : NULL))) < 0))
		goto out;
	*ret = o;
	return 0;
out:
	json_decref(o);
	return e;
}
