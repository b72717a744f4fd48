/* PE/COFF: Authenticode SHA-256, file SHA-256 and the signer (see pe.h). */
#include "pe.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "reader.h"

#define DOS_LFANEW_OFF        0x3cu
#define COFF_HEADER_SIZE      20u
#define SECTION_HEADER_SIZE   40u
#define OPT_MAGIC_PE32        0x10bu
#define OPT_MAGIC_PE32PLUS    0x20bu
#define OPT_SIZE_OF_HEADERS   60u
#define OPT_CHECKSUM          64u
#define OPT_SUBSYSTEM         68u
#define DIR_SECURITY          4u /* IMAGE_DIRECTORY_ENTRY_SECURITY */
#define WIN_CERT_TYPE_PKCS    0x0002u
#define WIN_CERT_REVISION_1_0 0x0100u
#define WIN_CERT_REVISION_2_0 0x0200u

struct section {
	uint32_t ptr, size;
};

/* Read a little-endian field at an absolute offset of the image. */
static int at_u16(const uint8_t *buf, size_t len, size_t off, uint16_t *ret)
{
	struct reader r;
	reader_init(&r, buf, len);
	if (reader_skip(&r, off) < 0)
		return ATTEST_E_TRUNCATED;
	return reader_u16le(&r, ret);
}

static int at_u32(const uint8_t *buf, size_t len, size_t off, uint32_t *ret)
{
	struct reader r;
	reader_init(&r, buf, len);
	if (reader_skip(&r, off) < 0)
		return ATTEST_E_TRUNCATED;
	return reader_u32le(&r, ret);
}

/* SHA-256, and optionally a second algorithm over the same bytes. */
struct hashers {
	EVP_MD_CTX *a, *b; /* b may be NULL */
};

/* Hash buf[from..to); the caller has checked from <= to <= len. */
static int hash_range(const struct hashers *h, const uint8_t *buf, size_t from, size_t to)
{
	if (to == from)
		return 0;
	if (EVP_DigestUpdate(h->a, buf + from, to - from) != 1 ||
	    (h->b && EVP_DigestUpdate(h->b, buf + from, to - from) != 1))
		return ATTEST_E_CRYPTO;
	return 0;
}

/* One line for a certificate name, printable ASCII only (controls and
 * bytes >= 0x80 escaped by OpenSSL), truncated to fit. */
static void name_line(const X509_NAME *nm, char out[static PE_NAME_MAX])
{
	out[0] = '\0';
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	unsigned long fl = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN | ASN1_STRFLGS_RFC2253;
	if (X509_NAME_print_ex(b, nm, 0, fl) >= 0) {
		int n = BIO_read(b, out, (int)PE_NAME_MAX - 1);
		out[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
}

/* A DER tag-length-value: the value as a sub-reader. Definite lengths of up
 * to four bytes only (all a signature this small needs). */
static int der_tlv(struct reader *r, uint8_t want_tag, struct reader *ret)
{
	struct reader save = *r;
	uint8_t tag, b;
	size_t n = 0;
	if (reader_u8(r, &tag) < 0 || tag != want_tag || reader_u8(r, &b) < 0)
		goto bad;
	if (b < 0x80) {
		n = b;
	} else {
		unsigned k = b & 0x7fu;
		if (k == 0 || k > 4)
			goto bad;
		for (unsigned i = 0; i < k; i++) {
			if (reader_u8(r, &b) < 0)
				goto bad;
			n = (n << 8) | b;
		}
	}
	if (reader_sub(r, n, ret) < 0)
		goto bad;
	return 0;
bad:
	*r = save;
	return ATTEST_E_FORMAT;
}

/* SpcIndirectDataContent ::= SEQUENCE { data SpcAttributeTypeAndOptionalValue,
 * messageDigest DigestInfo }; DigestInfo ::= SEQUENCE { AlgorithmIdentifier,
 * OCTET STRING }. True if it names SHA-256 and holds want. */
static bool signed_digest_matches(PKCS7 *p7, const uint8_t want[static 32])
{
	static const uint8_t sha256_oid[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
	PKCS7 *inner = p7->d.sign->contents;
	if (!inner || !PKCS7_type_is_other(inner) || !inner->d.other ||
	    inner->d.other->type != V_ASN1_SEQUENCE || !inner->d.other->value.sequence)
		return false;
	const ASN1_STRING *s = inner->d.other->value.sequence;
	struct reader r, body, data, dinfo, alg, oid, digest;
	reader_init(&r, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
	if (der_tlv(&r, 0x30, &body) < 0 || der_tlv(&body, 0x30, &data) < 0 ||
	    der_tlv(&body, 0x30, &dinfo) < 0 || der_tlv(&dinfo, 0x30, &alg) < 0 ||
	    der_tlv(&alg, 0x06, &oid) < 0 || der_tlv(&dinfo, 0x04, &digest) < 0)
		return false;
	if (reader_left(&oid) != sizeof sha256_oid ||
	    memcmp(oid.buf + oid.off, sha256_oid, sizeof sha256_oid) != 0)
		return false;
	return reader_left(&digest) == 32 && memcmp(digest.buf + digest.off, want, 32) == 0;
}

/* Read the signer of the PKCS#7 SignedData in der[0..n). */
static int read_signer(const uint8_t *der, size_t n, size_t at, struct pe_info *info,
                       char msg[static PE_MSG_SIZE])
{
	const unsigned char *p = der;
	if (n > (size_t)INT32_MAX) /* d2i takes a long; the cap keeps us far below */
		return ATTEST_E_LIMIT;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)n);
	ERR_clear_error();
	if (!p7) {
		snprintf(msg, PE_MSG_SIZE,
		         "the signature at offset %zu is not a readable PKCS#7 structure", at);
		return ATTEST_E_FORMAT;
	}
	int e = ATTEST_E_FORMAT;
	if (!PKCS7_type_is_signed(p7) || !p7->d.sign) {
		snprintf(msg, PE_MSG_SIZE,
		         "the signature at offset %zu is PKCS#7 but not SignedData", at);
		goto out;
	}
	STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
	if (!sis || sk_PKCS7_SIGNER_INFO_num(sis) < 1) {
		snprintf(msg, PE_MSG_SIZE, "the signature at offset %zu has no SignerInfo", at);
		goto out;
	}
	PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sis, 0);
	X509 *signer = NULL;
	if (si->issuer_and_serial && p7->d.sign->cert)
		signer = X509_find_by_issuer_and_serial(
		    p7->d.sign->cert, si->issuer_and_serial->issuer, si->issuer_and_serial->serial);
	if (!signer) {
		snprintf(msg, PE_MSG_SIZE,
		         "the signature at offset %zu does not carry the certificate its "
		         "SignerInfo names",
		         at);
		goto out;
	}
	name_line(X509_get_subject_name(signer), info->signer_subject);
	name_line(X509_get_issuer_name(signer), info->signer_issuer);
	info->signed_digest_ok = signed_digest_matches(p7, info->authenticode_sha256);
	info->has_signature = true;
	e = 0;
out:
	PKCS7_free(p7);
	ERR_clear_error();
	return e;
}

/* Walk the WIN_CERTIFICATE entries of table[0..n) (at file offset base). */
static int read_cert_table(const uint8_t *table, size_t n, size_t base, struct pe_info *info,
                           char msg[static PE_MSG_SIZE])
{
	struct reader r;
	reader_init(&r, table, n);
	bool read = false;
	while (reader_left(&r) > 0) {
		size_t at = base + r.off;
		uint32_t dw_length;
		uint16_t revision, type;
		if (info->signatures >= PE_MAX_CERTS) {
			snprintf(msg, PE_MSG_SIZE, "more than %u WIN_CERTIFICATE entries",
			         PE_MAX_CERTS);
			return ATTEST_E_LIMIT;
		}
		if (reader_u32le(&r, &dw_length) < 0 || reader_u16le(&r, &revision) < 0 ||
		    reader_u16le(&r, &type) < 0) {
			snprintf(msg, PE_MSG_SIZE,
			         "WIN_CERTIFICATE header at offset %zu is truncated", at);
			return ATTEST_E_TRUNCATED;
		}
		const uint8_t *content;
		if (dw_length < 8 || reader_bytes(&r, dw_length - 8u, &content) < 0) {
			snprintf(msg, PE_MSG_SIZE,
			         "WIN_CERTIFICATE at offset %zu: dwLength %u does not fit the "
			         "table (%zu bytes left)",
			         at, dw_length, reader_left(&r) + 8);
			return dw_length < 8 ? ATTEST_E_FORMAT : ATTEST_E_TRUNCATED;
		}
		if (revision != WIN_CERT_REVISION_1_0 && revision != WIN_CERT_REVISION_2_0) {
			snprintf(msg, PE_MSG_SIZE,
			         "WIN_CERTIFICATE at offset %zu: unknown wRevision 0x%04x", at,
			         revision);
			return ATTEST_E_FORMAT;
		}
		info->signatures++;
		if (type == WIN_CERT_TYPE_PKCS && !read) {
			int e = read_signer(content, dw_length - 8u, at, info, msg);
			if (e < 0)
				return e;
			read = true;
		}
		/* Entries start on 8-byte boundaries; the last one's padding may
		 * be missing. */
		size_t pad = (8u - (dw_length & 7u)) & 7u;
		reader_skip(&r, pad < reader_left(&r) ? pad : reader_left(&r));
	}
	if (!read) {
		snprintf(msg, PE_MSG_SIZE,
		         "the certificate table at offset %zu holds no PKCS#7 signature", base);
		return ATTEST_E_UNSUPPORTED;
	}
	return 0;
}

static void sort_sections(struct section *s, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct section v = s[i];
		size_t j = i;
		for (; j > 0 && s[j - 1].ptr > v.ptr; j--)
			s[j] = s[j - 1];
		s[j] = v;
	}
}

/* Write the sentence and return code (for `return fail(...)`). */
__attribute__((format(printf, 3, 4))) static int fail(char msg[static PE_MSG_SIZE], int code,
                                                      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, PE_MSG_SIZE, fmt, ap);
	va_end(ap);
	return code;
}

/* Parse; also hash with alg2 into out2 when alg2 is not NULL. */
static int parse(const uint8_t *buf, size_t len, const EVP_MD *alg2, uint8_t *out2,
                 struct pe_info *ret, char msg[static PE_MSG_SIZE])
{
	struct pe_info info;
	EVP_MD_CTX *md2 = NULL;
	struct section secs[PE_MAX_SECTIONS];
	EVP_MD_CTX *md = NULL;
	int e;
	uint16_t mz = 0, magic = 0, nsec = 0, opt_size = 0;
	uint32_t lfanew = 0, pe_sig = 0, size_headers = 0, nrva = 0, cert_off = 0, cert_size = 0;

	msg[0] = '\0';
	memset(&info, 0, sizeof info);
	if (!ret || (!buf && len))
		return ATTEST_E_ARG;
	if (len > PE_MAX_SIZE) {
		snprintf(msg, PE_MSG_SIZE, "image of %zu bytes exceeds the cap of %u", len,
		         PE_MAX_SIZE);
		return ATTEST_E_LIMIT;
	}
	if (at_u16(buf, len, 0, &mz) < 0 || at_u32(buf, len, DOS_LFANEW_OFF, &lfanew) < 0)
		return fail(msg, ATTEST_E_TRUNCATED,
		            "image of %zu bytes is shorter than a DOS header", len);
	if (mz != 0x5a4d)
		return fail(msg, ATTEST_E_FORMAT, "no MZ signature at offset 0");
	if (at_u32(buf, len, lfanew, &pe_sig) < 0)
		return fail(msg, ATTEST_E_TRUNCATED,
		            "e_lfanew 0x%x points past the end of the image", lfanew);
	if (pe_sig != 0x00004550)
		return fail(msg, ATTEST_E_FORMAT, "no PE signature at e_lfanew 0x%x", lfanew);
	size_t coff = (size_t)lfanew + 4;
	if (at_u16(buf, len, coff, &info.machine) < 0 || at_u16(buf, len, coff + 2, &nsec) < 0 ||
	    at_u16(buf, len, coff + 16, &opt_size) < 0)
		return fail(msg, ATTEST_E_TRUNCATED, "COFF header at offset %zu is truncated",
		            coff);
	if (nsec > PE_MAX_SECTIONS)
		return fail(msg, ATTEST_E_LIMIT, "NumberOfSections %u exceeds the cap of %u", nsec,
		            PE_MAX_SECTIONS);
	info.sections = nsec;
	size_t opt = coff + COFF_HEADER_SIZE;
	if (opt_size < 2 || at_u16(buf, len, opt, &magic) < 0)
		return fail(msg, ATTEST_E_TRUNCATED, "no optional header at offset %zu", opt);
	if (magic != OPT_MAGIC_PE32 && magic != OPT_MAGIC_PE32PLUS)
		return fail(msg, ATTEST_E_UNSUPPORTED,
		            "optional header magic 0x%x is neither PE32 nor PE32+", magic);
	info.pe32plus = magic == OPT_MAGIC_PE32PLUS;
	size_t nrva_off = info.pe32plus ? 108 : 92, dirs_off = nrva_off + 4;
	if (opt_size < dirs_off)
		return fail(msg, ATTEST_E_FORMAT,
		            "SizeOfOptionalHeader %u is too small for a PE32%s header", opt_size,
		            info.pe32plus ? "+" : "");
	if ((size_t)opt_size > len - opt || len - opt < dirs_off) /* opt < len: magic was read */
		return fail(msg, ATTEST_E_TRUNCATED,
		            "optional header (%u bytes at offset %zu) runs past the end", opt_size,
		            opt);
	at_u32(buf, len, opt + OPT_SIZE_OF_HEADERS, &size_headers);
	at_u32(buf, len, opt + nrva_off, &nrva);
	at_u16(buf, len, opt + OPT_SUBSYSTEM, &info.subsystem);
	if (nrva > (opt_size - dirs_off) / 8)
		return fail(msg, ATTEST_E_FORMAT,
		            "NumberOfRvaAndSizes %u does not fit SizeOfOptionalHeader %u", nrva,
		            opt_size);
	size_t sec_table = opt + opt_size;
	if ((size_t)nsec * SECTION_HEADER_SIZE > len - sec_table)
		return fail(msg, ATTEST_E_TRUNCATED,
		            "section table (%u entries at offset %zu) runs past the end", nsec,
		            sec_table);
	size_t headers_end = sec_table + (size_t)nsec * SECTION_HEADER_SIZE;
	if (size_headers > len)
		return fail(msg, ATTEST_E_TRUNCATED, "SizeOfHeaders %u exceeds the image size %zu",
		            size_headers, len);
	if (size_headers < headers_end)
		return fail(msg, ATTEST_E_FORMAT,
		            "SizeOfHeaders %u ends before the section table (%zu)", size_headers,
		            headers_end);
	size_t certdir = opt + dirs_off + DIR_SECURITY * 8;
	bool have_certdir = nrva > DIR_SECURITY;
	if (have_certdir) {
		at_u32(buf, len, certdir, &cert_off);
		at_u32(buf, len, certdir + 4, &cert_size);
	}

	/* Sections in file order; empty ones add nothing. */
	size_t n = 0, sum = size_headers;
	for (size_t i = 0; i < nsec; i++) {
		size_t sh = sec_table + i * SECTION_HEADER_SIZE;
		uint32_t raw_size, raw_ptr;
		at_u32(buf, len, sh + 16, &raw_size);
		at_u32(buf, len, sh + 20, &raw_ptr);
		if (raw_size == 0)
			continue;
		if (raw_ptr > len || raw_size > len - raw_ptr)
			return fail(msg, ATTEST_E_TRUNCATED,
			            "section %zu (%u bytes at offset %u) runs past the end of the "
			            "image (%zu)",
			            i, raw_size, raw_ptr, len);
		secs[n].ptr = raw_ptr;
		secs[n].size = raw_size;
		n++;
		sum += raw_size; /* at most 97 values below 2^32: cannot wrap a 64-bit size_t */
	}
	sort_sections(secs, n);

	size_t hashed_end = len; /* where trailing data stops */
	if (have_certdir && cert_size != 0) {
		if (cert_size > PE_MAX_CERT_TABLE)
			return fail(msg, ATTEST_E_LIMIT,
			            "certificate table of %u bytes exceeds the cap of %u",
			            cert_size, PE_MAX_CERT_TABLE);
		if (cert_off > len || cert_size > len - cert_off)
			return fail(msg, ATTEST_E_TRUNCATED,
			            "certificate table (%u bytes at offset %u) runs past the end "
			            "of the image (%zu)",
			            cert_size, cert_off, len);
		if ((size_t)cert_off + cert_size != len)
			return fail(msg, ATTEST_E_FORMAT,
			            "certificate table (%u bytes at offset %u) is not at the end "
			            "of the image (%zu)",
			            cert_size, cert_off, len);
		if (sum > cert_off)
			return fail(msg, ATTEST_E_FORMAT,
			            "headers and sections (%zu bytes) run into the certificate "
			            "table at offset %u",
			            sum, cert_off);
		hashed_end = cert_off;
	}

	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto crypto;
	if (alg2 && (!(md2 = EVP_MD_CTX_new()) || EVP_DigestInit_ex(md2, alg2, NULL) != 1))
		goto crypto;
	struct hashers hs = {md, md2};
	size_t checksum = opt + OPT_CHECKSUM;
	if ((e = hash_range(&hs, buf, 0, checksum)) < 0)
		goto crypto;
	if (have_certdir) {
		if ((e = hash_range(&hs, buf, checksum + 4, certdir)) < 0 ||
		    (e = hash_range(&hs, buf, certdir + 8, size_headers)) < 0)
			goto crypto;
	} else if ((e = hash_range(&hs, buf, checksum + 4, size_headers)) < 0) {
		goto crypto;
	}
	for (size_t i = 0; i < n; i++)
		if ((e = hash_range(&hs, buf, secs[i].ptr, (size_t)secs[i].ptr + secs[i].size)) < 0)
			goto crypto;
	/* Data after the sections (e.g. a debug table) and before the
	 * certificate table is hashed too. */
	if (hashed_end > sum && (e = hash_range(&hs, buf, sum, hashed_end)) < 0)
		goto crypto;
	if (EVP_DigestFinal_ex(md, info.authenticode_sha256, NULL) != 1 ||
	    (md2 && EVP_DigestFinal_ex(md2, out2, NULL) != 1))
		goto crypto;
	if (EVP_Digest(buf, len, info.file_sha256, NULL, EVP_sha256(), NULL) != 1)
		goto crypto;

	if (have_certdir && cert_size != 0 &&
	    (e = read_cert_table(buf + cert_off, cert_size, cert_off, &info, msg)) < 0)
		goto out;
	*ret = info;
	e = 0;
	goto out;
crypto:
	snprintf(msg, PE_MSG_SIZE, "hashing failed");
	e = ATTEST_E_CRYPTO;
out:
	EVP_MD_CTX_free(md);
	EVP_MD_CTX_free(md2);
	return e;
}

int pe_parse(const uint8_t *buf, size_t len, struct pe_info *ret, char msg[static PE_MSG_SIZE])
{
	return parse(buf, len, NULL, NULL, ret, msg);
}

int pe_authenticode(const uint8_t *buf, size_t len, const char *alg, uint8_t out[static 64],
                    size_t *ret_len, char msg[static PE_MSG_SIZE])
{
	EVP_MD *m = alg ? EVP_MD_fetch(NULL, alg, NULL) : NULL;
	msg[0] = '\0';
	if (!m || EVP_MD_get_size(m) <= 0 || EVP_MD_get_size(m) > 64) {
		EVP_MD_free(m);
		snprintf(msg, PE_MSG_SIZE, "no digest algorithm \"%.40s\"", alg ? alg : "");
		return ATTEST_E_UNSUPPORTED;
	}
	uint8_t d[64];
	struct pe_info info;
	int e = parse(buf, len, m, d, &info, msg);
	if (e == 0) {
		*ret_len = (size_t)EVP_MD_get_size(m);
		memcpy(out, d, *ret_len);
	}
	EVP_MD_free(m);
	return e;
}
