/* The operator's word on a host's EK (store.h): a certificate they supplied
 * or the EK key hash they approved, for TPMs without an EK certificate in
 * NV. Kept apart from the hosts' other columns (HOST_COLS) because only
 * enrollment reads them. */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "store_internal.h"

static int check_key(struct store *s, const char *k)
{
	if (!k)
		return 0;
	if (strlen(k) != 7 + 64 || strncmp(k, "SHA256:", 7) != 0)
		return store_fail(s, ATTEST_E_ARG, "EK key hash is not SHA256: and 64 hex digits");
	for (size_t i = 7; k[i]; i++)
		if (!((k[i] >= '0' && k[i] <= '9') || (k[i] >= 'a' && k[i] <= 'f')))
			return store_fail(s, ATTEST_E_ARG, "EK key hash is not lowercase hex");
	return 0;
}

static int one_row(struct store *s, const char *sql, const struct store_value *p, size_t n)
{
	int64_t changed = 0;
	int rc = store_exec(s, sql, p, n, &changed);
	if (rc == 0 && changed == 0)
		rc = store_fail(s, ATTEST_E_NOTFOUND, "no such host");
	return rc;
}

int store_host_set_ek_cert(struct store *s, int64_t id, const uint8_t *der, size_t len, int64_t now)
{
	int rc = store_check_blob(s, "EK certificate", der, len, STORE_BLOB_MAX, true);
	if (rc)
		return rc;
	return one_row(s, "UPDATE hosts SET ek_operator_cert = $2, updated_at = $3 WHERE id = $1",
	               PARAMS(V_INT(id), der ? V_BLOB(der, len) : V_NULL, V_INT(now)));
}

int store_host_set_ek_key(struct store *s, int64_t id, const char *sha256, int64_t now)
{
	int rc = check_key(s, sha256);
	if (rc)
		return rc;
	return one_row(s, "UPDATE hosts SET ek_operator_key = $2, updated_at = $3 WHERE id = $1",
	               PARAMS(V_INT(id), V_TEXT(sha256), V_INT(now)));
}

int store_host_get_ek_operator(struct store *s, int64_t id, uint8_t **ret_der, size_t *ret_len,
                               char **ret_key)
{
	struct store_rows *rows = NULL;
	int rc = store_query(s, "SELECT ek_operator_cert, ek_operator_key FROM hosts WHERE id = $1",
	                     PARAMS(V_INT(id)), 1, &rows);
	if (rc)
		return rc;
	if (rows->nrows == 0) {
		store_rows_free(rows);
		return store_fail(s, ATTEST_E_NOTFOUND, "no such host");
	}
	size_t len = 0;
	*ret_der = store_cell_take(rows, 0, 0, &len);
	*ret_len = *ret_der ? len : 0;
	*ret_key = store_cell_take(rows, 0, 1, NULL);
	store_rows_free(rows);
	return 0;
}
