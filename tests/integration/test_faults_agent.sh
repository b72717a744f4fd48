#!/usr/bin/env bash
# Faults on the host side (issue 7): a real verifier attesting three real
# agents on swtpm every 3 s while one host at a time misbehaves. In every
# scenario the faulty host never gets a green verdict while the fault lasts,
# the other hosts keep being attested, and the faulty host comes back green
# once the fault is gone.
#   agent_killed_mid_quote  emulator paused so the quote is in the TPM, agent
#                           killed -9 -> not_responding; agent restarted -> green
#   emulator_hangs          swtpm SIGSTOP: the agent's TPM call blocks, the
#                           verifier times out -> not_responding; SIGCONT -> green
#   emulator_dies           swtpm killed: the agent answers 503 TPM_UNAVAILABLE
#                           -> red AGENT_ERROR with one alarm; emulator and agent
#                           started again -> restart detected, re-enrolled, green
# Ends with the database consistency check (faultlib.sh db_consistent).
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/faultlib.sh"
fault_prereqs

work=$(mktemp -d /tmp/attest-test-faults-agent.XXXXXX)
stopped=""
cleanup() {
  [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

for n in a b c; do sim $n qemu-ovmf-ubuntu-secureboot.bin "$work/ca"; done
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
start_verifier --attest-interval 3 --timeout-ms 3000 --evidence-validity 120
admin=$(tr -d '\n' <"$work/vd/admin.token")
for n in a b c; do add_host $n; done
ok "three hosts green"

# The others keep being attested: their last_attested moves past T.
others_attested_since() {
  local t=$1; shift
  for o in "$@"; do
    wait_until 15 bash -c "[ \$(sqlite3 'file:$(dbfile)?mode=ro' \"SELECT coalesce(last_attested,0) FROM hosts WHERE name='$o'\") -gt $t ]" ||
      fail "host $o was not attested while another host was faulty"
  done
}
conn_is() { [ "$(hostf "$1" .connection)" = "$2" ]; }
trust_is() { [ "$(hostf "$1" .trust)" = "$2" ]; }

agent_killed_mid_quote() {
  local t0 sp
  t0=$(date +%s)
  sp=$(swtpm_pid a)
  kill -STOP "$sp"; stopped=$sp
  call "$admin" POST /api/v1/hosts/a/attest 202
  # The quote reaches the (paused) TPM within a second; kill the agent then.
  sleep 1
  agent_kill a KILL
  t0=$(( $(date +%s) + 1 )); sleep 1
  kill -CONT "$sp"; stopped=""
  wait_until 15 conn_is a not_responding || fail "a is $(hostf a .connection) after its agent died"
  [ "$(greens_since a "$t0")" = 0 ] || fail "a got a green verdict while its agent was dead"
  others_attested_since "$t0" b c
  agent_restart a
  local t1=$(date +%s)
  call "$admin" POST "/api/v1/hosts/a/attest?wait=1" 200
  [ "$(field .trust)" = green ] && [ "$(field .connection)" = connected ] ||
    fail "a after its agent restarted: $(field .trust) $(field .connection) $(field -c .reasons)"
  [ "$(greens_since a "$t1")" -ge 1 ] || fail "no new green result for a"
  ok "agent killed mid-quote -> not_responding, no green meanwhile, b and c attested; agent back -> green"
}

emulator_hangs() {
  local t0 sp
  sp=$(swtpm_pid b)
  t0=$(date +%s)
  kill -STOP "$sp"; stopped=$sp
  call "$admin" POST "/api/v1/hosts/b/attest?wait=1" 200
  [ "$(field .connection)" = not_responding ] ||
    fail "b with a hung TPM is $(field .connection) $(field .trust)"
  # From here on no job can have had a TPM answer: nothing may turn green.
  t0=$(( $(date +%s) + 1 )); sleep 1
  # Hung for a while: several tries (backoff), none green.
  sleep 6
  [ "$(greens_since b "$t0")" = 0 ] || fail "b got a green verdict while its TPM hung"
  trust_is b red && fail "a hung TPM made b red (it is not responding, not failed)"
  others_attested_since "$(( t0 + 3 ))" a c
  # The agent itself is alive and still answers what needs no TPM queue slot
  # (the TCP/TLS side): the verifier's view is a timeout, not a refusal.
  grep -q 'timed out' "$work/ver.err" || fail "the verifier did not report a timeout for b"
  kill -CONT "$sp"; stopped=""
  local t1=$(date +%s)
  wait_until 30 bash -c "[ \$(sqlite3 'file:$(dbfile)?mode=ro' \"SELECT count(*) FROM results r JOIN hosts h ON h.id=r.host_id WHERE h.name='b' AND r.trust_state='green' AND r.at >= $t1\") -ge 1 ]" ||
    fail "b not green again after its TPM resumed: $(hostf b .connection) $(hostf b .trust)"
  wait_until 10 conn_is b connected || fail "b not connected again"
  ok "emulator hung (SIGSTOP) -> verifier timeout, not_responding, never green; resumed -> green"
}

emulator_dies() {
  local t0 sp
  sp=$(swtpm_pid c)
  t0=$(date +%s)
  kill -KILL "$sp"
  call "$admin" POST "/api/v1/hosts/c/attest?wait=1" 200
  [ "$(field .trust)" = red ] || fail "c with a dead TPM is $(field .trust) $(field -c .reasons)"
  field '.reasons[].code' | grep -qx AGENT_ERROR || fail "c reasons: $(field -c .reasons)"
  field '.reasons[].message' | grep -q TPM_UNAVAILABLE || fail "c reasons do not say TPM_UNAVAILABLE: $(field -c .reasons)"
  t0=$(( $(date +%s) + 1 )); sleep 1
  call "$admin" GET "/api/v1/alarms?host=c&open=1" 200
  [ "$(field '.alarms|length')" = 1 ] || fail "c: $(field '.alarms|length') open alarms"
  sleep 4 # more rounds with the TPM gone: still one alarm, never green
  call "$admin" GET "/api/v1/alarms?host=c&open=1" 200
  [ "$(field '.alarms|length')" = 1 ] || fail "c: $(field '.alarms|length') open alarms after retries"
  [ "$(greens_since c "$t0")" = 0 ] || fail "c got a green verdict without a TPM"
  others_attested_since "$(( t0 + 2 ))" a b
  # The host "reboots": a new emulator process on the saved TPM state.
  local tcti
  tcti=$("$bin/attest-sim" boot "$c_dir") || fail "attest-sim boot c again"
  agent_kill c TERM
  agent_restart c "$tcti"
  call "$admin" POST "/api/v1/hosts/c/attest?wait=1" 200
  [ "$(field .trust)" = green ] || fail "c after its TPM came back: $(field .trust) $(field -c .reasons)"
  call "$admin" GET "/api/v1/alarms?host=c&open=1" 200
  [ "$(field '.alarms|length')" = 0 ] || fail "c's alarm not cleared on green"
  ok "emulator killed -> red AGENT_ERROR (TPM_UNAVAILABLE), one alarm; TPM back -> re-enrolled, green, alarm cleared"
}

agent_killed_mid_quote
emulator_hangs
emulator_dies
db_consistent
ok "database consistent"
kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
[ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
! grep -q 'Sanitizer' "$work/ver.err" "$work"/*.err || fail "sanitizer report"
echo "PASS"
