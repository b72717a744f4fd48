/* lib/pe.c: Authenticode SHA-256 of synthetic PE images built here (the
 * expected digest computed the long way, per the specification), the
 * signer read from a PKCS#7 made with OpenSSL, and every malformed case
 * giving its own error with nothing written to the result. Debian's real
 * signed binaries are checked against pesign by
 * tests/integration/test_catalog_pe.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pe.h"

#define LFANEW     0x40u
#define OPT        (LFANEW + 24u)
#define OPT_SIZE   (112u + 16u * 8u)
#define SEC_TABLE  (OPT + OPT_SIZE)
#define HDR_SIZE   0x200u
#define CHECKSUM   (OPT + 64u)
#define CERTDIR    (OPT + 112u + 4u * 8u)
#define TRAIL_SIZE 0x18u

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A PE32+ image: headers (0x200), two sections of 0x200 bytes listed in the
 * section table in reverse file order, TRAIL_SIZE bytes of trailing data,
 * then (if cert_len) a certificate table of cert_len bytes from cert.
 * Returns a malloc'd buffer; *ret_len its size. */
static uint8_t *build(const uint8_t *cert, size_t cert_len, size_t *ret_len)
{
	size_t len = HDR_SIZE + 0x400 + TRAIL_SIZE + cert_len;
	uint8_t *b = malloc(len);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + 3);
	memset(b, 0, HDR_SIZE);
	b[0] = 'M';
	b[1] = 'Z';
	put32(b + 0x3c, LFANEW);
	memcpy(b + LFANEW, "PE\0\0", 4);
	put16(b + LFANEW + 4, 0x8664);
	put16(b + LFANEW + 6, 2);
	put16(b + LFANEW + 20, OPT_SIZE);
	put16(b + OPT, 0x20b);
	put32(b + OPT + 60, HDR_SIZE);
	put32(b + CHECKSUM, 0xdeadbeef);
	put32(b + OPT + 108, 16);
	memcpy(b + SEC_TABLE, ".data", 5);
	put32(b + SEC_TABLE + 16, 0x200);
	put32(b + SEC_TABLE + 20, HDR_SIZE + 0x200);
	memcpy(b + SEC_TABLE + 40, ".text", 5);
	put32(b + SEC_TABLE + 40 + 16, 0x200);
	put32(b + SEC_TABLE + 40 + 20, HDR_SIZE);
	if (cert_len) {
		put32(b + CERTDIR, (uint32_t)(len - cert_len));
		put32(b + CERTDIR + 4, (uint32_t)cert_len);
		memcpy(b + len - cert_len, cert, cert_len);
	}
	*ret_len = len;
	return b;
}

/* The digest the long way: every byte but CheckSum, the certificate
 * directory entry and the table itself, in file order. */
static void expected(const uint8_t *b, size_t len, size_t cert_len, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_non_null(md);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, b, CHECKSUM);
	EVP_DigestUpdate(md, b + CHECKSUM + 4, CERTDIR - CHECKSUM - 4);
	EVP_DigestUpdate(md, b + CERTDIR + 8, len - cert_len - CERTDIR - 8);
	EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
}

static void test_unsigned_image(void **state)
{
	size_t len;
	uint8_t *b = build(NULL, 0, &len);
	struct pe_info info;
	char msg[PE_MSG_SIZE];
	assert_int_equal(pe_parse(b, len, &info, msg), 0);
	uint8_t want[32], file[32];
	expected(b, len, 0, want);
	assert_memory_equal(info.authenticode_sha256, want, 32);
	EVP_Digest(b, len, file, NULL, EVP_sha256(), NULL);
	assert_memory_equal(info.file_sha256, file, 32);
	assert_false(info.has_signature);
	assert_true(info.pe32plus);
	assert_int_equal(info.machine, 0x8664);
	assert_int_equal(info.sections, 2);
	/* CheckSum and the (empty) certificate directory are not hashed;
	 * a byte of trailing data is. */
	b[CHECKSUM] ^= 0xff;
	b[CERTDIR] = 0;
	struct pe_info again;
	assert_int_equal(pe_parse(b, len, &again, msg), 0);
	assert_memory_equal(again.authenticode_sha256, want, 32);
	b[len - 1] ^= 1;
	assert_int_equal(pe_parse(b, len, &again, msg), 0);
	assert_memory_not_equal(again.authenticode_sha256, want, 32);
	free(b);
}

/* Sections are hashed in file order: swapping the section table's rows
 * changes nothing. */
static void test_section_order(void **state)
{
	size_t len;
	uint8_t *b = build(NULL, 0, &len);
	struct pe_info a, c;
	char msg[PE_MSG_SIZE];
	assert_int_equal(pe_parse(b, len, &a, msg), 0);
	uint8_t row[40];
	memcpy(row, b + SEC_TABLE, 40);
	memmove(b + SEC_TABLE, b + SEC_TABLE + 40, 40);
	memcpy(b + SEC_TABLE + 40, row, 40);
	assert_int_equal(pe_parse(b, len, &c, msg), 0);
	/* the table's bytes changed, so the header part differs; recompute */
	uint8_t want[32];
	expected(b, len, 0, want);
	assert_memory_equal(c.authenticode_sha256, want, 32);
	free(b);
}

/* An image whose optional header has no certificate directory (4 entries):
 * everything after CheckSum is hashed. */
static void test_few_directories(void **state)
{
	size_t len;
	uint8_t *b = build(NULL, 0, &len);
	put32(b + OPT + 108, 4);
	struct pe_info info;
	char msg[PE_MSG_SIZE];
	assert_int_equal(pe_parse(b, len, &info, msg), 0);
	uint8_t want[32];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, b, CHECKSUM);
	EVP_DigestUpdate(md, b + CHECKSUM + 4, len - CHECKSUM - 4);
	EVP_DigestFinal_ex(md, want, NULL);
	EVP_MD_CTX_free(md);
	assert_memory_equal(info.authenticode_sha256, want, 32);
	free(b);
}

/* A PKCS#7 SignedData by a fresh self-signed "CN=Test Signer, O=attest". */
static uint8_t *make_pkcs7(size_t *ret_len)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	assert_non_null(key);
	X509 *x = X509_new();
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME *nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"attest", -1, -1,
	                           0);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC, (const unsigned char *)"Test Signer", -1,
	                           -1, 0);
	X509_set_issuer_name(x, nm);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	BIO *data = BIO_new_mem_buf("content", 7);
	PKCS7 *p7 = PKCS7_sign(x, key, NULL, data, PKCS7_BINARY);
	assert_non_null(p7);
	unsigned char *der = NULL;
	int n = i2d_PKCS7(p7, &der);
	assert_true(n > 0);
	/* WIN_CERTIFICATE: dwLength, wRevision 0x0200, type PKCS_SIGNED_DATA,
	 * padded to 8 bytes */
	size_t total = ((size_t)n + 8 + 7) & ~(size_t)7;
	uint8_t *w = calloc(1, total);
	put32(w, (uint32_t)n + 8);
	put16(w + 4, 0x0200);
	put16(w + 6, 0x0002);
	memcpy(w + 8, der, (size_t)n);
	OPENSSL_free(der);
	PKCS7_free(p7);
	BIO_free(data);
	X509_free(x);
	EVP_PKEY_free(key);
	*ret_len = total;
	return w;
}

static void test_signed_image(void **state)
{
	size_t clen, len;
	uint8_t *cert = make_pkcs7(&clen);
	uint8_t *b = build(cert, clen, &len);
	struct pe_info info;
	char msg[PE_MSG_SIZE];
	assert_int_equal(pe_parse(b, len, &info, msg), 0);
	uint8_t want[32];
	expected(b, len, clen, want);
	assert_memory_equal(info.authenticode_sha256, want, 32);
	assert_true(info.has_signature);
	assert_int_equal(info.signatures, 1);
	assert_string_equal(info.signer_subject, "O=attest, CN=Test Signer");
	assert_string_equal(info.signer_issuer, "O=attest, CN=Test Signer");
	/* content is plain data, not SpcIndirectDataContent */
	assert_false(info.signed_digest_ok);
	/* the unsigned image with the same bytes has the same digest */
	size_t ulen;
	uint8_t *u = build(NULL, 0, &ulen);
	struct pe_info uinfo;
	assert_int_equal(pe_parse(u, ulen, &uinfo, msg), 0);
	assert_memory_equal(uinfo.authenticode_sha256, info.authenticode_sha256, 32);
	free(u);
	free(b);
	free(cert);
}

/* Each failure: its code, a sentence naming it, and *ret untouched. */
static void expect_fail(const uint8_t *b, size_t len, int code, const char *words)
{
	struct pe_info info;
	memset(&info, 0xa5, sizeof info);
	char msg[PE_MSG_SIZE];
	int e = pe_parse(b, len, &info, msg);
	if (e != code || !strstr(msg, words))
		fail_msg("got %d \"%s\", want %d \"%s\"", e, msg, code, words);
	for (size_t i = 0; i < sizeof info; i++)
		assert_int_equal(((uint8_t *)&info)[i], 0xa5);
}

static void test_malformed_headers(void **state)
{
	size_t len;
	uint8_t *b = build(NULL, 0, &len);
	expect_fail(b, 0, ATTEST_E_TRUNCATED, "shorter than a DOS header");
	expect_fail(b, 0x3f, ATTEST_E_TRUNCATED, "shorter than a DOS header");
	expect_fail(b, LFANEW + 3, ATTEST_E_TRUNCATED, "e_lfanew 0x40 points past the end");
	expect_fail(b, LFANEW + 20, ATTEST_E_TRUNCATED, "COFF header");
	expect_fail(b, OPT + 1, ATTEST_E_TRUNCATED, "no optional header");
	expect_fail(b, SEC_TABLE - 1, ATTEST_E_TRUNCATED, "optional header (240 bytes");
	expect_fail(b, SEC_TABLE + 79, ATTEST_E_TRUNCATED, "section table");
	expect_fail(b, HDR_SIZE - 1, ATTEST_E_TRUNCATED, "SizeOfHeaders 512 exceeds");
	expect_fail(b, HDR_SIZE + 0x3ff, ATTEST_E_TRUNCATED,
	            "section 0 (512 bytes at offset 1024)");

	b[0] = 'X';
	expect_fail(b, len, ATTEST_E_FORMAT, "no MZ signature");
	b[0] = 'M';
	b[LFANEW + 1] = 'X';
	expect_fail(b, len, ATTEST_E_FORMAT, "no PE signature");
	b[LFANEW + 1] = 'E';
	put32(b + 0x3c, 0xfffffffe);
	expect_fail(b, len, ATTEST_E_TRUNCATED, "e_lfanew 0xfffffffe");
	put32(b + 0x3c, LFANEW);
	put16(b + LFANEW + 6, 97);
	expect_fail(b, len, ATTEST_E_LIMIT, "NumberOfSections 97 exceeds");
	put16(b + LFANEW + 6, 2);
	put16(b + OPT, 0x107);
	expect_fail(b, len, ATTEST_E_UNSUPPORTED, "magic 0x107");
	put16(b + OPT, 0x20b);
	put16(b + LFANEW + 20, 100);
	expect_fail(b, len, ATTEST_E_FORMAT, "SizeOfOptionalHeader 100 is too small for a PE32+");
	put16(b + LFANEW + 20, OPT_SIZE);
	put32(b + OPT + 108, 17);
	expect_fail(b, len, ATTEST_E_FORMAT, "NumberOfRvaAndSizes 17");
	put32(b + OPT + 108, 16);
	put32(b + OPT + 60, 0x100);
	expect_fail(b, len, ATTEST_E_FORMAT, "ends before the section table");
	put32(b + OPT + 60, HDR_SIZE);
	put32(b + SEC_TABLE + 20, 0xffffff00);
	expect_fail(b, len, ATTEST_E_TRUNCATED, "section 0 (512 bytes at offset 4294967040)");
	put32(b + SEC_TABLE + 20, HDR_SIZE + 0x200);
	/* still valid after all the edits are undone */
	struct pe_info info;
	char msg[PE_MSG_SIZE];
	assert_int_equal(pe_parse(b, len, &info, msg), 0);
	free(b);
}

static void test_malformed_cert_table(void **state)
{
	size_t clen, len;
	uint8_t *cert = make_pkcs7(&clen);
	uint8_t *b = build(cert, clen, &len);
	uint32_t off = (uint32_t)(len - clen);
	/* the table one byte short of the end of the file */
	expect_fail(b, len - 1, ATTEST_E_TRUNCATED, "runs past the end of the image");
	put32(b + CERTDIR + 4, (uint32_t)clen - 8);
	expect_fail(b, len, ATTEST_E_FORMAT, "is not at the end of the image");
	put32(b + CERTDIR + 4, PE_MAX_CERT_TABLE + 1);
	expect_fail(b, len, ATTEST_E_LIMIT, "exceeds the cap");
	put32(b + CERTDIR + 4, (uint32_t)clen);
	/* the table starting inside the sections */
	put32(b + CERTDIR, HDR_SIZE + 0x100);
	put32(b + CERTDIR + 4, (uint32_t)(len - HDR_SIZE - 0x100));
	expect_fail(b, len, ATTEST_E_FORMAT, "run into the certificate table");
	put32(b + CERTDIR, off);
	put32(b + CERTDIR + 4, (uint32_t)clen);
	/* WIN_CERTIFICATE fields */
	uint8_t dw[4];
	memcpy(dw, b + off, 4);
	put32(b + off, 4);
	expect_fail(b, len, ATTEST_E_FORMAT, "dwLength 4 does not fit");
	put32(b + off, (uint32_t)clen + 1);
	expect_fail(b, len, ATTEST_E_TRUNCATED, "does not fit the table");
	memcpy(b + off, dw, 4);
	put16(b + off + 4, 0x0300);
	expect_fail(b, len, ATTEST_E_FORMAT, "unknown wRevision 0x0300");
	put16(b + off + 4, 0x0200);
	put16(b + off + 6, 0x0001); /* X.509 alone: not something we read */
	expect_fail(b, len, ATTEST_E_UNSUPPORTED, "holds no PKCS#7 signature");
	put16(b + off + 6, 0x0002);
	b[off + 8] ^= 0xff; /* the DER's first byte */
	expect_fail(b, len, ATTEST_E_FORMAT, "not a readable PKCS#7");
	b[off + 8] ^= 0xff;
	/* a truncated table header (4 bytes) */
	put32(b + CERTDIR + 4, 4);
	expect_fail(b, len - clen + 4, ATTEST_E_TRUNCATED, "WIN_CERTIFICATE header");
	put32(b + CERTDIR + 4, (uint32_t)clen);
	struct pe_info info;
	char msg[PE_MSG_SIZE];
	assert_int_equal(pe_parse(b, len, &info, msg), 0);
	assert_true(info.has_signature);
	free(b);
	free(cert);
}

/* Every prefix of a signed image fails cleanly or parses (never crashes);
 * the sanitizer build checks the reads. */
static void test_every_prefix(void **state)
{
	size_t clen, len;
	uint8_t *cert = make_pkcs7(&clen);
	uint8_t *b = build(cert, clen, &len);
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, b, n);
		struct pe_info info;
		char msg[PE_MSG_SIZE];
		int e = pe_parse(copy, n, &info, msg);
		assert_true(e < 0);
		assert_true(msg[0] != '\0');
		free(copy);
	}
	free(b);
	free(cert);
}

/* The same layout hashed with another algorithm, as firmware does for the
 * SHA-1 and SHA-384 banks. */
static void test_other_algorithms(void **state)
{
	size_t clen, len;
	uint8_t *cert = make_pkcs7(&clen);
	uint8_t *b = build(cert, clen, &len);
	struct pe_info info;
	char msg[PE_MSG_SIZE];
	assert_int_equal(pe_parse(b, len, &info, msg), 0);
	uint8_t d[64];
	size_t n = 0;
	assert_int_equal(pe_authenticode(b, len, "SHA256", d, &n, msg), 0);
	assert_int_equal(n, 32);
	assert_memory_equal(d, info.authenticode_sha256, 32);
	assert_int_equal(pe_authenticode(b, len, "SHA1", d, &n, msg), 0);
	assert_int_equal(n, 20);
	uint8_t want[20];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha1(), NULL);
	EVP_DigestUpdate(md, b, CHECKSUM);
	EVP_DigestUpdate(md, b + CHECKSUM + 4, CERTDIR - CHECKSUM - 4);
	EVP_DigestUpdate(md, b + CERTDIR + 8, len - clen - CERTDIR - 8);
	EVP_DigestFinal_ex(md, want, NULL);
	EVP_MD_CTX_free(md);
	assert_memory_equal(d, want, 20);
	assert_int_equal(pe_authenticode(b, len, "SHA384", d, &n, msg), 0);
	assert_int_equal(n, 48);
	assert_int_equal(pe_authenticode(b, len, "NO-SUCH-HASH", d, &n, msg), ATTEST_E_UNSUPPORTED);
	assert_non_null(strstr(msg, "NO-SUCH-HASH"));
	assert_int_equal(pe_authenticode(b, 10, "SHA1", d, &n, msg), ATTEST_E_TRUNCATED);
	free(b);
	free(cert);
}

static void test_args(void **state)
{
	char msg[PE_MSG_SIZE];
	struct pe_info info;
	assert_int_equal(pe_parse(NULL, 5, &info, msg), ATTEST_E_ARG);
	uint8_t one = 0;
	assert_int_equal(pe_parse(&one, 1, NULL, msg), ATTEST_E_ARG);
	assert_int_equal(pe_parse(&one, (size_t)PE_MAX_SIZE + 1, &info, msg), ATTEST_E_LIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unsigned_image),    cmocka_unit_test(test_section_order),
	    cmocka_unit_test(test_few_directories),   cmocka_unit_test(test_signed_image),
	    cmocka_unit_test(test_malformed_headers), cmocka_unit_test(test_malformed_cert_table),
	    cmocka_unit_test(test_every_prefix),      cmocka_unit_test(test_args),
	    cmocka_unit_test(test_other_algorithms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
