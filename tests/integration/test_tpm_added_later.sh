#!/usr/bin/env bash
# DESIGN.md point 6, "TPM added later": TPM presence and identity are read
# when a host is connected. A host added without a usable TPM shows unknown
# TPM_NOT_PRESENT (never green); once a TPM appears (the host restarts with
# one: here the agent restarts with the same identity, now reaching a TPM),
# the next attestation says TPM_ADDED_RECONNECT_REQUIRED and still does not
# trust it; after disconnect + reconnect the TPM is enrolled and the host is
# green.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in jq curl; do command -v $t >/dev/null || skip "$t not installed"; done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-sim attest-agent attest-verifier; do [ -x "$bin/$b" ] || skip "$bin/$b not built"; done

work=$(mktemp -d /tmp/attest-test-tpm-later.XXXXXX)
. "$(dirname "$0")/lib.sh"
agent=""
cleanup() {
  [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

# start_agent TCTI ADDR: the host's agent, same data dir (same TLS identity)
start_agent() {
  : >"$work/agent.out"
  "$bin/attest-agent" --listen "$2" --tcti "$1" --eventlog "$work/h/eventlog.bin" \
    --data-dir "$work/agent" --trust-verifier "$vthumb" >"$work/agent.out" 2>>"$work/agent.err" &
  agent=$!
  for _ in $(seq 100); do
    grep -q '^listening ' "$work/agent.out" && return 0
    kill -0 "$agent" 2>/dev/null || fail "agent exited: $(tail -3 "$work/agent.err")"
    sleep 0.1
  done
  fail "agent did not start"
}
stop_agent() { kill -TERM "$agent" && wait "$agent" 2>/dev/null; agent=""; }

# wait_for JQ_CONDITION: poll the host until the condition holds (30 s).
wait_for() {
  for _ in $(seq 150); do
    call "$admin" GET /api/v1/hosts/h 200
    jq -e "$1" <<<"$body" >/dev/null && return 0
    sleep 0.2
  done
  fail "host never reached $1: $(jq -c '{trust, connection, reasons}' <<<"$body")"
}

"$bin/attest-sim" create "$work/h" --eventlog "$logs/qemu-ovmf-ubuntu-secureboot.bin" \
  --ek-ca "$work/ca" >/dev/null 2>"$work/sim.err" || fail "attest-sim create: $(tail -3 "$work/sim.err")"
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
start_verifier
admin=$(tr -d '\n' <"$work/vd/admin.token")

# 1. No TPM: the agent's TCTI reaches nothing (a closed loopback port).
start_agent "swtpm:host=127.0.0.1,port=1" 127.0.0.1:0
addr=$(sed -n 's/^listening //p' "$work/agent.out")
thumb=$(sed -n 's/^thumbprint //p' "$work/agent.out")
call "$admin" POST "/api/v1/hosts?wait=1" "{\"address\":\"$addr\",\"name\":\"h\",\"thumbprint\":\"$thumb\"}" 201
[ "$(field .trust)" = unknown ] || fail "host without TPM is $(field .trust), not unknown"
[ "$(field '.reasons[0].code')" = TPM_NOT_PRESENT ] || fail "no TPM_NOT_PRESENT: $(field -c .reasons)"
[ "$(field .ak_name)" = null ] || fail "an AK was enrolled without a TPM"
ok "added without a TPM: unknown, TPM_NOT_PRESENT, no AK"

# 2. The host comes back with a TPM (restart with a TPM fitted).
tcti=$("$bin/attest-sim" boot "$work/h") || fail "attest-sim boot"
sims+=("$work/h")
stop_agent
start_agent "$tcti" "$addr"
call "$admin" POST "/api/v1/hosts/h/attest?wait=1" '{}' 200
wait_for '.reasons[0].code == "TPM_ADDED_RECONNECT_REQUIRED"'
[ "$(field .trust)" != green ] || fail "a TPM found after connect made the host green"
[ "$(field .ak_name)" = null ] || fail "the new TPM was enrolled without a reconnect"
field '.reasons[0].message' | grep -qi reconnect || fail "the operator is not told to reconnect: $(field '.reasons[0].message')"
ok "TPM appeared: $(field .trust), TPM_ADDED_RECONNECT_REQUIRED, operator told to reconnect"

# 3. Disconnect + reconnect: identity read again, TPM enrolled, green.
call "$admin" POST /api/v1/hosts/h/disconnect '{}' 200
call "$admin" POST "/api/v1/hosts/h/reconnect?wait=1" '{}' 200
wait_for '.trust == "green"'
[ "$(field .ak_name)" != null ] || fail "reconnect did not enroll an AK"
[ "$(field .tpm.present)" != false ] || fail "identity still says no TPM"
ok "after disconnect + reconnect: AK $(field .ak_name | cut -c1-16)..., green"
