/* Store -> parsed policy for one host (see host_policy.h). */
#include "host_policy.h"

#include <string.h>

#include "err.h"

int host_policy_load(struct store *st, int64_t host_id, struct policy **ret,
                     struct policy_error *err)
{
	err->message[0] = '\0';
	struct store_policy *sp = NULL;
	int rc = store_policy_for_host(st, host_id, &sp);
	if (rc == ATTEST_E_NOTFOUND)
		return policy_default(ret);
	if (rc < 0)
		return rc;
	rc = policy_parse(sp->body_json, strlen(sp->body_json), ret, err);
	store_policy_free(sp);
	return rc;
}
