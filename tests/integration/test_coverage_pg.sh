#!/usr/bin/env bash
# The fleet alarms with two verifiers sharing one PostgreSQL database (issue
# 16): both watch the coverage and both notice when it drops, but the
# database holds one open alarm of each fleet kind (a unique index) and one
# "raised" event, whichever instance wrote it.
#   coverage    one agent of three killed: one COVERAGE_LOW alarm, one event;
#               per-instance coverage in both instances' status
#   dead_man    every agent killed: one NO_RECENT_VERDICTS alarm, one event;
#               both instances' /healthz 503 saying so
#   database    PostgreSQL stopped: /healthz 503 naming the database; back:
#               that problem gone
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/faultlib.sh"
fault_prereqs
command -v psql >/dev/null || skip "psql not installed"
. "$here/pg.sh"

work=$(mktemp -d /tmp/attest-test-coverage-pg.XXXXXX)
pid1=""
cleanup() {
  [ -n "$pid1" ] && kill -TERM "$pid1" 2>/dev/null && wait "$pid1" 2>/dev/null
  lib_cleanup
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
t_start=$(date +%s)
pg_start || skip "no PostgreSQL server"
export ATTEST_TEST_DB=$PG_URL
sql() { psql -X -q -t -A -d "$PG_URL" -v ON_ERROR_STOP=1 -c "$1"; }

for n in a b c; do sim $n qemu-ovmf-ubuntu-secureboot.bin "$work/ca"; done
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
opts=(--attest-interval 2 --evidence-validity 6 --timeout-ms 2000 --lease-seconds 3
      --coverage-alarm 90 --alarm-hold 1 --dead-man 8)
start_verifier "${opts[@]}" --instance v1
url1=$url; pid1=$ver_pid; ver_pid=""
admin=$(tr -d '\n' <"$work/vd/admin.token")
# v2 joins from a copy of v1's data directory (one TLS identity).
cp -a "$work/vd" "$work/vd2"
start_verifier "${opts[@]}" --instance v2 --data-dir "$work/vd2"
url2=$url
url=$url1
for n in a b c; do add_host $n; done

status_of() { curl -sk -m 5 -H "Authorization: Bearer $admin" "$1/api/v1/status"; }
covered_all() { status_of "$1" | jq -e '.coverage.ratio == 1' >/dev/null; }
open_fleet() { sql "SELECT count(*) FROM alarms WHERE host_id IS NULL AND kind = '$1' AND cleared_at IS NULL"; }
none_open() { [ "$(open_fleet "$1")" = 0 ]; }
one_open() { [ "$(open_fleet "$1")" = 1 ]; }
healthz_503() { [ "$(curl -sk -m 5 -o "$work/hz.json" -w '%{http_code}' "$1/healthz")" = 503 ]; }

wait_until 30 covered_all "$url1" || fail "v1: coverage not 1: $(status_of "$url1" | jq -c .coverage)"
wait_until 30 covered_all "$url2" || fail "v2: coverage not 1: $(status_of "$url2" | jq -c .coverage)"
for u in "$url1" "$url2"; do
  status_of "$u" | jq -e '[.coverage.instances[] | .instance] - ["v1", "v2"] == []
    and ([.coverage.instances[].enabled] | add) == 3' >/dev/null ||
    fail "per-instance coverage: $(status_of "$u" | jq -c .coverage.instances)"
done
echo "per instance: $(status_of "$url1" | jq -c '[.coverage.instances[] | {instance, enabled, covered}]')"
# Hosts not yet attested while they were being added may have raised (and
# cleared) one already: count from here.
wait_until 20 none_open coverage || fail "a coverage alarm stays open at start"
t0=$(sql "SELECT extract(epoch FROM now())::bigint")
ok "two verifiers on PostgreSQL, 3 hosts covered, per-instance coverage in both"

# --- coverage
agent_kill c
wait_until 40 one_open coverage || fail "no coverage alarm: $(sql "SELECT id, kind, summary, cleared_at FROM alarms")"
sleep 4 # both instances evaluate several more times (every second here)
[ "$(sql "SELECT count(*) FROM alarms WHERE kind = 'coverage' AND raised_at >= $t0")" = 1 ] ||
  fail "more than one coverage alarm: $(sql "SELECT id, raised_at, cleared_at, reasons FROM alarms WHERE kind = 'coverage'")"
[ "$(sql "SELECT count(*) FROM events WHERE kind = 'alarm' AND host_id IS NULL AND at >= $t0
          AND message LIKE 'coverage %under the alarm threshold%'")" = 1 ] ||
  fail "raise events: $(sql "SELECT at, message FROM events WHERE kind = 'alarm'")"
by=$(sql "SELECT reasons::json->0->'evidence'->>'instance' FROM alarms WHERE kind = 'coverage' AND cleared_at IS NULL")
for u in "$url1" "$url2"; do
  status_of "$u" | jq -e '.coverage.alarms.coverage == true' >/dev/null || fail "status at $u: no open coverage alarm"
done
ok "coverage: one COVERAGE_LOW alarm and one event with two instances watching (raised by $by)"

# --- dead_man
wait_until 20 none_open dead_man || fail "a dead-man alarm is open before the agents died"
t1=$(sql "SELECT extract(epoch FROM now())::bigint")
for n in a b; do agent_kill $n; done
wait_until 40 one_open dead_man || fail "no dead-man alarm"
sleep 4
[ "$(sql "SELECT count(*) FROM alarms WHERE kind = 'dead_man' AND raised_at >= $t1")" = 1 ] ||
  fail "more than one dead-man alarm: $(sql "SELECT id, raised_at, cleared_at FROM alarms WHERE kind = 'dead_man'")"
[ "$(sql "SELECT count(*) FROM events WHERE kind = 'alarm' AND host_id IS NULL AND at >= $t1
          AND message LIKE 'no verdict for any%'")" = 1 ] ||
  fail "dead-man events: $(sql "SELECT at, message FROM events WHERE kind = 'alarm'")"
for u in "$url1" "$url2"; do
  wait_until 10 healthz_503 "$u" || fail "$u/healthz not 503: $(cat "$work/hz.json")"
  jq -e '.reason | test("NO_RECENT_VERDICTS")' "$work/hz.json" >/dev/null || fail "$u/healthz: $(cat "$work/hz.json")"
done
ok "dead_man: one NO_RECENT_VERDICTS alarm and one event; both instances' /healthz 503"

# --- database: PostgreSQL stops under the running verifiers.
db_problem() { healthz_503 "$1" && jq -e '.problems | map(.check) | index("database") != null' "$work/hz.json" >/dev/null; }
no_db_problem() { curl -sk -m 5 -o "$work/hz.json" "$1/healthz"; jq -e '.problems | map(.check) | index("database") == null' "$work/hz.json" >/dev/null; }
pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || fail "cannot stop PostgreSQL"
wait_until 15 db_problem "$url1" || fail "v1/healthz does not name the database: $(cat "$work/hz.json")"
echo "database down: $(jq -r '.problems[] | select(.check == "database") | .message' "$work/hz.json")"
pg_start_server || fail "cannot start PostgreSQL again"
wait_until 20 no_db_problem "$url1" || fail "v1/healthz still names the database: $(cat "$work/hz.json")"
ok "database: /healthz 503 naming the database while PostgreSQL is down, not once it is back"
echo "test_coverage_pg: $(( $(date +%s) - t_start )) s"
