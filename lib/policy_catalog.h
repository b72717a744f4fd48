/* Catalog rules of a policy (reference.catalog_rules; docs/policy.md,
 * "Catalog rules"): boot applications approved by what the software
 * catalog says they are, rather than by their digests one by one.
 *
 * A rule approves a measured boot application whose digest is in the
 * catalog (lib/catalog.h) as an entry that matches every field the rule
 * gives: kind (exact), package (shell wildcard pattern), vendor (exact),
 * signer (wildcard pattern over the signing certificate's subject) and
 * min_version (the entry's Debian version is at least this). So a host that
 * updates to a newer catalogued build stays approved, a digest the catalog
 * does not know is not, and a catalogued build older than the minimum is
 * refused as a rollback. */
#ifndef ATTEST_POLICY_CATALOG_H
#define ATTEST_POLICY_CATALOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "diag.h"

#define POLICY_CATALOG_MAX_RULES 64u

struct policy;

struct policy_catalog_rule {
	char *name;        /* as given, else "rule N" (1-based); owned */
	char *kind;        /* NULL: any */
	char *package;     /* NULL: any */
	char *vendor;      /* NULL: any */
	char *signer;      /* NULL: any (signed or not) */
	char *min_version; /* NULL: no minimum */
};

/* reference.catalog_rules into p (policy.c calls it). ATTEST_E_FORMAT /
 * ATTEST_E_LIMIT / ATTEST_E_NOMEM with err set. */
int policy_catalog_parse(json_t *ref, struct policy *p, struct diag *err);

/* The rules' canonical JSON into ref (when p has them). */
int policy_catalog_json(const struct policy *p, json_t *ref);

/* Free p's rules. */
void policy_catalog_free(struct policy *p);

enum policy_catalog_verdict {
	POLICY_CATALOG_NOT_IN_CATALOG = 0, /* no entry has the digest */
	POLICY_CATALOG_APPROVED,           /* a rule approves an entry with it */
	POLICY_CATALOG_TOO_OLD,            /* a rule would, but the version is below its minimum */
	POLICY_CATALOG_NO_RULE             /* catalogued, but no rule matches */
};

struct policy_catalog_judgement {
	enum policy_catalog_verdict verdict;
	const struct catalog_entry *entry;      /* the entry concerned (NULL: not in catalog) */
	const struct policy_catalog_rule *rule; /* approving / refusing rule (NULL: none) */
};

/* The entry (of cat[0..n)) whose Authenticode or file SHA-256 is digest,
 * first one found; NULL if none. */
const struct catalog_entry *policy_catalog_find(const struct catalog_entry *cat, size_t n,
                                                const uint8_t digest[32]);

/* Judge one measured digest against p's rules and the catalog. */
void policy_catalog_judge(const struct policy *p, const struct catalog_entry *cat, size_t n,
                          const uint8_t digest[32], struct policy_catalog_judgement *ret);

#endif
