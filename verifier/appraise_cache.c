/* What appraise.c keeps between two attestations (verifier.h):
 *  - parsed policies, keyed by the SHA-256 of their stored text: the text
 *    is still read from the store on every attestation (so a change made
 *    through this instance or another one sharing the database is seen at
 *    the very next attestation), but parsed only when it changed;
 *  - one verify_memo per host (lib/verify_memo.h), in a table bounded by
 *    VERIFIER_MEMO_MAX hosts, the least recently used one dropped first. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"
#include "host_policy.h"
#include "verifier.h"
#include "verify_memo.h"

#define POLICY_SLOTS 16u
#define MEMO_BUCKETS 4096u

struct policy_slot {
	bool used;
	uint8_t digest[32];
	struct policy *p;
	uint64_t last; /* use counter: the smallest is replaced first */
};

struct memo_entry {
	int64_t host_id;
	struct memo_entry *chain;       /* bucket */
	struct memo_entry *prev, *next; /* LRU: most recent first */
	struct verify_memo *m;
};

struct appraise_cache {
	struct policy_slot policies[POLICY_SLOTS];
	uint64_t uses;
	struct memo_entry *buckets[MEMO_BUCKETS];
	struct memo_entry *head, *tail;
	size_t count;
};

static struct appraise_cache *cache_of(struct verifier *v)
{
	if (v->acache == NULL)
		v->acache = calloc(1, sizeof *v->acache);
	return v->acache;
}

/* The text of the built-in default policy has no stored form: a fixed
 * digest stands for it. */
static const uint8_t DEFAULT_DIGEST[32] = {'d', 'e', 'f', 'a', 'u', 'l', 't'};

int appraise_policy(struct verifier *v, int64_t host_id, const struct policy **ret,
                    const uint8_t **ret_digest, struct policy_error *err)
{
	err->message[0] = '\0';
	struct appraise_cache *c = cache_of(v);
	if (c == NULL)
		return ATTEST_E_NOMEM;
	struct store_policy *sp = NULL;
	uint8_t d[32];
	int rc = store_policy_for_host(v->store, host_id, &sp);
	if (rc == ATTEST_E_NOTFOUND)
		memcpy(d, DEFAULT_DIGEST, sizeof d);
	else if (rc < 0)
		return rc;
	else if (!EVP_Digest(sp->body_json, strlen(sp->body_json), d, NULL, EVP_sha256(), NULL)) {
		store_policy_free(sp);
		return ATTEST_E_CRYPTO;
	}
	struct policy_slot *s = NULL, *victim = &c->policies[0];
	for (size_t i = 0; i < POLICY_SLOTS && s == NULL; i++) {
		struct policy_slot *x = &c->policies[i];
		if (x->used && memcmp(x->digest, d, sizeof d) == 0)
			s = x;
		else if (!x->used || (victim->used && x->last < victim->last))
			victim = x;
	}
	if (s == NULL) {
		struct policy *p = NULL;
		rc = sp ? policy_parse(sp->body_json, strlen(sp->body_json), &p, err)
		        : policy_default(&p);
		if (rc < 0) {
			store_policy_free(sp);
			return rc;
		}
		policy_free(victim->p);
		victim->p = p;
		memcpy(victim->digest, d, sizeof d);
		victim->used = true;
		s = victim;
	}
	store_policy_free(sp);
	s->last = ++c->uses;
	*ret = s->p;
	*ret_digest = s->digest;
	return 0;
}

static size_t bucket(int64_t host_id)
{
	return (size_t)((uint64_t)host_id * 0x9E3779B97F4A7C15ull >> 52) % MEMO_BUCKETS;
}

static void lru_unlink(struct appraise_cache *c, struct memo_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct appraise_cache *c, struct memo_entry *e)
{
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static void entry_drop(struct appraise_cache *c, struct memo_entry *e)
{
	struct memo_entry **pp = &c->buckets[bucket(e->host_id)];
	while (*pp && *pp != e)
		pp = &(*pp)->chain;
	if (*pp)
		*pp = e->chain;
	lru_unlink(c, e);
	verify_memo_free(e->m);
	free(e);
	c->count--;
}

struct verify_memo *appraise_memo(struct verifier *v, int64_t host_id)
{
	struct appraise_cache *c = cache_of(v);
	if (c == NULL)
		return NULL;
	size_t b = bucket(host_id);
	for (struct memo_entry *e = c->buckets[b]; e; e = e->chain)
		if (e->host_id == host_id) {
			lru_unlink(c, e);
			lru_front(c, e);
			return e->m;
		}
	if (c->count >= VERIFIER_MEMO_MAX && c->tail)
		entry_drop(c, c->tail);
	struct memo_entry *e = calloc(1, sizeof *e);
	if (e == NULL || verify_memo_new(&e->m) < 0) {
		free(e);
		return NULL; /* no memo: the whole pipeline runs */
	}
	e->host_id = host_id;
	e->chain = c->buckets[b];
	c->buckets[b] = e;
	lru_front(c, e);
	c->count++;
	return e->m;
}

void appraise_forget(struct verifier *v, int64_t host_id)
{
	struct appraise_cache *c = v->acache;
	if (c == NULL)
		return;
	for (struct memo_entry *e = c->buckets[bucket(host_id)]; e; e = e->chain)
		if (e->host_id == host_id) {
			entry_drop(c, e);
			return;
		}
}

void appraise_cache_free(struct verifier *v)
{
	struct appraise_cache *c = v->acache;
	if (c == NULL)
		return;
	while (c->head)
		entry_drop(c, c->head);
	for (size_t i = 0; i < POLICY_SLOTS; i++)
		policy_free(c->policies[i].p);
	free(c);
	v->acache = NULL;
}
