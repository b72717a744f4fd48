/* PCR selections as text, in one place: the parser and the encoder of
 * "sha256:0-7,14+sha1:0" (banks joined by '+', PCRs by ',' with a-b ranges,
 * "all" for 0-23) and of the bank-less PCR list "0-7,14" that policies use.
 * The agent's request parser, its evidence command and the policy loader
 * read selections here; nothing in this file talks to a TPM. */
#ifndef ATTEST_PCRSEL_H
#define ATTEST_PCRSEL_H

#include <stddef.h>
#include <stdint.h>

#define PCRSEL_MAX_BANKS 4u   /* banks in one selection */
#define PCRSEL_NUM_PCRS  24u  /* PCRs 0..23 */
#define PCRSEL_TEXT_MAX  256u /* characters of the longest text accepted */

/* A PCR selection: per bank (TPM_ALG_ID), a bit mask of PCRs 0..23. */
struct pcrsel {
	uint32_t count;
	struct {
		uint16_t alg;
		uint32_t mask;
	} banks[PCRSEL_MAX_BANKS];
};

/* Parse the n bytes at s as a PCR list: "all", or comma-separated decimal
 * PCR numbers (0..23, at most 9 digits) and a-b ranges with a <= b. 0 and a
 * non-zero *ret; ATTEST_E_FORMAT with *ret untouched for anything else
 * (empty, an empty item, a PCR above 23, spaces, trailing characters). */
int pcrsel_ranges_parse(const char *s, size_t n, uint32_t *ret);

/* Parse "sha256:0-7,10+sha1:0,1": one to PCRSEL_MAX_BANKS banks (sha1,
 * sha256, sha384, sha512), each named once, each with a PCR list as above.
 * 0 and *ret, or ATTEST_E_FORMAT (ATTEST_E_LIMIT for more than
 * PCRSEL_TEXT_MAX characters) with *ret untouched. */
int pcrsel_parse(const char *s, struct pcrsel *ret);

/* "0-7,9,14" for a mask (ascending, runs as ranges) into out. 0, or
 * ATTEST_E_LIMIT when it does not fit in cap bytes (80 always suffice);
 * out is always a string when cap > 0. */
int pcrsel_ranges_format(uint32_t mask, char *out, size_t cap);

/* "sha256:0-7+sha1:0" for a selection, banks in their order, banks with an
 * empty mask left out. 0; ATTEST_E_FORMAT for an unknown bank or nothing
 * selected; ATTEST_E_LIMIT when it does not fit in cap bytes. out is always a
 * string when cap > 0 (empty on failure). */
int pcrsel_format(const struct pcrsel *sel, char *out, size_t cap);

#endif
