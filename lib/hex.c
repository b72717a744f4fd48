#include "hex.h"

#include <string.h>

#include "err.h"

void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A hex digit's value plus one; 0 for every other byte. */
static const uint8_t digit1[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
    ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static int nibble(char c)
{
	return (int)digit1[(unsigned char)c] - 1;
}

int hex_decode(const char *in, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t n = strlen(in);
	if (n % 2)
		return ATTEST_E_FORMAT;
	if (n / 2 > cap)
		return ATTEST_E_LIMIT;
	for (size_t i = 0; i < n; i += 2) {
		int hi = nibble(in[i]), lo = nibble(in[i + 1]);
		if (hi < 0 || lo < 0)
			return ATTEST_E_FORMAT;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*ret_len = n / 2;
	return 0;
}
