# A synthetic fleet written straight into the verifier's database, for the
# fleet view's tests and bench (test_hosts_query.sh, the browser test run by
# test_dashboard.sh and its bench mode): hosts with verdicts, as attestation
# leaves them, without an agent each. Source it after lib.sh and start_verifier (the schema is the
# verifier's); ATTEST_TEST_DB (PostgreSQL) or $work/vd/verifier.db (SQLite).
#
#   fleet_fill N [PREFIX]  add N hosts named PREFIX-00001.. (default "fleet"):
#     host i is red when i % 10 = 0, unknown when i % 10 = 1, else green;
#     not_responding when i % 25 = 1, disconnected when i % 25 = 2, else
#     connected; last attested NOW - (i * 7 % 3600) (never when unknown);
#     address 10.(i / 250).(i % 250).1:4433. Their next attestation is due in
#     the year 2100, so the verifier leaves them as written.
#   fleet_db <SQL          run SQL on the database (e.g. turn a host red)
fleet_sql() {
  local n=$1 prefix=$2 now
  now=$(date +%s)
  cat <<SQL
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $n)
INSERT INTO hosts (name, address, enabled, conn_state, trust_state, reasons, last_attested,
                   last_seen, interval_s, next_due, created_at, updated_at)
SELECT '$prefix-' || substr(CAST(100000 + i AS TEXT), 2),
       '10.' || CAST(i / 250 AS TEXT) || '.' || CAST(i % 250 AS TEXT) || '.1:4433',
       1,
       CASE WHEN i % 25 = 1 THEN 'not_responding' WHEN i % 25 = 2 THEN 'disconnected'
            ELSE 'connected' END,
       CASE WHEN i % 10 = 0 THEN 'red' WHEN i % 10 = 1 THEN 'unknown' ELSE 'green' END,
       CASE WHEN i % 10 = 0
            THEN '[{"code":"SECURE_BOOT_DISABLED","message":"Secure Boot is disabled"}]'
            ELSE '[]' END,
       CASE WHEN i % 10 = 1 THEN NULL ELSE $now - (i * 7 % 3600) END,
       CASE WHEN i % 10 = 1 THEN NULL ELSE $now - (i * 7 % 3600) END,
       60, 4102444800, $now, $now
FROM seq;
SQL
}

# Run the SQL on stdin on the verifier's database: $FLEET_DB if set, else
# ATTEST_TEST_DB, else $work/vd/verifier.db ("postgres..." URLs go to psql).
fleet_db() {
  local db=${FLEET_DB:-${ATTEST_TEST_DB:-$work/vd/verifier.db}}
  case $db in
    postgres*) psql -X -q -v ON_ERROR_STOP=1 "$db" >/dev/null;;
    *) { echo ".timeout 10000"; cat; } | sqlite3 -batch "${db#sqlite:}";;
  esac
}

fleet_fill() {
  local n=$1 prefix=${2:-fleet}
  fleet_sql "$n" "$prefix" | fleet_db || fail "fleet_fill: writing $n hosts failed"
}

# As a command (the browser test): fleetlib.sh DB fill N [PREFIX] | fleetlib.sh DB sql SQL
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  fail() { echo "fleetlib.sh: $*" >&2; exit 1; }
  FLEET_DB=$1
  case ${2:-} in
    fill) fleet_fill "$3" "${4:-fleet}";;
    sql) echo "$3" | fleet_db || fail "SQL failed: $3";;
    *) fail "usage: fleetlib.sh DB fill N [PREFIX] | fleetlib.sh DB sql SQL";;
  esac
fi
