#!/usr/bin/env bash
# The end-to-end verifier scenarios of test_verifier.sh (enrollment, green,
# red, alarms, reboot, learning, tamper, unreachable, kill -9) against a
# throwaway PostgreSQL server instead of SQLite.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/pg.sh"
command -v pg_dump >/dev/null || { echo "SKIP: pg_dump not installed"; exit 77; }
pg_start || { echo "SKIP: no PostgreSQL server"; exit 77; }
trap 'pg_stop' EXIT
ATTEST_TEST_DB=$PG_URL bash "$here/test_verifier.sh"
rc=$?
[ "$rc" = 0 ] && echo "PASS (PostgreSQL $PG_URL)"
exit "$rc"
