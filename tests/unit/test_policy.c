/* Policies: strict parsing (every error names the key), the default
 * policy, canonical JSON round trips, versions and PCR ranges, and learning
 * from a real event log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eventlog.h"
#include "eventlog_facts.h"
#include "policy.h"
#include "testutil.h"

#define QEMU_LOG TESTDATA_DIR "/eventlogs/qemu-ovmf-ubuntu-secureboot.bin"
#define D64      "9af72c68c7de19603879020c14f88c2bfa8d06503153866b9888c48d0c5d2a58"

static char *to_json(const struct policy *p)
{
	char *s = NULL;
	assert_int_equal(policy_to_json(p, false, &s), 0);
	return s;
}

/* parse(to_json(p)) serialises to the same bytes. */
static void assert_round_trip(const struct policy *p)
{
	char *a = to_json(p);
	struct policy *q = NULL;
	struct diag err;
	int e = policy_parse(a, strlen(a), &q, &err);
	if (e < 0)
		fprintf(stderr, "%s\n%s\n", a, err.message);
	assert_int_equal(e, 0);
	char *b = to_json(q);
	assert_string_equal(a, b);
	char *pretty = NULL;
	assert_int_equal(policy_to_json(q, true, &pretty), 0);
	assert_non_null(strchr(pretty, '\n'));
	free(pretty);
	free(a);
	free(b);
	policy_free(q);
}

/* The built-in default an earlier release stored (sha256 0-7) is brought
 * up to date; any other document, an operator's edit included, is not. */
static void test_default_upgrade(void **state)
{
	(void)state;
	const char *v1 = "{\"reference\":{},\"requirements\":{\"banks\":[\"sha256\"],"
	                 "\"certified_tpm\":true,\"quote_pcrs\":{\"sha256\":\"0-7\"},"
	                 "\"secure_boot\":true,\"uefi\":true},\"version\":1}";
	char *out = NULL;
	assert_int_equal(policy_default_upgrade(v1, strlen(v1), &out), 1);
	assert_non_null(strstr(out, "\"quote_pcrs\":{\"sha256\":\"0-9\"}"));
	/* the upgrade is the default, and upgrading it again does nothing */
	struct policy *d = NULL;
	assert_int_equal(policy_default(&d), 0);
	char *dj = to_json(d);
	assert_string_equal(out, dj);
	char *again = NULL;
	assert_int_equal(policy_default_upgrade(out, strlen(out), &again), 0);
	assert_null(again);
	free(out);
	free(dj);
	policy_free(d);
	/* pretty-printed, keys in another order: the same document */
	const char *v1b = "{\"version\": 1, \"requirements\": {\"quote_pcrs\": {\"sha256\": "
	                  "\"0-7\"}, \"uefi\": true}}";
	out = NULL;
	assert_int_equal(policy_default_upgrade(v1b, strlen(v1b), &out), 1);
	free(out);
	/* edits are kept: a description, another selection, TIS only */
	const char *edits[] = {
	    "{\"version\":1,\"description\":\"ours\",\"requirements\":{\"quote_pcrs\":"
	    "{\"sha256\":\"0-7\"}}}",
	    "{\"version\":1,\"requirements\":{\"quote_pcrs\":{\"sha256\":\"0-7,14\"}}}",
	    "{\"version\":1,\"requirements\":{\"quote_pcrs\":{\"sha256\":\"0-7\"},"
	    "\"tpm_interfaces\":[\"tis\"]}}",
	    "{\"version\":1,\"requirements\":{\"quote_pcrs\":{\"sha256\":\"0-7\"},"
	    "\"secure_boot\":false}}",
	    "not json",
	};
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		out = NULL;
		assert_int_equal(policy_default_upgrade(edits[i], strlen(edits[i]), &out), 0);
		assert_null(out);
	}
	assert_int_equal(policy_default_upgrade(NULL, 0, &out), ATTEST_E_ARG);
}

static void test_default(void **state)
{
	(void)state;
	struct policy *p = NULL;
	assert_int_equal(policy_default(&p), 0);
	assert_true(p->secure_boot);
	assert_true(p->uefi);
	assert_true(p->certified_tpm);
	assert_int_equal(p->bank_count, 1);
	assert_int_equal(p->banks[0], TPM2_ALG_SHA256);
	assert_int_equal(p->tpm_interfaces, 0); /* TIS-only rule off */
	assert_null(p->min_agent_version);
	/* 0-9 since issue 12: every PCR the software view reads is quoted */
	assert_int_equal(policy_selection_mask(p, TPM2_ALG_SHA256), 0x3ff);
	assert_false(p->has_boot_apps || p->pk.set || p->pcr_value_count);
	char *s = to_json(p);
	assert_string_equal(s, "{\"reference\":{},\"requirements\":{\"banks\":[\"sha256\"],"
	                       "\"certified_tpm\":true,\"quote_pcrs\":{\"sha256\":\"0-9\"},"
	                       "\"secure_boot\":true,\"uefi\":true},\"version\":1}");
	/* the minimal document means the same */
	struct policy *q = NULL;
	assert_int_equal(policy_parse("{\"version\":1}", 13, &q, NULL), 0);
	char *t = to_json(q);
	assert_string_equal(s, t);
	TPML_PCR_SELECTION sel;
	policy_tpm_selection(q, &sel);
	assert_int_equal(sel.count, 1);
	assert_int_equal(sel.pcrSelections[0].hash, TPM2_ALG_SHA256);
	assert_int_equal(sel.pcrSelections[0].pcrSelect[0], 0xff);
	assert_int_equal(sel.pcrSelections[0].pcrSelect[1], 0x03);
	free(s);
	free(t);
	policy_free(p);
	policy_free(q);
	policy_free(NULL);
	assert_int_equal(policy_default(NULL), ATTEST_E_ARG);
}

static const char full[] =
    "{\"version\": 1, \"description\": \"web tier\","
    " \"requirements\": {\"secure_boot\": true, \"banks\": [\"sha256\", \"sha1\"],"
    "  \"uefi\": true, \"certified_tpm\": false, \"tpm_interfaces\": [\"tis\"],"
    "  \"min_agent_version\": \"6.7\", \"quote_pcrs\": {\"sha256\": \"0-9,14\", \"sha1\": \"0\"}},"
    " \"reference\": {\"firmware_versions\": [\"hex 0000\"], \"firmware_blobs\": [\"" D64 "\"],"
    "  \"boot_apps\": [{\"path\": \"\\\\EFI\\\\ubuntu\\\\shimx64.efi\", \"digest\": \"" D64 "\"},"
    "                {\"digest\": \"" D64 "\"}],"
    "  \"kernel_cmdlines\": [\"ro quiet\"], \"kernel_images\": [\"/boot/vmlinuz\"],"
    "  \"pk\": {\"digests\": [\"" D64 "\"], \"entries\": 1}, \"kek\": {\"entries\": 2},"
    "  \"db\": {\"digests\": []}, \"dbx\": {\"min_entries\": 371},"
    "  \"pcrs\": {\"sha256\": {\"0\": [\"" D64 "\", \"" D64 "\"], \"14\": [\"" D64 "\"]},"
    "           \"sha1\": {\"0\": [\"0000000000000000000000000000000000000000\"]}}}}";

static void test_full_round_trip(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct diag err;
	int e = policy_parse(full, strlen(full), &p, &err);
	if (e < 0)
		fprintf(stderr, "%s\n", err.message);
	assert_int_equal(e, 0);
	assert_string_equal(p->description, "web tier");
	assert_false(p->certified_tpm);
	assert_int_equal(p->bank_count, 2);
	assert_int_equal(p->tpm_interfaces, POLICY_TPM_TIS);
	assert_string_equal(p->min_agent_version, "6.7");
	assert_int_equal(policy_selection_mask(p, TPM2_ALG_SHA256), 0x43ff);
	assert_int_equal(policy_selection_mask(p, TPM2_ALG_SHA1), 0x1);
	assert_int_equal(p->boot_app_count, 2);
	assert_string_equal(p->boot_apps[0].path, "\\EFI\\ubuntu\\shimx64.efi");
	assert_null(p->boot_apps[1].path);
	assert_int_equal(p->pk.entries, 1);
	assert_int_equal(p->pk.digests.count, 1);
	assert_int_equal(p->kek.entries, 2);
	assert_true(p->db.set);
	assert_int_equal(p->db.digests.count, 0);
	assert_int_equal(p->dbx.min_entries, 371);
	assert_int_equal(p->dbx.entries, -1);
	assert_int_equal(p->pcr_value_count, 3);
	assert_round_trip(p);
	policy_free(p);
}

struct bad {
	const char *json;
	int rc;
	const char *says; /* the message must contain this */
};

static void test_errors_name_the_key(void **state)
{
	(void)state;
	static const struct bad cases[] = {
	    {"", ATTEST_E_FORMAT, "not JSON"},
	    {"[1]", ATTEST_E_FORMAT, "top level"},
	    {"{}", ATTEST_E_FORMAT, "\"version\" is missing"},
	    {"{\"version\":2}", ATTEST_E_UNSUPPORTED, "version must be 1"},
	    {"{\"version\":\"1\"}", ATTEST_E_FORMAT, "version must be 1"},
	    {"{\"version\":1,\"version\":1}", ATTEST_E_FORMAT, "duplicate"},
	    {"{\"version\":1,\"requirement\":{}}", ATTEST_E_FORMAT,
	     "unknown key \"requirement\" in the policy"},
	    {"{\"version\":1,\"description\":5}", ATTEST_E_FORMAT, "description must be a string"},
	    {"{\"version\":1,\"requirements\":[]}", ATTEST_E_FORMAT,
	     "requirements must be an object"},
	    {"{\"version\":1,\"requirements\":{\"secureboot\":false}}", ATTEST_E_FORMAT,
	     "unknown key \"secureboot\" in requirements"},
	    {"{\"version\":1,\"requirements\":{\"secure_boot\":1}}", ATTEST_E_FORMAT,
	     "requirements.secure_boot must be true or false"},
	    {"{\"version\":1,\"requirements\":{\"uefi\":\"yes\"}}", ATTEST_E_FORMAT,
	     "requirements.uefi"},
	    {"{\"version\":1,\"requirements\":{\"ek_trust\":[\"vendor\"]}}", ATTEST_E_FORMAT,
	     "requirements.ek_trust[0]: \"vendor\""},
	    {"{\"version\":1,\"requirements\":{\"ek_trust\":[]}}", ATTEST_E_FORMAT,
	     "requirements.ek_trust must name at least one"},
	    {"{\"version\":1,\"requirements\":{\"certified_tpm\":null}}", ATTEST_E_FORMAT,
	     "requirements.certified_tpm"},
	    {"{\"version\":1,\"requirements\":{\"banks\":\"sha256\"}}", ATTEST_E_FORMAT,
	     "requirements.banks must be an array"},
	    {"{\"version\":1,\"requirements\":{\"banks\":[\"sha3\"]}}", ATTEST_E_FORMAT,
	     "requirements.banks[0]: \"sha3\""},
	    {"{\"version\":1,\"requirements\":{\"banks\":[\"sha256\",\"sha256\"]}}",
	     ATTEST_E_FORMAT, "listed twice"},
	    {"{\"version\":1,\"requirements\":{\"tpm_interfaces\":[\"tis\",\"fifo\"]}}",
	     ATTEST_E_FORMAT, "requirements.tpm_interfaces[1]: \"fifo\""},
	    {"{\"version\":1,\"requirements\":{\"min_agent_version\":\"v6\"}}", ATTEST_E_FORMAT,
	     "requirements.min_agent_version: \"v6\""},
	    {"{\"version\":1,\"requirements\":{\"min_agent_version\":6.7}}", ATTEST_E_FORMAT,
	     "requirements.min_agent_version"},
	    {"{\"version\":1,\"requirements\":{\"quote_pcrs\":{}}}", ATTEST_E_FORMAT,
	     "requirements.quote_pcrs must be an object"},
	    {"{\"version\":1,\"requirements\":{\"quote_pcrs\":{\"sha256\":\"0-24\"}}}",
	     ATTEST_E_FORMAT, "requirements.quote_pcrs.sha256: \"0-24\""},
	    {"{\"version\":1,\"requirements\":{\"quote_pcrs\":{\"sha256\":\"7-3\"}}}",
	     ATTEST_E_FORMAT, "\"7-3\""},
	    {"{\"version\":1,\"requirements\":{\"quote_pcrs\":{\"md5\":\"0\"}}}", ATTEST_E_FORMAT,
	     "\"md5\" is not a bank"},
	    {"{\"version\":1,\"requirements\":{\"quote_pcrs\":{\"sha1\":\"0-7\"}}}",
	     ATTEST_E_FORMAT, "must select PCRs in the sha256 bank"},
	    {"{\"version\":1,\"reference\":{\"boot_app\":[]}}", ATTEST_E_FORMAT,
	     "unknown key \"boot_app\" in reference"},
	    {"{\"version\":1,\"reference\":{\"kernel_cmdlines\":\"ro\"}}", ATTEST_E_FORMAT,
	     "reference.kernel_cmdlines must be an array"},
	    {"{\"version\":1,\"reference\":{\"kernel_images\":[1]}}", ATTEST_E_FORMAT,
	     "reference.kernel_images[0] must be a string"},
	    {"{\"version\":1,\"reference\":{\"firmware_blobs\":[\"abcd\"]}}", ATTEST_E_FORMAT,
	     "reference.firmware_blobs[0]: \"abcd\" is not 32 bytes of hex"},
	    {"{\"version\":1,\"reference\":{\"boot_apps\":[{\"path\":\"x\"}]}}", ATTEST_E_FORMAT,
	     "reference.boot_apps[0].digest is missing"},
	    {"{\"version\":1,\"reference\":{\"boot_apps\":[{\"digest\":\"" D64 "\",\"hash\":1}]}}",
	     ATTEST_E_FORMAT, "unknown key \"hash\" in reference.boot_apps[0]"},
	    {"{\"version\":1,\"reference\":{\"boot_apps\":[{\"digest\":\"" D64 "\",\"path\":1}]}}",
	     ATTEST_E_FORMAT, "reference.boot_apps[0].path must be a string"},
	    {"{\"version\":1,\"reference\":{\"boot_apps\":[\"" D64 "\"]}}", ATTEST_E_FORMAT,
	     "reference.boot_apps[0] must be an object"},
	    {"{\"version\":1,\"reference\":{\"dbx\":{\"min_entry\":3}}}", ATTEST_E_FORMAT,
	     "unknown key \"min_entry\" in reference.dbx"},
	    {"{\"version\":1,\"reference\":{\"dbx\":{\"min_entries\":-1}}}", ATTEST_E_FORMAT,
	     "reference.dbx.min_entries must be an integer"},
	    {"{\"version\":1,\"reference\":{\"pk\":{\"entries\":1.5}}}", ATTEST_E_FORMAT,
	     "reference.pk.entries"},
	    {"{\"version\":1,\"reference\":{\"kek\":[]}}", ATTEST_E_FORMAT,
	     "reference.kek must be an object"},
	    {"{\"version\":1,\"reference\":{\"db\":{\"digests\":[\"zz\"]}}}", ATTEST_E_FORMAT,
	     "reference.db.digests[0]: \"zz\""},
	    {"{\"version\":1,\"reference\":{\"pcrs\":{\"sha256\":{\"01\":[\"" D64 "\"]}}}}",
	     ATTEST_E_FORMAT, "reference.pcrs.sha256: \"01\" is not a PCR index"},
	    {"{\"version\":1,\"reference\":{\"pcrs\":{\"sha256\":{\"24\":[\"" D64 "\"]}}}}",
	     ATTEST_E_FORMAT, "\"24\" is not a PCR index"},
	    {"{\"version\":1,\"reference\":{\"pcrs\":{\"sha256\":{\"0-3\":[\"" D64 "\"]}}}}",
	     ATTEST_E_FORMAT, "\"0-3\" is not a PCR index"},
	    {"{\"version\":1,\"reference\":{\"pcrs\":{\"sha256\":{\"0\":[]}}}}", ATTEST_E_FORMAT,
	     "reference.pcrs.sha256.0 must be a non-empty array"},
	    {"{\"version\":1,\"reference\":{\"pcrs\":{\"sha1\":{\"0\":[\"" D64 "\"]}}}}",
	     ATTEST_E_FORMAT, "reference.pcrs.sha1.0[0]"},
	    {"{\"version\":1,\"reference\":{\"pcrs\":{\"sha3\":{}}}}", ATTEST_E_FORMAT,
	     "reference.pcrs.sha3: is not a bank"},
	    {"{\"version\":1,\"reference\":{\"pcrs\":[]}}", ATTEST_E_FORMAT,
	     "reference.pcrs must be an object"},
	    {"{\"version\":1,\"reference\":{\"pcrs\":{\"sha256\":{\"0\":[[[[[1]]]]]}}}}",
	     ATTEST_E_LIMIT, "nested deeper"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct policy *p = (struct policy *)0x1;
		struct diag err;
		memset(&err, 0, sizeof err);
		int e = policy_parse(cases[i].json, strlen(cases[i].json), &p, &err);
		if (e != cases[i].rc || !strstr(err.message, cases[i].says)) {
			fprintf(stderr, "case %zu: %s\n  rc %d, message: %s\n  wanted: %s\n", i,
			        cases[i].json, e, err.message, cases[i].says);
			fail();
		}
		assert_ptr_equal(p, (struct policy *)0x1); /* untouched on failure */
	}
}

/* requirements.ek_trust: parsed into the mask, written back in canonical
 * order, absent when not given. */
static void test_ek_trust(void **state)
{
	(void)state;
	static const char doc[] =
	    "{\"version\":1,\"requirements\":{\"ek_trust\":[\"operator_key\",\"certified\"]}}";
	struct policy *p = NULL;
	struct diag err;
	assert_int_equal(policy_parse(doc, strlen(doc), &p, &err), 0);
	assert_int_equal(p->ek_trust, POLICY_EK_CERTIFIED | POLICY_EK_OPERATOR_KEY);
	char *j = to_json(p);
	assert_non_null(strstr(j, "\"ek_trust\":[\"certified\",\"operator_key\"]"));
	free(j);
	assert_round_trip(p);
	policy_free(p);
	assert_int_equal(policy_default(&p), 0);
	assert_int_equal(p->ek_trust, 0);
	j = to_json(p);
	assert_null(strstr(j, "ek_trust"));
	free(j);
	policy_free(p);
	assert_int_equal(policy_ek_trust_bit("operator_certificate"),
	                 POLICY_EK_OPERATOR_CERTIFICATE);
	assert_int_equal(policy_ek_trust_bit("Certified"), 0);
	assert_int_equal(policy_ek_trust_bit(NULL), 0);
}

static void test_caps(void **state)
{
	(void)state;
	struct policy *p = NULL;
	struct diag err;
	/* one list entry more than the cap */
	size_t n = 32 + (POLICY_MAX_ITEMS + 1) * 5;
	char *s = malloc(n);
	size_t len = (size_t)snprintf(s, n, "{\"version\":1,\"reference\":{\"kernel_images\":[");
	for (unsigned i = 0; i <= POLICY_MAX_ITEMS; i++)
		len += (size_t)snprintf(s + len, n - len, "%s\"k\"", i ? "," : "");
	len += (size_t)snprintf(s + len, n - len, "]}}");
	assert_int_equal(policy_parse(s, len, &p, &err), ATTEST_E_LIMIT);
	assert_non_null(strstr(err.message, "reference.kernel_images has 1025 entries"));
	free(s);
	/* one string longer than the cap */
	n = POLICY_MAX_TEXT + 128;
	s = malloc(n);
	len = (size_t)snprintf(s, n, "{\"version\":1,\"description\":\"");
	memset(s + len, 'a', POLICY_MAX_TEXT + 1);
	len += POLICY_MAX_TEXT + 1;
	len += (size_t)snprintf(s + len, n - len, "\"}");
	assert_int_equal(policy_parse(s, len, &p, &err), ATTEST_E_LIMIT);
	assert_non_null(strstr(err.message, "description is 4097 bytes"));
	free(s);
	/* the whole document */
	assert_int_equal(policy_parse("{}", POLICY_MAX_SIZE + 1, &p, &err), ATTEST_E_LIMIT);
	assert_int_equal(policy_parse(NULL, 1, &p, &err), ATTEST_E_ARG);
}

static void test_versions_and_ranges(void **state)
{
	(void)state;
	int c = 9;
	assert_int_equal(policy_version_compare("6.7", "6.7", &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(policy_version_compare("6.7", "6.10", &c), 0);
	assert_true(c < 0);
	assert_int_equal(policy_version_compare("6.10.1", "6.10", &c), 0);
	assert_true(c > 0);
	assert_int_equal(policy_version_compare("7", "6.99", &c), 0);
	assert_true(c > 0);
	assert_int_equal(policy_version_compare("6.7.0", "6.7", &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(policy_version_compare("1.2.0-dev", "1.2", &c), 0);
	assert_int_equal(c, 0);
	assert_int_equal(policy_version_compare("v1", "1", &c), ATTEST_E_FORMAT);
	assert_int_equal(policy_version_compare("", "1", &c), ATTEST_E_FORMAT);
	assert_int_equal(policy_version_compare("99999999999", "1", &c), ATTEST_E_FORMAT);

	uint32_t m = 0;
	assert_int_equal(policy_pcr_ranges_parse("0-7", &m), 0);
	assert_int_equal(m, 0xff);
	assert_int_equal(policy_pcr_ranges_parse("0-9,14", &m), 0);
	assert_int_equal(m, 0x43ff);
	assert_int_equal(policy_pcr_ranges_parse("23", &m), 0);
	assert_int_equal(m, 1u << 23);
	const char *bad[] = {"",  "24",    "0-",  "-1",   "1,",
	                     "a", "0 - 7", "3-1", "0,,1", "00000000001"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(policy_pcr_ranges_parse(bad[i], &m), ATTEST_E_FORMAT);
}

static void test_learn_from_real_log(void **state)
{
	(void)state;
	if (!testutil_have_shared())
		skip();
	size_t len = 0;
	uint8_t *buf = testutil_read_file(QEMU_LOG, &len);
	if (!buf)
		skip();
	struct eventlog *log = NULL;
	struct eventlog_checks *checks = NULL;
	struct eventlog_facts *facts = NULL;
	struct eventlog_pcrs rep;
	assert_int_equal(eventlog_parse(buf, len, &log, NULL), 0);
	assert_int_equal(eventlog_content_check_bank(log, EVENTLOG_ALG_SHA256, &checks), 0);
	assert_int_equal(eventlog_facts_derive(log, checks, &facts), 0);
	assert_int_equal(eventlog_replay_bank(log, EVENTLOG_ALG_SHA256, &rep), 0);
	const struct eventlog_pcr_bank *rb = eventlog_pcrs_bank(&rep, EVENTLOG_ALG_SHA256);
	/* the host quoted PCRs 0-7 only: nothing in PCR 8 can be learned */
	struct quote_pcrs pcrs;
	memset(&pcrs, 0, sizeof pcrs);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(quote_pcrs_set(&pcrs, TPM2_ALG_SHA256, i, rb->pcr[i], 32), 0);
	struct policy_learn_input in = {log, checks, facts, &pcrs, NULL};
	struct policy *p = NULL;
	char *summary = NULL;
	assert_int_equal(policy_learn(&in, &p, &summary), 0);
	assert_false(p->has_kernel_cmdlines);
	assert_non_null(strstr(summary, "not approved: kernel command line (event 101): PCR 8 was "
	                                "not quoted"));
	/* the selection is the base's (the default's 0-9): the next quote
	 * covers PCR 8, and a policy learned then approves the command line */
	assert_int_equal(policy_selection_mask(p, TPM2_ALG_SHA256), POLICY_DEFAULT_SHA256_PCRS);
	free(summary);
	policy_free(p);

	/* quoted 0-9 and 14: everything is learned */
	for (unsigned i = 8; i < 24; i++)
		if (i <= 9 || i == 14)
			assert_int_equal(quote_pcrs_set(&pcrs, TPM2_ALG_SHA256, i, rb->pcr[i], 32),
			                 0);
	assert_int_equal(policy_learn(&in, &p, &summary), 0);
	assert_true(p->secure_boot && p->uefi && p->certified_tpm); /* never relaxed */
	assert_int_equal(p->pcr_value_count, 10); /* the default selection, 0-9, pinned */
	assert_int_equal(p->pcr_values[0].index, 0);
	assert_memory_equal(p->pcr_values[0].v[0], rb->pcr[0], 32);
	assert_true(p->has_firmware_versions);
	assert_string_equal(p->firmware_versions.v[0], "hex 0000");
	assert_int_equal(p->firmware_blobs.count, 2);
	assert_int_equal(p->boot_app_count, 3);
	assert_string_equal(p->boot_apps[0].path, "\\EFI\\ubuntu\\shimx64.efi");
	assert_null(p->boot_apps[2].path); /* the kernel, loaded without a device path */
	assert_string_equal(
	    p->kernel_cmdlines.v[0],
	    "/boot/vmlinuz-5.4.0-81-generic root=UUID=68a3fb48-331d-433e-9ab6-"
	    "f89f3b877c81 ro biosdevname=0 net.ifnames=0 console=tty1 console=ttyS0");
	assert_string_equal(p->kernel_images.v[0], "/boot/vmlinuz-5.4.0-81-generic");
	assert_int_equal(p->pk.entries, 1);
	assert_int_equal(p->pk.digests.count, 1);
	assert_int_equal(p->kek.entries, 2);
	assert_int_equal(p->db.entries, 2);
	assert_int_equal(p->dbx.entries, -1);
	assert_int_equal(p->dbx.min_entries, 1); /* a newer dbx stays approved */
	/* the default's 0-9 (PCR 8, which the command line needs, is in it) */
	assert_int_equal(policy_selection_mask(p, TPM2_ALG_SHA256), 0x3ff);
	assert_non_null(strstr(summary, "boot application: \\EFI\\ubuntu\\grubx64.efi"));
	assert_non_null(strstr(summary, "dbx: at least 1 entries"));
	assert_non_null(strstr(summary, "quote: sha256 PCRs 0,1,2,3,4,5,6,7,8,9\n"));
	assert_null(strstr(summary, "warning"));
	assert_round_trip(p);
	free(summary);
	policy_free(p);

	/* a base policy's requirements are kept; no summary wanted */
	struct policy *base = NULL;
	const char *bj = "{\"version\":1,\"requirements\":{\"tpm_interfaces\":[\"tis\"],"
	                 "\"min_agent_version\":\"6.7\"}}";
	assert_int_equal(policy_parse(bj, strlen(bj), &base, NULL), 0);
	in.base = base;
	assert_int_equal(policy_learn(&in, &p, NULL), 0);
	assert_int_equal(p->tpm_interfaces, POLICY_TPM_TIS);
	assert_string_equal(p->min_agent_version, "6.7");
	policy_free(p);
	policy_free(base);
	in.facts = NULL;
	assert_int_equal(policy_learn(&in, &p, NULL), ATTEST_E_ARG);

	eventlog_facts_free(facts);
	eventlog_checks_free(checks);
	eventlog_free(log);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default),
	    cmocka_unit_test(test_default_upgrade),
	    cmocka_unit_test(test_full_round_trip),
	    cmocka_unit_test(test_errors_name_the_key),
	    cmocka_unit_test(test_ek_trust),
	    cmocka_unit_test(test_caps),
	    cmocka_unit_test(test_versions_and_ranges),
	    cmocka_unit_test(test_learn_from_real_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
