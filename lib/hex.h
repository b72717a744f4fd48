/* Hexadecimal encoding of binary data (lowercase), and strict decoding. */
#ifndef ATTEST_HEX_H
#define ATTEST_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Write 2*n lowercase hex digits and a NUL to out, which must hold 2*n+1. */
void hex_encode(const uint8_t *in, size_t n, char *out);

/* Decode a hex string (upper or lower case, even length, nothing else) into
 * out, which holds cap bytes. On success *ret_len is the byte count.
 * ATTEST_E_FORMAT on a non-hex character or odd length, ATTEST_E_LIMIT if the
 * result would exceed cap. */
int hex_decode(const char *in, uint8_t *out, size_t cap, size_t *ret_len);

#endif
