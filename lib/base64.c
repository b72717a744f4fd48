#include "base64.h"

#include <stdlib.h>

#include "err.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0, o = 0;
	for (; n - i >= 3; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
}

/* Each alphabet byte's value plus one; 0 for every other byte. A table
 * rather than comparisons: an evidence bundle carries a 20-70 KB event log
 * in base64, decoded on every attestation. */
static const uint8_t value1[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static int sym(char c)
{
	return (int)value1[(uint8_t)c] - 1;
}

int base64_decode(const char *in, size_t in_len, uint8_t *out, size_t cap, size_t *ret_len)
{
	if ((!in && in_len) || in_len % 4)
		return ATTEST_E_FORMAT;
	size_t pad = 0;
	if (in_len >= 4) {
		if (in[in_len - 1] == '=')
			pad++;
		if (in[in_len - 2] == '=') {
			if (!pad)
				return ATTEST_E_FORMAT; /* "x=y" style */
			pad++;
		}
	}
	size_t n = in_len / 4 * 3 - pad;
	if (n > cap)
		return ATTEST_E_LIMIT;
	size_t o = 0;
	for (size_t i = 0; i < in_len; i += 4) {
		int last = i + 4 == in_len;
		int a = sym(in[i]), b = sym(in[i + 1]);
		int c = (last && pad == 2) ? 0 : sym(in[i + 2]);
		int d = (last && pad >= 1) ? 0 : sym(in[i + 3]);
		if (a < 0 || b < 0 || c < 0 || d < 0)
			return ATTEST_E_FORMAT;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		if (last && pad == 2 && (v & 0xffff))
			return ATTEST_E_FORMAT; /* bits that no byte holds */
		if (last && pad == 1 && (v & 0xff))
			return ATTEST_E_FORMAT;
		out[o++] = (uint8_t)(v >> 16);
		if (!(last && pad == 2))
			out[o++] = (uint8_t)(v >> 8);
		if (!(last && pad >= 1))
			out[o++] = (uint8_t)v;
	}
	*ret_len = o;
	return 0;
}

int base64_decode_alloc(const char *in, size_t in_len, size_t max, uint8_t **ret, size_t *ret_len)
{
	if (in_len % 4)
		return ATTEST_E_FORMAT;
	size_t bound = BASE64_DECODED_MAX(in_len);
	if (bound > max + 2) /* padding may make the bound 2 larger than max */
		return ATTEST_E_LIMIT;
	uint8_t *buf = malloc(bound ? bound : 1);
	if (!buf)
		return ATTEST_E_NOMEM;
	size_t n = 0;
	int e = base64_decode(in, in_len, buf, bound, &n);
	if (e == 0 && n > max)
		e = ATTEST_E_LIMIT;
	if (e < 0) {
		free(buf);
		return e;
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}
