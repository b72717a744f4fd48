/* The agent's usual answer read without a JSON tree.
 *
 * An answer is almost always "plain": every string printable ASCII without
 * escapes, every number short and without exponent, every object at most
 * PLAIN_KEYS_MAX members. For such text the decoded strings are the bytes
 * between the quotes, two keys are duplicates exactly when their bytes are
 * equal, and no number can overflow, so a small scanner can check it as
 * strictly as jansson would and hand out the members' byte spans; only the
 * metadata object is parsed into a tree (verify.c reads it). Anything else
 * (an escape, a non-ASCII byte, a fraction, a syntax error, a member of the
 * wrong type or value) is not judged here: bundle_plain_parse() returns 0
 * and bundle_parse() takes the jansson path, whose answer and error
 * sentence are the contract. So this file may defer too often, never accept
 * differently; the differential test and the bundle fuzz target check that
 * on mutated answers. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alg.h"
#include "base64.h"
#include "bundle.h"
#include "err.h"
#include "eventlog.h"
#include "hex.h"
#include "tpm.h"

#define PLAIN_KEYS_MAX   64u /* members of one object (duplicates checked pairwise) */
#define PLAIN_DIGITS_MAX 18u /* digits before the point: always within int64 */

/* A validated member: the key's bytes and the value's span [at, end). */
struct span {
	size_t key, key_n, at, end;
};

struct scan {
	const uint8_t *p;
	size_t len, off;
};

static void ws(struct scan *s)
{
	while (s->off < s->len && (s->p[s->off] == ' ' || s->p[s->off] == '\t' ||
	                           s->p[s->off] == '\n' || s->p[s->off] == '\r'))
		s->off++;
}

/* Whether none of the eight bytes of w ends a plain string or makes it
 * not plain: each is printable ASCII (0x20-0x7e), neither '"' nor '\\'.
 * Exact (no byte that is any of those passes); used only to skip ahead,
 * the byte loop of str() decides. */
static bool plain8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
	uint64_t below = (w - ones * 0x20) & ~w & high;     /* a byte < 0x20 */
	uint64_t above = (((w & ~high) + ones) | w) & high; /* a byte >= 0x7f */
	uint64_t quote = (q - ones) & ~q & high;            /* a '"' */
	uint64_t bslash = (b - ones) & ~b & high;           /* a backslash */
	return (below | above | quote | bslash) == 0;
}

/* "...": printable ASCII, no backslash. *at, *n: the contents. */
static bool str(struct scan *s, size_t *at, size_t *n)
{
	if (s->off >= s->len || s->p[s->off] != '"')
		return false;
	size_t i = s->off + 1;
	/* The quote, signature and PCR values are long base64 and hex
	 * strings: skip them eight bytes at a time. */
	for (uint64_t w; s->len - i >= 8 && (memcpy(&w, s->p + i, 8), plain8(w));)
		i += 8;
	for (; i < s->len; i++) {
		uint8_t c = s->p[i];
		if (c == '"') {
			*at = s->off + 1;
			*n = i - *at;
			s->off = i + 1;
			return true;
		}
		if (c < 0x20 || c > 0x7e || c == '\\')
			return false;
	}
	return false;
}

static bool digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?: at most PLAIN_DIGITS_MAX digits before
 * the point, no exponent, so neither an integer nor a real (the agent's
 * "timing") can overflow where jansson would refuse it. */
static bool number(struct scan *s)
{
	size_t i = s->off, start;
	if (i < s->len && s->p[i] == '-')
		i++;
	start = i;
	if (i >= s->len || !digit(s->p[i]))
		return false;
	if (s->p[i] == '0')
		i++;
	else
		while (i < s->len && digit(s->p[i]))
			i++;
	if (i - start > PLAIN_DIGITS_MAX || (i < s->len && digit(s->p[i])))
		return false;
	if (i < s->len && s->p[i] == '.') {
		size_t frac = ++i;
		while (i < s->len && digit(s->p[i]))
			i++;
		if (i == frac)
			return false;
	}
	if (i < s->len && (s->p[i] == '.' || s->p[i] == 'e' || s->p[i] == 'E'))
		return false;
	s->off = i;
	return true;
}

static bool word(struct scan *s, const char *w)
{
	size_t n = strlen(w);
	if (s->len - s->off < n || memcmp(s->p + s->off, w, n) != 0)
		return false;
	s->off += n;
	return true;
}

static bool value(struct scan *s, unsigned depth);

/* An object at s->off; depth counts as jsontext_depth() does. top: where
 * its members go (at most PLAIN_KEYS_MAX, *ntop of them), or NULL. */
static bool object(struct scan *s, unsigned depth, struct span *top, size_t *ntop)
{
	size_t key[PLAIN_KEYS_MAX], key_n[PLAIN_KEYS_MAX], nk = 0;
	if (depth > BUNDLE_MAX_DEPTH)
		return false;
	s->off++; /* '{' */
	ws(s);
	if (s->off < s->len && s->p[s->off] == '}') {
		s->off++;
		return true;
	}
	for (;;) {
		size_t ka, kn;
		ws(s);
		if (nk == PLAIN_KEYS_MAX || !str(s, &ka, &kn))
			return false;
		for (size_t k = 0; k < nk; k++)
			if (key_n[k] == kn && memcmp(s->p + key[k], s->p + ka, kn) == 0)
				return false; /* a duplicate: jansson's error */
		key[nk] = ka;
		key_n[nk++] = kn;
		ws(s);
		if (s->off >= s->len || s->p[s->off] != ':')
			return false;
		s->off++;
		ws(s);
		size_t at = s->off;
		if (!value(s, depth))
			return false;
		if (top)
			top[(*ntop)++] = (struct span){ka, kn, at, s->off};
		ws(s);
		if (s->off >= s->len)
			return false;
		uint8_t c = s->p[s->off++];
		if (c == '}')
			return true;
		if (c != ',')
			return false;
	}
}

static bool array(struct scan *s, unsigned depth)
{
	if (depth > BUNDLE_MAX_DEPTH)
		return false;
	s->off++; /* '[' */
	ws(s);
	if (s->off < s->len && s->p[s->off] == ']') {
		s->off++;
		return true;
	}
	for (;;) {
		ws(s);
		if (!value(s, depth))
			return false;
		ws(s);
		if (s->off >= s->len)
			return false;
		uint8_t c = s->p[s->off++];
		if (c == ']')
			return true;
		if (c != ',')
			return false;
	}
}

/* A value inside a container of depth depth. */
static bool value(struct scan *s, unsigned depth)
{
	size_t at, n;
	if (s->off >= s->len)
		return false;
	switch (s->p[s->off]) {
	case '{': return object(s, depth + 1, NULL, NULL);
	case '[': return array(s, depth + 1);
	case '"': return str(s, &at, &n);
	case 't': return word(s, "true");
	case 'f': return word(s, "false");
	case 'n': return word(s, "null");
	default: return number(s);
	}
}

/* The members of a validated object spanning [at, end). */
static bool members(const uint8_t *p, size_t at, size_t end, struct span *out, size_t *n)
{
	struct scan s = {.p = p, .len = end, .off = at};
	*n = 0;
	return at < end && p[at] == '{' && object(&s, 1, out, n);
}

static const struct span *member(const uint8_t *p, const struct span *m, size_t n, const char *key)
{
	size_t kn = strlen(key);
	for (size_t i = 0; i < n; i++)
		if (m[i].key_n == kn && memcmp(p + m[i].key, key, kn) == 0)
			return &m[i];
	return NULL;
}

/* The contents of a string value into buf (cap with its NUL). */
static bool text(const uint8_t *p, const struct span *v, char *buf, size_t cap)
{
	if (p[v->at] != '"' || v->end - v->at - 2 >= cap)
		return false;
	memcpy(buf, p + v->at + 1, v->end - v->at - 2);
	buf[v->end - v->at - 2] = '\0';
	return true;
}

static bool b64(const uint8_t *p, const struct span *v, size_t max, uint8_t **ret, size_t *ret_len)
{
	return v && p[v->at] == '"' &&
	       base64_decode_alloc((const char *)p + v->at + 1, v->end - v->at - 2, max, ret,
	                           ret_len) == 0;
}

static bool pcrs(const uint8_t *p, const struct span *v, struct quote_pcrs *out)
{
	struct span banks[PLAIN_KEYS_MAX], idx[PLAIN_KEYS_MAX];
	size_t nb, ni;
	if (!v || !members(p, v->at, v->end, banks, &nb))
		return false;
	for (size_t b = 0; b < nb; b++) {
		const struct alg_hash *h =
		    alg_bank_by_name((const char *)p + banks[b].key, banks[b].key_n);
		if (!h || !members(p, banks[b].at, banks[b].end, idx, &ni))
			return false;
		for (size_t i = 0; i < ni; i++) {
			const uint8_t *k = p + idx[i].key;
			size_t kn = idx[i].key_n;
			/* "0".."23", no leading zero */
			if (kn < 1 || kn > 2 || !digit(k[0]) ||
			    (kn == 2 && (k[0] == '0' || !digit(k[1]))))
				return false;
			unsigned pcr = kn == 1
			                   ? (unsigned)(k[0] - '0')
			                   : (unsigned)(k[0] - '0') * 10 + (unsigned)(k[1] - '0');
			char hx[2 * QUOTE_MAX_DIGEST + 1];
			uint8_t d[QUOTE_MAX_DIGEST];
			size_t n = 0;
			if (pcr >= QUOTE_NUM_PCRS || !text(p, &idx[i], hx, sizeof hx) ||
			    hex_decode(hx, d, sizeof d, &n) < 0 ||
			    n != tpm_alg_digest_size(h->id) ||
			    quote_pcrs_set(out, h->id, pcr, d, n) < 0)
				return false;
		}
	}
	return true;
}

/* Member spans ordered by key bytes (strcmp's order: keys hold no NUL). */
static int span_key_cmp(const uint8_t *p, const struct span *a, const struct span *b)
{
	size_t n = a->key_n < b->key_n ? a->key_n : b->key_n;
	int c = memcmp(p + a->key, p + b->key, n);
	return c ? c : (a->key_n > b->key_n) - (a->key_n < b->key_n);
}

/* A metadata object whose members are all strings: b->metadata built from
 * the spans, and b->metadata_canonical written from them, keys sorted, as
 * evidence_metadata_canonical() would dump the tree (a plain string needs
 * no escape, even under JSON_ENSURE_ASCII: printable ASCII, no quote or
 * backslash). Lexing the span again and dumping a sorted copy of the tree
 * were a visible part of the loop's time per attestation. false: another
 * kind of member, or out of memory (b's members left NULL either way). */
static bool metadata_strings(const uint8_t *p, const struct span *meta, struct bundle *b)
{
	struct span m[PLAIN_KEYS_MAX];
	size_t n = 0, total = 2;
	if (!members(p, meta->at, meta->end, m, &n))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[m[i].at] != '"')
			return false;
		total += m[i].key_n + 3 + (m[i].end - m[i].at) + 1; /* "key":"value", */
	}
	/* insertion sort: a handful of members */
	for (size_t i = 1; i < n; i++) {
		struct span x = m[i];
		size_t k = i;
		for (; k > 0 && span_key_cmp(p, &m[k - 1], &x) > 0; k--)
			m[k] = m[k - 1];
		m[k] = x;
	}
	json_t *o = json_object();
	char *c = malloc(total + 1), *at = c;
	if (!o || !c)
		goto fail;
	*at++ = '{';
	for (size_t i = 0; i < n; i++) {
		char key[256];
		size_t vn = m[i].end - m[i].at - 2;
		if (m[i].key_n >= sizeof key)
			goto fail; /* a long key: jansson's way */
		memcpy(key, p + m[i].key, m[i].key_n);
		key[m[i].key_n] = '\0';
		if (json_object_set_new_nocheck(
		        o, key, json_stringn_nocheck((const char *)p + m[i].at + 1, vn)) < 0)
			goto fail;
		if (i > 0)
			*at++ = ',';
		*at++ = '"';
		memcpy(at, key, m[i].key_n);
		at += m[i].key_n;
		*at++ = '"';
		*at++ = ':';
		memcpy(at, p + m[i].at, vn + 2);
		at += vn + 2;
	}
	*at++ = '}';
	*at = '\0';
	b->metadata = o;
	b->metadata_canonical = c;
	return true;
fail:
	json_decref(o);
	free(c);
	return false;
}

/* "timing"."total_ms" into *us (bundle_host_us; -1 when "timing" is no
 * object or has no such number). A number is read by strtod, as jansson
 * reads one, from a copy of its text; false for a text too long to copy
 * (deferred to jansson). */
static bool host_time(const uint8_t *p, const struct span *timing, int64_t *us)
{
	struct span m[PLAIN_KEYS_MAX];
	size_t n = 0;
	*us = -1;
	if (!timing || p[timing->at] != '{')
		return true;
	if (!members(p, timing->at, timing->end, m, &n))
		return false;
	const struct span *t = member(p, m, n, "total_ms");
	if (!t || (p[t->at] != '-' && !digit(p[t->at])))
		return true;
	char num[48];
	size_t len = t->end - t->at;
	if (len >= sizeof num)
		return false;
	memcpy(num, p + t->at, len);
	num[len] = '\0';
	*us = bundle_host_us(strtod(num, NULL));
	return true;
}

int bundle_plain_parse(const uint8_t *buf, size_t len, struct bundle **ret)
{
	struct span top[PLAIN_KEYS_MAX];
	size_t n = 0;
	struct scan s = {.p = buf, .len = len};
	if (!buf || len > BUNDLE_MAX_SIZE)
		return 0;
	ws(&s);
	if (s.off >= len || buf[s.off] != '{' || !object(&s, 1, top, &n))
		return 0;
	ws(&s);
	if (s.off != len)
		return 0;
	struct bundle *b = calloc(1, sizeof *b);
	if (!b)
		return 0;
	const struct span *unch = member(buf, top, n, "eventlog_unchanged");
	const struct span *el = member(buf, top, n, "eventlog");
	const struct span *nonce = member(buf, top, n, "nonce");
	const struct span *meta = member(buf, top, n, "metadata");
	char hx[2 * EVIDENCE_NONCE_MAX + 1];
	if (!b64(buf, member(buf, top, n, "ak_public"), TPM_PUBLIC_MAX, &b->ak_public,
	         &b->ak_public_len) ||
	    !b64(buf, member(buf, top, n, "quote"), TPM_ATTEST_MAX, &b->quote, &b->quote_len) ||
	    !b64(buf, member(buf, top, n, "signature"), TPM_SIGNATURE_MAX, &b->signature,
	         &b->signature_len) ||
	    (el && !b64(buf, el, EVENTLOG_MAX_SIZE, &b->eventlog, &b->eventlog_len)))
		goto defer;
	if (unch) {
		if (buf[unch->at] != 't' && buf[unch->at] != 'f')
			goto defer;
		b->eventlog_unchanged = buf[unch->at] == 't';
	}
	if ((b->eventlog_unchanged && b->eventlog) ||
	    !pcrs(buf, member(buf, top, n, "pcrs"), &b->pcrs) || !nonce ||
	    !text(buf, nonce, hx, sizeof hx) ||
	    hex_decode(hx, b->nonce, sizeof b->nonce, &b->nonce_len) < 0 ||
	    b->nonce_len < EVIDENCE_NONCE_MIN || !meta || buf[meta->at] != '{' ||
	    !host_time(buf, member(buf, top, n, "timing"), &b->host_us))
		goto defer;
	/* The metadata's members are read by name (verify.c): a tree of its
	 * own span, which is a whole JSON object already checked; when every
	 * member is a string (an agent's metadata always is), the tree and the
	 * canonical text are made from the spans (metadata_strings). */
	if (!metadata_strings(buf, meta, b)) {
		b->metadata = json_loadb((const char *)buf + meta->at, meta->end - meta->at,
		                         JSON_REJECT_DUPLICATES, NULL);
		if (!b->metadata ||
		    evidence_metadata_canonical(b->metadata, &b->metadata_canonical) < 0)
			goto defer;
	}
	if (strlen(b->metadata_canonical) > BUNDLE_METADATA_MAX)
		goto defer;
	*ret = b;
	return 1;
defer:
	bundle_free(b);
	return 0;
}
