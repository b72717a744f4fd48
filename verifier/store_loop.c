/* The reads an attestation makes on the event loop, kept to what it needs
 * (store.h, "Reads for the attestation loop"): the host's row once per
 * attestation, a policy's text only when the cached one may be stale, and
 * once per scheduler round (on the writer thread) the markers that say
 * whether the cached policies and catalog still hold. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "store_internal.h"
#include "store_loop.h"

/* The columns decode_loop_host reads, in order: what job_verdict and the
 * verification use, nothing the dashboard alone wants. */
#define LOOP_HOST_COLS                                                                             \
	"hosts.id, hosts.name, hosts.policy_id, hosts.enabled, hosts.tpm, hosts.ek_certified, "    \
	"hosts.software, "                                                                         \
	"(SELECT a.name FROM aks a WHERE a.host_id = hosts.id AND a.retired_at IS NULL), "         \
	"hosts.reset_count, hosts.restart_count, hosts.boot_id, hosts.interval_s, hosts.failures"

static void decode_loop_host(struct store_rows *rows, size_t r, void *item)
{
	struct store_host *h = item;
	*h = (struct store_host){
	    .id = store_cell_int(rows, r, 0),
	    .name = store_cell_take(rows, r, 1, NULL),
	    .policy_id = store_cell_int(rows, r, 2),
	    .enabled = store_cell_int(rows, r, 3) != 0,
	    .tpm_json = store_cell_take(rows, r, 4, NULL),
	    .ek_certified = store_cell_int(rows, r, 5) != 0,
	    .software_json = store_cell_take(rows, r, 6, NULL),
	    .ak_name = store_cell_take(rows, r, 7, NULL),
	    .reset_count = store_cell_count(rows, r, 8),
	    .restart_count = store_cell_count(rows, r, 9),
	    .boot_id = store_cell_take(rows, r, 10, NULL),
	    .interval_s = store_cell_int(rows, r, 11),
	    .failures = store_cell_int(rows, r, 12),
	    /* not read: the safe words, never green or connected */
	    .connection = STORE_CONN_DISCONNECTED,
	    .trust = STORE_TRUST_UNKNOWN,
	};
}

int store_loop_host(struct store *s, int64_t id, struct store_host **ret)
{
	void *h = NULL;
	int rc =
	    store_query_one(s, "SELECT " LOOP_HOST_COLS " FROM hosts WHERE hosts.id = $1",
	                    PARAMS(V_INT(id)), sizeof(struct store_host), decode_loop_host, &h);
	if (rc == 0)
		*ret = h;
	return rc;
}

int store_loop_policy(struct store *s, int64_t policy_id, char **ret_body)
{
	struct store_rows *rows = NULL;
	int rc = policy_id > 0 ? store_query(s, "SELECT body FROM policies WHERE id = $1",
	                                     PARAMS(V_INT(policy_id)), 1, &rows)
	                       : store_query(s, "SELECT body FROM policies WHERE is_default = 1",
	                                     NULL, 0, 1, &rows);
	if (rc)
		return rc;
	char *body = rows->nrows == 1 ? store_cell_take(rows, 0, 0, NULL) : NULL;
	bool found = rows->nrows == 1;
	store_rows_free(rows);
	if (!found)
		return ATTEST_E_NOTFOUND;
	if (body == NULL)
		return ATTEST_E_NOMEM;
	*ret_body = body;
	return 0;
}

int store_loop_markers(struct store *s, struct store_loop_markers *ret)
{
	struct store_rows *rows = NULL;
	int rc = store_query(s,
	                     "SELECT (SELECT n FROM generations WHERE name = 'policies'), "
	                     "(SELECT COUNT(*) FROM catalog), "
	                     "(SELECT COALESCE(MAX(id), 0) FROM catalog)",
	                     NULL, 0, 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows != 1) {
		store_rows_free(rows);
		return ATTEST_E_IO;
	}
	ret->policies = store_cell_int(rows, 0, 0);
	ret->catalog_count = store_cell_int(rows, 0, 1);
	ret->catalog_max_id = store_cell_int(rows, 0, 2);
	store_rows_free(rows);
	return 0;
}

int store_loop_policies_changed(struct store *s)
{
	return store_exec(s,
	                  "INSERT INTO generations (name, n) VALUES ('policies', 1) "
	                  "ON CONFLICT (name) DO UPDATE SET n = generations.n + 1",
	                  NULL, 0, NULL);
}
