/* PCR selections as text (see pcrsel.h). */
#include "pcrsel.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alg.h"
#include "err.h"

/* A PCR number: 1 to 9 decimal digits, value 0..23. */
static bool parse_pcr(const char *s, size_t n, unsigned *ret)
{
	if (n == 0 || n > 9)
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v >= PCRSEL_NUM_PCRS)
		return false;
	*ret = v;
	return true;
}

int pcrsel_ranges_parse(const char *s, size_t n, uint32_t *ret)
{
	if (!s || !ret)
		return ATTEST_E_FORMAT;
	if (n == 3 && memcmp(s, "all", 3) == 0) {
		*ret = (1u << PCRSEL_NUM_PCRS) - 1;
		return 0;
	}
	uint32_t mask = 0;
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		const char *dash = memchr(s + i, '-', j - i);
		unsigned lo, hi;
		if (dash) {
			size_t dl = (size_t)(dash - (s + i));
			if (!parse_pcr(s + i, dl, &lo) ||
			    !parse_pcr(dash + 1, j - i - dl - 1, &hi) || lo > hi)
				return ATTEST_E_FORMAT;
		} else {
			if (!parse_pcr(s + i, j - i, &lo))
				return ATTEST_E_FORMAT;
			hi = lo;
		}
		for (unsigned p = lo; p <= hi; p++)
			mask |= 1u << p;
		if (j == n)
			break;
		i = j + 1;
		if (i == n) /* trailing comma */
			return ATTEST_E_FORMAT;
	}
	if (mask == 0)
		return ATTEST_E_FORMAT;
	*ret = mask;
	return 0;
}

int pcrsel_parse(const char *s, struct pcrsel *ret)
{
	struct pcrsel sel = {0};
	if (!s || !ret || !*s)
		return ATTEST_E_FORMAT;
	size_t len = strnlen(s, PCRSEL_TEXT_MAX + 1);
	if (len > PCRSEL_TEXT_MAX)
		return ATTEST_E_LIMIT;
	size_t i = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && s[j] != '+')
			j++;
		const char *colon = memchr(s + i, ':', j - i);
		if (!colon || sel.count == PCRSEL_MAX_BANKS)
			return ATTEST_E_FORMAT;
		size_t nl = (size_t)(colon - (s + i));
		const struct alg_hash *h = alg_bank_by_name(s + i, nl);
		uint32_t mask;
		if (!h || pcrsel_ranges_parse(colon + 1, j - i - nl - 1, &mask) != 0)
			return ATTEST_E_FORMAT;
		for (uint32_t b = 0; b < sel.count; b++)
			if (sel.banks[b].alg == h->id)
				return ATTEST_E_FORMAT;
		sel.banks[sel.count].alg = h->id;
		sel.banks[sel.count].mask = mask;
		sel.count++;
		i = j + 1;
	}
	*ret = sel;
	return 0;
}

int pcrsel_ranges_format(uint32_t mask, char *out, size_t cap)
{
	size_t len = 0;
	if (cap == 0)
		return ATTEST_E_LIMIT;
	out[0] = '\0';
	for (unsigned i = 0; i < PCRSEL_NUM_PCRS; i++) {
		if (!(mask & (1u << i)))
			continue;
		unsigned j = i;
		while (j + 1 < PCRSEL_NUM_PCRS && (mask & (1u << (j + 1))))
			j++;
		int n = j > i ? snprintf(out + len, cap - len, "%s%u-%u", len ? "," : "", i, j)
		              : snprintf(out + len, cap - len, "%s%u", len ? "," : "", i);
		if (n < 0 || (size_t)n >= cap - len) {
			out[len] = '\0';
			return ATTEST_E_LIMIT;
		}
		len += (size_t)n;
		i = j;
	}
	return 0;
}

int pcrsel_format(const struct pcrsel *sel, char *out, size_t cap)
{
	if (cap == 0)
		return ATTEST_E_LIMIT;
	out[0] = '\0';
	if (!sel || sel->count > PCRSEL_MAX_BANKS)
		return ATTEST_E_FORMAT;
	size_t len = 0;
	for (uint32_t b = 0; b < sel->count; b++) {
		uint32_t mask = sel->banks[b].mask & ((1u << PCRSEL_NUM_PCRS) - 1);
		if (mask == 0)
			continue;
		const struct alg_hash *h = alg_bank_by_id(sel->banks[b].alg);
		if (!h) {
			out[0] = '\0';
			return ATTEST_E_FORMAT;
		}
		int n = snprintf(out + len, cap - len, "%s%s:", len ? "+" : "", h->name);
		if (n < 0 || (size_t)n >= cap - len ||
		    pcrsel_ranges_format(mask, out + len + (size_t)n, cap - len - (size_t)n) != 0) {
			out[0] = '\0';
			return ATTEST_E_LIMIT;
		}
		len += strlen(out + len);
	}
	return len ? 0 : ATTEST_E_FORMAT;
}
