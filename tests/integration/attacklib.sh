# Helpers for the attack matrix tests (test_attacks_*.sh, docs/security.md).
# Sources lib.sh (start_verifier, call, field, fail, ok) and adds:
#
#   attack_init NAME         prerequisites (exit 77 = skip), $work, EXIT trap
#   host NAME LOG CADIR [AGENT ARGS...]
#                            simulated host (attest-sim) + real attest-agent
#                            that trusts the test's verifier ($vthumb) unless
#                            AGENT ARGS name whom it trusts:
#                            NAME_port NAME_thumb NAME_pid NAME_dir
#   restart_agent NAME [AGENT ARGS...]
#                            stop NAME's agent, start it again on the same port
#   mitm_init NAME           create the adversary's TLS identity: NAME_mthumb
#   mitm NAME UP [UP2]       start mitm_agent NAME in front of host UP (and
#                            UP2 as its second agent): NAME_mport; mode "pass"
#   mode NAME "MODE [ARG]"   switch the adversary's rewrite (read per request)
#   add NAME ADDR_PORT THUMB add a host with ?wait=1 (body = host object)
#   attest NAME              attest now with ?wait=1 (body = host object)
#   expect_red CODE...       body's host is red and shows every CODE
#   expect_green             body's host is green
#   mitm_saw NAME REGEX      the adversary logged a request line matching REGEX
# Everything started is stopped by pid in the EXIT trap.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
tbin=${ATTEST_BUILD:-build}/tests
logs=../shared/testdata/eventlogs
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mitm_pids=()
skip() { echo "SKIP: $*"; exit 77; }

attack_cleanup() {
  for p in "${mitm_pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  lib_cleanup
  [ -n "${work:-}" ] && rm -rf "$work"
}

attack_init() {
  command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
  for t in jq curl openssl; do command -v $t >/dev/null || skip "$t not installed"; done
  [ -d "$logs" ] || skip "$logs not found (shared test data)"
  for b in attest-sim attest-agent attest-verifier; do
    [ -x "$bin/$b" ] || skip "$bin/$b not built"
  done
  [ -x "$tbin/mitm_agent" ] || skip "$tbin/mitm_agent not built"
  work=$(mktemp -d "/tmp/attest-$1.XXXXXX")
  trap attack_cleanup EXIT
}

# wait_lines FILE PID WHAT: wait for "listening" in FILE while PID lives.
wait_listening() {
  for _ in $(seq 150); do
    grep -q '^listening ' "$1" && return 0
    kill -0 "$2" 2>/dev/null || fail "$3 exited: $(tail -3 "${1%.out}.err")"
    sleep 0.1
  done
  fail "$3 did not start"
}

start_agent_on() {
  local n=$1 listen=$2
  shift 2
  local d tcti targs
  eval "d=\$${n}_dir; tcti=\$${n}_tcti"
  [ -n "${vthumb:-}" ] || verifier_thumbprint
  mapfile -t targs < <(trust_args "$@")
  : >"$work/$n.out"
  "$bin/attest-agent" --listen "$listen" --tcti "$tcti" --eventlog "$d/eventlog.bin" \
    --data-dir "$d/agent" "${targs[@]}" >"$work/$n.out" 2>>"$work/$n.err" &
  local pid=$!
  agent_pids+=("$pid")
  wait_listening "$work/$n.out" "$pid" "agent $n"
  eval "${n}_port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/$n.out")"
  eval "${n}_thumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/$n.out")"
  eval "${n}_pid=$pid"
}

host() {
  local n=$1 log=$2 ca=$3 d="$work/$1"
  shift 3
  "$bin/attest-sim" create "$d" --eventlog "$logs/$log" --ek-ca "$ca" >/dev/null \
    2>"$work/$n.sim.err" || fail "attest-sim create $n: $(tail -3 "$work/$n.sim.err")"
  sims+=("$d")
  local tcti
  tcti=$("$bin/attest-sim" boot "$d") || fail "attest-sim boot $n"
  eval "${n}_dir=\$d; ${n}_tcti=\$tcti"
  start_agent_on "$n" 127.0.0.1:0 "$@"
}

restart_agent() {
  local n=$1 pid port
  shift
  eval "pid=\$${n}_pid; port=\$${n}_port"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
  start_agent_on "$n" "127.0.0.1:$port" "$@"
}

mitm_init() {
  mkdir -p "$work/$1.mitm"
  local t
  t=$("$tbin/mitm_agent" --data-dir "$work/$1.mitm" --init | sed -n 's/^thumbprint //p')
  [ -n "$t" ] || fail "mitm_agent --init $1"
  eval "${1}_mthumb=\$t"
}

mitm() {
  local n=$1 up=$2 up2=${3:-} extra=()
  [ -d "$work/$n.mitm" ] || mitm_init "$n"
  echo pass >"$work/$n.mode"
  local p t
  eval "p=\$${up}_port; t=\$${up}_thumb"
  if [ -n "$up2" ]; then
    local p2 t2
    eval "p2=\$${up2}_port; t2=\$${up2}_thumb"
    extra=(--upstream2 "127.0.0.1:$p2" --pin2 "$t2")
  fi
  "$tbin/mitm_agent" --listen 127.0.0.1:0 --data-dir "$work/$n.mitm" --mode-file "$work/$n.mode" \
    --upstream "127.0.0.1:$p" --pin "$t" "${extra[@]}" >"$work/$n.mitm.out" 2>"$work/$n.mitm.err" &
  local pid=$!
  mitm_pids+=("$pid")
  wait_listening "$work/$n.mitm.out" "$pid" "mitm $n"
  eval "${n}_mport=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/$n.mitm.out")"
}

mode() { echo "$2" >"$work/$1.mode"; }
mitm_saw() { grep -q -E "$2" "$work/$1.mitm.out"; }

add() {
  call "$admin" POST "/api/v1/hosts?wait=1" \
    "{\"address\":\"$2\",\"name\":\"$1\",\"thumbprint\":\"$3\"}" 201
}
attest() { call "$admin" POST "/api/v1/hosts/$1/attest?wait=1" 200; }

expect_red() {
  [ "$(field .trust)" = red ] || fail "$(field .name) is $(field .trust), wanted red ($*): $(field -c .reasons)"
  for c in "$@"; do
    field '.reasons[].code' | grep -qx "$c" || fail "$(field .name): no $c in $(field -c .reasons)"
  done
}
expect_green() {
  [ "$(field .trust)" = green ] || fail "$(field .name) is $(field .trust), wanted green: $(field -c .reasons)"
}

# verifier_up [ARGS]: verifier with the CA of "$work/ca" in its certified TPM list; admin token.
verifier_up() {
  mkdir -p "$work/cas"
  cp "$work/ca/ca.pem" "$work/cas/test-ek-ca.pem"
  start_verifier "$@"
  admin=$(tr -d '\n' <"$work/vd/admin.token")
}

# A clean stop of the verifier and no sanitizer report.
verifier_down() {
  kill -TERM "$ver_pid"; wait "$ver_pid"; local rc=$?; ver_pid=""
  [ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
  ! grep -q -E 'Sanitizer|runtime error' "$work/ver.err" || fail "sanitizer report in the verifier"
}
