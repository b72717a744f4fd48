/* Policy documents: strict parsing, the default policy, canonical JSON
 * (policy.h; format in docs/policy.md). */
#include "policy.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "err.h"
#include "hex.h"
#include "jsontext.h"
#include "pcrsel.h"

/* ---- small helpers ---- */

static void strings_free(struct policy_strings *s)
{
	for (size_t i = 0; i < s->count; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->count = 0;
}

static void digests_free(struct policy_digests *d)
{
	free(d->v);
	d->v = NULL;
	d->count = 0;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	free(p->description);
	free(p->min_agent_version);
	strings_free(&p->firmware_versions);
	digests_free(&p->firmware_blobs);
	for (size_t i = 0; i < p->boot_app_count; i++)
		free(p->boot_apps[i].path);
	free(p->boot_apps);
	strings_free(&p->kernel_cmdlines);
	strings_free(&p->kernel_images);
	digests_free(&p->pk.digests);
	digests_free(&p->kek.digests);
	digests_free(&p->db.digests);
	digests_free(&p->dbx.digests);
	for (size_t i = 0; i < p->pcr_value_count; i++)
		free(p->pcr_values[i].v);
	free(p->pcr_values);
	policy_catalog_free(p);
	free(p);
}

static void defaults(struct policy *p)
{
	p->version = POLICY_VERSION;
	p->secure_boot = true;
	p->uefi = true;
	p->certified_tpm = true;
	p->bank_count = 1;
	p->banks[0] = TPM2_ALG_SHA256;
	p->tpm_interfaces = 0;
	p->selection_count = 1;
	p->selection[0].alg = TPM2_ALG_SHA256;
	/* PCRs 0-9: the firmware's 0-7 and the boot loader's 8 (grub's
	 * commands and kernel command line) and 9 (the files it loaded), so
	 * that every fact the software view reads is quoted. */
	p->selection[0].mask = POLICY_DEFAULT_SHA256_PCRS;
	p->pk.entries = p->kek.entries = p->db.entries = p->dbx.entries = -1;
	p->pk.min_entries = p->kek.min_entries = p->db.min_entries = p->dbx.min_entries = -1;
}

int policy_default(struct policy **ret)
{
	if (!ret)
		return ATTEST_E_ARG;
	struct policy *p = calloc(1, sizeof *p);
	if (!p)
		return ATTEST_E_NOMEM;
	defaults(p);
	*ret = p;
	return 0;
}

int policy_default_upgrade(const char *json, size_t len, char **ret)
{
	if (!json || !ret)
		return ATTEST_E_ARG;
	struct policy *stored = NULL, *old = NULL, *cur = NULL;
	char *a = NULL, *b = NULL;
	int e = policy_parse(json, len, &stored, NULL);
	if (e == ATTEST_E_NOMEM)
		return e;
	if (e < 0)
		return 0; /* not a policy this verifier reads: not ours to touch */
	e = ATTEST_E_NOMEM;
	if (policy_default(&old) < 0 || policy_default(&cur) < 0)
		goto out;
	old->selection[0].mask = POLICY_DEFAULT_SHA256_PCRS_V1;
	if ((e = policy_to_json(stored, false, &a)) < 0 || (e = policy_to_json(old, false, &b)) < 0)
		goto out;
	e = 0;
	if (strcmp(a, b) != 0)
		goto out; /* edited by an operator: kept as it is */
	free(a);
	a = NULL;
	if ((e = policy_to_json(cur, false, &a)) < 0)
		goto out;
	*ret = a;
	a = NULL;
	e = 1;
out:
	free(a);
	free(b);
	policy_free(stored);
	policy_free(old);
	policy_free(cur);
	return e;
}

uint32_t policy_selection_mask(const struct policy *p, uint16_t alg)
{
	for (size_t i = 0; p && i < p->selection_count && i < POLICY_MAX_BANKS; i++)
		if (p->selection[i].alg == alg)
			return p->selection[i].mask;
	return 0;
}

void policy_tpm_selection(const struct policy *p, TPML_PCR_SELECTION *ret)
{
	memset(ret, 0, sizeof *ret);
	for (size_t i = 0; p && i < p->selection_count && i < POLICY_MAX_BANKS; i++) {
		TPMS_PCR_SELECTION *s = &ret->pcrSelections[ret->count++];
		s->hash = p->selection[i].alg;
		s->sizeofSelect = 3;
		s->pcrSelect[0] = (uint8_t)(p->selection[i].mask & 0xff);
		s->pcrSelect[1] = (uint8_t)((p->selection[i].mask >> 8) & 0xff);
		s->pcrSelect[2] = (uint8_t)((p->selection[i].mask >> 16) & 0xff);
	}
}

/* A run of decimal digits into *ret (<= max); advances *s. */
static int dec(const char **s, unsigned long max, unsigned long *ret)
{
	const char *p = *s;
	if (*p < '0' || *p > '9')
		return ATTEST_E_FORMAT;
	size_t n = 0;
	while (p[n] >= '0' && p[n] <= '9')
		n++;
	if (n > 9)
		return ATTEST_E_FORMAT; /* fits any unsigned long, and is silly anyway */
	char buf[10];
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	char *end = NULL;
	unsigned long v = strtoul(buf, &end, 10);
	if (errno || !end || *end || v > max)
		return ATTEST_E_FORMAT;
	*ret = v;
	*s = p + n;
	return 0;
}

int policy_pcr_ranges_parse(const char *s, uint32_t *ret)
{
	/* The selection grammar of pcrsel.h, without its "all". */
	if (!s || !ret || strcmp(s, "all") == 0)
		return ATTEST_E_FORMAT;
	return pcrsel_ranges_parse(s, strlen(s), ret);
}

int policy_version_compare(const char *a, const char *b, int *ret)
{
	if (!a || !b || !ret || *a < '0' || *a > '9' || *b < '0' || *b > '9')
		return ATTEST_E_FORMAT;
	const char *p = a, *q = b;
	for (;;) {
		unsigned long x = 0, y = 0;
		bool more_p = *p >= '0' && *p <= '9', more_q = *q >= '0' && *q <= '9';
		if (!more_p && !more_q)
			break;
		if (more_p && dec(&p, 999999999ul, &x) < 0)
			return ATTEST_E_FORMAT;
		if (more_q && dec(&q, 999999999ul, &y) < 0)
			return ATTEST_E_FORMAT;
		if (x != y) {
			*ret = x < y ? -1 : 1;
			return 0;
		}
		/* a dot followed by a digit continues; anything else ends it */
		p = (*p == '.' && p[1] >= '0' && p[1] <= '9') ? p + 1 : p + strlen(p);
		q = (*q == '.' && q[1] >= '0' && q[1] <= '9') ? q + 1 : q + strlen(q);
	}
	*ret = 0;
	return 0;
}

/* ---- parsing ---- */

/* Refuse any key of obj not in allowed (NULL-terminated). */
static int known_keys(json_t *obj, const char *where, const char *const *allowed, struct diag *err)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = !strcmp(k, allowed[i]);
		if (!ok) {
			diag_set(err, "policy: unknown key \"%.64s\" in %s", k, where);
			return ATTEST_E_FORMAT;
		}
	}
	return 0;
}

static int get_bool(json_t *obj, const char *key, const char *where, bool *ret, struct diag *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0; /* keep the default */
	if (!json_is_boolean(v)) {
		diag_set(err, "policy: %s.%s must be true or false", where, key);
		return ATTEST_E_FORMAT;
	}
	*ret = json_is_true(v);
	return 0;
}

static int text_dup(json_t *v, const char *path, char **ret, struct diag *err)
{
	if (!json_is_string(v)) {
		diag_set(err, "policy: %s must be a string", path);
		return ATTEST_E_FORMAT;
	}
	size_t n = json_string_length(v);
	if (n > POLICY_MAX_TEXT) {
		diag_set(err, "policy: %s is %zu bytes, more than the cap of %u", path, n,
		         POLICY_MAX_TEXT);
		return ATTEST_E_LIMIT;
	}
	if (memchr(json_string_value(v), '\0', n)) {
		diag_set(err, "policy: %s contains a NUL character", path);
		return ATTEST_E_FORMAT;
	}
	char *s = strdup(json_string_value(v));
	if (!s)
		return ATTEST_E_NOMEM;
	*ret = s;
	return 0;
}

/* An array of at most POLICY_MAX_ITEMS entries (may be empty). */
static int get_array(json_t *obj, const char *key, const char *where, json_t **ret,
                     struct diag *err)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_array(v)) {
		diag_set(err, "policy: %s.%s must be an array", where, key);
		return ATTEST_E_FORMAT;
	}
	if (json_array_size(v) > POLICY_MAX_ITEMS) {
		diag_set(err, "policy: %s.%s has %zu entries, more than the cap of %u", where, key,
		         json_array_size(v), POLICY_MAX_ITEMS);
		return ATTEST_E_LIMIT;
	}
	*ret = v;
	return 0;
}

/* The array at obj.key when the key is there: 1 with it in *ret, 0 when the
 * key is absent (*ret untouched), or get_array's error. */
static int optional_array(json_t *obj, const char *key, const char *where, json_t **ret,
                          struct diag *err)
{
	if (!json_object_get(obj, key))
		return 0;
	int e = get_array(obj, key, where, ret, err);
	return e < 0 ? e : 1;
}

static int get_strings(json_t *obj, const char *key, const char *where, bool *has,
                       struct policy_strings *ret, struct diag *err)
{
	json_t *a;
	int e = optional_array(obj, key, where, &a, err);
	if (e <= 0)
		return e;
	ret->v = calloc(json_array_size(a) + 1, sizeof *ret->v);
	if (!ret->v)
		return ATTEST_E_NOMEM;
	*has = true;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		char path[128];
		snprintf(path, sizeof path, "%s.%s[%zu]", where, key, i);
		if ((e = text_dup(v, path, &ret->v[i], err)) < 0)
			return e;
		ret->count++;
	}
	return 0;
}

static int digest_of(json_t *v, const char *path, size_t size, uint8_t *out, struct diag *err)
{
	size_t n = 0;
	if (!json_is_string(v) || json_string_length(v) != 2 * size ||
	    hex_decode(json_string_value(v), out, size, &n) < 0 || n != size) {
		if (json_is_string(v))
			diag_set(err, "policy: %s: \"%.80s\" is not %zu bytes of hex", path,
			         json_string_value(v), size);
		else
			diag_set(err, "policy: %s must be a hex string of %zu bytes", path, size);
		return ATTEST_E_FORMAT;
	}
	return 0;
}

static int get_digests(json_t *obj, const char *key, const char *where, bool *has,
                       struct policy_digests *ret, struct diag *err)
{
	json_t *a;
	int e = optional_array(obj, key, where, &a, err);
	if (e <= 0)
		return e;
	ret->v = calloc(json_array_size(a) + 1, sizeof *ret->v);
	if (!ret->v)
		return ATTEST_E_NOMEM;
	if (has)
		*has = true;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		char path[128];
		snprintf(path, sizeof path, "%s.%s[%zu]", where, key, i);
		if ((e = digest_of(v, path, POLICY_DIGEST_SIZE, ret->v[i], err)) < 0)
			return e;
		ret->count++;
	}
	return 0;
}

static int count_of(json_t *obj, const char *key, const char *where, int64_t *ret, struct diag *err)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)UINT32_MAX) {
		diag_set(err, "policy: %s.%s must be an integer from 0 to %u", where, key,
		         UINT32_MAX);
		return ATTEST_E_FORMAT;
	}
	*ret = (int64_t)json_integer_value(v);
	return 0;
}

static int get_banks(json_t *req, struct policy *p, struct diag *err)
{
	json_t *a;
	int e = optional_array(req, "banks", "requirements", &a, err);
	if (e <= 0)
		return e;
	p->bank_count = 0;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		uint16_t alg = json_is_string(v) ? bundle_bank_alg(json_string_value(v)) : 0;
		if (!alg) {
			diag_set(err,
			         "policy: requirements.banks[%zu]: \"%.32s\" is not a bank "
			         "(sha1, sha256, sha384, sha512)",
			         i, json_is_string(v) ? json_string_value(v) : "?");
			return ATTEST_E_FORMAT;
		}
		for (size_t k = 0; k < p->bank_count; k++)
			if (p->banks[k] == alg) {
				diag_set(err, "policy: requirements.banks: \"%s\" is listed twice",
				         json_string_value(v));
				return ATTEST_E_FORMAT;
			}
		if (p->bank_count >= POLICY_MAX_BANKS) {
			diag_set(err, "policy: requirements.banks: more than %u banks",
			         POLICY_MAX_BANKS);
			return ATTEST_E_LIMIT;
		}
		p->banks[p->bank_count++] = alg;
	}
	return 0;
}

static int get_interfaces(json_t *req, struct policy *p, struct diag *err)
{
	json_t *a;
	int e = optional_array(req, "tpm_interfaces", "requirements", &a, err);
	if (e <= 0)
		return e;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (!strcmp(s, "tis")) {
			p->tpm_interfaces |= POLICY_TPM_TIS;
		} else if (!strcmp(s, "crb")) {
			p->tpm_interfaces |= POLICY_TPM_CRB;
		} else {
			diag_set(err,
			         "policy: requirements.tpm_interfaces[%zu]: \"%.32s\" is not "
			         "\"tis\" or \"crb\"",
			         i, s);
			return ATTEST_E_FORMAT;
		}
	}
	return 0;
}

unsigned policy_ek_trust_bit(const char *word)
{
	if (!word)
		return 0;
	if (!strcmp(word, "certified"))
		return POLICY_EK_CERTIFIED;
	if (!strcmp(word, "operator_certificate"))
		return POLICY_EK_OPERATOR_CERTIFICATE;
	if (!strcmp(word, "operator_key"))
		return POLICY_EK_OPERATOR_KEY;
	return 0;
}

static int get_ek_trust(json_t *req, struct policy *p, struct diag *err)
{
	json_t *a;
	int e = optional_array(req, "ek_trust", "requirements", &a, err);
	if (e <= 0)
		return e;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		unsigned bit = policy_ek_trust_bit(json_is_string(v) ? json_string_value(v) : "");
		if (!bit) {
			diag_set(
			    err,
			    "policy: requirements.ek_trust[%zu]: \"%.32s\" is not \"certified\", "
			    "\"operator_certificate\" or \"operator_key\"",
			    i, json_is_string(v) ? json_string_value(v) : "?");
			return ATTEST_E_FORMAT;
		}
		p->ek_trust |= bit;
	}
	if (!p->ek_trust) {
		diag_set(err, "policy: requirements.ek_trust must name at least one way");
		return ATTEST_E_FORMAT;
	}
	return 0;
}

static int get_selection(json_t *req, struct policy *p, struct diag *err)
{
	json_t *o = json_object_get(req, "quote_pcrs");
	if (!o)
		return 0;
	if (!json_is_object(o) || json_object_size(o) == 0) {
		diag_set(err, "policy: requirements.quote_pcrs must be an object of banks, e.g. "
		              "{\"sha256\": \"0-7\"}");
		return ATTEST_E_FORMAT;
	}
	if (json_object_size(o) > POLICY_MAX_BANKS) {
		diag_set(err, "policy: requirements.quote_pcrs: more than %u banks",
		         POLICY_MAX_BANKS);
		return ATTEST_E_LIMIT;
	}
	p->selection_count = 0;
	const char *bank;
	json_t *v;
	json_object_foreach(o, bank, v)
	{
		uint16_t alg = bundle_bank_alg(bank);
		if (!alg) {
			diag_set(err, "policy: requirements.quote_pcrs: \"%.32s\" is not a bank",
			         bank);
			return ATTEST_E_FORMAT;
		}
		uint32_t mask = 0;
		if (!json_is_string(v) ||
		    policy_pcr_ranges_parse(json_string_value(v), &mask) < 0) {
			diag_set(err,
			         "policy: requirements.quote_pcrs.%s: \"%.64s\" is not a PCR list "
			         "like \"0-7\" or \"0-9,14\" (PCRs 0..23)",
			         bank, json_is_string(v) ? json_string_value(v) : "?");
			return ATTEST_E_FORMAT;
		}
		p->selection[p->selection_count].alg = alg;
		p->selection[p->selection_count].mask = mask;
		p->selection_count++;
	}
	if (!policy_selection_mask(p, TPM2_ALG_SHA256)) {
		diag_set(err,
		         "policy: requirements.quote_pcrs must select PCRs in the sha256 bank");
		return ATTEST_E_FORMAT;
	}
	return 0;
}

static int parse_requirements(json_t *req, struct policy *p, struct diag *err)
{
	static const char *const keys[] = {"secure_boot",   "banks",          "uefi",
	                                   "certified_tpm", "tpm_interfaces", "min_agent_version",
	                                   "quote_pcrs",    "ek_trust",       NULL};
	if (!json_is_object(req)) {
		diag_set(err, "policy: requirements must be an object");
		return ATTEST_E_FORMAT;
	}
	int e;
	if ((e = known_keys(req, "requirements", keys, err)) < 0 ||
	    (e = get_bool(req, "secure_boot", "requirements", &p->secure_boot, err)) < 0 ||
	    (e = get_bool(req, "uefi", "requirements", &p->uefi, err)) < 0 ||
	    (e = get_bool(req, "certified_tpm", "requirements", &p->certified_tpm, err)) < 0 ||
	    (e = get_banks(req, p, err)) < 0 || (e = get_interfaces(req, p, err)) < 0 ||
	    (e = get_ek_trust(req, p, err)) < 0 || (e = get_selection(req, p, err)) < 0)
		return e;
	json_t *v = json_object_get(req, "min_agent_version");
	if (v) {
		int cmp;
		if (!json_is_string(v) || json_string_length(v) > 64 ||
		    policy_version_compare(json_string_value(v), "0", &cmp) < 0) {
			diag_set(err,
			         "policy: requirements.min_agent_version: \"%.64s\" is not a "
			         "dotted version like \"6.7\"",
			         json_is_string(v) ? json_string_value(v) : "?");
			return ATTEST_E_FORMAT;
		}
		if (!(p->min_agent_version = strdup(json_string_value(v))))
			return ATTEST_E_NOMEM;
	}
	return 0;
}

static int parse_sigdb(json_t *ref, const char *key, struct policy_sigdb *s, struct diag *err)
{
	static const char *const keys[] = {"digests", "entries", "min_entries", NULL};
	json_t *o = json_object_get(ref, key);
	if (!o)
		return 0;
	char where[32];
	snprintf(where, sizeof where, "reference.%s", key);
	if (!json_is_object(o)) {
		diag_set(err, "policy: %s must be an object", where);
		return ATTEST_E_FORMAT;
	}
	int e;
	if ((e = known_keys(o, where, keys, err)) < 0 ||
	    (e = get_digests(o, "digests", where, NULL, &s->digests, err)) < 0 ||
	    (e = count_of(o, "entries", where, &s->entries, err)) < 0 ||
	    (e = count_of(o, "min_entries", where, &s->min_entries, err)) < 0)
		return e;
	s->set = true;
	return 0;
}

static int parse_boot_apps(json_t *ref, struct policy *p, struct diag *err)
{
	static const char *const keys[] = {"path", "digest", NULL};
	json_t *a;
	int e = optional_array(ref, "boot_apps", "reference", &a, err);
	if (e <= 0)
		return e;
	p->boot_apps = calloc(json_array_size(a) + 1, sizeof *p->boot_apps);
	if (!p->boot_apps)
		return ATTEST_E_NOMEM;
	p->has_boot_apps = true;
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		char where[64], path[96];
		snprintf(where, sizeof where, "reference.boot_apps[%zu]", i);
		if (!json_is_object(v)) {
			diag_set(err, "policy: %s must be an object {\"path\", \"digest\"}", where);
			return ATTEST_E_FORMAT;
		}
		struct policy_boot_app *b = &p->boot_apps[i];
		if ((e = known_keys(v, where, keys, err)) < 0)
			return e;
		json_t *d = json_object_get(v, "digest");
		snprintf(path, sizeof path, "%s.digest", where);
		if (!d) {
			diag_set(err, "policy: %s is missing", path);
			return ATTEST_E_FORMAT;
		}
		if ((e = digest_of(d, path, POLICY_DIGEST_SIZE, b->digest, err)) < 0)
			return e;
		json_t *pa = json_object_get(v, "path");
		snprintf(path, sizeof path, "%s.path", where);
		if (pa && (e = text_dup(pa, path, &b->path, err)) < 0)
			return e;
		p->boot_app_count++;
	}
	return 0;
}

static int parse_pcr_values(json_t *ref, struct policy *p, struct diag *err)
{
	json_t *o = json_object_get(ref, "pcrs");
	if (!o)
		return 0;
	if (!json_is_object(o) || json_object_size(o) > POLICY_MAX_BANKS) {
		diag_set(err,
		         "policy: reference.pcrs must be an object of at most %u banks, e.g. "
		         "{\"sha256\": {\"0\": [\"<hex>\"]}}",
		         POLICY_MAX_BANKS);
		return ATTEST_E_FORMAT;
	}
	p->pcr_values = calloc(POLICY_MAX_BANKS * QUOTE_NUM_PCRS, sizeof *p->pcr_values);
	if (!p->pcr_values)
		return ATTEST_E_NOMEM;
	const char *bank;
	json_t *b;
	json_object_foreach(o, bank, b)
	{
		uint16_t alg = bundle_bank_alg(bank);
		if (!alg || !json_is_object(b)) {
			diag_set(err, "policy: reference.pcrs.%.32s: %s", bank,
			         alg ? "must be an object of PCR indexes" : "is not a bank");
			return ATTEST_E_FORMAT;
		}
		const char *idx;
		json_t *list;
		json_object_foreach(b, idx, list)
		{
			uint32_t mask = 0;
			unsigned long index = 0;
			const char *q = idx;
			/* one index, no leading zeros, nothing after it */
			if ((idx[0] == '0' && idx[1]) || dec(&q, QUOTE_NUM_PCRS - 1, &index) < 0 ||
			    *q || policy_pcr_ranges_parse(idx, &mask) < 0) {
				diag_set(err,
				         "policy: reference.pcrs.%s: \"%.16s\" is not a PCR index "
				         "0..23",
				         bank, idx);
				return ATTEST_E_FORMAT;
			}
			char where[64];
			snprintf(where, sizeof where, "reference.pcrs.%s.%s", bank, idx);
			if (!json_is_array(list) || json_array_size(list) == 0 ||
			    json_array_size(list) > POLICY_MAX_ITEMS) {
				diag_set(err,
				         "policy: %s must be a non-empty array of at most %u hex "
				         "values",
				         where, POLICY_MAX_ITEMS);
				return ATTEST_E_FORMAT;
			}
			struct policy_pcr_values *pv = &p->pcr_values[p->pcr_value_count];
			pv->alg = alg;
			pv->index = (unsigned)index;
			pv->v = calloc(json_array_size(list), sizeof *pv->v);
			if (!pv->v)
				return ATTEST_E_NOMEM;
			p->pcr_value_count++;
			size_t i;
			json_t *v;
			json_array_foreach(list, i, v)
			{
				char path[96];
				snprintf(path, sizeof path, "%s[%zu]", where, i);
				int e = digest_of(v, path, eventlog_alg_size(alg), pv->v[i], err);
				if (e < 0)
					return e;
				pv->count++;
			}
		}
	}
	return 0;
}

static int parse_reference(json_t *ref, struct policy *p, struct diag *err)
{
	static const char *const keys[] = {"firmware_versions",
	                                   "firmware_blobs",
	                                   "boot_apps",
	                                   "kernel_cmdlines",
	                                   "kernel_images",
	                                   "pk",
	                                   "kek",
	                                   "db",
	                                   "dbx",
	                                   "pcrs",
	                                   "catalog_rules",
	                                   NULL};
	if (!json_is_object(ref)) {
		diag_set(err, "policy: reference must be an object");
		return ATTEST_E_FORMAT;
	}
	int e;
	if ((e = known_keys(ref, "reference", keys, err)) < 0 ||
	    (e = get_strings(ref, "firmware_versions", "reference", &p->has_firmware_versions,
	                     &p->firmware_versions, err)) < 0 ||
	    (e = get_digests(ref, "firmware_blobs", "reference", &p->has_firmware_blobs,
	                     &p->firmware_blobs, err)) < 0 ||
	    (e = parse_boot_apps(ref, p, err)) < 0 ||
	    (e = get_strings(ref, "kernel_cmdlines", "reference", &p->has_kernel_cmdlines,
	                     &p->kernel_cmdlines, err)) < 0 ||
	    (e = get_strings(ref, "kernel_images", "reference", &p->has_kernel_images,
	                     &p->kernel_images, err)) < 0 ||
	    (e = parse_sigdb(ref, "pk", &p->pk, err)) < 0 ||
	    (e = parse_sigdb(ref, "kek", &p->kek, err)) < 0 ||
	    (e = parse_sigdb(ref, "db", &p->db, err)) < 0 ||
	    (e = parse_sigdb(ref, "dbx", &p->dbx, err)) < 0 ||
	    (e = parse_pcr_values(ref, p, err)) < 0 || (e = policy_catalog_parse(ref, p, err)) < 0)
		return e;
	return 0;
}

int policy_parse(const char *json, size_t len, struct policy **ret, struct diag *err)
{
	static const char *const keys[] = {"version", "description", "requirements", "reference",
	                                   NULL};
	if ((!json && len) || !ret)
		return ATTEST_E_ARG;
	if (len > POLICY_MAX_SIZE) {
		diag_set(err, "policy: %zu bytes exceeds the cap of %u", len, POLICY_MAX_SIZE);
		return ATTEST_E_LIMIT;
	}
	if (jsontext_depth((const uint8_t *)json, len) > POLICY_MAX_DEPTH) {
		diag_set(err, "policy: JSON nested deeper than %u levels", POLICY_MAX_DEPTH);
		return ATTEST_E_LIMIT;
	}
	json_error_t jerr;
	json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		diag_set(err, "policy: not JSON: %s at line %d column %d", jerr.text, jerr.line,
		         jerr.column);
		return ATTEST_E_FORMAT;
	}
	int e = ATTEST_E_NOMEM;
	struct policy *p = calloc(1, sizeof *p);
	if (!p)
		goto out;
	defaults(p);
	e = ATTEST_E_FORMAT;
	if (!json_is_object(root)) {
		diag_set(err, "policy: the top level must be an object");
		goto out;
	}
	if ((e = known_keys(root, "the policy", keys, err)) < 0)
		goto out;
	json_t *ver = json_object_get(root, "version");
	if (!ver) {
		diag_set(err, "policy: \"version\" is missing (this verifier reads version %u)",
		         POLICY_VERSION);
		e = ATTEST_E_FORMAT;
		goto out;
	}
	if (!json_is_integer(ver) || json_integer_value(ver) != POLICY_VERSION) {
		diag_set(err, "policy: version must be %u (this verifier reads version %u only)",
		         POLICY_VERSION, POLICY_VERSION);
		e = json_is_integer(ver) ? ATTEST_E_UNSUPPORTED : ATTEST_E_FORMAT;
		goto out;
	}
	json_t *d = json_object_get(root, "description");
	if (d && (e = text_dup(d, "description", &p->description, err)) < 0)
		goto out;
	json_t *req = json_object_get(root, "requirements");
	if (req && (e = parse_requirements(req, p, err)) < 0)
		goto out;
	json_t *ref = json_object_get(root, "reference");
	if (ref && (e = parse_reference(ref, p, err)) < 0)
		goto out;
	*ret = p;
	p = NULL;
	e = 0;
out:
	if (e == ATTEST_E_NOMEM)
		diag_set(err, "policy: out of memory");
	policy_free(p);
	json_decref(root);
	return e;
}

/* ---- canonical JSON ---- */

/* jansson's json_object_set_new/json_array_append_new free the value on
 * failure; a NULL value makes them fail, so one check at the end of each
 * builder catches any allocation failure along the way. */
static int put(json_t *o, const char *k, json_t *v)
{
	return json_object_set_new(o, k, v) == 0 ? 0 : ATTEST_E_NOMEM;
}

static json_t *hexstr(const uint8_t *d, size_t n)
{
	char h[2 * QUOTE_MAX_DIGEST + 1];
	hex_encode(d, n, h);
	return json_string(h);
}

static json_t *strings_json(const struct policy_strings *s)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < s->count; i++)
		if (json_array_append_new(a, json_string(s->v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *digests_json(const struct policy_digests *d)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < d->count; i++)
		if (json_array_append_new(a, hexstr(d->v[i], POLICY_DIGEST_SIZE)) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int sigdb_json(json_t *ref, const char *key, const struct policy_sigdb *s)
{
	if (!s->set)
		return 0;
	json_t *o = json_object();
	int e = put(ref, key, o);
	if (e < 0)
		return e;
	if (s->digests.count && (e = put(o, "digests", digests_json(&s->digests))) < 0)
		return e;
	if (s->entries >= 0 && (e = put(o, "entries", json_integer(s->entries))) < 0)
		return e;
	if (s->min_entries >= 0 && (e = put(o, "min_entries", json_integer(s->min_entries))) < 0)
		return e;
	return 0;
}

static int requirements_json(const struct policy *p, json_t *root)
{
	json_t *req = json_object();
	int e = put(root, "requirements", req);
	if (e < 0)
		return e;
	json_t *banks = json_array(), *sel = json_object();
	if ((e = put(req, "banks", banks)) < 0 || (e = put(req, "quote_pcrs", sel)) < 0 ||
	    (e = put(req, "secure_boot", json_boolean(p->secure_boot))) < 0 ||
	    (e = put(req, "uefi", json_boolean(p->uefi))) < 0 ||
	    (e = put(req, "certified_tpm", json_boolean(p->certified_tpm))) < 0)
		return e;
	for (size_t i = 0; i < p->bank_count; i++)
		if (json_array_append_new(banks, json_string(bundle_bank_name(p->banks[i]))) < 0)
			return ATTEST_E_NOMEM;
	for (size_t i = 0; i < p->selection_count; i++) {
		char r[96];
		pcrsel_ranges_format(p->selection[i].mask, r, sizeof r);
		if ((e = put(sel, bundle_bank_name(p->selection[i].alg), json_string(r))) < 0)
			return e;
	}
	if (p->tpm_interfaces) {
		json_t *ifs = json_array();
		if ((e = put(req, "tpm_interfaces", ifs)) < 0)
			return e;
		if ((p->tpm_interfaces & POLICY_TPM_CRB) &&
		    json_array_append_new(ifs, json_string("crb")) < 0)
			return ATTEST_E_NOMEM;
		if ((p->tpm_interfaces & POLICY_TPM_TIS) &&
		    json_array_append_new(ifs, json_string("tis")) < 0)
			return ATTEST_E_NOMEM;
	}
	if (p->ek_trust) {
		json_t *et = json_array();
		if ((e = put(req, "ek_trust", et)) < 0)
			return e;
		static const char *const words[] = {"certified", "operator_certificate",
		                                    "operator_key"};
		for (unsigned b = 0; b < 3; b++)
			if ((p->ek_trust & (1u << b)) &&
			    json_array_append_new(et, json_string(words[b])) < 0)
				return ATTEST_E_NOMEM;
	}
	if (p->min_agent_version &&
	    (e = put(req, "min_agent_version", json_string(p->min_agent_version))) < 0)
		return e;
	return 0;
}

static int reference_json(const struct policy *p, json_t *root)
{
	json_t *ref = json_object();
	int e = put(root, "reference", ref);
	if (e < 0)
		return e;
	if (p->has_firmware_versions &&
	    (e = put(ref, "firmware_versions", strings_json(&p->firmware_versions))) < 0)
		return e;
	if (p->has_firmware_blobs &&
	    (e = put(ref, "firmware_blobs", digests_json(&p->firmware_blobs))) < 0)
		return e;
	if (p->has_kernel_cmdlines &&
	    (e = put(ref, "kernel_cmdlines", strings_json(&p->kernel_cmdlines))) < 0)
		return e;
	if (p->has_kernel_images &&
	    (e = put(ref, "kernel_images", strings_json(&p->kernel_images))) < 0)
		return e;
	if (p->has_boot_apps) {
		json_t *a = json_array();
		if ((e = put(ref, "boot_apps", a)) < 0)
			return e;
		for (size_t i = 0; i < p->boot_app_count; i++) {
			json_t *o = json_object();
			if (json_array_append_new(a, o) < 0 ||
			    (e = put(o, "digest",
			             hexstr(p->boot_apps[i].digest, POLICY_DIGEST_SIZE))) < 0)
				return ATTEST_E_NOMEM;
			if (p->boot_apps[i].path &&
			    (e = put(o, "path", json_string(p->boot_apps[i].path))) < 0)
				return e;
		}
	}
	if ((e = sigdb_json(ref, "pk", &p->pk)) < 0 || (e = sigdb_json(ref, "kek", &p->kek)) < 0 ||
	    (e = sigdb_json(ref, "db", &p->db)) < 0 || (e = sigdb_json(ref, "dbx", &p->dbx)) < 0 ||
	    (e = policy_catalog_json(p, ref)) < 0)
		return e;
	if (p->pcr_value_count) {
		json_t *pcrs = json_object();
		if ((e = put(ref, "pcrs", pcrs)) < 0)
			return e;
		for (size_t i = 0; i < p->pcr_value_count; i++) {
			const struct policy_pcr_values *pv = &p->pcr_values[i];
			const char *bn = bundle_bank_name(pv->alg);
			json_t *bank = json_object_get(pcrs, bn);
			if (!bank && (e = put(pcrs, bn, bank = json_object())) < 0)
				return e;
			char idx[8];
			snprintf(idx, sizeof idx, "%u", pv->index);
			json_t *list = json_object_get(bank, idx);
			if (!list && (e = put(bank, idx, list = json_array())) < 0)
				return e;
			for (size_t k = 0; k < pv->count; k++)
				if (json_array_append_new(
				        list, hexstr(pv->v[k], eventlog_alg_size(pv->alg))) < 0)
					return ATTEST_E_NOMEM;
		}
	}
	return 0;
}

int policy_to_json(const struct policy *p, bool pretty, char **ret)
{
	if (!p || !ret)
		return ATTEST_E_ARG;
	json_t *root = json_object();
	if (!root)
		return ATTEST_E_NOMEM;
	int e = put(root, "version", json_integer(p->version));
	if (e == 0 && p->description)
		e = put(root, "description", json_string(p->description));
	if (e == 0)
		e = requirements_json(p, root);
	if (e == 0)
		e = reference_json(p, root);
	if (e == 0) {
		size_t flags =
		    JSON_SORT_KEYS | JSON_ENSURE_ASCII | (pretty ? JSON_INDENT(2) : JSON_COMPACT);
		char *s = json_dumps(root, flags);
		if (!s)
			e = ATTEST_E_NOMEM;
		else
			*ret = s;
	}
	json_decref(root);
	return e;
}
