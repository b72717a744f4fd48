/* The verification pipeline end to end, without a TPM: a real event log
 * (../shared/testdata) is "booted" into simulated PCR values, a quote over
 * them is built with tss2-mu and signed with an OpenSSL key standing in for
 * the AK, and verify_attestation() must find exactly what was done to the
 * evidence, with the reasons in DESIGN.md's order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "err.h"
#include "eventlog.h"
#include "eventlog_build.h"
#include "eventlog_facts.h"
#include "evidence.h"
#include "policy.h"
#include "reason.h"
#include "testutil.h"
#include "tpm_build.h"
#include "verify.h"
#include "verify_memo.h"

#define QEMU_LOG TESTDATA_DIR "/eventlogs/qemu-ovmf-ubuntu-secureboot.bin"
#define NOSB_LOG TESTDATA_DIR "/eventlogs/gce-ubuntu2104-no-secureboot.bin"

static EVP_PKEY *g_ak_key;    /* the enrolled AK */
static EVP_PKEY *g_other_key; /* some other key */

/* One simulated host and the verifier's view of it. */
struct fx {
	uint8_t *log;
	size_t log_len;
	struct quote_pcrs tpm; /* what the simulated TPM's sha256 PCRs hold */
	uint32_t mask;         /* PCRs the quote covers */
	uint8_t nonce[32];     /* the nonce the verifier sent */
	json_t *meta;
	EVP_PKEY *signer;
	TPMT_PUBLIC ak;
	struct policy *policy;
	uint16_t banks[2];
	struct verify_host host;
	struct verify_previous prev;
};

/* "Boot" a log into the TPM: extend every sha256 digest, except event
 * number skip (-1: none); then extend extra into PCR extra_pcr (-1: none). */
static void tpm_boot(struct fx *f, long skip, int extra_pcr, const uint8_t *extra)
{
	struct eventlog *log = NULL;
	assert_int_equal(eventlog_parse(f->log, f->log_len, &log, NULL), 0);
	uint8_t pcr[24][32];
	memset(pcr, 0, sizeof pcr);
	if (log->has_hcrtm)
		pcr[0][31] = 4;
	else if (log->has_startup_locality)
		pcr[0][31] = log->startup_locality;
	for (size_t i = 0; i < log->event_count; i++) {
		const struct eventlog_event *ev = &log->events[i];
		const struct eventlog_digest *d = eventlog_event_digest(ev, EVENTLOG_ALG_SHA256);
		if (ev->type == EV_NO_ACTION || ev->pcr >= 24 || !d || (long)ev->number == skip)
			continue;
		tb_extend(EVENTLOG_ALG_SHA256, 32, pcr[ev->pcr], d->bytes);
	}
	if (extra_pcr >= 0)
		tb_extend(EVENTLOG_ALG_SHA256, 32, pcr[extra_pcr], extra);
	memset(&f->tpm, 0, sizeof f->tpm);
	for (unsigned i = 0; i < 24; i++)
		assert_int_equal(quote_pcrs_set(&f->tpm, TPM2_ALG_SHA256, i, pcr[i], 32), 0);
	eventlog_free(log);
}

static struct fx *fx_new_log(uint8_t *log, size_t len)
{
	struct fx *f = calloc(1, sizeof *f);
	assert_non_null(f);
	f->log = log;
	f->log_len = len;
	f->mask = POLICY_DEFAULT_SHA256_PCRS; /* what the default policy asks */
	memset(f->nonce, 0x5a, sizeof f->nonce);
	f->meta = json_pack("{s:s, s:s, s:s, s:s, s:s}", "hostname", "web-01", "os_release",
	                    "Ubuntu 20.04.3 LTS", "kernel", "5.4.0-81-generic", "boot_id",
	                    "6c1f3a52-0000-4000-8000-000000000001", "agent_version", "1.0.0");
	f->signer = g_ak_key;
	tb_public(g_ak_key, TB_AK_ATTRS, TPM2_ALG_ECDSA, &f->ak);
	assert_int_equal(policy_default(&f->policy), 0);
	f->banks[0] = TPM2_ALG_SHA1;
	f->banks[1] = TPM2_ALG_SHA256;
	f->host.tpm_interface = "crb";
	f->host.banks = f->banks;
	f->host.bank_count = 2;
	f->host.agent_version = "1.0.0";
	f->host.ek_certified = true;
	f->prev.have_clock = true;
	f->prev.reset_count = 7; /* what tb_attest puts in the quote */
	f->prev.restart_count = 2;
	f->prev.boot_id = "6c1f3a52-0000-4000-8000-000000000001";
	tpm_boot(f, -1, -1, NULL);
	return f;
}

/* NULL (and the test skipped) without the shared test data. */
static struct fx *fx_new(const char *path)
{
	if (!testutil_have_shared())
		return NULL;
	size_t len = 0;
	uint8_t *log = testutil_read_file(path, &len);
	if (!log) {
		fprintf(stderr, "skip: %s not readable\n", path);
		return NULL;
	}
	return fx_new_log(log, len);
}

static void fx_free(struct fx *f)
{
	if (!f)
		return;
	free(f->log);
	json_decref(f->meta);
	policy_free(f->policy);
	free(f);
}

static uint8_t *dup_bytes(const void *p, size_t n)
{
	uint8_t *d = malloc(n ? n : 1);
	assert_non_null(d);
	memcpy(d, p, n);
	return d;
}

/* The evidence the agent would send: quote over f->mask of the TPM's
 * values, signed by f->signer, extraData bound to f->nonce and f->meta. */
static struct bundle *make_bundle(const struct fx *f)
{
	struct bundle *b = calloc(1, sizeof *b);
	assert_non_null(b);
	for (unsigned i = 0; i < 24; i++)
		if (f->mask & (1u << i))
			assert_int_equal(quote_pcrs_set(&b->pcrs, TPM2_ALG_SHA256, i,
			                                f->tpm.banks[0].value[i], 32),
			                 0);
	memcpy(b->nonce, f->nonce, sizeof f->nonce);
	b->nonce_len = sizeof f->nonce;
	b->metadata = json_deep_copy(f->meta);
	assert_int_equal(evidence_metadata_canonical(b->metadata, &b->metadata_canonical), 0);
	uint8_t qd[32];
	assert_int_equal(evidence_qualifying_data(f->nonce, sizeof f->nonce,
	                                          (const uint8_t *)b->metadata_canonical,
	                                          strlen(b->metadata_canonical), qd),
	                 0);
	TPML_PCR_SELECTION sel;
	tb_sel(f->mask, &sel);
	uint8_t digest[QUOTE_MAX_DIGEST];
	size_t dl = 0;
	assert_int_equal(quote_pcr_digest(&sel, &b->pcrs, TPM2_ALG_SHA256, digest, &dl), 0);
	uint8_t attest[2048], sig[1024], pub[1024];
	size_t alen = tb_attest(qd, sizeof qd, &sel, digest, attest, sizeof attest);
	size_t slen =
	    tb_sign(f->signer, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, attest, alen, sig, sizeof sig);
	size_t plen = tb_marshal_public(&f->ak, pub, sizeof pub);
	b->quote = dup_bytes(attest, alen);
	b->quote_len = alen;
	b->signature = dup_bytes(sig, slen);
	b->signature_len = slen;
	b->ak_public = dup_bytes(pub, plen);
	b->ak_public_len = plen;
	if (f->log) {
		b->eventlog = dup_bytes(f->log, f->log_len);
		b->eventlog_len = f->log_len;
	}
	return b;
}

/* verify_reasons_text/verify_software_text write exactly what
 * json_dumps(JSON_COMPACT) makes of verify_result_json()'s members (the
 * verifier stores the texts and compares them with the stored ones). Only
 * where the tree could be built: the texts also stand in for strings the
 * tree refuses. */
static void texts_match(const struct verify_result *r)
{
	json_t *j = NULL;
	if (verify_result_json(r, &j) < 0)
		return;
	char *want_r = json_dumps(json_object_get(j, "reasons"), JSON_COMPACT);
	char *want_s = json_dumps(json_object_get(j, "software"), JSON_COMPACT);
	char *got_r = NULL, *got_s = NULL;
	assert_int_equal(verify_reasons_text(r, &got_r), 0);
	assert_int_equal(verify_software_text(r, &got_s), 0);
	assert_string_equal(got_r, want_r);
	assert_string_equal(got_s, want_s);
	free(want_r);
	free(want_s);
	free(got_r);
	free(got_s);
	json_decref(j);
}

static struct verify_result *run_bundle(const struct fx *f, const struct bundle *b)
{
	struct verify_input in;
	memset(&in, 0, sizeof in);
	in.bundle = b;
	in.ak = &f->ak;
	in.nonce = f->nonce;
	in.nonce_len = sizeof f->nonce;
	in.previous = f->prev;
	in.host = f->host;
	in.policy = f->policy;
	struct verify_result *r = NULL;
	assert_int_equal(verify_attestation(&in, &r), 0);
	assert_non_null(r);
	texts_match(r);
	return r;
}

static struct verify_result *run(const struct fx *f)
{
	struct bundle *b = make_bundle(f);
	struct verify_result *r = run_bundle(f, b);
	bundle_free(b);
	return r;
}

static void dump(const struct verify_result *r)
{
	for (size_t i = 0; i < r->reason_count; i++)
		fprintf(stderr, "  reason %zu: %s: %s (pcr %d event %lld)\n", i, r->reasons[i].code,
		        r->reasons[i].message, r->reasons[i].pcr, (long long)r->reasons[i].event);
}

/* Exactly one reason, with this code. */
static const struct verify_reason *expect_only(const struct verify_result *r, const char *code)
{
	if (r->reason_count != 1 || strcmp(r->reasons[0].code, code) != 0) {
		fprintf(stderr, "expected only %s, got:\n", code);
		dump(r);
		fail();
	}
	assert_int_equal(r->verdict, VERIFY_RED);
	assert_string_equal(verify_trust_name(r), "red");
	assert_non_null(reason_sentence(code));
	return &r->reasons[0];
}

/* Verify f's evidence: exactly one reason, with this code (expect_only). */
static void run_expect_only(const struct fx *f, const char *code)
{
	struct verify_result *r = run(f);
	expect_only(r, code);
	verify_result_free(r);
}

/* Verify f's evidence: green (the reasons shown if not). */
static void run_expect_green(const struct fx *f)
{
	struct verify_result *r = run(f);
	if (r->verdict != VERIFY_GREEN)
		dump(r);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);
}

static const struct verify_unverified *find_unverified(const struct verify_result *r,
                                                       const char *field)
{
	for (size_t i = 0; i < r->software.not_verified_count; i++)
		if (!strcmp(r->software.not_verified[i].field, field))
			return &r->software.not_verified[i];
	return NULL;
}

/* ---- tests ---- */

static void test_green(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	struct verify_result *r = run(f);
	if (r->reason_count)
		dump(r);
	assert_int_equal(r->reason_count, 0);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	assert_false(r->restarted);
	assert_string_equal(verify_trust_name(r), "green");
	/* software deduced from the evidence: grub's strings in PCR 8 (quoted
	 * by the default policy) are proven; the boot applications' paths are
	 * the log's labels (their digests are of the images): not verified */
	assert_null(r->software.boot_loader);
	const struct verify_unverified *bl = find_unverified(r, "boot_loader");
	assert_non_null(bl);
	assert_non_null(strstr(bl->value, "shimx64.efi"));
	assert_non_null(strstr(bl->value, "grubx64.efi"));
	assert_non_null(strstr(bl->why, "not their names"));
	assert_null(find_unverified(r, "kernel_cmdline"));
	assert_null(find_unverified(r, "kernel_image"));
	assert_string_equal(r->software.kernel_image, "/boot/vmlinuz-5.4.0-81-generic");
	assert_non_null(strstr(r->software.kernel_cmdline, "root=UUID=68a3fb48"));
	assert_string_equal(r->software.os, "Ubuntu 20.04.3 LTS");
	assert_string_equal(r->software.kernel, "5.4.0-81-generic");
	assert_non_null(r->software.firmware);
	assert_true(r->clock.known);
	assert_int_equal(r->clock.reset_count, 7);
	assert_int_equal(r->clock.restart_count, 2);
	verify_result_free(r);

	/* the AK given marshalled works the same */
	struct bundle *b = make_bundle(f);
	struct verify_input in;
	memset(&in, 0, sizeof in);
	in.bundle = b;
	in.ak_public = b->ak_public;
	in.ak_public_len = b->ak_public_len;
	in.nonce = f->nonce;
	in.nonce_len = sizeof f->nonce;
	in.host = f->host;
	in.policy = f->policy;
	assert_int_equal(verify_attestation(&in, &r), 0);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);
	bundle_free(b);
	fx_free(f);
}

static void test_signature_invalid(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	f->signer = g_other_key;
	struct verify_result *r = run(f);
	/* nothing after a bad signature is believed: the pipeline stops */
	expect_only(r, "QUOTE_SIGNATURE_INVALID");
	assert_false(r->clock.known);
	verify_result_free(r);
	fx_free(f);
}

static void test_ak_not_enrolled(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	struct bundle *b = make_bundle(f);
	struct verify_input in;
	memset(&in, 0, sizeof in);
	in.bundle = b;
	in.nonce = f->nonce;
	in.nonce_len = sizeof f->nonce;
	in.host = f->host;
	in.policy = f->policy;
	struct verify_result *r = NULL;
	assert_int_equal(verify_attestation(&in, &r), 0);
	expect_only(r, REASON_AK_NOT_ENROLLED);
	verify_result_free(r);
	uint8_t junk[8] = {0};
	in.ak_public = junk;
	in.ak_public_len = sizeof junk;
	assert_int_equal(verify_attestation(&in, &r), 0);
	expect_only(r, REASON_AK_NOT_ENROLLED);
	verify_result_free(r);
	bundle_free(b);
	fx_free(f);
}

static void test_nonce_mismatch(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	/* a quote made for another nonce (a replayed old quote) */
	struct bundle *b = make_bundle(f);
	f->nonce[0] ^= 1;
	struct verify_result *r = run_bundle(f, b);
	expect_only(r, "NONCE_MISMATCH");
	verify_result_free(r);
	bundle_free(b);
	f->nonce[0] ^= 1;

	/* metadata edited after the quote was made */
	b = make_bundle(f);
	json_object_set_new(b->metadata, "hostname", json_string("web-02"));
	free(b->metadata_canonical);
	assert_int_equal(evidence_metadata_canonical(b->metadata, &b->metadata_canonical), 0);
	r = run_bundle(f, b);
	const struct verify_reason *rs = expect_only(r, "NONCE_MISMATCH");
	assert_int_equal(strlen(rs->expected), 64);
	assert_int_equal(strlen(rs->actual), 64);
	assert_string_not_equal(rs->expected, rs->actual);
	verify_result_free(r);
	bundle_free(b);
	fx_free(f);
}

static void test_pcr_digest_mismatch(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	struct bundle *b = make_bundle(f);
	b->pcrs.banks[0].value[3][0] ^= 0x80; /* a value changed after quoting */
	struct verify_result *r = run_bundle(f, b);
	assert_true(r->reason_count >= 1);
	assert_string_equal(r->reasons[0].code, "PCR_DIGEST_MISMATCH");
	/* unbound values are not replayed against */
	assert_false(verify_result_has(r, "EVENTLOG_REPLAY_MISMATCH") && r->reasons[1].pcr != 3);
	assert_int_equal(r->verdict, VERIFY_RED);
	verify_result_free(r);
	bundle_free(b);
	fx_free(f);
}

static void test_replay_tpm_has_extra(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	/* a boot that measured something into PCR 4 the log does not show */
	uint8_t evil[32];
	memset(evil, 0xee, sizeof evil);
	tpm_boot(f, -1, 4, evil);
	struct verify_result *r = run(f);
	assert_true(r->reason_count >= 1);
	const struct verify_reason *rs = &r->reasons[0];
	assert_string_equal(rs->code, "EVENTLOG_REPLAY_MISMATCH");
	assert_int_equal(rs->pcr, 4);
	assert_int_equal(rs->bank, TPM2_ALG_SHA256);
	assert_int_equal(rs->event, 100); /* PCR 4's last logged event */
	assert_string_equal(rs->event_type, "EV_EFI_BOOT_SERVICES_APPLICATION");
	assert_non_null(strstr(rs->message, "measurements the log does not show"));
	assert_int_equal(strlen(rs->expected), 64);
	assert_string_not_equal(rs->expected, rs->actual);
	assert_int_equal(r->verdict, VERIFY_RED);
	/* what PCR 4 showed (boot applications) is no longer believed */
	verify_result_free(r);
	fx_free(f);
}

static void test_replay_log_has_extra(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	/* the TPM never saw event 105 (PCR 5), but the log lists it */
	tpm_boot(f, 105, -1, NULL);
	struct verify_result *r = run(f);
	assert_true(r->reason_count >= 1);
	const struct verify_reason *rs = &r->reasons[0];
	assert_string_equal(rs->code, "EVENTLOG_REPLAY_MISMATCH");
	assert_int_equal(rs->pcr, 5);
	assert_int_equal(rs->event, 105);
	assert_string_equal(rs->event_type, "EV_EFI_ACTION");
	assert_non_null(strstr(rs->message, "never measured"));
	assert_non_null(strstr(rs->description, "Exit Boot Services"));
	verify_result_free(r);
	fx_free(f);
}

/* Offset of event n's data in the raw log. */
static size_t data_offset(const struct fx *f, size_t n)
{
	struct eventlog *log = NULL;
	assert_int_equal(eventlog_parse(f->log, f->log_len, &log, NULL), 0);
	size_t off = (size_t)(log->events[n].data - log->raw);
	eventlog_free(log);
	return off;
}

static void test_event_content_mismatch(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	/* event 18 (EV_EFI_ACTION, PCR 4) claims other text; digests unchanged,
	 * so the log still replays to the TPM's values */
	f->log[data_offset(f, 18)] ^= 0x20;
	struct verify_result *r = run(f);
	const struct verify_reason *rs = expect_only(r, REASON_EVENT_CONTENT_MISMATCH);
	assert_int_equal(rs->event, 18);
	assert_int_equal(rs->pcr, 4);
	assert_string_equal(rs->event_type, "EV_EFI_ACTION");
	assert_int_equal(strlen(rs->expected), 64);
	assert_int_equal(strlen(rs->actual), 64);
	assert_non_null(strstr(rs->allowed, "H(event data)"));
	verify_result_free(r);

	/* the same lie in the SecureBoot variable: the content check fails and
	 * Secure Boot can no longer be confirmed */
	f->log[data_offset(f, 18)] ^= 0x20;
	struct eventlog *log = NULL;
	assert_int_equal(eventlog_parse(f->log, f->log_len, &log, NULL), 0);
	size_t off = (size_t)(log->events[4].data - log->raw) + log->events[4].data_len - 1;
	eventlog_free(log);
	assert_int_equal(f->log[off], 1);
	f->log[off] = 0;
	r = run(f);
	assert_int_equal(r->reason_count, 2);
	assert_string_equal(r->reasons[0].code, REASON_EVENT_CONTENT_MISMATCH);
	assert_int_equal(r->reasons[0].event, 4);
	assert_string_equal(r->reasons[1].code, REASON_SECURE_BOOT_DISABLED);
	verify_result_free(r);
	fx_free(f);
}

static void test_secure_boot_disabled(void **state)
{
	(void)state;
	struct fx *f = fx_new(NOSB_LOG);
	if (!f)
		skip();
	struct verify_result *r = run(f);
	const struct verify_reason *rs = expect_only(r, REASON_SECURE_BOOT_DISABLED);
	assert_int_equal(rs->pcr, 7);
	assert_int_equal(rs->event, 3);
	assert_string_equal(rs->actual, "disabled");
	verify_result_free(r);

	/* a policy that does not require it: green */
	f->policy->secure_boot = false;
	run_expect_green(f);
	fx_free(f);
}

static void test_secure_boot_pcr_not_quoted(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	/* policy quotes 0-6 only: PCR 7 (Secure Boot) backs nothing */
	f->policy->selection[0].mask = 0x7f;
	f->mask = 0x7f;
	struct verify_result *r = run(f);
	const struct verify_reason *rs = expect_only(r, REASON_SECURE_BOOT_DISABLED);
	assert_non_null(strstr(rs->message, "cannot be confirmed"));
	verify_result_free(r);
	/* and a quote that covers less than the policy asks for */
	f->policy->selection[0].mask = 0xff;
	r = run(f);
	assert_string_equal(r->reasons[0].code, "PCR_SELECTION_MISMATCH");
	verify_result_free(r);
	fx_free(f);
}

/* Replace every occurrence of from by to (same length) in the log bytes. */
static size_t edit_log(struct fx *f, const char *from, const char *to)
{
	size_t n = strlen(from), count = 0;
	assert_int_equal(strlen(to), n);
	for (size_t i = 0; i + n <= f->log_len; i++)
		if (!memcmp(f->log + i, from, n)) {
			memcpy(f->log + i, to, n);
			count++;
		}
	return count;
}

/* Issue 12, item 1: the software view shows as deduced from the evidence
 * only what an event in a quoted, replayed PCR with a passing content check
 * says; the rest is in not_verified, with the reason. */
static void test_software_from_unquoted_pcrs(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	/* the pre-issue-12 default: sha256 0-7; grub's strings are in PCR 8 */
	f->policy->selection[0].mask = POLICY_DEFAULT_SHA256_PCRS_V1;
	f->mask = POLICY_DEFAULT_SHA256_PCRS_V1;
	struct verify_result *r = run(f);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	assert_null(r->software.kernel_cmdline);
	assert_null(r->software.kernel_image);
	assert_non_null(r->software.firmware); /* S-CRTM version, PCR 0 */
	const struct verify_unverified *u = find_unverified(r, "kernel_cmdline");
	assert_non_null(u);
	assert_non_null(strstr(u->value, "console=ttyS0"));
	assert_int_equal(u->event, 101);
	assert_int_equal(u->pcr, 8);
	assert_non_null(strstr(u->why, "PCR 8, which the quote does not cover"));
	assert_non_null(find_unverified(r, "kernel_image"));
	json_t *j = NULL;
	assert_int_equal(verify_result_json(r, &j), 0);
	json_t *sw = json_object_get(j, "software");
	assert_true(json_is_null(json_object_get(sw, "kernel_cmdline")));
	json_t *nv = json_object_get(json_object_get(sw, "not_verified"), "kernel_cmdline");
	assert_non_null(strstr(json_string_value(json_object_get(nv, "value")), "ttyS0"));
	assert_int_equal(json_integer_value(json_object_get(nv, "pcr")), 8);
	assert_int_equal(json_integer_value(json_object_get(nv, "event")), 101);
	assert_non_null(json_string_value(json_object_get(nv, "why")));
	json_t *agent = json_object_get(sw, "reported_by_agent");
	assert_int_equal(json_array_size(agent), 3);
	assert_string_equal(json_string_value(json_array_get(agent, 0)), "kernel");
	json_decref(j);
	verify_result_free(r);

	/* PCR 8 quoted but the TPM holds something else there: not proven */
	f->policy->selection[0].mask = POLICY_DEFAULT_SHA256_PCRS;
	f->mask = POLICY_DEFAULT_SHA256_PCRS;
	uint8_t evil[32];
	memset(evil, 0xe8, sizeof evil);
	tpm_boot(f, -1, 8, evil);
	r = run(f);
	assert_true(verify_result_has(r, "EVENTLOG_REPLAY_MISMATCH"));
	assert_null(r->software.kernel_cmdline);
	u = find_unverified(r, "kernel_cmdline");
	assert_non_null(u);
	assert_non_null(strstr(u->why, "does not replay"));
	verify_result_free(r);
	fx_free(f);
}

/* A log whose PCR 8 text was edited after the fact (digests left as they
 * were, so it still replays): never shown as the verified command line. */
static void test_software_edited_pcr8(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	/* the TPM booted the real log; the log then says ttyS9 */
	assert_true(edit_log(f, "console=ttyS0", "console=ttyS9") >= 1);
	struct verify_result *r = run(f);
	assert_int_equal(r->verdict, VERIFY_RED);
	assert_true(verify_result_has(r, REASON_EVENT_CONTENT_MISMATCH));
	assert_true(r->software.kernel_cmdline == NULL ||
	            !strstr(r->software.kernel_cmdline, "ttyS9"));
	for (size_t i = 0; i < r->software.not_verified_count; i++)
		if (!strcmp(r->software.not_verified[i].field, "kernel_cmdline"))
			assert_null(strstr(r->software.not_verified[i].why, "quote does not"));
	verify_result_free(r);
	/* the same edit with PCR 8 not quoted: green (nothing relies on PCR
	 * 8), and the edited text is not shown as verified either */
	f->policy->selection[0].mask = POLICY_DEFAULT_SHA256_PCRS_V1;
	f->mask = POLICY_DEFAULT_SHA256_PCRS_V1;
	r = run(f);
	assert_null(r->software.kernel_cmdline);
	assert_null(r->software.kernel_image);
	verify_result_free(r);
	fx_free(f);
}

static void test_sha256_bank_missing(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	f->host.bank_count = 1; /* the agent reports only SHA-1 active */
	struct verify_result *r = run(f);
	const struct verify_reason *rs = expect_only(r, REASON_SHA256_BANK_MISSING);
	assert_non_null(strstr(rs->message, "not active"));
	verify_result_free(r);
	fx_free(f);
}

static void test_not_uefi(void **state)
{
	(void)state;
	/* a BIOS-style log: separators and a POST code, no EV_EFI_* event */
	const struct tbanks bk = {1, {EVENTLOG_ALG_SHA256}, {32}};
	struct tbuf b = {0};
	tb_spec_id(&b, &bk);
	tb_agile(&b, &bk, 0, EV_POST_CODE, "BIOS", 4);
	static const uint8_t zero4[4];
	for (uint32_t pcr = 0; pcr < 8; pcr++)
		tb_agile(&b, &bk, pcr, EV_SEPARATOR, zero4, 4);
	struct fx *f = fx_new_log(b.p, b.len);
	f->policy->secure_boot = false;
	run_expect_only(f, REASON_NOT_UEFI);
	/* with the default policy Secure Boot is missing as well, first */
	f->policy->secure_boot = true;
	struct verify_result *r = run(f);
	assert_int_equal(r->reason_count, 2);
	assert_string_equal(r->reasons[0].code, REASON_SECURE_BOOT_DISABLED);
	assert_string_equal(r->reasons[1].code, REASON_NOT_UEFI);
	verify_result_free(r);
	fx_free(f);
}

static void test_tpm_interface(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	f->policy->tpm_interfaces = POLICY_TPM_TIS; /* the seed's TIS-only rule */
	struct verify_result *r = run(f);
	const struct verify_reason *rs = expect_only(r, REASON_TPM_INTERFACE_NOT_ALLOWED);
	assert_string_equal(rs->actual, "crb");
	assert_string_equal(rs->allowed, "tis");
	verify_result_free(r);
	f->host.tpm_interface = NULL; /* unknown is not allowed either */
	run_expect_only(f, REASON_TPM_INTERFACE_NOT_ALLOWED);
	f->host.tpm_interface = "tis";
	run_expect_green(f);
	fx_free(f);
}

static void test_agent_version(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	f->policy->min_agent_version = strdup("6.7");
	f->host.agent_version = "6.5";
	struct verify_result *r = run(f);
	const struct verify_reason *rs = expect_only(r, REASON_AGENT_VERSION_TOO_OLD);
	assert_string_equal(rs->actual, "6.5");
	verify_result_free(r);
	f->host.agent_version = "6.10";
	run_expect_green(f);
	/* no identity version: the signed metadata's ("1.0.0") is used */
	f->host.agent_version = NULL;
	run_expect_only(f, REASON_AGENT_VERSION_TOO_OLD);
	fx_free(f);
}

static void test_tpm_not_certified(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	f->host.ek_certified = false;
	run_expect_only(f, REASON_TPM_NOT_CERTIFIED);
	f->policy->certified_tpm = false;
	run_expect_green(f);
	fx_free(f);
}

/* How the EK is trusted: operator_key is not a certified vendor (the
 * default policy refuses it, saying why); requirements.ek_trust limits the
 * accepted ways (EK_TRUST_NOT_ALLOWED). */
static void test_ek_trust(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	f->host.ek_certified = false;
	f->host.ek_trust = "operator_key";
	struct verify_result *r = run(f);
	expect_only(r, REASON_TPM_NOT_CERTIFIED);
	assert_non_null(strstr(r->reasons[0].message, "operator_key"));
	verify_result_free(r);
	f->policy->certified_tpm = false;
	run_expect_green(f);
	f->policy->ek_trust = POLICY_EK_CERTIFIED;
	run_expect_only(f, REASON_EK_TRUST_NOT_ALLOWED);
	f->policy->ek_trust = POLICY_EK_CERTIFIED | POLICY_EK_OPERATOR_KEY;
	run_expect_green(f);
	/* no ek_trust recorded (hosts enrolled before it existed): certified
	 * if the certificate verified */
	f->host.ek_trust = NULL;
	f->host.ek_certified = true;
	f->policy->ek_trust = POLICY_EK_CERTIFIED;
	run_expect_green(f);
	f->host.ek_trust = "operator_certificate";
	run_expect_only(f, REASON_EK_TRUST_NOT_ALLOWED);
	fx_free(f);
}

/* Learn a policy from the host's own evidence (as attestctl policy create
 * --from-host does), then verify against it. */
static struct policy *learn(struct fx *f)
{
	struct eventlog *log = NULL;
	struct eventlog_checks *checks = NULL;
	struct eventlog_facts *facts = NULL;
	assert_int_equal(eventlog_parse(f->log, f->log_len, &log, NULL), 0);
	assert_int_equal(eventlog_content_check_bank(log, EVENTLOG_ALG_SHA256, &checks), 0);
	assert_int_equal(eventlog_facts_derive(log, checks, &facts), 0);
	struct policy_learn_input in = {log, checks, facts, &f->tpm, NULL};
	struct policy *p = NULL;
	char *summary = NULL;
	assert_int_equal(policy_learn(&in, &p, &summary), 0);
	assert_non_null(strstr(summary, "shimx64.efi"));
	free(summary);
	eventlog_facts_free(facts);
	eventlog_checks_free(checks);
	eventlog_free(log);
	return p;
}

static void test_learned_policy(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	policy_free(f->policy);
	f->policy = learn(f);
	assert_true(f->policy->has_kernel_cmdlines);
	f->mask = policy_selection_mask(f->policy, TPM2_ALG_SHA256);
	assert_int_equal(f->mask, 0x3ff); /* the default 0-9 (8 holds the command line) */
	struct verify_result *r = run(f);
	if (r->reason_count)
		dump(r);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);

	/* an approved command line that is not this host's */
	free(f->policy->kernel_cmdlines.v[0]);
	f->policy->kernel_cmdlines.v[0] = strdup("/boot/vmlinuz-5.4.0-81-generic ro quiet");
	r = run(f);
	const struct verify_reason *rs = expect_only(r, REASON_CONFIGURATION_NOT_APPROVED);
	assert_non_null(strstr(rs->message, "kernel command line"));
	assert_int_equal(rs->event, 101);
	assert_int_equal(rs->pcr, 8);
	assert_non_null(strstr(rs->actual, "console=ttyS0"));
	assert_non_null(strstr(rs->allowed, "ro quiet"));
	verify_result_free(r);
	policy_free(f->policy);

	/* a host whose boot loader differs: grub measured with another digest
	 * (simulated: the TPM and the log agree, the policy approves another) */
	f->policy = learn(f);
	f->policy->boot_apps[1].digest[0] ^= 1;
	r = run(f);
	rs = expect_only(r, REASON_CONFIGURATION_NOT_APPROVED);
	assert_non_null(strstr(rs->message, "grubx64.efi"));
	assert_int_equal(rs->event, 32);
	assert_int_equal(rs->pcr, 4);
	verify_result_free(r);
	policy_free(f->policy);

	/* PCR values: one differs; dbx older than required */
	f->policy = learn(f);
	f->policy->pcr_values[2].v[0][0] ^= 1;
	f->policy->dbx.min_entries = 5;
	r = run(f);
	assert_int_equal(r->reason_count, 2);
	assert_string_equal(r->reasons[0].code, REASON_CONFIGURATION_NOT_APPROVED);
	assert_non_null(strstr(r->reasons[0].message, "dbx"));
	assert_non_null(strstr(r->reasons[0].message, "older"));
	assert_string_equal(r->reasons[1].code, REASON_CONFIGURATION_NOT_APPROVED);
	assert_int_equal(r->reasons[1].pcr, 2);
	verify_result_free(r);
	fx_free(f);
}

static void test_restart(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	f->prev.reset_count = 6; /* the TPM was reset since the last quote */
	struct verify_result *r = run(f);
	assert_int_equal(r->reason_count, 1);
	assert_string_equal(r->reasons[0].code, REASON_HOST_RESTARTED_REENROLLING);
	assert_int_equal(r->verdict, VERIFY_RESTARTED);
	assert_true(r->restarted);
	assert_string_equal(verify_trust_name(r), "unknown");
	verify_result_free(r);

	/* boot id changed, counters not (e.g. counters unknown before) */
	f->prev.reset_count = 7;
	f->prev.boot_id = "6c1f3a52-0000-4000-8000-000000000000";
	r = run(f);
	assert_int_equal(r->verdict, VERIFY_RESTARTED);
	assert_string_equal(r->reasons[0].actual, "6c1f3a52-0000-4000-8000-000000000001");
	verify_result_free(r);

	/* a restart plus a real failure: red, and still re-enroll */
	f->host.ek_certified = false;
	r = run(f);
	assert_int_equal(r->verdict, VERIFY_RED);
	assert_true(r->restarted);
	assert_int_equal(r->reason_count, 2);
	assert_string_equal(r->reasons[0].code, REASON_HOST_RESTARTED_REENROLLING);
	assert_string_equal(r->reasons[1].code, REASON_TPM_NOT_CERTIFIED);
	verify_result_free(r);

	/* a replayed quote's counters say nothing: not a restart */
	f->host.ek_certified = true;
	f->prev.boot_id = NULL;
	f->prev.restart_count = 1;
	struct bundle *b = make_bundle(f);
	f->nonce[1] ^= 1;
	r = run_bundle(f, b);
	expect_only(r, "NONCE_MISMATCH");
	assert_false(r->restarted);
	verify_result_free(r);
	bundle_free(b);
	fx_free(f);
}

static void test_reason_order(void **state)
{
	(void)state;
	struct fx *f = fx_new(NOSB_LOG);
	if (!f)
		skip();
	/* everything at once: stale nonce, a lying event, Secure Boot off,
	 * SHA-1-only identity, TIS-only policy, old agent, uncertified TPM,
	 * an approved PCR value that differs, and a restart */
	f->log[data_offset(f, 1)] ^= 0x01; /* event 1: EV_S_CRTM_VERSION, PCR 0 */
	tpm_boot(f, -1, -1, NULL);
	struct bundle *b = make_bundle(f);
	f->nonce[0] ^= 1;
	f->host.bank_count = 1;
	f->policy->tpm_interfaces = POLICY_TPM_TIS;
	f->policy->min_agent_version = strdup("2");
	f->host.ek_certified = false;
	char bad[256];
	snprintf(bad, sizeof bad,
	         "{\"version\":1,\"reference\":{\"pcrs\":{\"sha256\":{\"0\":[\"%064d\"]}}}}", 0);
	struct policy *p = NULL;
	struct diag perr;
	int pe = policy_parse(bad, strlen(bad), &p, &perr);
	if (pe < 0)
		fprintf(stderr, "%s\n", perr.message);
	assert_int_equal(pe, 0);
	p->tpm_interfaces = POLICY_TPM_TIS;
	p->min_agent_version = strdup("2");
	policy_free(f->policy);
	f->policy = p;
	struct verify_result *r = run_bundle(f, b);
	const char *want[] = {"NONCE_MISMATCH",
	                      REASON_EVENT_CONTENT_MISMATCH,
	                      REASON_SECURE_BOOT_DISABLED,
	                      REASON_SHA256_BANK_MISSING,
	                      REASON_TPM_INTERFACE_NOT_ALLOWED,
	                      REASON_AGENT_VERSION_TOO_OLD,
	                      REASON_TPM_NOT_CERTIFIED,
	                      REASON_CONFIGURATION_NOT_APPROVED};
	if (r->reason_count != sizeof want / sizeof want[0])
		dump(r);
	assert_int_equal(r->reason_count, sizeof want / sizeof want[0]);
	for (size_t i = 0; i < r->reason_count; i++)
		assert_string_equal(r->reasons[i].code, want[i]);
	assert_int_equal(r->verdict, VERIFY_RED);
	verify_result_free(r);
	bundle_free(b);

	/* with a fresh nonce, the restart comes right after the quote checks
	 * and before the event log's reasons */
	f->nonce[0] ^= 1;
	f->prev.restart_count = 1;
	r = run(f);
	assert_string_equal(r->reasons[0].code, REASON_HOST_RESTARTED_REENROLLING);
	assert_string_equal(r->reasons[1].code, REASON_EVENT_CONTENT_MISMATCH);
	assert_int_equal(r->verdict, VERIFY_RED);
	verify_result_free(r);
	fx_free(f);
}

static void test_eventlog_missing_or_invalid(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	struct bundle *b = make_bundle(f);
	free(b->eventlog);
	b->eventlog = NULL;
	b->eventlog_len = 0;
	struct verify_result *r = run_bundle(f, b);
	expect_only(r, "EVENTLOG_MISSING");
	verify_result_free(r);
	/* a learned policy cannot be checked without a log: still one more reason */
	b->eventlog = dup_bytes("bogus invalid event log", 23);
	b->eventlog_len = 23;
	r = run_bundle(f, b);
	expect_only(r, "EVENTLOG_INVALID");
	verify_result_free(r);
	bundle_free(b);
	fx_free(f);
}

static void test_internal_errors_never_green(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	struct bundle *b = make_bundle(f);
	struct verify_input in;
	memset(&in, 0, sizeof in);
	in.bundle = b;
	in.ak = &f->ak;
	in.host = f->host;
	in.policy = f->policy;
	struct verify_result *r = NULL;
	/* no expected nonce */
	assert_int_equal(verify_attestation(&in, &r), 0);
	expect_only(r, REASON_VERIFIER_ERROR);
	verify_result_free(r);
	/* a nonce the verifier could never have sent (too short) */
	in.nonce = f->nonce;
	in.nonce_len = 8;
	assert_int_equal(verify_attestation(&in, &r), 0);
	const struct verify_reason *rs = expect_only(r, REASON_VERIFIER_ERROR);
	assert_non_null(strstr(rs->message, "could not complete"));
	verify_result_free(r);
	/* no policy */
	in.nonce_len = sizeof f->nonce;
	in.policy = NULL;
	assert_int_equal(verify_attestation(&in, &r), 0);
	expect_only(r, REASON_VERIFIER_ERROR);
	verify_result_free(r);
	assert_int_equal(verify_attestation(NULL, &r), ATTEST_E_ARG);
	assert_int_equal(verify_attestation(&in, NULL), ATTEST_E_ARG);
	bundle_free(b);
	fx_free(f);
}

static void test_json(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	uint8_t evil[32];
	memset(evil, 0xee, sizeof evil);
	tpm_boot(f, -1, 4, evil);
	struct verify_result *r = run(f);
	json_t *j = NULL;
	assert_int_equal(verify_result_json(r, &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "trust")), "red");
	json_t *reasons = json_object_get(j, "reasons");
	assert_true(json_array_size(reasons) >= 1);
	json_t *r0 = json_array_get(reasons, 0);
	assert_string_equal(json_string_value(json_object_get(r0, "code")),
	                    "EVENTLOG_REPLAY_MISMATCH");
	assert_non_null(json_string_value(json_object_get(r0, "message")));
	json_t *ev = json_object_get(r0, "evidence");
	assert_int_equal(json_integer_value(json_object_get(ev, "pcr")), 4);
	assert_int_equal(json_integer_value(json_object_get(ev, "event")), 100);
	assert_string_equal(json_string_value(json_object_get(ev, "bank")), "sha256");
	assert_string_equal(json_string_value(json_object_get(ev, "event_type")),
	                    "EV_EFI_BOOT_SERVICES_APPLICATION");
	assert_int_equal(strlen(json_string_value(json_object_get(ev, "expected"))), 64);
	json_t *clk = json_object_get(j, "clock");
	assert_int_equal(json_integer_value(json_object_get(clk, "reset_count")), 7);
	json_t *sw = json_object_get(j, "software");
	assert_string_equal(json_string_value(json_object_get(sw, "os")), "Ubuntu 20.04.3 LTS");
	json_decref(j);
	json_t *a = NULL;
	assert_int_equal(verify_reasons_json(r, &a), 0);
	assert_int_equal(json_array_size(a), r->reason_count);
	json_decref(a);
	verify_result_free(r);
	fx_free(f);
}

/* The direct texts on hand-made results: every escape jansson writes,
 * valid and invalid UTF-8, a field given twice, empty and missing members,
 * then random bytes in every string (fixed seed). */
static void test_result_texts(void **state)
{
	(void)state;
	static struct verify_reason rs[3];
	static struct verify_result r;
	memset(rs, 0, sizeof rs);
	memset(&r, 0, sizeof r);
	r.reasons = rs;
	r.reason_count = 3;
	r.verdict = VERIFY_RED;
	for (int k = 0; k < 3; k++) {
		rs[k].code = "EVENTLOG_REPLAY_MISMATCH";
		rs[k].pcr = -1;
		rs[k].event = -1;
	}
	snprintf(rs[0].message, sizeof rs[0].message, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f end");
	rs[1].pcr = 7;
	rs[1].bank = TPM2_ALG_SHA256;
	rs[1].event = 123456789012LL;
	rs[1].event_type = "EV_IPL";
	snprintf(rs[1].message, sizeof rs[1].message, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	snprintf(rs[1].description, sizeof rs[1].description, "cut \xe2\x82");
	snprintf(rs[1].expected, sizeof rs[1].expected, "\xed\xa0\x80 surrogate");
	snprintf(rs[1].actual, sizeof rs[1].actual, "\xc0\xaf overlong");
	snprintf(rs[1].allowed, sizeof rs[1].allowed, "\xf4\x90\x80\x80 too high");
	rs[2].bank = 0x7777; /* no name: no "bank" */
	struct verify_software *sw = &r.software;
	sw->kernel = "6.1.0-13-amd64";
	sw->os = "Debian \"12\"";
	sw->boot_loader = "\\EFI\\debian\\shimx64.efi -> grubx64.efi";
	char v1[] = "console=ttyS0", v2[] = "quiet \xff", v3[] = "fw";
	sw->not_verified_count = 3;
	sw->not_verified[0] = (struct verify_unverified){"kernel_cmdline", v1, 101, 8, ""};
	sw->not_verified[1] = (struct verify_unverified){"firmware", v3, -1, -1, "no"};
	sw->not_verified[2] = (struct verify_unverified){"kernel_cmdline", v2, -1, 9, "again"};
	sw->component_count = 2;
	sw->components[0].event = 4;
	sw->components[0].pcr = 4;
	snprintf(sw->components[0].digest, sizeof sw->components[0].digest, "%064d", 0);
	snprintf(sw->components[0].text, sizeof sw->components[0].text, "shim: not in the catalog");
	sw->components[1].verified = true;
	sw->components[1].in_catalog = true;
	snprintf(sw->components[1].log_path, sizeof sw->components[1].log_path, "\\EFI\\x");
	snprintf(sw->components[1].kind, sizeof sw->components[1].kind, "kernel");
	snprintf(sw->components[1].package, sizeof sw->components[1].package, "linux-image");
	snprintf(sw->components[1].version, sizeof sw->components[1].version, "6.1.55-1");
	snprintf(sw->components[1].rule, sizeof sw->components[1].rule, "debian-kernels");
	texts_match(&r);
	/* the invalid texts became '?' where the tree could not take them */
	char *t = NULL;
	assert_int_equal(verify_reasons_text(&r, &t), 0);
	assert_non_null(strstr(t, "\"cut ??\""));
	assert_non_null(strstr(t, "caf\xc3\xa9"));
	assert_non_null(strstr(t, "\\u0001\\u001F\x7f"));
	free(t);
	assert_int_equal(verify_software_text(&r, &t), 0);
	assert_non_null(strstr(t, "\"not_verified\":{\"kernel_cmdline\":{\"value\":\"quiet ?\""));
	free(t);
	assert_int_equal(verify_reasons_text(NULL, &t), ATTEST_E_ARG);
	assert_int_equal(verify_software_text(&r, NULL), ATTEST_E_ARG);
	/* random bytes (no NUL) in every string member */
	srand(14);
	char *texts[] = {rs[0].message,
	                 rs[1].description,
	                 rs[2].expected,
	                 rs[0].actual,
	                 rs[2].allowed,
	                 sw->components[0].text,
	                 sw->components[1].log_path,
	                 sw->components[1].package,
	                 v1,
	                 v2};
	size_t caps[] = {sizeof rs[0].message,
	                 sizeof rs[1].description,
	                 sizeof rs[2].expected,
	                 sizeof rs[0].actual,
	                 sizeof rs[2].allowed,
	                 sizeof sw->components[0].text,
	                 sizeof sw->components[1].log_path,
	                 sizeof sw->components[1].package,
	                 sizeof v1,
	                 sizeof v2};
	for (int round = 0; round < 2000; round++) {
		size_t k = (size_t)rand() % (sizeof texts / sizeof texts[0]);
		size_t n = (size_t)rand() % caps[k];
		for (size_t i = 0; i < n; i++) {
			int c = rand() % 4 == 0 ? 0x80 + rand() % 0x80 : 1 + rand() % 0x7f;
			texts[k][i] = (char)c;
		}
		texts[k][n] = '\0';
		texts_match(&r);
	}
}

static void test_reason_table(void **state)
{
	(void)state;
	/* every quote/bundle code has a sentence: one spelling project-wide */
	for (int s = QUOTE_OK + 1; s < QUOTE_STATUS__COUNT; s++)
		assert_non_null(reason_sentence(quote_status_code((enum quote_status)s)));
	const char *required[] = {"TPM_NOT_CERTIFIED",
	                          "AK_ACTIVATION_FAILED",
	                          "QUOTE_SIGNATURE_INVALID",
	                          "NONCE_MISMATCH",
	                          "PCR_DIGEST_MISMATCH",
	                          "EVENTLOG_REPLAY_MISMATCH",
	                          "EVENT_CONTENT_MISMATCH",
	                          "SECURE_BOOT_DISABLED",
	                          "SHA256_BANK_MISSING",
	                          "NOT_UEFI",
	                          "TPM_INTERFACE_NOT_ALLOWED",
	                          "AGENT_VERSION_TOO_OLD",
	                          "CONFIGURATION_NOT_APPROVED",
	                          "HOST_RESTARTED_REENROLLING",
	                          "TPM_TIMEOUT",
	                          "EK_ALREADY_ENROLLED",
	                          "EK_KEY_NOT_APPROVED",
	                          "EK_TRUST_NOT_ALLOWED"};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		assert_non_null(reason_sentence(required[i]));
	assert_null(reason_sentence("NO_SUCH_CODE"));
	assert_null(reason_sentence(NULL));
	size_t n = 0;
	const struct reason_info *t = reason_table(&n);
	assert_true(n >= 14);
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; k < n; k++)
			assert_string_not_equal(t[i].code, t[k].code);
}

/* ---- the host's memo (verify_memo.h) ---- */

static const uint8_t POLICY_A[32] = {0xa};
static const uint8_t POLICY_B[32] = {0xb};

static struct verify_result *run_memo(const struct fx *f, struct verify_memo *m,
                                      const uint8_t *policy_digest)
{
	struct bundle *b = make_bundle(f);
	struct verify_input in;
	memset(&in, 0, sizeof in);
	in.bundle = b;
	in.ak_public = b->ak_public; /* the memo keeps the AK key too */
	in.ak_public_len = b->ak_public_len;
	in.nonce = f->nonce;
	in.nonce_len = sizeof f->nonce;
	in.previous = f->prev;
	in.host = f->host;
	in.policy = f->policy;
	in.memo = m;
	in.policy_digest = policy_digest;
	struct verify_result *r = NULL;
	assert_int_equal(verify_attestation(&in, &r), 0);
	bundle_free(b);
	return r;
}

static void same_text(const char *a, const char *b)
{
	if (!a || !b)
		assert_true(a == b);
	else
		assert_string_equal(a, b);
}

/* A memoized result is the one the whole pipeline gives. */
static void same_result(const struct verify_result *a, const struct verify_result *b)
{
	assert_int_equal(a->verdict, b->verdict);
	assert_int_equal(a->reason_count, b->reason_count);
	assert_int_equal(a->reasons_dropped, b->reasons_dropped);
	for (size_t i = 0; i < a->reason_count; i++) {
		assert_string_equal(a->reasons[i].code, b->reasons[i].code);
		assert_string_equal(a->reasons[i].message, b->reasons[i].message);
		assert_int_equal(a->reasons[i].event, b->reasons[i].event);
	}
	same_text(a->software.firmware, b->software.firmware);
	same_text(a->software.boot_loader, b->software.boot_loader);
	same_text(a->software.kernel_image, b->software.kernel_image);
	same_text(a->software.kernel_cmdline, b->software.kernel_cmdline);
	same_text(a->software.kernel, b->software.kernel);
	same_text(a->software.tpm_firmware, b->software.tpm_firmware);
	assert_int_equal(a->software.not_verified_count, b->software.not_verified_count);
	for (size_t i = 0; i < a->software.not_verified_count; i++) {
		assert_string_equal(a->software.not_verified[i].field,
		                    b->software.not_verified[i].field);
		same_text(a->software.not_verified[i].value, b->software.not_verified[i].value);
		assert_string_equal(a->software.not_verified[i].why,
		                    b->software.not_verified[i].why);
	}
	/* the memo keeps the components packed: every field comes back */
	assert_int_equal(a->software.component_count, b->software.component_count);
	for (size_t i = 0; i < a->software.component_count; i++) {
		const struct verify_component *x = &a->software.components[i],
		                              *y = &b->software.components[i];
		assert_int_equal(x->event, y->event);
		assert_int_equal(x->pcr, y->pcr);
		assert_int_equal(x->verified, y->verified);
		assert_int_equal(x->in_catalog, y->in_catalog);
		assert_string_equal(x->digest, y->digest);
		assert_string_equal(x->log_path, y->log_path);
		assert_string_equal(x->kind, y->kind);
		assert_string_equal(x->package, y->package);
		assert_string_equal(x->version, y->version);
		assert_string_equal(x->rule, y->rule);
		assert_string_equal(x->text, y->text);
	}
}

static void test_memo_hit_same_result(void **state)
{
	(void)state;
	static const char *const logs[] = {QEMU_LOG, NOSB_LOG};
	for (size_t k = 0; k < 2; k++) {
		struct fx *f = fx_new(logs[k]);
		if (!f)
			skip();
		struct verify_memo *m = NULL;
		assert_int_equal(verify_memo_new(&m), 0);
		struct verify_result *whole = run(f);
		struct verify_result *first = run_memo(f, m, POLICY_A);
		assert_false(first->memo_hit);
		struct verify_result *again = run_memo(f, m, POLICY_A);
		assert_true(again->memo_hit);
		same_result(whole, first);
		same_result(whole, again);
		assert_true(k != 0 || again->software.component_count > 0);
		assert_int_equal(again->verdict, k == 0 ? VERIFY_GREEN : VERIFY_RED);
		/* a few KB per host */
		assert_true(verify_memo_bytes(m) < 8192);
		verify_result_free(whole);
		verify_result_free(first);
		verify_result_free(again);
		/* cleared: the whole pipeline again */
		verify_memo_clear(m);
		struct verify_result *r = run_memo(f, m, POLICY_A);
		assert_false(r->memo_hit);
		verify_result_free(r);
		verify_memo_free(m);
		fx_free(f);
	}
}

/* A log that changes between two quotes of the same boot (digests kept,
 * so it still replays) is parsed again: the content check fails. */
static void test_memo_log_changed(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	struct verify_memo *m = NULL;
	assert_int_equal(verify_memo_new(&m), 0);
	struct verify_result *r = run_memo(f, m, POLICY_A);
	verify_result_free(r);
	r = run_memo(f, m, POLICY_A);
	assert_true(r->memo_hit);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);
	f->log[data_offset(f, 18)] ^= 0x20;
	r = run_memo(f, m, POLICY_A);
	assert_false(r->memo_hit);
	expect_only(r, REASON_EVENT_CONTENT_MISMATCH);
	verify_result_free(r);
	r = run_memo(f, m, POLICY_A); /* the lie, memoized, is still red */
	assert_true(r->memo_hit);
	expect_only(r, REASON_EVENT_CONTENT_MISMATCH);
	verify_result_free(r);
	f->log[data_offset(f, 18)] ^= 0x20;
	r = run_memo(f, m, POLICY_A);
	assert_false(r->memo_hit);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);
	verify_memo_free(m);
	fx_free(f);
}

/* The agent left the log out as unchanged (bundle.eventlog_unchanged): the
 * memo stands for it only with the digest named and the quoted PCRs equal
 * to its replay; otherwise red with need_eventlog. */
static struct verify_result *run_unchanged(const struct fx *f, struct verify_memo *m,
                                           const uint8_t *digest)
{
	struct bundle *b = make_bundle(f);
	free(b->eventlog);
	b->eventlog = NULL;
	b->eventlog_len = 0;
	b->eventlog_unchanged = true;
	struct verify_input in;
	memset(&in, 0, sizeof in);
	in.bundle = b;
	in.ak_public = b->ak_public;
	in.ak_public_len = b->ak_public_len;
	in.nonce = f->nonce;
	in.nonce_len = sizeof f->nonce;
	in.previous = f->prev;
	in.host = f->host;
	in.policy = f->policy;
	in.memo = m;
	in.policy_digest = POLICY_A;
	in.eventlog_digest = digest;
	struct verify_result *r = NULL;
	assert_int_equal(verify_attestation(&in, &r), 0);
	bundle_free(b);
	return r;
}

static void test_memo_unchanged_log(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	struct verify_memo *m = NULL;
	assert_int_equal(verify_memo_new(&m), 0);
	/* no memo yet: red, the log is asked for */
	struct verify_result *r = run_unchanged(f, m, m->log_digest);
	assert_int_equal(r->verdict, VERIFY_RED);
	assert_true(r->need_eventlog);
	assert_true(verify_result_has(r, "EVENTLOG_MISSING"));
	verify_result_free(r);
	struct verify_result *whole = run_memo(f, m, POLICY_A);
	assert_int_equal(whole->verdict, VERIFY_GREEN);
	uint8_t d[32];
	memcpy(d, m->log_digest, sizeof d);
	r = run_unchanged(f, m, d);
	assert_true(r->memo_hit);
	assert_false(r->need_eventlog);
	same_result(whole, r);
	verify_result_free(r);
	/* another digest named: not this memo */
	uint8_t other[32];
	memcpy(other, d, sizeof other);
	other[0] ^= 1;
	r = run_unchanged(f, m, other);
	assert_true(r->need_eventlog);
	assert_int_equal(r->verdict, VERIFY_RED);
	verify_result_free(r);
	/* no digest: nothing to look up */
	r = run_unchanged(f, m, NULL);
	assert_true(r->need_eventlog);
	verify_result_free(r);
	/* a PCR the log does not explain: never green from the memo */
	uint8_t extra[32];
	memset(extra, 0x66, sizeof extra);
	tpm_boot(f, -1, 4, extra);
	r = run_unchanged(f, m, d);
	assert_false(r->memo_hit);
	assert_true(r->need_eventlog);
	assert_int_equal(r->verdict, VERIFY_RED);
	verify_result_free(r);
	verify_result_free(whole);
	verify_memo_free(m);
	fx_free(f);
}

/* Same log, but the TPM holds something the log does not show: the
 * quoted values are compared with the memoized replay on every quote. */
static void test_memo_pcr_changed(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	struct verify_memo *m = NULL;
	assert_int_equal(verify_memo_new(&m), 0);
	struct verify_result *r = run_memo(f, m, POLICY_A);
	verify_result_free(r);
	uint8_t extra[32];
	memset(extra, 0x66, sizeof extra);
	tpm_boot(f, -1, 4, extra);
	r = run_memo(f, m, POLICY_A);
	assert_false(r->memo_hit);
	assert_int_equal(r->verdict, VERIFY_RED);
	assert_true(verify_result_has(r, "EVENTLOG_REPLAY_MISMATCH"));
	verify_result_free(r);
	r = run_memo(f, m, POLICY_A); /* never memoized as fine */
	assert_false(r->memo_hit);
	assert_int_equal(r->verdict, VERIFY_RED);
	verify_result_free(r);
	verify_memo_free(m);
	fx_free(f);
}

/* Another policy, other host facts, no policy digest: the conclusions are
 * not reused. */
static void test_memo_inputs_changed(void **state)
{
	(void)state;
	struct fx *f = fx_new(NOSB_LOG);
	if (!f)
		skip();
	struct verify_memo *m = NULL;
	assert_int_equal(verify_memo_new(&m), 0);
	struct verify_result *r = run_memo(f, m, POLICY_A);
	expect_only(r, REASON_SECURE_BOOT_DISABLED);
	verify_result_free(r);
	f->policy->secure_boot = false;
	r = run_memo(f, m, POLICY_B);
	assert_false(r->memo_hit);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);
	r = run_memo(f, m, POLICY_B);
	assert_true(r->memo_hit);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);
	f->host.ek_certified = false;
	f->policy->certified_tpm = true;
	f->host.ek_trust = NULL;
	r = run_memo(f, m, POLICY_B); /* policy digest is the caller's duty; host facts are keyed */
	assert_false(r->memo_hit);
	assert_true(verify_result_has(r, REASON_TPM_NOT_CERTIFIED));
	verify_result_free(r);
	r = run_memo(f, m, NULL);
	assert_false(r->memo_hit);
	assert_true(verify_result_has(r, REASON_TPM_NOT_CERTIFIED));
	verify_result_free(r);
	verify_memo_free(m);
	fx_free(f);
}

/* The memo keeps the enrolled AK prepared (quote_ak): the signature is
 * still verified on every quote, with the AK the caller names, even when
 * the log's memo would stand for everything else. */
static void test_memo_ak(void **state)
{
	(void)state;
	struct fx *f = fx_new(QEMU_LOG);
	if (!f)
		skip();
	struct verify_memo *m = NULL;
	assert_int_equal(verify_memo_new(&m), 0);
	struct verify_result *r = run_memo(f, m, POLICY_A);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);
	r = run_memo(f, m, POLICY_A);
	assert_true(r->memo_hit);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);
	/* signed by another key, the enrolled AK unchanged: red, memo or not */
	f->signer = g_other_key;
	for (int i = 0; i < 2; i++) {
		r = run_memo(f, m, POLICY_A);
		expect_only(r, "QUOTE_SIGNATURE_INVALID");
		assert_false(r->memo_hit);
		verify_result_free(r);
	}
	/* and the good quote after it is green again, from the memo */
	f->signer = g_ak_key;
	r = run_memo(f, m, POLICY_A);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	assert_true(r->memo_hit);
	verify_result_free(r);
	/* re-enrolled with a new AK: the memo's AK is not the one named now */
	tb_public(g_other_key, TB_AK_ATTRS, TPM2_ALG_ECDSA, &f->ak);
	r = run_memo(f, m, POLICY_A); /* still signed by the old AK */
	expect_only(r, "QUOTE_SIGNATURE_INVALID");
	verify_result_free(r);
	f->signer = g_other_key;
	r = run_memo(f, m, POLICY_A);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	assert_true(r->memo_hit); /* the log's memo stands; the AK was prepared anew */
	verify_result_free(r);
	/* an AK that cannot be prepared is reported as before, not memoized */
	f->ak.unique.ecc.x.buffer[0] ^= 0x01; /* decodes, but is not a point of P-256 */
	r = run_memo(f, m, POLICY_A);
	assert_int_equal(r->verdict, VERIFY_RED);
	assert_true(verify_result_has(r, "AK_UNSUPPORTED"));
	verify_result_free(r);
	assert_false(m->have_ak);
	assert_true(verify_memo_bytes(m) < 8192);
	verify_memo_free(m);
	fx_free(f);
}

/* Hosts that booted the same log share one copy of the memo's replay and
 * conclusions (verify_memo_share); each still checks its own quote with
 * its own AK, and a host whose inputs change leaves the others' copy. */
static void test_memo_shared(void **state)
{
	(void)state;
	struct fx *a = fx_new(QEMU_LOG), *b = fx_new(QEMU_LOG);
	if (!a || !b) {
		fx_free(a);
		fx_free(b);
		skip();
	}
	b->signer = g_other_key; /* another host, another AK */
	tb_public(g_other_key, TB_AK_ATTRS, TPM2_ALG_ECDSA, &b->ak);
	struct verify_memo_pool *pool = NULL;
	assert_int_equal(verify_memo_pool_new(&pool), 0);
	struct verify_memo *ma = NULL, *mb = NULL;
	assert_int_equal(verify_memo_new(&ma), 0);
	assert_int_equal(verify_memo_new(&mb), 0);
	struct verify_result *whole = run(a);
	struct verify_result *r = run_memo(a, ma, POLICY_A);
	verify_result_free(r);
	r = run_memo(b, mb, POLICY_A);
	assert_int_equal(r->verdict, VERIFY_GREEN);
	verify_result_free(r);
	size_t own = verify_memo_bytes(mb);
	verify_memo_share(pool, ma);
	verify_memo_share(pool, mb);
	verify_memo_share(pool, mb); /* once is enough */
	assert_non_null(ma->shared);
	assert_ptr_equal(ma->shared, mb->shared);
	assert_ptr_equal(ma->reasons, mb->reasons);
	assert_ptr_equal(ma->banks[0].pcr, mb->banks[0].pcr);
	assert_int_equal(verify_memo_pool_count(pool), 1);
	assert_true(verify_memo_pool_bytes(pool) > 0);
	assert_true(verify_memo_bytes(mb) + 1024 < own);
	/* each from the shared copy, with its own AK */
	for (int i = 0; i < 2; i++) {
		r = run_memo(i ? b : a, i ? mb : ma, POLICY_A);
		assert_true(r->memo_hit);
		same_result(whole, r);
		verify_result_free(r);
	}
	/* b's quote signed by a's key: red, though the shared copy stands */
	b->signer = g_ak_key;
	r = run_memo(b, mb, POLICY_A);
	expect_only(r, "QUOTE_SIGNATURE_INVALID");
	verify_result_free(r);
	b->signer = g_other_key;
	/* a under another policy: the whole pipeline, a's memo its own again;
	 * b still reads the pool's copy */
	r = run_memo(a, ma, POLICY_B);
	assert_false(r->memo_hit);
	verify_result_free(r);
	assert_null(ma->shared);
	assert_non_null(mb->shared);
	r = run_memo(b, mb, POLICY_A);
	assert_true(r->memo_hit);
	same_result(whole, r);
	verify_result_free(r);
	/* a's new conclusions differ (another key): a copy of their own */
	verify_memo_share(pool, ma);
	assert_int_equal(verify_memo_pool_count(pool), 2);
	assert_ptr_not_equal(ma->shared, mb->shared);
	/* the last memo reading a copy frees it; a pool freed first leaves
	 * its copies to their memos */
	verify_memo_free(mb);
	assert_int_equal(verify_memo_pool_count(pool), 1);
	verify_memo_pool_free(pool);
	r = run_memo(a, ma, POLICY_B);
	assert_true(r->memo_hit);
	verify_result_free(r);
	verify_memo_free(ma);
	verify_result_free(whole);
	fx_free(a);
	fx_free(b);
}

static int setup(void **state)
{
	(void)state;
	g_ak_key = tb_ec_key("P-256");
	g_other_key = tb_ec_key("P-256");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(g_ak_key);
	EVP_PKEY_free(g_other_key);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_green),
	    cmocka_unit_test(test_signature_invalid),
	    cmocka_unit_test(test_memo_ak),
	    cmocka_unit_test(test_memo_shared),
	    cmocka_unit_test(test_ak_not_enrolled),
	    cmocka_unit_test(test_nonce_mismatch),
	    cmocka_unit_test(test_pcr_digest_mismatch),
	    cmocka_unit_test(test_replay_tpm_has_extra),
	    cmocka_unit_test(test_replay_log_has_extra),
	    cmocka_unit_test(test_event_content_mismatch),
	    cmocka_unit_test(test_secure_boot_disabled),
	    cmocka_unit_test(test_secure_boot_pcr_not_quoted),
	    cmocka_unit_test(test_software_from_unquoted_pcrs),
	    cmocka_unit_test(test_software_edited_pcr8),
	    cmocka_unit_test(test_sha256_bank_missing),
	    cmocka_unit_test(test_not_uefi),
	    cmocka_unit_test(test_tpm_interface),
	    cmocka_unit_test(test_agent_version),
	    cmocka_unit_test(test_tpm_not_certified),
	    cmocka_unit_test(test_ek_trust),
	    cmocka_unit_test(test_learned_policy),
	    cmocka_unit_test(test_restart),
	    cmocka_unit_test(test_reason_order),
	    cmocka_unit_test(test_eventlog_missing_or_invalid),
	    cmocka_unit_test(test_internal_errors_never_green),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_reason_table),
	    cmocka_unit_test(test_result_texts),
	    cmocka_unit_test(test_memo_hit_same_result),
	    cmocka_unit_test(test_memo_log_changed),
	    cmocka_unit_test(test_memo_unchanged_log),
	    cmocka_unit_test(test_memo_pcr_changed),
	    cmocka_unit_test(test_memo_inputs_changed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
