/* The audit chain's pure part: a record's canonical bytes, its hash, and the
 * check of a chain read in order (docs/security.md, "The audit trail").
 *
 * A record is (seq, at, kind, actor, host_id, host, body). Its canonical
 * bytes are the text
 *
 *   "attest-audit/1\n" SEQ "\n" AT "\n" KIND "\n" ACTOR "\n" HOST_ID "\n" HOST "\n" BODY
 *
 * where SEQ, AT and HOST_ID are decimal integers without sign or leading
 * zeros (HOST_ID 0 and HOST "" when the record names no host; AT may be
 * negative only in theory and is written with "-" then), KIND, ACTOR and HOST
 * are UTF-8 text without control characters (so "\n" cannot occur in them)
 * and BODY is the record's JSON object exactly as stored, byte for byte (the
 * writer emits it compact with sorted keys; a checker never re-serializes
 * it). Its hash is SHA-256(prev_hash || canonical bytes), prev_hash being the
 * 32-byte hash of the record before it, 32 zero bytes before record 1.
 *
 * No I/O, no globals: the caller reads the records and feeds them in order. */
#ifndef ATTEST_AUDIT_H
#define ATTEST_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_HASH_SIZE 32
#define AUDIT_HASH_HEX  (2 * AUDIT_HASH_SIZE + 1) /* with its NUL */
#define AUDIT_FORMAT    "attest-audit/1"
#define AUDIT_FIELD_MAX 1024u           /* kind, actor, host: bytes */
#define AUDIT_BODY_MAX  (1024u * 1024u) /* body: bytes */

/* One record as read from the store or an export. Strings are borrowed. */
struct audit_record {
	int64_t seq;
	int64_t at; /* unix seconds */
	const char *kind;
	const char *actor;
	int64_t host_id;  /* 0: none */
	const char *host; /* the host's name when written; NULL reads as "" */
	const char *body; /* JSON object text */
	size_t body_len;
	uint8_t prev_hash[AUDIT_HASH_SIZE];
	uint8_t hash[AUDIT_HASH_SIZE];
};

/* Whether s may be a kind, actor or host field: at most AUDIT_FIELD_MAX
 * bytes, no byte below 0x20 and no DEL. NULL is not (host NULL is handled by
 * the callers as ""). */
bool audit_field_ok(const char *s);

/* out = SHA-256(prev || canonical bytes of r) (r's own prev_hash and hash are
 * not read). Returns 0; ATTEST_E_ARG if seq < 1, host_id < 0, a field is not
 * audit_field_ok or the body is empty or above AUDIT_BODY_MAX;
 * ATTEST_E_CRYPTO if OpenSSL fails. out untouched on failure. */
int audit_hash(const uint8_t prev[static AUDIT_HASH_SIZE], const struct audit_record *r,
               uint8_t out[static AUDIT_HASH_SIZE]);

/* Checking a chain record by record. */
struct audit_chain {
	int64_t next_seq;              /* the seq the next record must have */
	uint8_t last[AUDIT_HASH_SIZE]; /* the hash the next record must link to */
	int64_t count;                 /* records accepted */
};

/* What is wrong with the first broken record. */
enum audit_fault {
	AUDIT_FAULT_NONE = 0,
	AUDIT_FAULT_MISSING, /* seq above the expected one: records were removed */
	AUDIT_FAULT_SEQ,     /* seq below the expected one (repeated, reordered) */
	AUDIT_FAULT_LINK,    /* prev_hash is not the previous record's hash */
	AUDIT_FAULT_HASH,    /* hash is not the hash of its contents */
	AUDIT_FAULT_INVALID, /* a field cannot be in a record (control chars, sizes) */
};

struct audit_problem {
	enum audit_fault fault;
	int64_t seq;       /* the record found broken (its stored seq); for a missing
	                    record, the first seq missing */
	char message[320]; /* "record 17: ..." */
};

/* Start a check at record first_seq (>= 1) whose predecessor's hash is prev
 * (NULL: 32 zero bytes, the start of a whole chain). */
void audit_chain_init(struct audit_chain *c, int64_t first_seq,
                      const uint8_t prev[AUDIT_HASH_SIZE]);

/* Check the next record: seq continuity, the link to the previous record,
 * and the hash recomputed from its contents. Returns 0 when the record
 * belongs (c advances), 1 when it does not (*p says which record and what is
 * wrong; c unchanged), ATTEST_E_CRYPTO if OpenSSL fails. */
int audit_chain_next(struct audit_chain *c, const struct audit_record *r, struct audit_problem *p);

/* Name of a fault ("missing", "seq", "link", "hash", "invalid", "none"). */
const char *audit_fault_name(enum audit_fault f);

#endif
