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

/* A pool's copy of one replay and its conclusions (verify_memo_share):
 * body holds the log and tail fields of a memo (no AK), owned here. */
struct verify_memo_shared {
	struct verify_memo_shared *chain; /* pool bucket */
	struct verify_memo_pool *pool;    /* NULL once the pool was freed */
	size_t refs;                      /* memos reading it */
	size_t bytes;                     /* its allocations */
	struct verify_memo body;
};

#define POOL_BUCKETS 256u

struct verify_memo_pool {
	struct verify_memo_shared *buckets[POOL_BUCKETS];
	size_t count, bytes;
};

/* Free m's own conclusions (not shared) and forget them. */
static void free_tail(struct verify_memo *m)
{
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

/* Free m's own replay (not shared) and forget it. */
static void free_log(struct verify_memo *m)
{
	for (uint32_t i = 0; i < m->bank_count && i < QUOTE_MAX_BANKS; i++)
		free(m->banks[i].pcr);
	memset(m->banks, 0, sizeof m->banks);
	m->bank_count = 0;
	m->have_log = false;
	memset(m->log_digest, 0, sizeof m->log_digest);
}

/* The log and tail fields of src into dst, pointers and all (no copy). */
static void take_fields(struct verify_memo *dst, const struct verify_memo *src)
{
	dst->have_log = src->have_log;
	memcpy(dst->log_digest, src->log_digest, sizeof dst->log_digest);
	dst->bank_count = src->bank_count;
	memcpy(dst->banks, src->banks, sizeof dst->banks);
	dst->have_tail = src->have_tail;
	memcpy(dst->tail_key, src->tail_key, sizeof dst->tail_key);
	dst->reason_count = src->reason_count;
	dst->reasons_dropped = src->reasons_dropped;
	dst->reasons = src->reasons;
	dst->firmware = src->firmware;
	dst->boot_loader = src->boot_loader;
	dst->kernel_image = src->kernel_image;
	dst->kernel_cmdline = src->kernel_cmdline;
	dst->not_verified_count = src->not_verified_count;
	dst->not_verified = src->not_verified;
	dst->component_count = src->component_count;
	dst->components = src->components;
	dst->components_len = src->components_len;
}

/* Forget m's log and tail fields without freeing them (they are a pool
 * entry's). */
static void forget_fields(struct verify_memo *m)
{
	static const struct verify_memo empty;
	take_fields(m, &empty);
}

static size_t pool_bucket(const uint8_t key[VERIFY_MEMO_DIGEST])
{
	uint32_t h;
	memcpy(&h, key, sizeof h); /* a SHA-256: its bytes are spread already */
	return h % POOL_BUCKETS;
}

/* A memo stops reading its pool entry; the last one frees it. */
static void shared_put(struct verify_memo_shared *s)
{
	if (--s->refs > 0)
		return;
	struct verify_memo_pool *p = s->pool;
	if (p) {
		struct verify_memo_shared **pp = &p->buckets[pool_bucket(s->body.tail_key)];
		while (*pp && *pp != s)
			pp = &(*pp)->chain;
		if (*pp)
			*pp = s->chain;
		p->count--;
		p->bytes -= s->bytes;
	}
	free_tail(&s->body);
	free_log(&s->body);
	free(s);
}

void verify_memo_clear_tail(struct verify_memo *m)
{
	if (!m)
		return;
	if (m->shared) {
		struct verify_memo_shared *s = m->shared;
		m->shared = NULL;
		forget_fields(m); /* the replay was the pool's too */
		shared_put(s);
		return;
	}
	free_tail(m);
}

void verify_memo_clear(struct verify_memo *m)
{
	if (!m)
		return;
	verify_memo_clear_tail(m);
	free_log(m);
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

/* The allocations of m's log and tail fields. */
static size_t fields_bytes(const struct verify_memo *m)
{
	size_t n = 0;
	for (uint32_t i = 0; i < m->bank_count && i < QUOTE_MAX_BANKS; i++)
		n += (size_t)QUOTE_NUM_PCRS * m->banks[i].size;
	n += m->reason_count * sizeof *m->reasons;
	n += text_bytes(m->firmware) + text_bytes(m->boot_loader) + text_bytes(m->kernel_image) +
	     text_bytes(m->kernel_cmdline);
	for (size_t i = 0; i < m->not_verified_count; i++)
		n += sizeof *m->not_verified + text_bytes(m->not_verified[i].value);
	n += m->components_len;
	return n;
}

size_t verify_memo_bytes(const struct verify_memo *m)
{
	if (!m)
		return 0;
	return sizeof *m + (m->shared ? 0 : fields_bytes(m)) + quote_ak_bytes(m->ak);
}

int verify_memo_pool_new(struct verify_memo_pool **ret)
{
	if (!ret)
		return ATTEST_E_ARG;
	*ret = calloc(1, sizeof **ret);
	return *ret ? 0 : ATTEST_E_NOMEM;
}

void verify_memo_pool_free(struct verify_memo_pool *p)
{
	if (!p)
		return;
	for (size_t b = 0; b < POOL_BUCKETS; b++)
		for (struct verify_memo_shared *s = p->buckets[b]; s; s = s->chain)
			s->pool = NULL; /* freed with the last memo reading it */
	free(p);
}

size_t verify_memo_pool_count(const struct verify_memo_pool *p)
{
	return p ? p->count : 0;
}

size_t verify_memo_pool_bytes(const struct verify_memo_pool *p)
{
	return p ? p->bytes : 0;
}

static bool text_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* The same replay and conclusions, byte for byte (both with a tail). */
static bool same_fields(const struct verify_memo *a, const struct verify_memo *b)
{
	if (a->have_log != b->have_log || a->have_tail != b->have_tail ||
	    memcmp(a->log_digest, b->log_digest, sizeof a->log_digest) != 0 ||
	    memcmp(a->tail_key, b->tail_key, sizeof a->tail_key) != 0 ||
	    a->bank_count != b->bank_count || a->bank_count > QUOTE_MAX_BANKS ||
	    a->reason_count != b->reason_count || a->reasons_dropped != b->reasons_dropped ||
	    a->not_verified_count != b->not_verified_count ||
	    a->component_count != b->component_count || a->components_len != b->components_len)
		return false;
	for (uint32_t i = 0; i < a->bank_count; i++) {
		const struct verify_memo_bank *x = &a->banks[i], *y = &b->banks[i];
		if (x->alg != y->alg || x->size != y->size || !x->pcr != !y->pcr ||
		    (x->pcr && memcmp(x->pcr, y->pcr, (size_t)QUOTE_NUM_PCRS * x->size) != 0))
			return false;
	}
	if (a->reason_count &&
	    (!a->reasons || !b->reasons ||
	     memcmp(a->reasons, b->reasons, a->reason_count * sizeof *a->reasons) != 0))
		return false;
	if (!text_eq(a->firmware, b->firmware) || !text_eq(a->boot_loader, b->boot_loader) ||
	    !text_eq(a->kernel_image, b->kernel_image) ||
	    !text_eq(a->kernel_cmdline, b->kernel_cmdline))
		return false;
	for (size_t i = 0; i < a->not_verified_count; i++) {
		const struct verify_unverified *x = &a->not_verified[i], *y = &b->not_verified[i];
		if (!text_eq(x->field, y->field) || !text_eq(x->value, y->value) ||
		    x->event != y->event || x->pcr != y->pcr || strcmp(x->why, y->why) != 0)
			return false;
	}
	return a->components_len == 0 ||
	       (a->components && b->components &&
	        memcmp(a->components, b->components, a->components_len) == 0);
}

void verify_memo_share(struct verify_memo_pool *p, struct verify_memo *m)
{
	if (!p || !m || m->shared || !m->have_log || !m->have_tail)
		return;
	struct verify_memo_shared **head = &p->buckets[pool_bucket(m->tail_key)];
	for (struct verify_memo_shared *s = *head; s; s = s->chain) {
		if (!same_fields(&s->body, m))
			continue;
		free_tail(m);
		free_log(m);
		take_fields(m, &s->body);
		s->refs++;
		m->shared = s;
		return;
	}
	struct verify_memo_shared *s = calloc(1, sizeof *s);
	if (!s)
		return;
	take_fields(&s->body, m); /* the pool's now; m reads the same */
	s->refs = 1;
	s->pool = p;
	s->bytes = sizeof *s + fields_bytes(&s->body);
	s->chain = *head;
	*head = s;
	p->count++;
	p->bytes += s->bytes;
	m->shared = s;
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
