/* The audit chain's canonical bytes, hash and chain check (audit.h). */
#include "audit.h"

#include "err.h"
#include "hex.h"

#include <inttypes.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

bool audit_field_ok(const char *s)
{
	if (s == NULL)
		return false;
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
		if (*p < 0x20 || *p == 0x7f || n >= AUDIT_FIELD_MAX)
			return false;
	return true;
}

int audit_hash(const uint8_t prev[static AUDIT_HASH_SIZE], const struct audit_record *r,
               uint8_t out[static AUDIT_HASH_SIZE])
{
	const char *host = r->host ? r->host : "";
	if (r->seq < 1 || r->host_id < 0 || !audit_field_ok(r->kind) || !audit_field_ok(r->actor) ||
	    !audit_field_ok(host) || r->body == NULL || r->body_len == 0 ||
	    r->body_len > AUDIT_BODY_MAX)
		return ATTEST_E_ARG;
	/* The fixed part: format line and the three integers around the texts. */
	char head[160];
	int hn =
	    snprintf(head, sizeof head, AUDIT_FORMAT "\n%" PRId64 "\n%" PRId64 "\n", r->seq, r->at);
	char hid[32];
	int in = snprintf(hid, sizeof hid, "\n%" PRId64 "\n", r->host_id);
	if (hn < 0 || (size_t)hn >= sizeof head || in < 0 || (size_t)in >= sizeof hid)
		return ATTEST_E_ARG;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	int rc = ATTEST_E_CRYPTO;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, prev, AUDIT_HASH_SIZE) &&
	    EVP_DigestUpdate(ctx, head, (size_t)hn) &&
	    EVP_DigestUpdate(ctx, r->kind, strlen(r->kind)) && EVP_DigestUpdate(ctx, "\n", 1) &&
	    EVP_DigestUpdate(ctx, r->actor, strlen(r->actor)) &&
	    EVP_DigestUpdate(ctx, hid, (size_t)in) && EVP_DigestUpdate(ctx, host, strlen(host)) &&
	    EVP_DigestUpdate(ctx, "\n", 1) && EVP_DigestUpdate(ctx, r->body, r->body_len) &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == AUDIT_HASH_SIZE) {
		memcpy(out, md, AUDIT_HASH_SIZE);
		rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

void audit_chain_init(struct audit_chain *c, int64_t first_seq, const uint8_t prev[AUDIT_HASH_SIZE])
{
	memset(c, 0, sizeof *c);
	c->next_seq = first_seq < 1 ? 1 : first_seq;
	if (prev)
		memcpy(c->last, prev, AUDIT_HASH_SIZE);
}

static int broken(struct audit_problem *p, enum audit_fault f, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int broken(struct audit_problem *p, enum audit_fault f, int64_t seq, const char *fmt, ...)
{
	if (p) {
		p->fault = f;
		p->seq = seq;
		int n = snprintf(p->message, sizeof p->message, "record %" PRId64 ": ", seq);
		va_list ap;
		va_start(ap, fmt);
		if (n > 0 && (size_t)n < sizeof p->message)
			vsnprintf(p->message + n, sizeof p->message - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return 1;
}

int audit_chain_next(struct audit_chain *c, const struct audit_record *r, struct audit_problem *p)
{
	char a[AUDIT_HASH_HEX], b[AUDIT_HASH_HEX];
	if (r->seq > c->next_seq && r->seq - 1 == c->next_seq)
		return broken(p, AUDIT_FAULT_MISSING, c->next_seq,
		              "missing (the chain jumps from %" PRId64 " to %" PRId64 ")",
		              c->next_seq - 1, r->seq);
	if (r->seq > c->next_seq)
		return broken(p, AUDIT_FAULT_MISSING, c->next_seq,
		              "missing, and the records after it up to %" PRId64
		              " (the chain jumps from %" PRId64 " to %" PRId64 ")",
		              r->seq - 1, c->next_seq - 1, r->seq);
	if (r->seq < c->next_seq)
		return broken(p, AUDIT_FAULT_SEQ, r->seq,
		              "out of sequence: expected record %" PRId64 " here", c->next_seq);
	if (CRYPTO_memcmp(r->prev_hash, c->last, AUDIT_HASH_SIZE) != 0) {
		hex_encode(r->prev_hash, AUDIT_HASH_SIZE, a);
		hex_encode(c->last, AUDIT_HASH_SIZE, b);
		return broken(p, AUDIT_FAULT_LINK, r->seq,
		              "does not link to the record before it (prev_hash %s, the record "
		              "before hashes to %s)",
		              a, b);
	}
	uint8_t h[AUDIT_HASH_SIZE];
	int rc = audit_hash(c->last, r, h);
	if (rc == ATTEST_E_ARG)
		return broken(p, AUDIT_FAULT_INVALID, r->seq,
		              "a field cannot be in a record (empty or oversized body, control "
		              "characters in kind, actor or host, or a negative number)");
	if (rc < 0)
		return rc;
	if (CRYPTO_memcmp(h, r->hash, AUDIT_HASH_SIZE) != 0) {
		hex_encode(r->hash, AUDIT_HASH_SIZE, a);
		hex_encode(h, AUDIT_HASH_SIZE, b);
		return broken(p, AUDIT_FAULT_HASH, r->seq,
		              "its contents were changed (stored hash %s, its contents hash to %s)",
		              a, b);
	}
	memcpy(c->last, h, AUDIT_HASH_SIZE);
	c->next_seq++;
	c->count++;
	if (p)
		*p = (struct audit_problem){0};
	return 0;
}

const char *audit_fault_name(enum audit_fault f)
{
	switch (f) {
	case AUDIT_FAULT_NONE: return "none";
	case AUDIT_FAULT_MISSING: return "missing";
	case AUDIT_FAULT_SEQ: return "seq";
	case AUDIT_FAULT_LINK: return "link";
	case AUDIT_FAULT_HASH: return "hash";
	case AUDIT_FAULT_INVALID: return "invalid";
	}
	return "unknown";
}
