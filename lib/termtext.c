/* Terminal-safe text (termtext.h). */
#include "termtext.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (n bytes left) and its code
 * point, or 0 if the bytes there are not one (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF). */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c = p[0];
	size_t k;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		k = 2, v = c & 0x1Fu, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		k = 3, v = c & 0x0Fu, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4, v = c & 0x07u, min = 0x10000;
	} else {
		return 0;
	}
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3Fu);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return k;
}

/* Code points that reorder or break the text an operator reads. */
static bool is_bidi_or_separator(uint32_t cp)
{
	return cp == 0x061C || cp == 0x200E || cp == 0x200F || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* The escape for the sequence at p into esc (TERMTEXT_ESCAPE_MAX + 1
 * bytes); returns the bytes consumed and sets *esc_len (0: copy as is). */
static size_t one(const unsigned char *p, size_t n, char *esc, size_t *esc_len)
{
	uint32_t cp;
	size_t k = utf8_decode(p, n, &cp);
	*esc_len = 0;
	if (k == 0) {
		*esc_len = (size_t)snprintf(esc, TERMTEXT_ESCAPE_MAX + 1, "\\x%02x", p[0]);
		return 1;
	}
	if (cp < 0x20 || cp == 0x7F)
		*esc_len = (size_t)snprintf(esc, TERMTEXT_ESCAPE_MAX + 1, "\\x%02x", (unsigned)cp);
	else if ((cp >= 0x80 && cp <= 0x9F) || is_bidi_or_separator(cp))
		*esc_len = (size_t)snprintf(esc, TERMTEXT_ESCAPE_MAX + 1, "\\u%04X", (unsigned)cp);
	return k;
}

size_t termtext_escape(const char *s, size_t len, char *out, size_t cap, bool *ret_cut)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;
	bool cut = false;
	if (cap == 0) {
		if (ret_cut)
			*ret_cut = len > 0;
		return 0;
	}
	for (size_t i = 0; p && i < len;) {
		char esc[TERMTEXT_ESCAPE_MAX + 1];
		size_t el;
		size_t k = one(p + i, len - i, esc, &el);
		const char *src = el ? esc : (const char *)p + i;
		size_t sn = el ? el : k;
		if (cap - 1 - o < sn) {
			cut = true;
			break;
		}
		memcpy(out + o, src, sn);
		o += sn;
		i += k;
	}
	out[o] = '\0';
	if (ret_cut)
		*ret_cut = cut;
	return o;
}

char *termtext_dup(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	if (n > (SIZE_MAX - 1) / 4)
		return NULL;
	char *o = malloc(4 * n + 1);
	if (!o)
		return NULL;
	termtext_escape(s, n, o, 4 * n + 1, NULL);
	return o;
}

size_t termtext_first_unsafe(const char *s, size_t len, uint32_t *ret_cp, bool *ret_invalid)
{
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; p && i < len;) {
		char esc[TERMTEXT_ESCAPE_MAX + 1];
		size_t el;
		size_t k = one(p + i, len - i, esc, &el);
		if (el) {
			uint32_t cp = p[i];
			bool invalid = utf8_decode(p + i, len - i, &cp) == 0;
			if (ret_cp)
				*ret_cp = invalid ? p[i] : cp;
			if (ret_invalid)
				*ret_invalid = invalid;
			return i;
		}
		i += k;
	}
	return len;
}

bool termtext_needs_escape(const char *s, size_t len)
{
	return s && termtext_first_unsafe(s, len, NULL, NULL) < len;
}
