#!/usr/bin/env bash
# The software catalog (test_catalog_api.sh) and the catalog policy scenario
# (test_catalog_policy.sh) against a throwaway PostgreSQL server instead of
# SQLite: migration 6, the catalog table and its queries on both backends.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg.sh"
pg_start || { echo "SKIP: no PostgreSQL server"; exit 77; }
trap 'pg_stop' EXIT
ATTEST_TEST_DB=$PG_URL bash "$here/test_catalog_api.sh" || exit $?
# a fresh database for the second scenario
psql_bin="$PG_BIN/psql"
"$psql_bin" -q -h 127.0.0.1 -p "$PG_PORT" -U attest -d attest \
  -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public;' >/dev/null || exit 1
ATTEST_TEST_DB=$PG_URL bash "$here/test_catalog_policy.sh"
rc=$?
[ "$rc" = 0 ] && echo "PASS (PostgreSQL $PG_URL)"
exit "$rc"
