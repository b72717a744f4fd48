/* The verdict's two stored texts, "reasons" and "software", written
 * directly: byte for byte what json_dumps(JSON_COMPACT) makes of the same
 * members of verify_result_json(), without building that tree of some
 * hundred JSON values per attestation on the verifier's event loop. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "err.h"
#include "verify.h"

/* A growable text; nomem set once an allocation failed (appends stop). */
struct out {
	char *buf;
	size_t len, cap;
	bool nomem;
};

static bool out_room(struct out *o, size_t n)
{
	if (o->nomem)
		return false;
	if (o->cap - o->len > n)
		return true;
	size_t cap = o->cap ? o->cap : 256;
	while (cap - o->len <= n) {
		if (cap > SIZE_MAX / 2) {
			o->nomem = true;
			return false;
		}
		cap *= 2;
	}
	char *b = realloc(o->buf, cap);
	if (b == NULL) {
		o->nomem = true;
		return false;
	}
	o->buf = b;
	o->cap = cap;
	return true;
}

static void out_mem(struct out *o, const char *s, size_t n)
{
	if (!out_room(o, n))
		return;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_lit(struct out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void out_int(struct out *o, int64_t v)
{
	char d[24], *at = d + sizeof d;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	do {
		*--at = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--at = '-';
	out_mem(o, at, (size_t)(d + sizeof d - at));
}

/* Length of the UTF-8 sequence at s (NUL-terminated) if it is one jansson
 * accepts (shortest form, no surrogates, at most U+10FFFF), else 0. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		n = 2;
		cp = c & 0x1F;
	} else if (c < 0xF0) {
		n = 3;
		cp = c & 0x0F;
	} else if (c <= 0xF4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) /* a NUL ends it here too */
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = utf8_seq(p);
		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

/* s as a JSON string, escaped as jansson's dump escapes (quote, backslash,
 * the five short forms, other controls as \u00XX); text that is not valid
 * UTF-8 has every non-ASCII byte written as '?' (verify.c's jstr). */
static void out_str(struct out *o, const char *s)
{
	bool ascii_only = !utf8_valid(s);
	out_mem(o, "\"", 1);
	const char *run = s;
	for (const char *p = s;; p++) {
		unsigned char c = (unsigned char)*p;
		const char *esc = NULL;
		char u[7];
		if (c == '\0' || c == '"' || c == '\\' || c < 0x20 || (ascii_only && c >= 0x80)) {
			out_mem(o, run, (size_t)(p - run));
			run = p + 1;
			switch (c) {
			case '\0': out_mem(o, "\"", 1); return;
			case '"': esc = "\\\""; break;
			case '\\': esc = "\\\\"; break;
			case '\b': esc = "\\b"; break;
			case '\f': esc = "\\f"; break;
			case '\n': esc = "\\n"; break;
			case '\r': esc = "\\r"; break;
			case '\t': esc = "\\t"; break;
			default:
				if (c >= 0x80) {
					esc = "?";
				} else {
					static const char hx[] = "0123456789ABCDEF";
					memcpy(u, "\\u00", 4);
					u[4] = hx[c >> 4];
					u[5] = hx[c & 15];
					u[6] = '\0';
					esc = u;
				}
			}
			out_lit(o, esc);
		}
	}
}

static void out_opt_str(struct out *o, const char *s)
{
	if (s)
		out_str(o, s);
	else
		out_mem(o, "null", 4);
}

/* ,"key": (first: no comma) */
static void out_key(struct out *o, bool *first, const char *key)
{
	if (!*first)
		out_mem(o, ",", 1);
	*first = false;
	out_mem(o, "\"", 1);
	out_lit(o, key);
	out_mem(o, "\":", 2);
}

static void reason_text(struct out *o, const struct verify_reason *rs)
{
	bool first = true;
	out_lit(o, "{\"evidence\":{");
	if (rs->pcr >= 0) {
		out_key(o, &first, "pcr");
		out_int(o, rs->pcr);
	}
	const char *bank = rs->bank ? bundle_bank_name(rs->bank) : NULL;
	if (bank) {
		out_key(o, &first, "bank");
		out_str(o, bank);
	}
	if (rs->event >= 0) {
		out_key(o, &first, "event");
		out_int(o, rs->event);
	}
	if (rs->event_type) {
		out_key(o, &first, "event_type");
		out_str(o, rs->event_type);
	}
	const struct {
		const char *key;
		const char *val;
	} texts[] = {{"description", rs->description},
	             {"expected", rs->expected},
	             {"actual", rs->actual},
	             {"allowed", rs->allowed}};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		if (texts[i].val[0]) {
			out_key(o, &first, texts[i].key);
			out_str(o, texts[i].val);
		}
	out_lit(o, "},\"code\":");
	out_str(o, rs->code);
	out_lit(o, ",\"message\":");
	out_str(o, rs->message);
	out_mem(o, "}", 1);
}

static int take(struct out *o, char **ret)
{
	if (o->nomem) {
		free(o->buf);
		return ATTEST_E_NOMEM;
	}
	*ret = o->buf;
	return 0;
}

int verify_reasons_text(const struct verify_result *r, char **ret)
{
	if (!r || !ret)
		return ATTEST_E_ARG;
	struct out o = {0};
	out_mem(&o, "[", 1);
	for (size_t i = 0; i < r->reason_count; i++) {
		if (i > 0)
			out_mem(&o, ",", 1);
		reason_text(&o, &r->reasons[i]);
	}
	out_mem(&o, "]", 1);
	return take(&o, ret);
}

/* "not_verified": one member per field; a field given twice keeps the
 * place of its first entry and the value of its last, as a JSON object
 * that is set twice does. */
static void not_verified_text(struct out *o, const struct verify_software *s)
{
	bool first = true;
	size_t n = s->not_verified_count < VERIFY_SOFTWARE_FIELDS ? s->not_verified_count
	                                                          : VERIFY_SOFTWARE_FIELDS;
	out_mem(o, "{", 1);
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(s->not_verified[k].field, s->not_verified[i].field) == 0;
		if (seen)
			continue;
		const struct verify_unverified *u = &s->not_verified[i];
		for (size_t k = i + 1; k < n; k++)
			if (strcmp(s->not_verified[k].field, u->field) == 0)
				u = &s->not_verified[k];
		bool f2 = true;
		out_key(o, &first, u->field);
		out_mem(o, "{", 1);
		out_key(o, &f2, "value");
		out_str(o, u->value ? u->value : "");
		out_key(o, &f2, "why");
		out_str(o, u->why);
		if (u->event >= 0) {
			out_key(o, &f2, "event");
			out_int(o, u->event);
		}
		if (u->pcr >= 0) {
			out_key(o, &f2, "pcr");
			out_int(o, u->pcr);
		}
		out_mem(o, "}", 1);
	}
	out_mem(o, "}", 1);
}

static void components_text(struct out *o, const struct verify_software *s)
{
	size_t n =
	    s->component_count < VERIFY_MAX_COMPONENTS ? s->component_count : VERIFY_MAX_COMPONENTS;
	out_mem(o, "[", 1);
	for (size_t i = 0; i < n; i++) {
		const struct verify_component *k = &s->components[i];
		if (i > 0)
			out_mem(o, ",", 1);
		out_lit(o, "{\"event\":");
		out_int(o, k->event);
		out_lit(o, ",\"pcr\":");
		out_int(o, k->pcr);
		out_lit(o, ",\"digest\":");
		out_str(o, k->digest);
		out_lit(o, ",\"log_path\":");
		out_opt_str(o, k->log_path[0] ? k->log_path : NULL);
		out_lit(o, k->verified ? ",\"verified\":true" : ",\"verified\":false");
		out_lit(o, k->in_catalog ? ",\"in_catalog\":true" : ",\"in_catalog\":false");
		out_lit(o, ",\"kind\":");
		out_opt_str(o, k->kind[0] ? k->kind : NULL);
		out_lit(o, ",\"package\":");
		out_opt_str(o, k->package[0] ? k->package : NULL);
		out_lit(o, ",\"version\":");
		out_opt_str(o, k->version[0] ? k->version : NULL);
		out_lit(o, ",\"rule\":");
		out_opt_str(o, k->rule[0] ? k->rule : NULL);
		out_lit(o, ",\"text\":");
		out_str(o, k->text);
		out_mem(o, "}", 1);
	}
	out_mem(o, "]", 1);
}

int verify_software_text(const struct verify_result *r, char **ret)
{
	if (!r || !ret)
		return ATTEST_E_ARG;
	const struct verify_software *s = &r->software;
	struct out o = {0};
	const struct {
		const char *key;
		const char *val;
	} fields[] = {{"firmware", s->firmware},
	              {"boot_loader", s->boot_loader},
	              {"kernel", s->kernel},
	              {"kernel_image", s->kernel_image},
	              {"kernel_cmdline", s->kernel_cmdline},
	              {"os", s->os},
	              {"tpm_firmware", s->tpm_firmware},
	              {"agent_version", s->agent_version}};
	bool first = true;
	out_mem(&o, "{", 1);
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		out_key(&o, &first, fields[i].key);
		out_opt_str(&o, fields[i].val);
	}
	out_lit(&o, ",\"reported_by_agent\":[");
	bool f2 = true;
	const char *rep[][2] = {
	    {"kernel", s->kernel}, {"os", s->os}, {"agent_version", s->agent_version}};
	for (size_t i = 0; i < sizeof rep / sizeof rep[0]; i++)
		if (rep[i][1]) {
			if (!f2)
				out_mem(&o, ",", 1);
			f2 = false;
			out_str(&o, rep[i][0]);
		}
	out_lit(&o, "],\"not_verified\":");
	not_verified_text(&o, s);
	out_lit(&o, ",\"components\":");
	components_text(&o, s);
	out_mem(&o, "}", 1);
	return take(&o, ret);
}
