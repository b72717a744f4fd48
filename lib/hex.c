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

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
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
