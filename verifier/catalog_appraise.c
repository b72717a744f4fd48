/* The software catalog at attestation time (catalog_appraise.h). */
#include "catalog_appraise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eventlog.h"
#include "hex.h"
#include "log.h"
#include "store_catalog.h"

/* The distinct SHA-256 digests of the log's boot applications (PCR 4)
 * and files (EV_IPL), at most CATALOG_APPRAISE_DIGESTS. */
static int boot_digests(const uint8_t *eventlog, size_t len,
                        uint8_t out[CATALOG_APPRAISE_DIGESTS][32], size_t *ret_n)
{
	*ret_n = 0;
	struct eventlog *log = NULL;
	if (!eventlog || eventlog_parse(eventlog, len, &log, NULL) < 0)
		return ATTEST_E_FORMAT; /* verify says what is wrong with the log */
	size_t n = 0;
	for (size_t i = 0; i < log->event_count; i++) {
		const struct eventlog_event *ev = &log->events[i];
		if (ev->type != EV_EFI_BOOT_SERVICES_APPLICATION && ev->type != EV_IPL)
			continue;
		for (uint32_t d = 0; d < ev->digest_count; d++) {
			if (ev->digests[d].alg != EVENTLOG_ALG_SHA256 || ev->digests[d].size != 32)
				continue;
			bool dup = false;
			for (size_t k = 0; k < n && !dup; k++)
				dup = !memcmp(out[k], ev->digests[d].bytes, 32);
			if (!dup && n < CATALOG_APPRAISE_DIGESTS)
				memcpy(out[n++], ev->digests[d].bytes, 32);
		}
	}
	eventlog_free(log);
	*ret_n = n;
	return 0;
}

/* Append the catalog entries of digest d to *all (n so far): from the
 * shared cache, else one indexed query whose answer the cache keeps. */
static int add_matches(struct verifier *v, const uint8_t d[32], struct catalog_entry **all,
                       size_t *n)
{
	const struct catalog_entry *e = NULL;
	size_t k = 0;
	if (!appraise_catalog_get(v, d, &e, &k)) {
		char hex[65];
		hex_encode(d, 32, hex);
		struct catalog_entry *found = NULL;
		int rc = store_catalog_find(v->store, hex, &found, &k);
		if (rc < 0)
			return rc;
		if (k == 0) {
			free(found);
			found = NULL;
		}
		appraise_catalog_put(v, d, found, k);
		if (!appraise_catalog_get(v, d, &e, &k))
			return ATTEST_E_NOMEM;
	}
	if (k > 0 && k <= STORE_CATALOG_MAX - *n) {
		struct catalog_entry *m = realloc(*all, (*n + k) * sizeof **all);
		if (!m)
			return ATTEST_E_NOMEM;
		memcpy(m + *n, e, k * sizeof *e);
		*all = m;
		*n += k;
	}
	return 0;
}

void catalog_appraise_load(struct verifier *v, int64_t host_id, const uint8_t *log_digest,
                           const uint8_t *eventlog, size_t len, struct catalog_entry **ret,
                           size_t *ret_n)
{
	*ret = NULL;
	*ret_n = 0;
	const uint8_t(*digests)[32] = NULL;
	uint8_t parsed[CATALOG_APPRAISE_DIGESTS][32];
	size_t nd = 0;
	if (!log_digest || !appraise_boot_digests(v, host_id, log_digest, &digests, &nd)) {
		if (boot_digests(eventlog, len, parsed, &nd) < 0)
			return;
		digests = (const uint8_t(*)[32])parsed;
		if (log_digest)
			appraise_boot_digests_set(v, host_id, log_digest, digests, nd);
	}
	if (nd == 0)
		return;
	int64_t count = 0, max_id = 0;
	int rc = 0;
	if (!appraise_catalog_fresh(v)) /* else this round's read stands */
		rc = store_catalog_marker(v->store, &count, &max_id);
	if (rc == 0 && !appraise_catalog_fresh(v))
		rc = appraise_catalog_marker(v, count, max_id);
	for (size_t i = 0; i < nd && rc == 0; i++)
		rc = add_matches(v, digests[i], ret, ret_n);
	if (rc < 0) {
		log_error("the software catalog cannot be read: %s",
		          rc == ATTEST_E_NOMEM ? "out of memory" : store_errmsg(v->store));
		free(*ret);
		*ret = NULL;
		*ret_n = 0;
	}
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

void catalog_appraise_changes(struct verifier *v, int64_t host_id, const char *old_software,
                              const json_t *new_software)
{
	json_t *old = old_software ? json_loads(old_software, 0, NULL) : NULL;
	const json_t *olds = json_object_get(old, "components");
	const json_t *news = json_object_get(new_software, "components");
	size_t i, k;
	json_t *n, *o;
	json_array_foreach(news, i, n)
	{
		if (!json_is_true(json_object_get(n, "in_catalog")))
			continue;
		json_array_foreach(olds, k, o)
		{
			if (!json_is_true(json_object_get(o, "in_catalog")) ||
			    strcmp(str(o, "kind"), str(n, "kind")) != 0)
				continue;
			if (!strcmp(str(o, "package"), str(n, "package")) &&
			    !strcmp(str(o, "version"), str(n, "version")))
				break; /* unchanged */
			const char *rule = str(n, "rule");
			char approved[200];
			if (rule[0])
				snprintf(approved, sizeof approved, "approved by rule \"%.150s\"",
				         rule);
			else
				snprintf(approved, sizeof approved, "approved by no catalog rule");
			verifier_event(v, host_id, "software", "verifier", "%s %s %s -> %s %s, %s",
			               str(n, "kind"), str(o, "package"), str(o, "version"),
			               str(n, "package"), str(n, "version"), approved);
			break;
		}
	}
	json_decref(old);
}
