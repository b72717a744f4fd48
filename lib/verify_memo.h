/* A host's memo of the event-log half of verify_attestation() (verify.h).
 *
 * A boot's event log does not change between two quotes of that boot, yet
 * parsing it, replaying it and checking the content of its events is most
 * of the work of an attestation. With a memo in verify_input, the pipeline
 * keeps, per host:
 *  - the SHA-256 of the last event log that parsed, and its replayed PCR
 *    values for the banks the quote covered;
 *  - what steps 8-10 and the log's software facts concluded from it (their
 *    reasons, at most VERIFY_MEMO_MAX_REASONS, and the software fields),
 *    under a key that digests every other input those steps read: the
 *    policy (verify_input.policy_digest), the host's reported TPM facts, the
 *    quote's selection, the reported PCR values, which PCRs the quote
 *    covers and which of them replay, and the reasons counted before;
 *  - the enrolled AK made ready to verify quotes (quote.h, struct quote_ak:
 *    the OpenSSL key and a verification context set up once), under the
 *    digest of its public area; and SHA-256 fetched once, for the hashes
 *    every quote needs (an implicit fetch costs more than a short hash).
 * The next quote with the same log costs one hash of the log, or none when
 * the caller names the digest of a log the agent left out as unchanged
 * (verify_input.eventlog_digest): the signature, the nonce binding and the
 * PCR digest are still checked on every quote, and the quoted
 * PCR values are still compared with the memoized replay on every quote
 * (a difference runs the whole pipeline, which explains it), and the
 * memoized conclusions are used only when their key matches exactly.
 * Anything else (another log, policy, selection, PCR value, host facts)
 * runs the whole pipeline and refreshes the memo.
 *
 * Memory: the struct, one allocation per memoized bank (24 PCRs of its
 * digest size), the memoized reasons and software texts, the components
 * packed, and the AK key: about 2-3 KB for a green host
 * (verify_memo_bytes()). Hosts that booted the same image share one copy
 * of the replay and the conclusions (verify_memo_share, below): then a
 * host's own part is the struct and its AK.
 *
 * Pure: no I/O, no globals. Not thread-safe: one memo is used by one
 * verify_attestation() call at a time. */
#ifndef ATTEST_VERIFY_MEMO_H
#define ATTEST_VERIFY_MEMO_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quote.h"
#include "verify.h"

#define VERIFY_MEMO_MAX_REASONS 4u /* more: the conclusions are not memoized */
#define VERIFY_MEMO_DIGEST      32u

/* The fields are the pipeline's (verify.c); callers only create, clear and
 * free a memo and read verify_memo_bytes(). */
struct verify_memo_bank {
	uint16_t alg;
	uint16_t size;
	uint8_t *pcr; /* QUOTE_NUM_PCRS * size bytes, replayed values */
};

struct verify_memo {
	/* the log */
	bool have_log;
	uint8_t log_digest[VERIFY_MEMO_DIGEST];
	uint32_t bank_count;
	struct verify_memo_bank banks[QUOTE_MAX_BANKS];
	/* what steps 8-10 and the software facts concluded, under tail_key */
	bool have_tail;
	uint8_t tail_key[VERIFY_MEMO_DIGEST];
	size_t reason_count;
	size_t reasons_dropped;
	struct verify_reason *reasons; /* reason_count of them */
	char *firmware, *boot_loader, *kernel_image, *kernel_cmdline;
	size_t not_verified_count;
	struct verify_unverified *not_verified; /* not_verified_count of them */
	size_t component_count;
	/* the components packed (verify_memo_put_components): a few hundred
	 * bytes each instead of a struct verify_component's 1.3 KB */
	uint8_t *components;
	size_t components_len;
	/* the enrolled AK, prepared (quote_ak_new) */
	bool have_ak;
	uint8_t ak_digest[VERIFY_MEMO_DIGEST];
	struct quote_ak *ak;
	/* SHA-256, fetched by verify_memo_new (NULL if that failed: then
	 * EVP_sha256(), fetched on each use) */
	EVP_MD *sha256;
	/* Not NULL: the log's replay and the conclusions above (banks,
	 * reasons, texts, components) are this pool entry's, read-only and
	 * shared with other hosts' memos (verify_memo_share). */
	struct verify_memo_shared *shared;
};

/* Replays and conclusions shared between the memos of hosts whose logs
 * and other inputs are the same (a fleet boots a few images): one pool
 * per verifier, used by one thread, as the memos are. */
struct verify_memo_pool;

/* A new, empty memo (free with verify_memo_free). ATTEST_E_NOMEM. */
int verify_memo_new(struct verify_memo **ret);

/* Forget everything (the next attestation runs the whole pipeline). */
void verify_memo_clear(struct verify_memo *m);

/* Forget only the memoized conclusions (e.g. the policy changed). A
 * memo whose log and conclusions are shared (verify_memo_share) forgets
 * both: its replay was the pool's too. */
void verify_memo_clear_tail(struct verify_memo *m);

/* NULL is fine. */
void verify_memo_free(struct verify_memo *m);

/* Keep n components (replacing those kept): their numbers and their texts
 * up to each NUL. ATTEST_E_NOMEM (nothing kept). */
int verify_memo_put_components(struct verify_memo *m, const struct verify_component *k, size_t n);
/* The kept components, at most cap of them, into out; returns how many. */
size_t verify_memo_get_components(const struct verify_memo *m, struct verify_component *out,
                                  size_t cap);

/* Bytes the memo holds (struct and allocations; the AK key estimated).
 * A shared replay and conclusions count for the pool, not here. */
size_t verify_memo_bytes(const struct verify_memo *m);

/* A new, empty pool (ATTEST_E_NOMEM). Free it after its memos, or before:
 * what memos still share is then freed with the last of them. NULL is
 * fine for free. */
int verify_memo_pool_new(struct verify_memo_pool **ret);
void verify_memo_pool_free(struct verify_memo_pool *p);

/* Make m's replay and conclusions the pool's: when the pool holds a copy
 * equal to m's (same log digest and conclusions' key, and byte for byte
 * the same replayed values, reasons, texts and components), m's own are
 * freed and it reads that copy; otherwise m's are handed to the pool for
 * the next such host. Nothing happens when m has no conclusions, or
 * shares already. Called between two verify_attestation() calls with m
 * (verify.c refreshes a memo by clearing its tail first, which drops its
 * share). A pool that cannot grow leaves m as it was. */
void verify_memo_share(struct verify_memo_pool *p, struct verify_memo *m);

/* Distinct replays and conclusions in the pool, and the bytes they hold. */
size_t verify_memo_pool_count(const struct verify_memo_pool *p);
size_t verify_memo_pool_bytes(const struct verify_memo_pool *p);

#endif
