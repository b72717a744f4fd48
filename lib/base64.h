/* Strict base64 (RFC 4648, standard alphabet, '=' padding required).
 *
 * Decoding refuses anything a lenient decoder would guess about: characters
 * outside the alphabet (whitespace included), a length that is not a multiple
 * of 4, padding anywhere but the end, and non-zero bits in the last symbol
 * before the padding (so each byte string has exactly one encoding). */
#ifndef ATTEST_BASE64_H
#define ATTEST_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode n bytes, NUL included. */
#define BASE64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)
/* Upper bound of the decoded size of an n-character string. */
#define BASE64_DECODED_MAX(n) (((n) / 4) * 3)

/* Encode n bytes into out (BASE64_ENCODED_SIZE(n) bytes), NUL-terminated. */
void base64_encode(const uint8_t *in, size_t n, char *out);

/* Decode in_len characters into out (cap bytes); *ret_len = bytes written.
 * ATTEST_E_FORMAT for any deviation above (nothing useful is left in out),
 * ATTEST_E_LIMIT if the result would not fit in cap. */
int base64_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *ret_len);

/* Decode into a new buffer (caller frees); max caps the decoded size
 * (ATTEST_E_LIMIT beyond it). An empty string gives a 1-byte allocation
 * and *ret_len = 0, so callers can always free(). */
int base64_decode_alloc(const char *in, size_t in_len, size_t max, uint8_t **ret, size_t *ret_len);

#endif
