#!/usr/bin/env bash
# The audit chain on PostgreSQL (tests/integration/test_store_audit.c against
# a throwaway server from pg.sh): records of events and verdicts, a work
# undone inside a group commit leaving no gap, and four processes, each with
# its own connection, appending at once: one linear chain, whole (the head
# row locked FOR UPDATE serializes the appends). Two real verifiers sharing
# one database are covered by test_multi_verifier.sh's "audit" step. SKIP
# when the PostgreSQL server is not installed or the build has no libpq.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${ATTEST_BUILD:-build}
prog="$build/tests/test_store_audit"
skip() { echo "SKIP: $*"; exit 77; }
[ -x "$prog" ] || skip "$prog not built"

. "$here/pg.sh"
trap 'pg_stop' EXIT
pg_start || skip "PostgreSQL could not be started"
t0=$(date +%s%N)
ATTEST_STORE_URL="$PG_URL?application_name=attest-test" "$prog"
rc=$?
echo "test_store_audit on PostgreSQL: exit $rc in $((($(date +%s%N) - t0) / 1000000)) ms"
exit $rc
