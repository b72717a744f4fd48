# A synthetic fleet written straight into the verifier's database, for the
# fleet view's tests and bench (test_hosts_query.sh, test_dashboard.sh,
# bench_dashboard.sh): hosts with verdicts, as attestation leaves them, without
# an agent each. Source it after lib.sh and start_verifier (the schema is the
# verifier's); ATTEST_TEST_DB (PostgreSQL) or $work/vd/verifier.db (SQLite).
#
#   fleet_fill N [PREFIX]  add N hosts named PREFIX-00001.. (default "fleet"):
#     host i is red when i % 10 = 0, unknown when i % 10 = 1, else green;
#     not_responding when i % 25 = 1, disconnected when i % 25 = 2, else
#     connected; last attested NOW - (i * 7 % 3600) (never when unknown);
#     address 10.(i / 250).(i % 250).1:4433. Their next attestation is due in
#     the year 2100, so the verifier leaves them as written.
#   fleet_expect N VAR     the expected count of VAR (green, red, unknown,
#     connected, disconnected, not_responding) among hosts 1..N
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

fleet_fill() {
  local n=$1 prefix=${2:-fleet}
  if [ -n "${ATTEST_TEST_DB:-}" ]; then
    fleet_sql "$n" "$prefix" | psql -X -q -v ON_ERROR_STOP=1 "$ATTEST_TEST_DB" >/dev/null ||
      fail "fleet_fill: psql"
  else
    { echo ".timeout 10000"; fleet_sql "$n" "$prefix"; } |
      sqlite3 -batch "$work/vd/verifier.db" || fail "fleet_fill: sqlite3"
  fi
}

fleet_expect() {
  local n=$1 what=$2 i c=0
  for ((i = 1; i <= n; i++)); do
    case $what in
      red) ((i % 10 == 0)) && c=$((c + 1));;
      unknown) ((i % 10 == 1)) && c=$((c + 1));;
      green) ((i % 10 > 1)) && c=$((c + 1));;
      not_responding) ((i % 25 == 1)) && c=$((c + 1));;
      disconnected) ((i % 25 == 2)) && c=$((c + 1));;
      connected) ((i % 25 > 2 || i % 25 == 0)) && c=$((c + 1));;
    esac
  done
  echo "$c"
}
