#!/usr/bin/env bash
# A TPM that stops answering, seen from the verifier: the agent runs with
# --tpm-timeout 2 and the verifier waits 10 s per request, so the agent's
# own deadline passes first and it answers 503 TPM_TIMEOUT.
#  - swtpm SIGSTOPped: the host is not_responding, the connection event says
#    TPM_TIMEOUT, the trust is neither made red nor green, no alarm opens;
#  - swtpm SIGCONTed: the agent recovers by itself, the next attestation is
#    green and the host connected.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/faultlib.sh"
fault_prereqs

work=$(mktemp -d /tmp/attest-test-tpm-timeout.XXXXXX)
stopped=""
cleanup() {
  [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

sim a qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
# The same agent again, with a short TPM deadline.
agent_kill a TERM
port=$a_port
for try in 1 2 3 4 5 6 7 8 9 10; do
  : >"$work/a.out"
  "$bin/attest-agent" --listen "127.0.0.1:$port" --tcti "$("$bin/attest-sim" status "$a_dir" | jq -r .tcti)" \
    --eventlog "$a_dir/eventlog.bin" --data-dir "$a_dir/agent" --tpm-timeout 2 \
    >"$work/a.out" 2>>"$work/a.err" &
  a_pid=$!
  agent_pids+=("$a_pid")
  for _ in $(seq 50); do
    grep -q '^listening ' "$work/a.out" && break 2
    kill -0 "$a_pid" 2>/dev/null || break
    sleep 0.1
  done
  wait "$a_pid" 2>/dev/null
  sleep 0.3
done
grep -q '^listening ' "$work/a.out" || fail "agent did not restart with --tpm-timeout"

mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
start_verifier --attest-interval 300 --timeout-ms 10000
admin=$(tr -d '\n' <"$work/vd/admin.token")
add_host a
ok "host green"

sp=$(swtpm_pid a)
t0=$(date +%s)
kill -STOP "$sp"; stopped=$sp
call "$admin" POST "/api/v1/hosts/a/attest?wait=1" 200
[ "$(field .connection)" = not_responding ] || fail "a with a hung TPM is $(field .connection)"
[ "$(field .trust)" = green ] || fail "a hung TPM changed the trust to $(field .trust) $(field -c .reasons)"
call "$admin" GET "/api/v1/events?host=a&kind=connection" 200
grep -q 'not_responding: TPM_TIMEOUT: ' <<<"$body" || fail "no TPM_TIMEOUT connection event: $body"
grep -q 'TPM_TIMEOUT' "$work/ver.err" || fail "the verifier did not log TPM_TIMEOUT"
call "$admin" GET "/api/v1/alarms?host=a&open=1" 200
[ "$(jq '(.alarms // .) | length' <<<"$body")" = 0 ] || fail "an alarm opened for a hung TPM: $body"
[ "$(greens_since a "$((t0 + 1))")" = 0 ] || fail "a green verdict while the TPM hung"
ok "swtpm stopped: not_responding with TPM_TIMEOUT, trust untouched, no alarm, nothing green"

kill -CONT "$sp"; stopped=""
t1=$(date +%s)
call "$admin" POST "/api/v1/hosts/a/attest?wait=1" 200
[ "$(field .trust)" = green ] && [ "$(field .connection)" = connected ] ||
  fail "a after its TPM resumed: $(field .trust) $(field .connection) $(field -c .reasons)"
[ "$(greens_since a "$t1")" -ge 1 ] || fail "no new green result"
ok "swtpm continued: the agent recovered by itself, green and connected"
db_consistent
exit 0
