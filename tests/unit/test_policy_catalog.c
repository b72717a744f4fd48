/* lib/policy_catalog.c and lib/catalog.c: catalog rules parsed strictly and
 * written back canonically; each measured digest judged approved, not in
 * the catalog, too old (rollback) or approved by no rule; catalog entries'
 * JSON checked field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "err.h"
#include "hex.h"
#include "policy.h"
#include "policy_catalog.h"

static struct catalog_entry entry(const char *kind, const char *pkg, const char *ver,
                                  const char *signer, uint8_t fill)
{
	struct catalog_entry e;
	memset(&e, 0, sizeof e);
	snprintf(e.kind, sizeof e.kind, "%s", kind);
	snprintf(e.package, sizeof e.package, "%s", pkg);
	snprintf(e.version, sizeof e.version, "%s", ver);
	snprintf(e.vendor, sizeof e.vendor, "Debian");
	snprintf(e.path, sizeof e.path, "/boot/x");
	uint8_t d[32];
	memset(d, fill, sizeof d);
	hex_encode(d, 32, e.authenticode_sha256);
	d[0] ^= 1;
	hex_encode(d, 32, e.file_sha256);
	snprintf(e.signer_subject, sizeof e.signer_subject, "%s", signer);
	snprintf(e.signer_issuer, sizeof e.signer_issuer, "CN=Debian Secure Boot CA");
	return e;
}

static const char kernel_policy[] =
    "{\"version\":1,\"reference\":{\"catalog_rules\":["
    "{\"name\":\"kernels\",\"kind\":\"kernel\",\"package\":\"linux-image-6.1.0-*-amd64\","
    "\"signer\":\"CN=Debian Secure Boot Signer *\",\"min_version\":\"6.1.158-1\"},"
    "{\"package\":\"shim-signed\"}]}}";

static void test_parse_and_json(void **state)
{
	struct policy *p = NULL;
	struct diag err;
	assert_int_equal(policy_parse(kernel_policy, strlen(kernel_policy), &p, &err), 0);
	assert_true(p->has_catalog_rules);
	assert_int_equal(p->catalog_rule_count, 2);
	assert_string_equal(p->catalog_rules[0].name, "kernels");
	assert_string_equal(p->catalog_rules[1].name, "rule 2");
	assert_null(p->catalog_rules[1].min_version);
	char *json = NULL;
	assert_int_equal(policy_to_json(p, false, &json), 0);
	assert_non_null(strstr(json, "\"catalog_rules\""));
	struct policy *q = NULL;
	assert_int_equal(policy_parse(json, strlen(json), &q, &err), 0);
	char *again = NULL;
	assert_int_equal(policy_to_json(q, false, &again), 0);
	assert_string_equal(json, again);
	free(json);
	free(again);
	policy_free(q);
	policy_free(p);
}

static void expect_refused(const char *rules, const char *words)
{
	char doc[1024];
	snprintf(doc, sizeof doc, "{\"version\":1,\"reference\":{\"catalog_rules\":%s}}", rules);
	struct policy *p = NULL;
	struct diag err;
	int e = policy_parse(doc, strlen(doc), &p, &err);
	if (e >= 0 || !strstr(err.message, words))
		fail_msg("%s: got %d \"%s\", want \"%s\"", rules, e, e < 0 ? err.message : "",
		         words);
	assert_null(p);
}

static void test_parse_errors(void **state)
{
	expect_refused("{}", "must be an array");
	expect_refused("[1]", "must be an object");
	expect_refused("[{\"package\":\"x\",\"color\":\"red\"}]", "unknown key \"color\"");
	expect_refused("[{\"kind\":\"kernel\"}]",
	               "must name a package pattern, a signer or a vendor");
	expect_refused("[{\"package\":\"x\",\"kind\":\"toaster\"}]", "not a catalog kind");
	expect_refused("[{\"package\":\"x\",\"min_version\":\"latest\"}]", "not a Debian version");
	expect_refused("[{\"package\":\"\"}]", "non-empty string");
	expect_refused("[{\"package\":7}]", "non-empty string");
}

static void test_judge(void **state)
{
	struct policy *p = NULL;
	struct diag err;
	assert_int_equal(policy_parse(kernel_policy, strlen(kernel_policy), &p, &err), 0);
	struct catalog_entry cat[] = {
	    entry("kernel", "linux-image-6.1.0-47-amd64", "6.1.158-1",
	          "CN=Debian Secure Boot Signer 2022 - linux", 1),
	    entry("kernel", "linux-image-6.1.0-50-amd64", "6.1.170-1",
	          "CN=Debian Secure Boot Signer 2022 - linux", 2),
	    entry("kernel", "linux-image-6.1.0-40-amd64", "6.1.140-1",
	          "CN=Debian Secure Boot Signer 2022 - linux", 3),
	    entry("kernel", "linux-image-6.1.0-50-amd64", "6.1.170-1", "CN=Someone Else", 4),
	    entry("shim", "shim-signed", "1.51", "CN=Microsoft", 5),
	};
	size_t n = sizeof cat / sizeof cat[0];
	struct policy_catalog_judgement j;
	uint8_t d[32];

	memset(d, 1, 32); /* the minimum itself */
	policy_catalog_judge(p, cat, n, d, &j);
	assert_int_equal(j.verdict, POLICY_CATALOG_APPROVED);
	assert_ptr_equal(j.entry, &cat[0]);
	assert_string_equal(j.rule->name, "kernels");

	memset(d, 2, 32); /* newer */
	policy_catalog_judge(p, cat, n, d, &j);
	assert_int_equal(j.verdict, POLICY_CATALOG_APPROVED);

	d[0] ^= 1; /* its file digest (grub's PCR 9 measurement) */
	policy_catalog_judge(p, cat, n, d, &j);
	assert_int_equal(j.verdict, POLICY_CATALOG_APPROVED);
	assert_ptr_equal(j.entry, &cat[1]);

	memset(d, 3, 32); /* older than the minimum: rollback */
	policy_catalog_judge(p, cat, n, d, &j);
	assert_int_equal(j.verdict, POLICY_CATALOG_TOO_OLD);
	assert_ptr_equal(j.entry, &cat[2]);
	assert_string_equal(j.rule->min_version, "6.1.158-1");

	memset(d, 4, 32); /* catalogued, but the signer matches no rule */
	policy_catalog_judge(p, cat, n, d, &j);
	assert_int_equal(j.verdict, POLICY_CATALOG_NO_RULE);
	assert_ptr_equal(j.entry, &cat[3]);
	assert_null(j.rule);

	memset(d, 5, 32); /* the second rule: any shim-signed */
	policy_catalog_judge(p, cat, n, d, &j);
	assert_int_equal(j.verdict, POLICY_CATALOG_APPROVED);
	assert_string_equal(j.rule->name, "rule 2");

	memset(d, 9, 32); /* unknown */
	policy_catalog_judge(p, cat, n, d, &j);
	assert_int_equal(j.verdict, POLICY_CATALOG_NOT_IN_CATALOG);
	assert_null(j.entry);
	assert_null(policy_catalog_find(cat, n, d));
	policy_catalog_judge(p, NULL, 0, d, &j);
	assert_int_equal(j.verdict, POLICY_CATALOG_NOT_IN_CATALOG);
	policy_free(p);
}

static void test_entry_json(void **state)
{
	struct catalog_entry e = entry("kernel", "linux-image-6.1.0-56-amd64", "6.1.192-2",
	                               "CN=Debian Secure Boot Signer 2022 - linux", 7);
	json_t *j = catalog_entry_to_json(&e);
	struct catalog_entry back;
	char msg[CATALOG_MSG_SIZE];
	int rc0 = catalog_entry_from_json(j, &back, msg);
	if (rc0 != 0)
		fail_msg("round trip: %s", msg);
	assert_memory_equal(&back, &e, sizeof e);
	const struct {
		const char *key;
		json_t *value;
		const char *words;
	} bad[] = {
	    {"path", json_string("/boot/../etc/x"), "\"path\""},
	    {"path", json_string("boot/x"), "\"path\""},
	    {"path", json_string("/boot//x"), "\"path\""},
	    {"version", json_string("one"), "not a Debian version"},
	    {"kind", json_string("toaster"), "not a catalog kind"},
	    {"package", json_string("a\x1b[31m"), "control"},
	    {"package", json_integer(1), "not a string"},
	    {"authenticode_sha256", json_string("ABCD"), "64 lowercase hex"},
	    {"signer", json_string("x"), "\"signer\""},
	    {"extra", json_true(), "unknown key \"extra\""},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *c = json_deep_copy(j);
		json_object_set_new(c, bad[i].key, bad[i].value);
		memset(&back, 0x5a, sizeof back);
		int rc = catalog_entry_from_json(c, &back, msg);
		if (rc >= 0 || !strstr(msg, bad[i].words))
			fail_msg("%s: got %d \"%s\", want \"%s\"", bad[i].key, rc, msg,
			         bad[i].words);
		assert_int_equal(((uint8_t *)&back)[0], 0x5a); /* untouched */
		json_decref(c);
	}
	json_t *c = json_deep_copy(j);
	json_object_del(c, "file_sha256");
	assert_int_equal(catalog_entry_from_json(c, &back, msg), ATTEST_E_FORMAT);
	assert_non_null(strstr(msg, "\"file_sha256\" is missing"));
	json_decref(c);
	c = json_deep_copy(j);
	char big[CATALOG_PACKAGE_MAX + 1];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	json_object_set_new(c, "package", json_string(big));
	assert_int_equal(catalog_entry_from_json(c, &back, msg), ATTEST_E_LIMIT);
	json_decref(c);
	c = json_deep_copy(j);
	json_object_set_new(c, "signer", json_null());
	assert_int_equal(catalog_entry_from_json(c, &back, msg), 0);
	assert_string_equal(back.signer_subject, "");
	json_decref(c);
	json_decref(j);
	char text[300];
	catalog_entry_describe(&e, text, sizeof text);
	assert_string_equal(text,
	                    "linux-image-6.1.0-56-amd64 6.1.192-2, Debian, signed by CN=Debian "
	                    "Secure Boot Signer 2022 - linux");
}

/* The signer is recorded only when the signature covers the image. */
static void test_set_pe(void **state)
{
	struct pe_info pe;
	memset(&pe, 0, sizeof pe);
	memset(pe.authenticode_sha256, 0xab, 32);
	pe.has_signature = true;
	snprintf(pe.signer_subject, sizeof pe.signer_subject, "CN=Someone");
	snprintf(pe.signer_issuer, sizeof pe.signer_issuer, "CN=CA");
	struct catalog_entry e;
	memset(&e, 0, sizeof e);
	pe.signed_digest_ok = true;
	catalog_entry_set_pe(&e, &pe);
	assert_string_equal(e.signer_subject, "CN=Someone");
	assert_string_equal(e.signer_issuer, "CN=CA");
	assert_string_equal(e.authenticode_sha256,
	                    "abababababababababababababababababababababababababababababababab");
	pe.signed_digest_ok = false;
	catalog_entry_set_pe(&e, &pe);
	assert_string_equal(e.signer_subject, "");
	assert_string_equal(e.signer_issuer, "");
}

static void test_kind_guess(void **state)
{
	assert_string_equal(catalog_kind_guess("/usr/lib/shim/shimx64.efi.signed"), "shim");
	assert_string_equal(catalog_kind_guess("/usr/lib/shim/mmx64.efi.signed"), "mok_manager");
	assert_string_equal(catalog_kind_guess("/usr/lib/shim/fbx64.efi.signed"), "fallback");
	assert_string_equal(
	    catalog_kind_guess("/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"),
	    "boot_loader");
	assert_string_equal(catalog_kind_guess("/boot/vmlinuz-6.1.0-56-amd64"), "kernel");
	assert_string_equal(
	    catalog_kind_guess("/usr/lib/systemd/boot/efi/systemd-bootx64.efi.signed"),
	    "systemd_boot");
	assert_string_equal(catalog_kind_guess("/boot/efi/EFI/Linux/debian-6.1.efi"), "uki");
	assert_string_equal(catalog_kind_guess("/x/tool.efi"), "efi_application");
	assert_string_equal(catalog_kind_guess(NULL), "efi_application");
	assert_true(catalog_kind_valid("uki"));
	assert_false(catalog_kind_valid("Kernel"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_json), cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_judge),          cmocka_unit_test(test_entry_json),
	    cmocka_unit_test(test_kind_guess),     cmocka_unit_test(test_set_pe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
