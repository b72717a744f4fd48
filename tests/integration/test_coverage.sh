#!/usr/bin/env bash
# The fleet watched as a whole (issue 16), SQLite: a real verifier and three
# real agents on swtpm, with short periods so that each step takes seconds.
#   green       every host attested: coverage 100 % in /metrics (fleet and
#               per instance), GET /api/v1/status, attestctl status; /healthz
#               200 without a token
#   db_locked   another process holds the database's write lock: the
#               storage writer commits nothing while work waits, and
#               /healthz answers 503 naming the writer; lock gone -> 200
#   coverage    one agent killed: its verdict goes stale (validity 6 s), the
#               coverage drops to 2/3, under --coverage-alarm 90: one fleet
#               alarm COVERAGE_LOW (attestctl alarm list, the API, an event);
#               agent back -> 100 %, the alarm cleared (at 95 %, after the
#               hold)
#   dead_man    every agent killed: no verdict for longer than --dead-man:
#               the alarm NO_RECENT_VERDICTS and /healthz 503 saying so;
#               agents back -> cleared, 200
# Disconnected hosts (enabled = 0) are outside coverage; a killed agent's
# host stays enabled, so it is what makes coverage drop.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/faultlib.sh"
fault_prereqs
[ -x "$bin/attestctl" ] || skip "$bin/attestctl not built"

work=$(mktemp -d /tmp/attest-test-coverage.XXXXXX)
lock_pid=""
rcv_pid=""
cleanup() {
  [ -n "$rcv_pid" ] && kill "$rcv_pid" 2>/dev/null && wait "$rcv_pid" 2>/dev/null
  exec 9>&- 2>/dev/null
  [ -n "$lock_pid" ] && kill "$lock_pid" 2>/dev/null && wait "$lock_pid" 2>/dev/null
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
t_start=$(date +%s)

for n in a b c; do sim $n qemu-ovmf-ubuntu-secureboot.bin "$work/ca"; done
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
start_verifier --attest-interval 2 --evidence-validity 6 --timeout-ms 2000 \
  --coverage-alarm 90 --alarm-hold 2 --dead-man 10 --stall-seconds 4
admin=$(tr -d '\n' <"$work/vd/admin.token")
for n in a b c; do add_host $n; done

metric() { # metric LINE-PREFIX: the value of the first line that starts with it
  curl -sk -m 5 -H "Authorization: Bearer $admin" "$url/metrics" |
    awk -v p="$1" 'index($0, p " ") == 1 && !f { print $NF; f = 1 }'
}
status_json() { curl -sk -m 5 -H "Authorization: Bearer $admin" "$url/api/v1/status"; }
healthz_code() { curl -sk -m 5 -o "$work/healthz.json" -w '%{http_code}' "$url/healthz"; }
ctl() {
  ATTEST_SERVER="$url" ATTEST_SERVER_THUMBPRINT="$vthumb" \
    "$bin/attestctl" --token-file "$work/vd/admin.token" "$@" </dev/null
}
open_fleet() { # open_fleet KIND: the ids of the open fleet alarms of KIND
  api "$admin" GET "/api/v1/alarms?open=1&limit=50" | sed '$d' |
    jq -r --arg k "$1" '.alarms[] | select(.kind == $k and .host == null) | .id'
}
fleet_alarm() { # fleet_alarm KIND open|closed: one open alarm of KIND, or none
  local ids
  ids=$(open_fleet "$1")
  if [ "$2" = open ]; then [ "$(wc -w <<<"$ids")" = 1 ]; else [ -z "$ids" ]; fi
}
coverage_is() { [ "$(metric 'attest_coverage_ratio{scope="fleet"}')" = "$1" ]; }
healthz_is() { [ "$(healthz_code)" = "$1" ]; }
force_attest() { for n in "$@"; do api "$admin" POST "/api/v1/hosts/$n/attest?wait=1" >/dev/null; done; }

# --- green
# The coverage is read every few seconds: wait for a reading that counts all
# three hosts (one taken between two additions says 2 of 2, also 100 %).
all_three_covered() {
  local m
  m=$(curl -sk -m 5 -H "Authorization: Bearer $admin" "$url/metrics")
  grep -qx 'attest_coverage_ratio{scope="fleet"} 1' <<<"$m" &&
    grep -qx 'attest_coverage_ratio{scope="instance",instance="test-verifier"} 1' <<<"$m" &&
    grep -qx 'attest_coverage_hosts{state="enabled"} 3' <<<"$m" &&
    grep -qx 'attest_coverage_hosts{state="covered"} 3' <<<"$m"
}
wait_until 20 all_three_covered ||
  fail "coverage not 3 of 3 (fleet, per instance): $(curl -sk -H "Authorization: Bearer $admin" "$url/metrics" | grep coverage)"
s=$(status_json)
jq -e '.coverage.ratio == 1 and .coverage.enabled == 3 and .coverage.covered == 3
       and .coverage.instances[0].instance == "test-verifier" and .coverage.health.ok == true
       and .coverage.alarm_percent == 90 and .hosts.total == 3' <<<"$s" >/dev/null ||
  fail "status coverage: $s"
out=$(ctl status) || fail "attestctl status failed: $out"
grep -q '^coverage     100.0%: 3 of 3 enabled hosts' <<<"$out" || fail "attestctl status: $out"
grep -q '^  instance   test-verifier: 100.0% (3 of 3)' <<<"$out" || fail "attestctl status per instance: $out"
grep -q '^health       ok' <<<"$out" || fail "attestctl status health: $out"
ctl status --json | jq -e '.coverage.ratio == 1 and .version != null' >/dev/null || fail "attestctl status --json"
healthz_is 200 || fail "/healthz not 200 on a healthy verifier: $(cat "$work/healthz.json")"
jq -e '.status == "ok" and .reason == null and .instance == "test-verifier"' "$work/healthz.json" >/dev/null ||
  fail "/healthz body: $(cat "$work/healthz.json")"
ok "green: coverage 100 % in /metrics (fleet, per instance), status, attestctl status; /healthz 200"

# --- db_locked: the write lock held by another process until we let go.
mkfifo "$work/lock.in"
sqlite3 -batch "$work/vd/verifier.db" <"$work/lock.in" >"$work/lock.out" 2>&1 &
lock_pid=$!
exec 9>"$work/lock.in"
printf '.timeout 30000\nBEGIN EXCLUSIVE;\nSELECT 1;\n' >&9
wait_until 5 grep -q '^1$' "$work/lock.out" || fail "the lock was not taken: $(cat "$work/lock.out")"
t0=$(date +%s)
# 503 naming the writer (the dead-man check may come first or with it: the
# last verdict was a few seconds before the lock, its period is 10 s).
healthz_names_writer() {
  [ "$(healthz_code)" = 503 ] &&
    jq -e '.status == "unhealthy" and (.problems | map(.check) | index("writer")) != null
           and (.reason + " " + (.problems | map(.message) | join(" ")) | test("storage writer"))' \
      "$work/healthz.json" >/dev/null
}
wait_until 25 healthz_names_writer ||
  fail "/healthz not 503 naming the writer while it cannot commit: $(cat "$work/healthz.json")"
echo "healthz 503 after $(( $(date +%s) - t0 )) s of lock: $(jq -r '.problems | map(.message) | join("; ")' "$work/healthz.json")"
printf 'COMMIT;\n' >&9; exec 9>&-
wait "$lock_pid"; lock_pid=""
wait_until 25 healthz_is 200 || fail "/healthz not 200 after the lock: $(cat "$work/healthz.json")"
ok "db_locked: /healthz 503 naming the storage writer, 200 once the lock is gone"

# --- coverage: c's agent dies; its last verdict goes stale after 6 s.
# (The lock above may have made every verdict stale for a moment and raised
# and cleared a coverage alarm already: wait for it to be cleared.)
wait_until 20 coverage_is 1 || fail "coverage not 1 after the lock"
wait_until 20 fleet_alarm coverage closed || fail "a coverage alarm stays open after the lock"
# The coverage alarm is notified (kind coverage): a syslog receiver on a unix
# socket (notify_receiver.py parses each RFC 5424 message into a JSON line).
: >"$work/cov.log"
python3 "$here/notify_receiver.py" syslog-unix "$work/cov.sock" "$work/cov.log" 2>"$work/rcv.err" &
rcv_pid=$!
wait_until 10 test -S "$work/cov.sock" || fail "receiver did not start: $(cat "$work/rcv.err")"
out=$(ctl notify add noc --syslog "unix:$work/cov.sock" --events coverage) || fail "notify add: $out"
agent_kill c
t0=$(date +%s)
wait_until 30 coverage_is 0.666667 ||
  fail "coverage did not drop to 2/3: $(curl -sk -H "Authorization: Bearer $admin" "$url/metrics" | grep coverage)"
wait_until 20 fleet_alarm coverage open || fail "no open coverage alarm: $(api "$admin" GET /api/v1/alarms)"
echo "coverage alarm raised $(( $(date +%s) - t0 )) s after the agent died"
call "$admin" GET "/api/v1/alarms?open=1" 200
[ "$(field '[.alarms[] | select(.kind == "coverage")] | length')" = 1 ] || fail "not one coverage alarm: $body"
[ "$(field '.alarms[] | select(.kind == "coverage") | .summary')" = COVERAGE_LOW ] || fail "summary: $body"
field '.alarms[] | select(.kind == "coverage") | .reasons[0].message' | grep -q 'under the alarm threshold of 90%' ||
  fail "reason message: $body"
out=$(ctl alarm list) || fail "attestctl alarm list: $out"
grep -q '(fleet: coverage).*COVERAGE_LOW' <<<"$out" || fail "attestctl alarm list: $out"
call "$admin" GET "/api/v1/events?kind=alarm&limit=10" 200
field '.events[].message' | grep -q 'under the alarm threshold' || fail "no raise event: $body"
call "$admin" GET /api/v1/reasons 200
grep -q COVERAGE_LOW <<<"$body" && grep -q NO_RECENT_VERDICTS <<<"$body" || fail "reason codes not served"
[ "$(metric 'attest_fleet_alarm{kind="coverage"}')" = 1 ] || fail "attest_fleet_alarm not 1"
wait_until 20 bash -c "jq -s -e 'any(.[]; .sd.kind==\"coverage\" and .sd.event==\"alarm raised\" and (.sd.reasons|test(\"COVERAGE_LOW\")))' '$work/cov.log' >/dev/null" ||
  fail "no coverage notification for the raise: $(cat "$work/cov.log")"
healthz_is 200 || fail "/healthz not 200 with one host down (the verifier works): $(cat "$work/healthz.json")"
# Acknowledged like any alarm.
id=$(api "$admin" GET '/api/v1/alarms?open=1' | sed '$d' | jq -r '.alarms[] | select(.kind == "coverage") | .id')
out=$(ctl alarm ack "$id") || fail "attestctl alarm ack $id: $out"
[ "$out" = "Fleet alarm $id (coverage) acknowledged by admin." ] || fail "attestctl alarm ack: $out"
agent_restart c
force_attest c
wait_until 30 coverage_is 1 || fail "coverage not back to 1"
wait_until 20 fleet_alarm coverage closed || fail "coverage alarm not cleared: $(api "$admin" GET /api/v1/alarms)"
call "$admin" GET "/api/v1/alarms/$id" 200
[ "$(field .cleared_at)" != null ] || fail "alarm $id not cleared: $body"
call "$admin" GET "/api/v1/alarms?open=1" 200
[ "$(field '[.alarms[] | select(.kind == "coverage")] | length')" = 0 ] || fail "coverage alarm still open: $body"
wait_until 20 bash -c "jq -s -e 'any(.[]; .sd.kind==\"coverage\" and .sd.event==\"alarm cleared\")' '$work/cov.log' >/dev/null" ||
  fail "no coverage notification for the clear: $(cat "$work/cov.log")"
jq -s -e 'all(.[]; .sd.kind=="coverage" and .error == null)' "$work/cov.log" >/dev/null ||
  fail "a notification of another kind, or unparsed: $(cat "$work/cov.log")"
kill "$rcv_pid" 2>/dev/null && wait "$rcv_pid" 2>/dev/null
ok "coverage: 2/3 under 90 % -> one COVERAGE_LOW fleet alarm (API, attestctl, event, metric, syslog notification), acked; back -> cleared (notified)"

# --- dead_man: every agent dies; no verdict for longer than 10 s.
for n in a b c; do agent_kill $n; done
t0=$(date +%s)
wait_until 20 fleet_alarm dead_man closed || fail "a dead-man alarm is open before the agents died"
wait_until 40 fleet_alarm dead_man open || fail "no dead-man alarm: $(api "$admin" GET /api/v1/alarms)"
echo "dead-man alarm raised $(( $(date +%s) - t0 )) s after the last agent died"
healthz_is 503 || fail "/healthz not 503 without verdicts: $(cat "$work/healthz.json")"
jq -e '(.problems | map(.check) | index("verdicts")) != null and (.reason | test("NO_RECENT_VERDICTS"))' \
  "$work/healthz.json" >/dev/null || fail "/healthz 503 without the dead-man reason: $(cat "$work/healthz.json")"
call "$admin" GET "/api/v1/alarms?open=1" 200
[ "$(field '.alarms[] | select(.kind == "dead_man") | .summary')" = NO_RECENT_VERDICTS ] || fail "dead-man summary: $body"
out=$(ctl status) || fail "attestctl status"
grep -q '^fleet alarms .*NO_RECENT_VERDICTS' <<<"$out" || fail "attestctl status fleet alarms: $out"
grep -q '^health       unhealthy' <<<"$out" || fail "attestctl status health: $out"
for n in a b c; do agent_restart $n; done
force_attest a b c
wait_until 20 fleet_alarm dead_man closed || fail "dead-man alarm not cleared"
wait_until 20 healthz_is 200 || fail "/healthz not 200 after verdicts came back: $(cat "$work/healthz.json")"
ok "dead_man: NO_RECENT_VERDICTS alarm and /healthz 503 saying so; verdicts back -> cleared, 200"

# At most one open alarm of each fleet kind, ever (the unique index), and the
# database is sound.
[ "$(db "SELECT count(*) FROM alarms WHERE host_id IS NULL AND cleared_at IS NULL GROUP BY kind HAVING count(*) > 1")" = "" ] ||
  fail "two open fleet alarms of one kind"
kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
[ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
echo "test_coverage: $(( $(date +%s) - t_start )) s"
