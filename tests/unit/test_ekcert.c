/* EK certificates: the real vendor CA set (../shared/testdata/tpm-vendor-cas),
 * swtpm's EK certificates (tests/unit/data/tpm), and certificates made here
 * with the TCG quirks (critical TCG extensions, SAN directoryName). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekcert.h"
#include "err.h"
#include "tpm.h"
#include "tpm_build.h"
#include "testutil.h"

#define DATA   "tests/unit/data/tpm/"
#define VENDOR TESTDATA_DIR "/tpm-vendor-cas"
#define T_2025 ((time_t)1735689600) /* 2025-01-01 */
#define T_2027 ((time_t)1798761600) /* 2027-01-01 */
#define T_2031 ((time_t)1924992000) /* 2031-01-01 */

static void add_file(struct ekcert_store *s, const char *path)
{
	size_t len;
	uint8_t *b = testutil_read_file(path, &len);
	assert_non_null(b);
	assert_int_equal(ekcert_store_add(s, b, len, NULL), 0);
	free(b);
}

static struct ekcert_store *vendor_store(size_t *ret_files)
{
	struct ekcert_store *s = NULL;
	assert_int_equal(ekcert_store_new(&s), 0);
	DIR *d = opendir(VENDOR);
	assert_non_null(d);
	struct dirent *e;
	size_t n = 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 5 || strcmp(e->d_name + l - 4, ".pem"))
			continue;
		char path[512];
		snprintf(path, sizeof path, "%s/%s", VENDOR, e->d_name);
		add_file(s, path);
		n++;
	}
	closedir(d);
	*ret_files = n;
	return s;
}

/* Every intermediate of the vendor set chains to its root when the root is
 * in the set, and otherwise fails naming the missing issuer. */
static void test_vendor_intermediates_chain(void **state)
{
	if (!testutil_have_shared())
		skip();
	size_t files = 0;
	struct ekcert_store *s = vendor_store(&files);
	assert_true(files >= 50);
	assert_int_equal(ekcert_store_count(s), files); /* one certificate per file */
	size_t chained = 0, orphans = 0;
	for (size_t i = 0; i < ekcert_store_count(s); i++) {
		X509 *x = ekcert_store_get(s, i);
		if (X509_check_issued(x, x) == X509_V_OK)
			continue; /* a root */
		bool issuer_present = false;
		for (size_t j = 0; j < ekcert_store_count(s); j++)
			if (j != i && X509_check_issued(ekcert_store_get(s, j), x) == X509_V_OK)
				issuer_present = true;
		struct ekcert_result r;
		assert_int_equal(ekcert_verify_x509(s, x, NULL, T_2025, true, &r), 0);
		char subj[256];
		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof subj);
		if (issuer_present) {
			/* issuer present: chains up to a self-signed root in the set,
			 * unless that path itself has a root missing */
			if (r.status != EKCERT_OK && r.status != EKCERT_UNKNOWN_ISSUER)
				fail_msg("%s: %s", subj, r.message);
			chained += r.status == EKCERT_OK;
		} else {
			assert_int_equal(r.status, EKCERT_UNKNOWN_ISSUER);
			assert_non_null(strstr(r.message, "not in the trust store"));
			orphans++;
		}
	}
	assert_true(chained >= 25);
	assert_int_equal(orphans, 4); /* VeriSign, AMD R4, Nationz, Aliyun roots absent */
	ekcert_store_free(s);
}

static void test_vendor_expiry_dates(void **state)
{
	if (!testutil_have_shared())
		skip();
	size_t files;
	struct ekcert_store *s = vendor_store(&files);
	size_t len;
	uint8_t *b = testutil_read_file(VENDOR "/infineon-ifx-tpm-ek-intermediate-ca-21.pem", &len);
	assert_non_null(b);
	struct ekcert_result r;
	struct ekcert_info info;
	assert_int_equal(ekcert_verify(s, b, len, NULL, T_2025, &info, &r), 0);
	assert_int_equal(r.status, EKCERT_OK); /* the listed intermediate is an anchor */
	assert_int_equal(ekcert_verify(s, b, len, NULL, T_2031, NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_EXPIRED);
	/* the chain goes on to the IFX root in the set, which expires first */
	if (!strstr(r.message, "IFX TPM EK Root CA") || !strstr(r.message, "2030-10-24"))
		fail_msg("%s", r.message);
	/* with only the intermediate listed, its own date is the one named */
	struct ekcert_store *one = NULL;
	assert_int_equal(ekcert_store_new(&one), 0);
	assert_int_equal(ekcert_store_add(one, b, len, NULL), 0);
	assert_int_equal(ekcert_verify(one, b, len, NULL, T_2031, NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_EXPIRED);
	if (!strstr(r.message, "Intermediate CA 21") || !strstr(r.message, "2030-10-18"))
		fail_msg("%s", r.message);
	ekcert_store_free(one);
	assert_int_equal(ekcert_verify(s, b, len, NULL, (time_t)946684800, NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_NOT_YET_VALID);
	assert_string_equal(ekcert_status_code(r.status), "EK_CERT_NOT_YET_VALID");
	free(b);
	ekcert_store_free(s);
}

static TPMT_PUBLIC load_pub(const char *path)
{
	size_t len;
	uint8_t *b = testutil_read_file(path, &len);
	assert_non_null(b);
	TPMT_PUBLIC p;
	assert_int_equal(tpm_public_decode(b, len, &p, NULL), 0);
	free(b);
	return p;
}

static struct ekcert_store *swtpm_store(void)
{
	struct ekcert_store *s = NULL;
	assert_int_equal(ekcert_store_new(&s), 0);
	add_file(s, DATA "ca-root.pem");
	add_file(s, DATA "ca-issuer.pem");
	return s;
}

static void test_swtpm_ek_certs(void **state)
{
	struct ekcert_store *s = swtpm_store();
	TPMT_PUBLIC rsa = load_pub(DATA "ek-rsa.pub"), ecc = load_pub(DATA "ek-ecc384.pub");
	size_t len, elen;
	uint8_t *cert = testutil_read_file(DATA "ekcert-rsa.der", &len);
	uint8_t *ecert = testutil_read_file(DATA "ekcert-ecc384.der", &elen);
	struct ekcert_result r;
	struct ekcert_info info;
	assert_int_equal(ekcert_verify(s, cert, len, &rsa, T_2027, &info, &r), 0);
	assert_int_equal(r.status, EKCERT_OK);
	assert_string_equal(info.manufacturer_id, "id:00001014");
	assert_string_equal(info.manufacturer, ""); /* a number, not ASCII letters */
	assert_string_equal(info.model, "swtpm");
	assert_string_equal(info.version, "id:20191023");
	assert_true(info.has_tpm_san);
	assert_true(info.strict_der);
	assert_string_equal(info.key_type, "RSA-2048");
	assert_int_equal(ekcert_verify(s, ecert, elen, &ecc, T_2027, &info, &r), 0);
	assert_int_equal(r.status, EKCERT_OK);
	/* the certificate's key must be the EK */
	assert_int_equal(ekcert_verify(s, cert, len, &ecc, T_2027, NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_KEY_MISMATCH);
	TPMT_PUBLIC ak = load_pub(DATA "ak-rsa.pub");
	assert_int_equal(ekcert_verify(s, cert, len, &ak, T_2027, NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_KEY_MISMATCH);
	/* NV padding after the DER is tolerated and counted */
	uint8_t *pad = malloc(len + 100);
	memcpy(pad, cert, len);
	memset(pad + len, 0xff, 100);
	assert_int_equal(ekcert_verify(s, pad, len + 100, &rsa, T_2027, &info, &r), 0);
	assert_int_equal(r.status, EKCERT_OK);
	assert_int_equal(info.trailing_bytes, 100);
	/* truncated: malformed, with the reason */
	assert_int_equal(ekcert_verify(s, cert, len - 1, &rsa, T_2027, NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_MALFORMED);
	/* a flipped bit in the signature */
	memcpy(pad, cert, len);
	pad[len - 5] ^= 0x01;
	assert_int_equal(ekcert_verify(s, pad, len, &rsa, T_2027, NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_BAD_SIGNATURE);
	assert_non_null(strstr(r.message, "swtpm-localca"));
	free(pad);
	/* an unknown CA: the vendor set does not know swtpm's local CA */
	struct ekcert_store *other = NULL;
	assert_int_equal(ekcert_store_new(&other), 0);
	if (testutil_have_shared())
		add_file(other, VENDOR "/intel-ptt-ek-root.pem");
	assert_int_equal(ekcert_verify(other, cert, len, &rsa, T_2027, NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_UNKNOWN_ISSUER);
	assert_non_null(strstr(r.message, "swtpm-localca"));
	ekcert_store_free(other);
	free(cert);
	free(ecert);
	ekcert_store_free(s);
}

/* ---- certificates made here ---------------------------------------------- */

static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, bool ca, const char *crit_oid,
                       bool tpm_san)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
	X509_time_adj_ex(X509_getm_notBefore(x), -1, 0, NULL);
	X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, NULL);
	X509_set_pubkey(x, key);
	if (ca)
		X509_NAME_add_entry_by_txt(
		    X509_get_subject_name(x), "CN", MBSTRING_ASC,
		    (const unsigned char *)(issuer ? "Test TPM Intermediate CA" : "Test TPM CA"),
		    -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	                                         ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, bc, -1);
	X509_EXTENSION_free(bc);
	if (tpm_san) {
		X509_NAME *dn = X509_NAME_new();
		X509_NAME_add_entry_by_txt(dn, "2.23.133.2.1", MBSTRING_UTF8,
		                           (const unsigned char *)"id:49465800", -1, -1, 0);
		X509_NAME_add_entry_by_txt(dn, "2.23.133.2.2", MBSTRING_UTF8,
		                           (const unsigned char *)"SLB9670", -1, -1, 0);
		X509_NAME_add_entry_by_txt(dn, "2.23.133.2.3", MBSTRING_UTF8,
		                           (const unsigned char *)"id:00070002", -1, -1, 0);
		GENERAL_NAME *g = GENERAL_NAME_new();
		g->type = GEN_DIRNAME;
		g->d.directoryName = dn;
		GENERAL_NAMES *gs = sk_GENERAL_NAME_new_null();
		sk_GENERAL_NAME_push(gs, g);
		X509_add1_ext_i2d(x, NID_subject_alt_name, gs, 1, X509V3_ADD_DEFAULT);
		GENERAL_NAMES_free(gs);
	}
	if (crit_oid) {
		static const unsigned char der_null[] = {0x05, 0x00};
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		ASN1_OCTET_STRING_set(os, der_null, sizeof der_null);
		ASN1_OBJECT *obj = OBJ_txt2obj(crit_oid, 1);
		X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, os);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		ASN1_OBJECT_free(obj);
		ASN1_OCTET_STRING_free(os);
	}
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	return x;
}

static size_t der(X509 *x, uint8_t **out)
{
	*out = NULL;
	int n = i2d_X509(x, out);
	assert_true(n > 0);
	return (size_t)n;
}

static void test_tcg_quirks(void **state)
{
	EVP_PKEY *cak = tb_ec_key("P-256"), *ekk = tb_rsa_key();
	X509 *ca = make_cert(cak, cak, NULL, true, NULL, false);
	struct ekcert_store *s = NULL;
	assert_int_equal(ekcert_store_new(&s), 0);
	uint8_t *b;
	size_t n = der(ca, &b);
	assert_int_equal(ekcert_store_add(s, b, n, NULL), 0);
	OPENSSL_free(b);
	TPMT_PUBLIC ek;
	tb_public(ekk, TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT, TPM2_ALG_NULL, &ek);
	struct ekcert_result r;
	struct ekcert_info info;

	/* empty subject, critical SAN directoryName, critical TCG extension */
	X509 *leaf = make_cert(ekk, cak, ca, false, "2.23.133.99.1", true);
	n = der(leaf, &b);
	assert_int_equal(ekcert_verify(s, b, n, &ek, time(NULL), &info, &r), 0);
	if (r.status != EKCERT_OK)
		fail_msg("%s", r.message);
	assert_string_equal(info.manufacturer, "IFX");
	assert_string_equal(info.manufacturer_id, "id:49465800");
	assert_string_equal(info.model, "SLB9670");
	assert_string_equal(info.subject, "");
	OPENSSL_free(b);
	X509_free(leaf);

	/* an unknown critical extension that is not a TCG one: refused */
	leaf = make_cert(ekk, cak, ca, false, "1.2.3.4.5", true);
	n = der(leaf, &b);
	assert_int_equal(ekcert_verify(s, b, n, &ek, time(NULL), NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_UNHANDLED_CRITICAL);
	OPENSSL_free(b);
	X509_free(leaf);

	/* a TCG critical extension on a CA is not tolerated */
	EVP_PKEY *ica_k = tb_ec_key("P-256");
	X509 *ica = make_cert(ica_k, cak, ca, true, "2.23.133.99.1", false);
	n = der(ica, &b);
	assert_int_equal(ekcert_store_add(s, b, n, NULL), 0);
	OPENSSL_free(b);
	struct ekcert_store *roots = NULL; /* only the root trusted: ica must be checked */
	assert_int_equal(ekcert_store_new(&roots), 0);
	n = der(ca, &b);
	ekcert_store_add(roots, b, n, NULL);
	OPENSSL_free(b);
	X509 *leaf2 = make_cert(ekk, ica_k, ica, false, NULL, true);
	assert_int_equal(ekcert_verify_x509(s, leaf2, &ek, time(NULL), true, &r), 0);
	assert_int_equal(r.status, EKCERT_UNHANDLED_CRITICAL);
	assert_int_equal(r.depth, 1);
	X509_free(leaf2);
	X509_free(ica);
	EVP_PKEY_free(ica_k);
	ekcert_store_free(roots);

	X509_free(ca);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(ekk);
	ekcert_store_free(s);
}

/* The TPM's chain from NV: an intermediate offered by the TPM builds the
 * path to a root-only store, but is never an anchor by itself; a chain
 * entry that does not parse is EKCERT_CHAIN_INVALID. And the EK key hash is
 * SHA-256 of the DER SubjectPublicKeyInfo. */
static void test_nv_chain_and_key_hash(void **state)
{
	(void)state;
	EVP_PKEY *rootk = tb_ec_key("P-256"), *intk = tb_ec_key("P-256"), *ekk = tb_rsa_key();
	X509 *root = make_cert(rootk, rootk, NULL, true, NULL, false);
	X509 *inter = make_cert(intk, rootk, root, true, NULL, false);
	X509 *leaf = make_cert(ekk, intk, inter, false, NULL, true);
	TPMT_PUBLIC ek;
	tb_public(ekk, TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT, TPM2_ALG_NULL, &ek);
	uint8_t *rb, *ib, *lb;
	size_t rn = der(root, &rb), in = der(inter, &ib), ln = der(leaf, &lb);
	struct ekcert_store *roots = NULL, *inters = NULL;
	assert_int_equal(ekcert_store_new(&roots), 0);
	assert_int_equal(ekcert_store_add(roots, rb, rn, NULL), 0);
	struct ekcert_result r;
	/* without the chain: unknown issuer */
	assert_int_equal(ekcert_verify_chain(roots, lb, ln, NULL, 0, &ek, time(NULL), NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_UNKNOWN_ISSUER);
	/* with it: ok */
	struct ekcert_der chain[2] = {{ib, in}, {rb, rn}};
	assert_int_equal(ekcert_verify_chain(roots, lb, ln, chain, 1, &ek, time(NULL), NULL, &r),
	                 0);
	if (r.status != EKCERT_OK)
		fail_msg("%s", r.message);
	/* the chain is no anchor: a store without the root stays unknown, even
	 * when the TPM also offers the (self-signed) root */
	assert_int_equal(ekcert_store_new(&inters), 0);
	EVP_PKEY *otherk = tb_ec_key("P-256");
	X509 *other = make_cert(otherk, otherk, NULL, true, NULL, false);
	uint8_t *ob;
	size_t on = der(other, &ob);
	assert_int_equal(ekcert_store_add(inters, ob, on, NULL), 0);
	assert_int_equal(ekcert_verify_chain(inters, lb, ln, chain, 2, &ek, time(NULL), NULL, &r),
	                 0);
	assert_int_not_equal(r.status, EKCERT_OK);
	/* garbage in the chain */
	uint8_t junk[3] = {0x30, 0x01, 0x00};
	struct ekcert_der bad[1] = {{junk, sizeof junk}};
	assert_int_equal(ekcert_verify_chain(roots, lb, ln, bad, 1, &ek, time(NULL), NULL, &r), 0);
	assert_int_equal(r.status, EKCERT_CHAIN_INVALID);
	assert_int_equal(ekcert_verify_chain(roots, lb, ln, bad, EKCERT_CHAIN_MAX + 1, &ek,
	                                     time(NULL), NULL, &r),
	                 ATTEST_E_ARG);

	/* key hash = sha256(i2d_PUBKEY) */
	uint8_t h[32], want[32];
	assert_int_equal(ekcert_key_sha256(&ek, h), 0);
	unsigned char *spki = NULL;
	int sn = i2d_PUBKEY(ekk, &spki);
	assert_true(sn > 0);
	unsigned int wl = 0;
	assert_true(EVP_Digest(spki, (size_t)sn, want, &wl, EVP_sha256(), NULL));
	OPENSSL_free(spki);
	assert_memory_equal(h, want, 32);
	char text[72];
	ekcert_key_sha256_text(h, text);
	assert_int_equal(strlen(text), 71);
	assert_memory_equal(text, "SHA256:", 7);

	OPENSSL_free(rb);
	OPENSSL_free(ib);
	OPENSSL_free(lb);
	OPENSSL_free(ob);
	X509_free(root);
	X509_free(inter);
	X509_free(leaf);
	X509_free(other);
	EVP_PKEY_free(rootk);
	EVP_PKEY_free(intk);
	EVP_PKEY_free(ekk);
	EVP_PKEY_free(otherk);
	ekcert_store_free(roots);
	ekcert_store_free(inters);
}

static void test_store_inputs(void **state)
{
	struct ekcert_store *s = NULL;
	assert_int_equal(ekcert_store_new(&s), 0);
	size_t l1, l2, added = 0;
	uint8_t *a = testutil_read_file(DATA "ca-root.pem", &l1);
	uint8_t *b = testutil_read_file(DATA "ca-issuer.pem", &l2);
	uint8_t *both = malloc(l1 + l2);
	memcpy(both, a, l1);
	memcpy(both + l1, b, l2);
	assert_int_equal(ekcert_store_add(s, both, l1 + l2, &added), 0);
	assert_int_equal(added, 2);
	assert_int_equal(ekcert_store_add(s, (const uint8_t *)"hello", 5, NULL), ATTEST_E_FORMAT);
	assert_int_equal(ekcert_store_add(s, a, 20, NULL), ATTEST_E_FORMAT); /* cut PEM */
	assert_int_equal(ekcert_store_count(s), 2);
	char msg[160];
	assert_int_equal(ekcert_parse((const uint8_t *)"\x30\x82\xff\xff", 4, NULL, NULL, msg),
	                 ATTEST_E_FORMAT);
	assert_non_null(strstr(msg, "SEQUENCE"));
	free(a);
	free(b);
	free(both);
	ekcert_store_free(s);
	ekcert_store_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vendor_intermediates_chain),
	    cmocka_unit_test(test_vendor_expiry_dates),
	    cmocka_unit_test(test_swtpm_ek_certs),
	    cmocka_unit_test(test_tcg_quirks),
	    cmocka_unit_test(test_nv_chain_and_key_hash),
	    cmocka_unit_test(test_store_inputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
