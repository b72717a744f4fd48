#!/usr/bin/env bash
# The verifier killed at random points under load (issue 7): four real
# agents on swtpm attested every second, operator calls asking for more,
# and the verifier killed with SIGKILL at a random moment, restarted, five
# times. After every kill the database (SQLite, WAL, synchronous=FULL) is
# checked while the verifier is down: integrity_check, foreign keys, trust
# agrees with the newest history row, green only with green evidence and a
# current AK, nonces single use (no more green verdicts than used nonces),
# at most one open alarm per host and none on a green host. Nothing
# acknowledged is lost (hosts, AKs, events only grow), and after the last
# restart every host is attested green again. Verdicts are written in group
# commits by a writer thread (issue 14): every verdict an API answer
# reported before a kill (POST /hosts/NAME/attest?wait=1) is in the
# database after it.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/faultlib.sh"
fault_prereqs
KILLS=${ATTEST_FAULT_KILLS:-5}

work=$(mktemp -d /tmp/attest-test-faults-crash.XXXXXX)
load_pid=""
cleanup() {
  [ -n "$load_pid" ] && kill "$load_pid" 2>/dev/null && wait "$load_pid" 2>/dev/null
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

hosts=(h1 h2 h3 h4)
for n in "${hosts[@]}"; do sim $n qemu-ovmf-ubuntu-secureboot.bin "$work/ca"; done
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
vopts=(--attest-interval 1 --timeout-ms 3000 --evidence-validity 60 --lease-seconds 3)
start_verifier "${vopts[@]}"
admin=$(tr -d '\n' <"$work/vd/admin.token")
for n in "${hosts[@]}"; do add_host $n; done
ok "four hosts green, attested every second"

# Operator load: on-demand attestations and reads, whatever verifier is up.
load() {
  while :; do
    local u
    u=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/ver.out" 2>/dev/null)
    if [ -n "$u" ]; then
      for n in "${hosts[@]}"; do
        # ?wait=1 answers with the verdict: what it reports must survive
        # any kill that follows (checked below).
        ( r=$(curl -sk -m 5 -X POST -H "Authorization: Bearer $admin" \
              "$u/api/v1/hosts/$n/attest?wait=1" 2>/dev/null) &&
          jq -er 'select(.last_attested != null) | "\(.name) \(.last_attested)"' \
            <<<"$r" >>"$work/reported" 2>/dev/null ) &
      done
      curl -sk -m 2 -o /dev/null -H "Authorization: Bearer $admin" "$u/api/v1/hosts" &
      wait
    fi
    sleep 0.1
  done
}
load &
load_pid=$!

# Every verdict an API answer reported (host, last_attested) is in the
# database after the kill: in the host's history, and the host's
# last_attested is not older. Answers are collected by load() until the kill.
checked=0
reported_durable() {
  sleep 0.5 # answers received before the kill are written to the file
  local n at c
  while read -r n at; do
    c=$(db "SELECT count(*) FROM results r JOIN hosts h ON h.id = r.host_id
            WHERE h.name = '$n' AND r.at = $at;")
    [ "$c" -ge 1 ] || fail "kill $1: $n's verdict at $at was reported by the API but is not in the database"
    c=$(db "SELECT last_attested FROM hosts WHERE name = '$n';")
    [ "$c" -ge "$at" ] || fail "kill $1: $n's last_attested $c is older than the reported $at"
    checked=$((checked + 1))
  done < <(sort -u "$work/reported" 2>/dev/null)
}

snapshot() {
  db "SELECT name || ':' || id || ':' || thumbprint FROM hosts ORDER BY id;"
}
before_hosts=$(snapshot)
prev_events=0
prev_results=0
for i in $(seq "$KILLS"); do
  # A random moment: 0.3 to 3.2 s into this run.
  sleep "$(( RANDOM % 30 / 10 )).$(( RANDOM % 10 ))"
  sleep 0.3
  inflight=$(api "$admin" GET /api/v1/status | sed '$d' | jq -r .in_flight 2>/dev/null)
  kill -KILL "$ver_pid"; wait "$ver_pid" 2>/dev/null; ver_pid=""
  db_consistent
  reported_durable "$i"
  [ "$(snapshot)" = "$before_hosts" ] || fail "the inventory changed across kill $i"
  ev=$(db "SELECT count(*) FROM events;")
  rs=$(db "SELECT max(id) FROM results;")
  [ "$ev" -ge "$prev_events" ] || fail "events lost across kill $i ($prev_events -> $ev)"
  [ "$rs" -ge "$prev_results" ] || fail "results lost across kill $i"
  prev_events=$ev; prev_results=$rs
  echo "kill $i: ${inflight:-?} in flight, $ev events, result id $rs; database consistent"
  start_verifier "${vopts[@]}"
done
kill "$load_pid" 2>/dev/null; wait "$load_pid" 2>/dev/null; load_pid=""
t1=$(date +%s)
[ "$checked" -ge 1 ] || fail "no verdict was reported by the API before the kills: nothing checked"
ok "$KILLS kills under load, database consistent after each; the $(sort -u "$work/reported" | wc -l) verdicts the API reported are all in the database"

all_green_after() {
  for n in "${hosts[@]}"; do [ "$(greens_since $n "$t1")" -ge 1 ] || return 1; done
}
wait_until 30 all_green_after || fail "not every host attested green after the last restart"
call "$admin" GET "/api/v1/hosts?trust=green" 200
[ "$(field '.hosts|length')" = 4 ] || fail "$(field '.hosts|length') green hosts after the restarts"
call "$admin" GET "/api/v1/alarms?open=1" 200
[ "$(field '.alarms|length')" = 0 ] || fail "alarms raised by the kills: $body"
kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
[ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
db_consistent
# No lease left behind by a clean stop or a dead instance's restart.
n=$(db "SELECT count(*) FROM hosts WHERE lease_owner IS NOT NULL AND lease_expires > strftime('%s','now') + 60;")
[ "$n" = 0 ] || fail "$n hosts with leases far in the future"
! grep -q 'Sanitizer' "$work/ver.err" || fail "sanitizer report"
ok "every host green again, no alarm, database consistent, clean stop"
echo "PASS"
