/* One cursor for untrusted bytes.
 *
 * Every parser in attest reads its input through struct reader. The length
 * arithmetic lives in reader.c only: each read checks `len - off < n` (a
 * subtraction that cannot wrap, since off <= len always holds) and moves the
 * offset only on success, so a failed read leaves the reader unchanged.
 *
 * A reader borrows its buffer; it never allocates or frees. */
#ifndef ATTEST_READER_H
#define ATTEST_READER_H

#include <stddef.h>
#include <stdint.h>

struct reader {
	const uint8_t *buf;
	size_t len;
	size_t off; /* invariant: off <= len */
};

void reader_init(struct reader *r, const void *buf, size_t len);

/* Bytes not yet read. */
size_t reader_left(const struct reader *r);

/* Fixed-width integers. 0 on success, ATTEST_E_TRUNCATED if too few bytes. */
int reader_u8(struct reader *r, uint8_t *ret);
int reader_u16le(struct reader *r, uint16_t *ret);
int reader_u16be(struct reader *r, uint16_t *ret);
int reader_u32le(struct reader *r, uint32_t *ret);
int reader_u32be(struct reader *r, uint32_t *ret);
int reader_u64le(struct reader *r, uint64_t *ret);
int reader_u64be(struct reader *r, uint64_t *ret);

/* Borrow n bytes: *ret points into the reader's buffer. */
int reader_bytes(struct reader *r, size_t n, const uint8_t **ret);

/* Copy n bytes into dst. */
int reader_copy(struct reader *r, void *dst, size_t n);

/* Skip n bytes. */
int reader_skip(struct reader *r, size_t n);

/* A sub-reader over the next n bytes; the parent moves past them. */
int reader_sub(struct reader *r, size_t n, struct reader *ret);

/* A TPM2B: big-endian u16 size, then that many bytes, as a sub-reader.
 * Fails with ATTEST_E_LIMIT if the size exceeds max. */
int reader_tpm2b(struct reader *r, size_t max, struct reader *ret);

#endif
