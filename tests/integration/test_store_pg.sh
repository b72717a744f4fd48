#!/usr/bin/env bash
# The store's whole test program (tests/integration/test_store.c: migrations,
# reopen, unique keys, nonces consumed once by racing processes, alarms
# raised once, results cap, AK retirement, leases claimed by racing
# processes and taken over after expiry, kill -9 mid-write, concurrent first
# start, connection loss and reconnect, SQLite -> PostgreSQL copy and back)
# against a throwaway PostgreSQL server started by pg.sh. SKIP when the
# PostgreSQL server is not installed or the build has no libpq.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${ATTEST_BUILD:-build}
prog="$build/tests/test_store"
skip() { echo "SKIP: $*"; exit 77; }
[ -x "$prog" ] || skip "$prog not built"

. "$here/pg.sh"
trap 'pg_stop' EXIT
pg_start || skip "PostgreSQL could not be started"
echo "PostgreSQL at $PG_URL ($PG_BIN)"

t0=$(date +%s%N)
ATTEST_STORE_URL="$PG_URL?application_name=attest-test" "$prog"
rc=$?
echo "test_store on PostgreSQL: exit $rc in $((($(date +%s%N) - t0) / 1000000)) ms"
# 77: the program was built without libpq (it says so).
exit $rc
