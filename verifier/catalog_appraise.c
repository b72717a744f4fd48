/* The software catalog at attestation time (catalog_appraise.h). */
#include "catalog_appraise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_catalog.h"

void catalog_appraise_load(struct verifier *v, struct catalog_entry **ret, size_t *ret_n)
{
	*ret = NULL;
	*ret_n = 0;
	if (store_catalog_list(v->store, NULL, NULL, ret, ret_n) < 0) {
		log_error("the software catalog cannot be read: %s", store_errmsg(v->store));
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
