#!/usr/bin/env bash
# Faults between verifier and hosts (issue 7): a real verifier attesting two
# real agents on swtpm every 2 s, evidence valid 12 s.
#   unreachable_short  agent frozen (SIGSTOP: connections open but nothing
#                      answers) for a few seconds -> not_responding, no green
#                      verdict meanwhile, trust left as it was while the last
#                      evidence is valid; back -> re-attested, green, connected
#   unreachable_long   agent gone (connection refused) past the evidence
#                      validity -> trust unknown (EVIDENCE_EXPIRED), never
#                      green; back -> green after a new attestation
# The other host stays green and attested all along.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/faultlib.sh"
fault_prereqs

work=$(mktemp -d /tmp/attest-test-faults-net.XXXXXX)
frozen=""
cleanup() {
  [ -n "$frozen" ] && kill -CONT "$frozen" 2>/dev/null
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

for n in a b; do sim $n qemu-ovmf-ubuntu-secureboot.bin "$work/ca"; done
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
start_verifier --attest-interval 2 --timeout-ms 3000 --evidence-validity 12
admin=$(tr -d '\n' <"$work/vd/admin.token")
for n in a b; do add_host $n; done
ok "two hosts green"

conn_is() { [ "$(hostf "$1" .connection)" = "$2" ]; }
trust_is() { [ "$(hostf "$1" .trust)" = "$2" ]; }
green_after() { [ "$(greens_since "$1" "$2")" -ge 1 ]; }
b_attested_after() { [ "$(last_attested b)" -gt "$1" ]; }
b_fine() {
  wait_until 20 b_attested_after "$1" || fail "b was not attested while a was unreachable"
  trust_is b green || fail "b is $(hostf b .trust) while a was unreachable"
}

unreachable_short() {
  kill -STOP "$a_pid"; frozen=$a_pid
  wait_until 10 conn_is a not_responding || fail "frozen agent: a is $(hostf a .connection)"
  local t0=$(( $(date +%s) + 1 )); sleep 1
  # The last green evidence is still valid: trust stays, no new verdict.
  sleep 3
  [ "$(greens_since a "$t0")" = 0 ] || fail "a got a green verdict while unreachable"
  [ "$(hostf a .trust)" != red ] || fail "an unreachable host was made red"
  [ "$(hostf a .failures)" -ge 1 ] || fail "no failure counted for a"
  b_fine "$t0"
  kill -CONT "$a_pid"; frozen=""
  local t1=$(date +%s)
  wait_until 20 green_after a "$t1" || fail "a not re-attested green after coming back"
  wait_until 5 conn_is a connected || fail "a not connected again"
  [ "$(hostf a .failures)" = 0 ] || fail "failures not reset for a"
  ok "agent frozen -> not_responding, no verdict while unreachable, b attested; back -> green"
}

unreachable_long() {
  agent_kill a TERM
  wait_until 10 conn_is a not_responding || fail "stopped agent: a is $(hostf a .connection)"
  local t0=$(( $(date +%s) + 1 )); sleep 1
  wait_until 40 trust_is a unknown || fail "a still $(hostf a .trust) past its evidence validity"
  [ "$(hostf a '.reasons[0].code')" = EVIDENCE_EXPIRED ] || fail "a reasons: $(hostf a -c .reasons)"
  call "$admin" GET "/api/v1/events?host=a&kind=trust" 200
  field '.events[0].message' | grep -q 'green -> unknown' || fail "no expiry event: $body"
  # Unreachable and unknown for a while more: never green, no alarm.
  sleep 3
  trust_is a unknown || fail "a became $(hostf a .trust) while unreachable"
  [ "$(greens_since a "$t0")" = 0 ] || fail "a got a green verdict while unreachable"
  call "$admin" GET "/api/v1/alarms?host=a&open=1" 200
  [ "$(field '.alarms|length')" = 0 ] || fail "an unreachable host raised an alarm"
  b_fine "$t0"
  agent_restart a
  local t1=$(date +%s)
  wait_until 30 green_after a "$t1" || fail "a not green after its agent came back: $(hostf a .trust)"
  trust_is a green || fail "a is $(hostf a .trust)"
  ok "agent gone past the evidence validity -> unknown (EVIDENCE_EXPIRED), never green; back -> green"
}

unreachable_short
unreachable_long
db_consistent
ok "database consistent"
kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
[ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
! grep -q 'Sanitizer' "$work/ver.err" "$work"/*.err || fail "sanitizer report"
echo "PASS"
