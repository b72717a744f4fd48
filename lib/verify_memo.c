/* The per-host memo's storage (verify_memo.h); verify.c fills and reads it. */
#include "verify_memo.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int verify_memo_new(struct verify_memo **ret)
{
	if (!ret)
		return ATTEST_E_ARG;
	struct verify_memo *m = calloc(1, sizeof *m);
	if (!m)
		return ATTEST_E_NOMEM;
	m->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); /* NULL: fetched on each use */
	*ret = m;
	return 0;
}

void verify_memo_clear_tail(struct verify_memo *m)
{
	if (!m)
		return;
	free(m->reasons);
	free(m->firmware);
	free(m->boot_loader);
	free(m->kernel_image);
	free(m->kernel_cmdline);
	for (size_t i = 0; i < m->not_verified_count; i++)
		free(m->not_verified[i].value);
	free(m->not_verified);
	free(m->components);
	m->components_len = 0;
	m->have_tail = false;
	memset(m->tail_key, 0, sizeof m->tail_key);
	m->reason_count = m->reasons_dropped = m->not_verified_count = 0;
	m->reasons = NULL;
	m->not_verified = NULL;
	m->components = NULL;
	m->component_count = 0;
	m->firmware = m->boot_loader = m->kernel_image = m->kernel_cmdline = NULL;
}

void verify_memo_clear(struct verify_memo *m)
{
	if (!m)
		return;
	verify_memo_clear_tail(m);
	for (uint32_t i = 0; i < m->bank_count && i < QUOTE_MAX_BANKS; i++)
		free(m->banks[i].pcr);
	memset(m->banks, 0, sizeof m->banks);
	m->bank_count = 0;
	m->have_log = false;
	memset(m->log_digest, 0, sizeof m->log_digest);
	quote_ak_free(m->ak);
	m->ak = NULL;
	m->have_ak = false;
	memset(m->ak_digest, 0, sizeof m->ak_digest);
}

void verify_memo_free(struct verify_memo *m)
{
	if (!m)
		return;
	verify_memo_clear(m);
	EVP_MD_free(m->sha256);
	free(m);
}

static size_t text_bytes(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

size_t verify_memo_bytes(const struct verify_memo *m)
{
	if (!m)
		return 0;
	size_t n = sizeof *m;
	for (uint32_t i = 0; i < m->bank_count && i < QUOTE_MAX_BANKS; i++)
		n += (size_t)QUOTE_NUM_PCRS * m->banks[i].size;
	n += m->reason_count * sizeof *m->reasons;
	n += text_bytes(m->firmware) + text_bytes(m->boot_loader) + text_bytes(m->kernel_image) +
	     text_bytes(m->kernel_cmdline);
	for (size_t i = 0; i < m->not_verified_count; i++)
		n += sizeof *m->not_verified + text_bytes(m->not_verified[i].value);
	n += m->components_len;
	n += quote_ak_bytes(m->ak);
	return n;
}

#define COMPONENT_TEXTS 7

/* The texts of a component, in packing order, and their sizes. */
static void component_fields(struct verify_component *k, char *f[COMPONENT_TEXTS],
                             size_t cap[COMPONENT_TEXTS])
{
	f[0] = k->digest, cap[0] = sizeof k->digest;
	f[1] = k->log_path, cap[1] = sizeof k->log_path;
	f[2] = k->kind, cap[2] = sizeof k->kind;
	f[3] = k->package, cap[3] = sizeof k->package;
	f[4] = k->version, cap[4] = sizeof k->version;
	f[5] = k->rule, cap[5] = sizeof k->rule;
	f[6] = k->text, cap[6] = sizeof k->text;
}

/* Per component: event (8 bytes), pcr (4), verified, in_catalog (1 each),
 * then the seven texts, each up to its NUL (bounded by its field). */
#define COMPONENT_FIXED 14u

int verify_memo_put_components(struct verify_memo *m, const struct verify_component *k, size_t n)
{
	size_t len = 0;
	char *t[COMPONENT_TEXTS];
	size_t cap[COMPONENT_TEXTS];
	for (size_t i = 0; i < n; i++) {
		component_fields((struct verify_component *)&k[i], t, cap);
		len += COMPONENT_FIXED;
		for (size_t f = 0; f < COMPONENT_TEXTS; f++)
			len += strnlen(t[f], cap[f] - 1) + 1;
	}
	uint8_t *p = n ? malloc(len) : NULL;
	if (n && !p)
		return ATTEST_E_NOMEM;
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(p + off, &k[i].event, 8);
		memcpy(p + off + 8, &k[i].pcr, 4);
		p[off + 12] = k[i].verified;
		p[off + 13] = k[i].in_catalog;
		off += COMPONENT_FIXED;
		component_fields((struct verify_component *)&k[i], t, cap);
		for (size_t f = 0; f < COMPONENT_TEXTS; f++) {
			size_t l = strnlen(t[f], cap[f] - 1);
			memcpy(p + off, t[f], l);
			p[off + l] = '\0';
			off += l + 1;
		}
	}
	free(m->components);
	m->components = p;
	m->components_len = len;
	m->component_count = n;
	return 0;
}

size_t verify_memo_get_components(const struct verify_memo *m, struct verify_component *out,
                                  size_t cap)
{
	size_t off = 0, n = 0;
	for (; n < m->component_count && n < cap; n++) {
		struct verify_component *k = &out[n];
		memset(k, 0, sizeof *k);
		memcpy(&k->event, m->components + off, 8);
		memcpy(&k->pcr, m->components + off + 8, 4);
		k->verified = m->components[off + 12] != 0;
		k->in_catalog = m->components[off + 13] != 0;
		off += COMPONENT_FIXED;
		char *f[COMPONENT_TEXTS];
		size_t fcap[COMPONENT_TEXTS];
		component_fields(k, f, fcap);
		for (size_t i = 0; i < COMPONENT_TEXTS; i++) {
			/* written by put from fields of these sizes: it fits */
			size_t l = strlen((const char *)m->components + off);
			if (l >= fcap[i])
				l = fcap[i] - 1;
			memcpy(f[i], m->components + off, l);
			f[i][l] = '\0';
			off += strlen((const char *)m->components + off) + 1;
		}
	}
	return n;
}
