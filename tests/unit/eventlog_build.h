/* Test helper: build small event logs in memory (crypto-agile and legacy).
 * Header-only so each eventlog test program can include it. */
#ifndef ATTEST_TEST_EVENTLOG_BUILD_H
#define ATTEST_TEST_EVENTLOG_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "eventlog.h"

struct tbuf {
	uint8_t *p;
	size_t len, cap;
};

static inline void tb_put(struct tbuf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 4096;
		while (nc < b->len + n)
			nc *= 2;
		b->p = realloc(b->p, nc);
		if (!b->p)
			abort();
		b->cap = nc;
	}
	if (n)
		memcpy(b->p + b->len, d, n);
	b->len += n;
}

static inline void tb_u8(struct tbuf *b, uint8_t v)
{
	tb_put(b, &v, 1);
}

static inline void tb_u16(struct tbuf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	tb_put(b, x, 2);
}

static inline void tb_u32(struct tbuf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	tb_put(b, x, 4);
}

static inline void tb_u64(struct tbuf *b, uint64_t v)
{
	tb_u32(b, (uint32_t)v);
	tb_u32(b, (uint32_t)(v >> 32));
}

static inline const char *tb_evp(uint16_t alg)
{
	switch (alg) {
	case EVENTLOG_ALG_SHA1: return "SHA1";
	case EVENTLOG_ALG_SHA256: return "SHA256";
	case EVENTLOG_ALG_SHA384: return "SHA384";
	case EVENTLOG_ALG_SHA512: return "SHA512";
	default: return NULL;
	}
}

/* Hash with the bank's algorithm; unknown algorithms get a fixed pattern. */
static inline void tb_hash(uint16_t alg, size_t size, const void *d, size_t n, uint8_t *out)
{
	const char *name = tb_evp(alg);
	if (!name) {
		memset(out, 0xA5, size);
		return;
	}
	unsigned int len = 0;
	EVP_MD *md = EVP_MD_fetch(NULL, name, NULL);
	if (!md || !EVP_Digest(d, n, out, &len, md, NULL))
		abort();
	EVP_MD_free(md);
}

struct tbanks {
	uint32_t n;
	uint16_t alg[EVENTLOG_MAX_BANKS];
	uint16_t size[EVENTLOG_MAX_BANKS];
};

/* The SHA-1-format Spec ID Event03 header event. */
static inline void tb_spec_id(struct tbuf *b, const struct tbanks *bk)
{
	struct tbuf d = {0};
	tb_put(&d, "Spec ID Event03", 16);
	tb_u32(&d, 0); /* platformClass */
	tb_u8(&d, 0);  /* specVersionMinor */
	tb_u8(&d, 2);  /* specVersionMajor */
	tb_u8(&d, 0);  /* specErrata */
	tb_u8(&d, 2);  /* uintnSize */
	tb_u32(&d, bk->n);
	for (uint32_t i = 0; i < bk->n; i++) {
		tb_u16(&d, bk->alg[i]);
		tb_u16(&d, bk->size[i]);
	}
	tb_u8(&d, 0); /* vendorInfoSize */
	static const uint8_t zero[20];
	tb_u32(b, 0);
	tb_u32(b, EV_NO_ACTION);
	tb_put(b, zero, 20);
	tb_u32(b, (uint32_t)d.len);
	tb_put(b, d.p, d.len);
	free(d.p);
}

/* A TCG_PCR_EVENT2 whose digests are H(hashed) in every bank. */
static inline void tb_agile_h(struct tbuf *b, const struct tbanks *bk, uint32_t pcr, uint32_t type,
                              const void *hashed, size_t hlen, const void *data, size_t len)
{
	tb_u32(b, pcr);
	tb_u32(b, type);
	tb_u32(b, bk->n);
	for (uint32_t i = 0; i < bk->n; i++) {
		uint8_t h[EVENTLOG_MAX_DIGEST];
		tb_hash(bk->alg[i], bk->size[i], hashed, hlen, h);
		tb_u16(b, bk->alg[i]);
		tb_put(b, h, bk->size[i]);
	}
	tb_u32(b, (uint32_t)len);
	tb_put(b, data, len);
}

static inline void tb_agile(struct tbuf *b, const struct tbanks *bk, uint32_t pcr, uint32_t type,
                            const void *data, size_t len)
{
	tb_agile_h(b, bk, pcr, type, data, len, data, len);
}

/* A TCG_PCR_EVENT (SHA-1 only) with digest H(hashed). */
static inline void tb_legacy_h(struct tbuf *b, uint32_t pcr, uint32_t type, const void *hashed,
                               size_t hlen, const void *data, size_t len)
{
	uint8_t h[20];
	tb_hash(EVENTLOG_ALG_SHA1, 20, hashed, hlen, h);
	tb_u32(b, pcr);
	tb_u32(b, type);
	tb_put(b, h, 20);
	tb_u32(b, (uint32_t)len);
	tb_put(b, data, len);
}

/* UEFI_VARIABLE_DATA for an ASCII name. */
static inline void tb_vardata(struct tbuf *b, const uint8_t guid[16], const char *name,
                              const void *data, size_t len)
{
	size_t n = strlen(name);
	tb_put(b, guid, 16);
	tb_u64(b, n);
	tb_u64(b, len);
	for (size_t i = 0; i < n; i++)
		tb_u16(b, (uint8_t)name[i]);
	tb_put(b, data, len);
}

/* PCR extend in a test: pcr = H(pcr || digest). */
static inline void tb_extend(uint16_t alg, size_t size, uint8_t *pcr, const uint8_t *digest)
{
	uint8_t tmp[2 * EVENTLOG_MAX_DIGEST];
	memcpy(tmp, pcr, size);
	memcpy(tmp + size, digest, size);
	tb_hash(alg, size, tmp, 2 * size, pcr);
}

#endif
