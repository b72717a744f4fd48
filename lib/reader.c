#include "reader.h"

#include <string.h>

#include "err.h"

void reader_init(struct reader *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = buf ? len : 0;
	r->off = 0;
}

size_t reader_left(const struct reader *r)
{
	return r->len - r->off;
}

/* The one bounds check: never a sum of lengths. */
static int take(struct reader *r, size_t n, const uint8_t **ret)
{
	if (r->len - r->off < n)
		return ATTEST_E_TRUNCATED;
	*ret = r->buf + r->off;
	r->off += n;
	return 0;
}

int reader_u8(struct reader *r, uint8_t *ret)
{
	const uint8_t *p;
	int e = take(r, 1, &p);
	if (e < 0)
		return e;
	*ret = p[0];
	return 0;
}

int reader_u16le(struct reader *r, uint16_t *ret)
{
	const uint8_t *p;
	int e = take(r, 2, &p);
	if (e < 0)
		return e;
	*ret = (uint16_t)(p[0] | (uint16_t)p[1] << 8);
	return 0;
}

int reader_u16be(struct reader *r, uint16_t *ret)
{
	const uint8_t *p;
	int e = take(r, 2, &p);
	if (e < 0)
		return e;
	*ret = (uint16_t)((uint16_t)p[0] << 8 | p[1]);
	return 0;
}

int reader_u32le(struct reader *r, uint32_t *ret)
{
	const uint8_t *p;
	int e = take(r, 4, &p);
	if (e < 0)
		return e;
	*ret = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return 0;
}

int reader_u32be(struct reader *r, uint32_t *ret)
{
	const uint8_t *p;
	int e = take(r, 4, &p);
	if (e < 0)
		return e;
	*ret = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
	return 0;
}

int reader_u64le(struct reader *r, uint64_t *ret)
{
	const uint8_t *p;
	int e = take(r, 8, &p);
	if (e < 0)
		return e;
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	*ret = v;
	return 0;
}

int reader_u64be(struct reader *r, uint64_t *ret)
{
	const uint8_t *p;
	int e = take(r, 8, &p);
	if (e < 0)
		return e;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	*ret = v;
	return 0;
}

int reader_bytes(struct reader *r, size_t n, const uint8_t **ret)
{
	return take(r, n, ret);
}

int reader_copy(struct reader *r, void *dst, size_t n)
{
	const uint8_t *p;
	int e = take(r, n, &p);
	if (e < 0)
		return e;
	if (n)
		memcpy(dst, p, n);
	return 0;
}

int reader_skip(struct reader *r, size_t n)
{
	const uint8_t *p;
	return take(r, n, &p);
}

int reader_sub(struct reader *r, size_t n, struct reader *ret)
{
	const uint8_t *p;
	int e = take(r, n, &p);
	if (e < 0)
		return e;
	reader_init(ret, p, n);
	return 0;
}

int reader_tpm2b(struct reader *r, size_t max, struct reader *ret)
{
	size_t save = r->off;
	uint16_t n;
	int e = reader_u16be(r, &n);
	if (e < 0)
		return e;
	if (n > max) {
		r->off = save;
		return ATTEST_E_LIMIT;
	}
	e = reader_sub(r, n, ret);
	if (e < 0)
		r->off = save;
	return e;
}
