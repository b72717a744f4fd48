/* Catalog rules of a policy (policy_catalog.h). */
#include "policy_catalog.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debver.h"
#include "err.h"
#include "hex.h"
#include "policy.h"

static int rule_text(json_t *o, const char *key, const char *where, char **ret, struct diag *err)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		diag_set(err, "policy: %s.%s must be a non-empty string", where, key);
		return ATTEST_E_FORMAT;
	}
	if (json_string_length(v) > 256) {
		diag_set(err, "policy: %s.%s is longer than 256 bytes", where, key);
		return ATTEST_E_LIMIT;
	}
	*ret = strdup(json_string_value(v));
	return *ret ? 0 : ATTEST_E_NOMEM;
}

int policy_catalog_parse(json_t *ref, struct policy *p, struct diag *err)
{
	static const char *const keys[] = {"name",   "kind",        "package", "vendor",
	                                   "signer", "min_version", NULL};
	json_t *a = json_object_get(ref, "catalog_rules");
	if (!a)
		return 0;
	if (!json_is_array(a)) {
		diag_set(err, "policy: reference.catalog_rules must be an array");
		return ATTEST_E_FORMAT;
	}
	if (json_array_size(a) > POLICY_CATALOG_MAX_RULES) {
		diag_set(err, "policy: more than %u catalog rules", POLICY_CATALOG_MAX_RULES);
		return ATTEST_E_LIMIT;
	}
	p->catalog_rules = calloc(json_array_size(a) + 1, sizeof *p->catalog_rules);
	if (!p->catalog_rules)
		return ATTEST_E_NOMEM;
	p->has_catalog_rules = true;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		char where[48];
		snprintf(where, sizeof where, "reference.catalog_rules[%zu]", i);
		if (!json_is_object(v)) {
			diag_set(err, "policy: %s must be an object", where);
			return ATTEST_E_FORMAT;
		}
		const char *k;
		json_t *x;
		json_object_foreach(v, k, x)
		{
			bool ok = false;
			for (size_t j = 0; keys[j] && !ok; j++)
				ok = !strcmp(k, keys[j]);
			if (!ok) {
				diag_set(err, "policy: unknown key \"%.64s\" in %s", k, where);
				return ATTEST_E_FORMAT;
			}
		}
		struct policy_catalog_rule *r = &p->catalog_rules[i];
		p->catalog_rule_count++; /* freed with the policy even if incomplete */
		int e;
		if ((e = rule_text(v, "name", where, &r->name, err)) < 0 ||
		    (e = rule_text(v, "kind", where, &r->kind, err)) < 0 ||
		    (e = rule_text(v, "package", where, &r->package, err)) < 0 ||
		    (e = rule_text(v, "vendor", where, &r->vendor, err)) < 0 ||
		    (e = rule_text(v, "signer", where, &r->signer, err)) < 0 ||
		    (e = rule_text(v, "min_version", where, &r->min_version, err)) < 0)
			return e;
		if (r->kind && !catalog_kind_valid(r->kind)) {
			diag_set(err, "policy: %s.kind \"%.40s\" is not a catalog kind", where,
			         r->kind);
			return ATTEST_E_FORMAT;
		}
		if (r->min_version && !debver_valid(r->min_version)) {
			diag_set(err, "policy: %s.min_version \"%.60s\" is not a Debian version",
			         where, r->min_version);
			return ATTEST_E_FORMAT;
		}
		if (!r->package && !r->signer && !r->vendor) {
			diag_set(
			    err,
			    "policy: %s must name a package pattern, a signer or a vendor (a rule "
			    "approving anything in the catalog is too easy to write by mistake)",
			    where);
			return ATTEST_E_FORMAT;
		}
		if (!r->name) {
			char n[32];
			snprintf(n, sizeof n, "rule %zu", i + 1);
			if (!(r->name = strdup(n)))
				return ATTEST_E_NOMEM;
		}
	}
	return 0;
}

int policy_catalog_json(const struct policy *p, json_t *ref)
{
	if (!p->has_catalog_rules)
		return 0;
	json_t *a = json_array();
	if (!a || json_object_set_new(ref, "catalog_rules", a) < 0)
		return ATTEST_E_NOMEM;
	for (size_t i = 0; i < p->catalog_rule_count; i++) {
		const struct policy_catalog_rule *r = &p->catalog_rules[i];
		json_t *o = json_object();
		if (!o || json_array_append_new(a, o) < 0)
			return ATTEST_E_NOMEM;
		const struct {
			const char *k, *v;
		} f[] = {{"name", r->name},       {"kind", r->kind},
		         {"package", r->package}, {"vendor", r->vendor},
		         {"signer", r->signer},   {"min_version", r->min_version}};
		for (size_t j = 0; j < sizeof f / sizeof f[0]; j++)
			if (f[j].v && json_object_set_new(o, f[j].k, json_string(f[j].v)) < 0)
				return ATTEST_E_NOMEM;
	}
	return 0;
}

void policy_catalog_free(struct policy *p)
{
	for (size_t i = 0; i < p->catalog_rule_count; i++) {
		struct policy_catalog_rule *r = &p->catalog_rules[i];
		free(r->name);
		free(r->kind);
		free(r->package);
		free(r->vendor);
		free(r->signer);
		free(r->min_version);
	}
	free(p->catalog_rules);
	p->catalog_rules = NULL;
	p->catalog_rule_count = 0;
}

static bool same_digest(const struct catalog_entry *e, const char hex[65])
{
	return !strcmp(e->authenticode_sha256, hex) || !strcmp(e->file_sha256, hex);
}

const struct catalog_entry *policy_catalog_find(const struct catalog_entry *cat, size_t n,
                                                const uint8_t digest[32])
{
	char hex[65];
	hex_encode(digest, 32, hex);
	for (size_t i = 0; cat && i < n; i++)
		if (same_digest(&cat[i], hex))
			return &cat[i];
	return NULL;
}

/* Everything but the version. */
static bool rule_fits(const struct policy_catalog_rule *r, const struct catalog_entry *e)
{
	if (r->kind && strcmp(r->kind, e->kind) != 0)
		return false;
	if (r->package && fnmatch(r->package, e->package, 0) != 0)
		return false;
	if (r->vendor && strcmp(r->vendor, e->vendor) != 0)
		return false;
	if (r->signer && (!e->signer_subject[0] || fnmatch(r->signer, e->signer_subject, 0) != 0))
		return false;
	return true;
}

void policy_catalog_judge(const struct policy *p, const struct catalog_entry *cat, size_t n,
                          const uint8_t digest[32], struct policy_catalog_judgement *ret)
{
	char hex[65];
	hex_encode(digest, 32, hex);
	memset(ret, 0, sizeof *ret);
	const struct catalog_entry *old = NULL, *first = NULL;
	const struct policy_catalog_rule *old_rule = NULL;
	for (size_t i = 0; cat && i < n; i++) {
		const struct catalog_entry *e = &cat[i];
		if (!same_digest(e, hex))
			continue;
		if (!first)
			first = e;
		for (size_t k = 0; k < p->catalog_rule_count; k++) {
			const struct policy_catalog_rule *r = &p->catalog_rules[k];
			if (!rule_fits(r, e))
				continue;
			if (r->min_version && debver_compare(e->version, r->min_version) < 0) {
				if (!old) {
					old = e;
					old_rule = r;
				}
				continue;
			}
			ret->verdict = POLICY_CATALOG_APPROVED;
			ret->entry = e;
			ret->rule = r;
			return;
		}
	}
	if (old) {
		ret->verdict = POLICY_CATALOG_TOO_OLD;
		ret->entry = old;
		ret->rule = old_rule;
	} else if (first) {
		ret->verdict = POLICY_CATALOG_NO_RULE;
		ret->entry = first;
	}
}
