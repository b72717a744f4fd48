/* What appraise.c keeps between two attestations (verifier.h):
 *  - parsed policies, keyed by the SHA-256 of their stored text, and which
 *    text each policy id (0: the default) has: valid for one value of the
 *    policies' change counter (store_loop.h), which every change to a
 *    policy bumps in its own transaction, through this instance or another
 *    one sharing the database, and which each scheduler round reads
 *    (appraise_markers): a change is seen within a round, and a policy's
 *    text is read once per change, not at every attestation. Without a
 *    counter read (a round's read failed), the text is read every time;
 *  - one verify_memo per host (lib/verify_memo.h), in a table bounded by
 *    VERIFIER_MEMO_MAX hosts, the least recently used one dropped first;
 *    beside it the host's boot digests (what catalog_appraise.c looks up),
 *    keyed by the SHA-256 of the log they came from, and the digest of the
 *    log last written to the host's stored evidence; hosts that booted the
 *    same components share one copy of those digests (a fleet boots a
 *    few software sets: the memo's largest part otherwise), and hosts
 *    whose memos hold the same replay and conclusions share one copy of
 *    those (verify_memo_share, once its evidence is stored: a host's
 *    own memo is then its struct and its AK);
 *  - the software catalog's entries by digest, shared by every host, valid
 *    for one marker of the catalog table (count and highest id, ids never
 *    reused), read by each scheduler round: an import or removal, through
 *    this instance or another one sharing the database, empties it within
 *    a round. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"
#include "host_policy.h"
#include "store_loop.h"
#include "verifier.h"
#include "verify_memo.h"

#define POLICY_SLOTS 16u
#define POLICY_IDS   64u /* policy ids whose text is known (open addressing) */

struct policy_id_slot {
	bool used;
	int64_t id; /* 0: the default policy */
	uint8_t digest[32];
};
#define MEMO_BUCKETS 4096u

struct policy_slot {
	bool used;
	uint8_t digest[32];
	struct policy *p;
	uint64_t last; /* use counter: the smallest is replaced first */
};

/* One set of boot digests, shared by every host whose log measured it. */
struct boot_set {
	struct boot_set *chain;
	size_t refs;
	uint32_t hash;
	uint8_t count;
	uint8_t d[][32];
};

#define BOOT_BUCKETS 256u

struct memo_entry {
	int64_t host_id;
	struct memo_entry *chain;       /* bucket */
	struct memo_entry *prev, *next; /* LRU: most recent first */
	struct verify_memo *m;
	/* the log's boot digests (catalog_appraise.c), under boot_log */
	bool have_boot;
	uint8_t boot_log[32];
	struct boot_set *boot; /* NULL: none */
	/* the log last written to the stored evidence */
	bool have_kept;
	uint8_t kept_log[32];
	int64_t kept_at;
	/* the host's TPM facts as last parsed (appraise_facts), under the
	 * SHA-256 of the stored text they came from */
	uint8_t facts_digest[32];
	void *facts;
	/* the current AK as last read (appraise_ak) */
	char *ak_name;
	uint8_t *ak_public;
	size_t ak_public_len;
};

#define CATALOG_SLOTS 1024u /* distinct boot digests across the fleet */

struct catalog_slot {
	bool used;
	uint8_t digest[32];
	uint32_t count;
	struct catalog_entry *e; /* count of them; NULL when none */
};

struct appraise_cache {
	struct policy_slot policies[POLICY_SLOTS];
	uint64_t uses;
	/* the text of each policy id, valid for policies_gen */
	bool have_gen;
	int64_t policies_gen;
	size_t ids_used;
	struct policy_id_slot ids[POLICY_IDS];
	bool round_marker;  /* the catalog marker below came from a round */
	int64_t markers_at; /* when that round read them (unix seconds) */
	struct memo_entry *buckets[MEMO_BUCKETS];
	struct memo_entry *head, *tail;
	size_t count;
	struct boot_set *boot_sets[BOOT_BUCKETS];
	struct verify_memo_pool *pool; /* replays and conclusions shared by hosts */
	bool have_marker;
	int64_t cat_count, cat_max_id;
	size_t cat_used;
	struct catalog_slot cat[CATALOG_SLOTS];
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

static size_t id_index(int64_t id)
{
	return (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ull >> 40) % POLICY_IDS;
}

static struct policy_id_slot *id_find(struct appraise_cache *c, int64_t id)
{
	for (size_t k = 0, i = id_index(id); k < POLICY_IDS && c->ids[i].used;
	     k++, i = (i + 1) % POLICY_IDS)
		if (c->ids[i].id == id)
			return &c->ids[i];
	return NULL;
}

static void id_put(struct appraise_cache *c, int64_t id, const uint8_t d[32])
{
	struct policy_id_slot *x = id_find(c, id);
	if (x == NULL) {
		if (c->ids_used >= POLICY_IDS / 2) {
			memset(c->ids, 0, sizeof c->ids); /* that many policies: start again */
			c->ids_used = 0;
		}
		size_t i = id_index(id);
		while (c->ids[i].used)
			i = (i + 1) % POLICY_IDS;
		x = &c->ids[i];
		x->used = true;
		x->id = id;
		c->ids_used++;
	}
	memcpy(x->digest, d, 32);
}

void appraise_markers(struct verifier *v, const struct store_loop_markers *m)
{
	struct appraise_cache *c = cache_of(v);
	if (c == NULL)
		return;
	if (m == NULL || !c->have_gen || c->policies_gen != m->policies) {
		memset(c->ids, 0, sizeof c->ids);
		c->ids_used = 0;
	}
	c->have_gen = m != NULL;
	c->policies_gen = m ? m->policies : 0;
	c->markers_at = verifier_now();
	c->round_marker = false;
	if (m != NULL && appraise_catalog_marker(v, m->catalog_count, m->catalog_max_id) == 0)
		c->round_marker = true;
}

/* Rounds read the markers about once a second, when they claim; a
 * verifier whose every slot is taken claims nothing: past this, its
 * markers are not trusted and what they stand for is read each time. */
#define MARKERS_VALID_S 5

static bool markers_fresh(const struct appraise_cache *c)
{
	return verifier_now() - c->markers_at <= MARKERS_VALID_S;
}

bool appraise_catalog_fresh(struct verifier *v)
{
	return v->acache != NULL && v->acache->round_marker && markers_fresh(v->acache);
}

/* The slot of the policy whose text has digest d, parsed from body (NULL:
 * the built-in default) if it is not cached. */
static int policy_slot_for(struct appraise_cache *c, const uint8_t d[32], const char *body,
                           struct policy_slot **ret, struct policy_error *err)
{
	struct policy_slot *s = NULL, *victim = &c->policies[0];
	for (size_t i = 0; i < POLICY_SLOTS && s == NULL; i++) {
		struct policy_slot *x = &c->policies[i];
		if (x->used && memcmp(x->digest, d, 32) == 0)
			s = x;
		else if (!x->used || (victim->used && x->last < victim->last))
			victim = x;
	}
	if (s == NULL) {
		struct policy *p = NULL;
		int rc = body ? policy_parse(body, strlen(body), &p, err) : policy_default(&p);
		if (rc < 0)
			return rc;
		policy_free(victim->p);
		victim->p = p;
		memcpy(victim->digest, d, 32);
		victim->used = true;
		s = victim;
	}
	s->last = ++c->uses;
	*ret = s;
	return 0;
}

/* The text of policy_id (0: the default) from the store, its digest. body
 * NULL: none stored, the built-in default. */
static int policy_text(struct verifier *v, int64_t host_id, int64_t policy_id, char **ret_body,
                       uint8_t d[32])
{
	char *body = NULL;
	int rc;
	if (policy_id < 0) {
		/* No counter to trust: the host's policy as the store says now. */
		struct store_policy *sp = NULL;
		rc = store_policy_for_host(v->store, host_id, &sp);
		if (rc == 0) {
			body = sp->body_json;
			sp->body_json = NULL;
			store_policy_free(sp);
			if (body == NULL)
				rc = ATTEST_E_NOMEM;
		}
	} else {
		rc = store_loop_policy(v->store, policy_id, &body);
		if (rc == ATTEST_E_NOTFOUND && policy_id > 0)
			return policy_text(v, host_id, -1, ret_body, d); /* reassigned */
	}
	if (rc == ATTEST_E_NOTFOUND) {
		memcpy(d, DEFAULT_DIGEST, 32);
		*ret_body = NULL;
		return 0;
	}
	if (rc < 0)
		return rc;
	if (!EVP_Digest(body, strlen(body), d, NULL, EVP_sha256(), NULL)) {
		free(body);
		return ATTEST_E_CRYPTO;
	}
	*ret_body = body;
	return 0;
}

int appraise_policy(struct verifier *v, int64_t host_id, int64_t policy_id,
                    const struct policy **ret, const uint8_t **ret_digest, struct policy_error *err)
{
	err->message[0] = '\0';
	struct appraise_cache *c = cache_of(v);
	if (c == NULL)
		return ATTEST_E_NOMEM;
	struct policy_slot *s = NULL;
	bool counted = c->have_gen && policy_id >= 0 && markers_fresh(c);
	struct policy_id_slot *known = counted ? id_find(c, policy_id) : NULL;
	if (known != NULL) {
		const uint8_t *d = NULL;
		if (appraise_policy_seen(v, known->digest, &d) != NULL)
			for (size_t i = 0; i < POLICY_SLOTS && s == NULL; i++)
				if (c->policies[i].used && c->policies[i].digest == d)
					s = &c->policies[i];
	}
	if (s == NULL) {
		char *body = NULL;
		uint8_t d[32];
		int rc = policy_text(v, host_id, counted ? policy_id : -1, &body, d);
		if (rc == 0)
			rc = policy_slot_for(c, d, body, &s, err);
		free(body);
		if (rc < 0)
			return rc;
		if (counted)
			id_put(c, policy_id, d);
	}
	*ret = s->p;
	*ret_digest = s->digest;
	return 0;
}

const struct policy *appraise_policy_seen(struct verifier *v, const uint8_t digest[32],
                                          const uint8_t **ret_digest)
{
	struct appraise_cache *c = v->acache;
	for (size_t i = 0; c && i < POLICY_SLOTS; i++) {
		struct policy_slot *x = &c->policies[i];
		if (x->used && memcmp(x->digest, digest, sizeof x->digest) == 0) {
			x->last = ++c->uses;
			*ret_digest = x->digest;
			return x->p;
		}
	}
	return NULL;
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

static uint32_t boot_hash(const uint8_t (*d)[32], size_t n)
{
	uint32_t h = 2166136261u ^ (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < 8; j++) /* SHA-256s: a few bytes each tell them apart */
			h = (h ^ d[i][j]) * 16777619u;
	return h;
}

/* The shared set equal to d (a new reference), made if missing; NULL when
 * out of memory. */
static struct boot_set *boot_get(struct appraise_cache *c, const uint8_t (*d)[32], size_t n)
{
	uint32_t h = boot_hash(d, n);
	struct boot_set **head = &c->boot_sets[h % BOOT_BUCKETS];
	for (struct boot_set *b = *head; b; b = b->chain)
		if (b->hash == h && b->count == n && memcmp(b->d, d, n * 32) == 0) {
			b->refs++;
			return b;
		}
	struct boot_set *b = malloc(sizeof *b + n * 32);
	if (b == NULL)
		return NULL;
	b->refs = 1;
	b->hash = h;
	b->count = (uint8_t)n;
	if (n)
		memcpy(b->d, d, n * 32);
	b->chain = *head;
	*head = b;
	return b;
}

static void boot_put(struct appraise_cache *c, struct boot_set *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	struct boot_set **pp = &c->boot_sets[b->hash % BOOT_BUCKETS];
	while (*pp && *pp != b)
		pp = &(*pp)->chain;
	if (*pp)
		*pp = b->chain;
	free(b);
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
	boot_put(c, e->boot);
	free(e->facts);
	free(e->ak_name);
	free(e->ak_public);
	free(e);
	c->count--;
}

static struct memo_entry *entry_find(struct appraise_cache *c, int64_t host_id)
{
	for (struct memo_entry *e = c ? c->buckets[bucket(host_id)] : NULL; e; e = e->chain)
		if (e->host_id == host_id)
			return e;
	return NULL;
}

/* The host's memo shared with hosts that memoized the same (a pool made
 * when there is none yet). */
static void memo_share(struct appraise_cache *c, struct memo_entry *e)
{
	if (c->pool != NULL || verify_memo_pool_new(&c->pool) == 0)
		verify_memo_share(c->pool, e->m);
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
			memo_share(c, e); /* if the last attestation's was not yet */
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

const uint8_t *appraise_log_held(struct verifier *v, int64_t host_id)
{
	struct memo_entry *e = entry_find(v->acache, host_id);
	/* Only a memo that can stand for the log on its own: its replay and
	 * its conclusions (an unchanged log is otherwise asked for again). */
	return e && e->m->have_log && e->m->have_tail ? e->m->log_digest : NULL;
}

bool appraise_boot_digests(struct verifier *v, int64_t host_id, const uint8_t log[32],
                           const uint8_t (**ret)[32], size_t *ret_n)
{
	struct memo_entry *e = entry_find(v->acache, host_id);
	if (!e || !e->have_boot || memcmp(e->boot_log, log, 32) != 0)
		return false;
	*ret = (const uint8_t(*)[32])e->boot->d;
	*ret_n = e->boot->count;
	return true;
}

void appraise_boot_digests_set(struct verifier *v, int64_t host_id, const uint8_t log[32],
                               const uint8_t (*d)[32], size_t n)
{
	struct memo_entry *e = entry_find(v->acache, host_id);
	if (!e || n > UINT8_MAX)
		return; /* no memo for the host: looked up from the log next time */
	struct boot_set *b = boot_get(v->acache, d, n);
	if (b == NULL)
		return;
	boot_put(v->acache, e->boot);
	e->boot = b;
	memcpy(e->boot_log, log, 32);
	e->have_boot = true;
}

bool appraise_kept_log(struct verifier *v, int64_t host_id, const uint8_t log[32], int64_t *ret_at)
{
	struct memo_entry *e = entry_find(v->acache, host_id);
	if (!e || !e->have_kept || memcmp(e->kept_log, log, 32) != 0)
		return false;
	*ret_at = e->kept_at;
	return true;
}

void appraise_kept_log_set(struct verifier *v, int64_t host_id, const uint8_t *log, int64_t at)
{
	struct memo_entry *e = entry_find(v->acache, host_id);
	if (!e)
		return;
	/* The attestation is over: what it memoized is shared now, while the
	 * copy it frees is recent (its blocks are taken again soon, rather
	 * than left as holes between long-lived objects). */
	memo_share(v->acache, e);
	e->have_kept = log != NULL;
	if (log)
		memcpy(e->kept_log, log, 32);
	e->kept_at = at;
}

void *appraise_facts(struct verifier *v, int64_t host_id, const uint8_t digest[32])
{
	struct memo_entry *e = entry_find(v->acache, host_id);
	return e && e->facts && memcmp(e->facts_digest, digest, 32) == 0 ? e->facts : NULL;
}

bool appraise_facts_set(struct verifier *v, int64_t host_id, const uint8_t digest[32], void *facts)
{
	struct memo_entry *e = entry_find(v->acache, host_id);
	if (!e)
		return false;
	free(e->facts);
	memcpy(e->facts_digest, digest, 32);
	e->facts = facts;
	return true;
}

bool appraise_ak(struct verifier *v, int64_t host_id, const char *name_hex, uint8_t **ret_public,
                 size_t *ret_len)
{
	struct memo_entry *e = entry_find(v->acache, host_id);
	if (!e || !e->ak_name || !name_hex || strcmp(e->ak_name, name_hex) != 0)
		return false;
	*ret_public = e->ak_public;
	*ret_len = e->ak_public_len;
	return true;
}

void appraise_ak_set(struct verifier *v, int64_t host_id, const char *name_hex,
                     const uint8_t *public_area, size_t len)
{
	struct memo_entry *e = entry_find(v->acache, host_id);
	if (!e)
		return;
	free(e->ak_name);
	free(e->ak_public);
	e->ak_name = NULL;
	e->ak_public = NULL;
	e->ak_public_len = 0;
	if (!name_hex || !public_area || len == 0)
		return;
	char *n = strdup(name_hex);
	uint8_t *p = malloc(len);
	if (!n || !p) {
		free(n);
		free(p);
		return; /* read again next time */
	}
	memcpy(p, public_area, len);
	e->ak_name = n;
	e->ak_public = p;
	e->ak_public_len = len;
}

static void catalog_clear(struct appraise_cache *c)
{
	for (size_t i = 0; i < CATALOG_SLOTS; i++) {
		free(c->cat[i].e);
		memset(&c->cat[i], 0, sizeof c->cat[i]);
	}
	c->cat_used = 0;
}

int appraise_catalog_marker(struct verifier *v, int64_t count, int64_t max_id)
{
	struct appraise_cache *c = cache_of(v);
	if (c == NULL)
		return ATTEST_E_NOMEM;
	if (!c->have_marker || c->cat_count != count || c->cat_max_id != max_id) {
		catalog_clear(c);
		c->cat_count = count;
		c->cat_max_id = max_id;
		c->have_marker = true;
	}
	return 0;
}

static size_t cat_index(const uint8_t d[32])
{
	size_t x;
	memcpy(&x, d, sizeof x); /* a SHA-256: its bytes are spread already */
	return x % CATALOG_SLOTS;
}

bool appraise_catalog_get(struct verifier *v, const uint8_t d[32], const struct catalog_entry **ret,
                          size_t *ret_n)
{
	struct appraise_cache *c = v->acache;
	if (c == NULL)
		return false;
	for (size_t k = 0, i = cat_index(d); k < CATALOG_SLOTS && c->cat[i].used;
	     k++, i = (i + 1) % CATALOG_SLOTS)
		if (memcmp(c->cat[i].digest, d, 32) == 0) {
			*ret = c->cat[i].e;
			*ret_n = c->cat[i].count;
			return true;
		}
	return false;
}

void appraise_catalog_put(struct verifier *v, const uint8_t d[32], struct catalog_entry *e,
                          size_t n)
{
	struct appraise_cache *c = cache_of(v);
	if (c == NULL || n > UINT32_MAX) {
		free(e);
		return;
	}
	if (c->cat_used >= CATALOG_SLOTS / 2)
		catalog_clear(c); /* a fleet with that many boot binaries: start again */
	size_t i = cat_index(d);
	while (c->cat[i].used)
		i = (i + 1) % CATALOG_SLOTS;
	c->cat[i].used = true;
	memcpy(c->cat[i].digest, d, 32);
	c->cat[i].e = e;
	c->cat[i].count = (uint32_t)n;
	c->cat_used++;
}

void appraise_cache_free(struct verifier *v)
{
	struct appraise_cache *c = v->acache;
	if (c == NULL)
		return;
	while (c->head)
		entry_drop(c, c->head);
	verify_memo_pool_free(c->pool);
	catalog_clear(c);
	for (size_t i = 0; i < POLICY_SLOTS; i++)
		policy_free(c->policies[i].p);
	free(c);
	v->acache = NULL;
}
