/* Base64 encoding (RFC 4648, standard alphabet, with padding) for the
 * programs' JSON output. The strict decoder for untrusted input lives in
 * lib/ (base64.h); encoding our own bytes needs no such care. */
#ifndef ATTEST_B64ENC_H
#define ATTEST_B64ENC_H

#include <stddef.h>
#include <stdint.h>

/* Encode n bytes. Returns a malloc'd NUL-terminated string (caller frees),
 * or NULL if out of memory or n is too large to encode. */
char *b64enc(const uint8_t *in, size_t n);

#endif
