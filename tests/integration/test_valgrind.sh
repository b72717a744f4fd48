#!/usr/bin/env bash
# attest-verifier and attest-agent under valgrind (memcheck) on a short end
# to end run: one simulated host (swtpm + a real event log) added with its
# thumbprint and attested green (identity, EK certificate check, AK,
# credential activation, quote, verification), one more attestation on
# demand, API reads, then SIGTERM. Both must exit 0: any memory error or
# definitely lost block makes valgrind exit 99.
# Runs on a build without sanitizers (valgrind and ASan do not mix): skips
# (77) when ATTEST_BUILD's CMakeCache.txt has ATTEST_SANITIZE=ON.
# Suppressions: tests/integration/valgrind.supp (third-party only, each
# justified there).
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/faultlib.sh"
command -v valgrind >/dev/null || skip "valgrind not installed"
fault_prereqs
cache="${ATTEST_BUILD:-$bin/..}/CMakeCache.txt"
if grep -qE '^ATTEST_SANITIZE:BOOL=(ON|TRUE|1)' "$cache" 2>/dev/null; then
  skip "sanitizer build ($cache): valgrind needs the plain build"
fi
if grep -q __asan_init <<<"$(nm -D "$bin/attest-verifier" 2>/dev/null)"; then
  skip "$bin/attest-verifier is built with ASan"
fi

work=$(mktemp -d /tmp/attest-test-valgrind.XXXXXX)
cleanup() { lib_cleanup; rm -rf "$work"; }
trap cleanup EXIT
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-origins=yes --suppressions="$here/valgrind.supp"
    --num-callers=30)

# The host: its agent under valgrind.
d="$work/h"
"$bin/attest-sim" create "$d" --eventlog "$logs/qemu-ovmf-ubuntu-secureboot.bin" --ek-ca "$work/ca" \
  >/dev/null 2>"$work/sim.err" || fail "attest-sim create: $(tail -3 "$work/sim.err")"
sims+=("$d")
tcti=$("$bin/attest-sim" boot "$d") || fail "attest-sim boot"
verifier_thumbprint # the identity the verifier below uses: the agent trusts it
"${vg[@]}" --log-file="$work/agent.vg" "$bin/attest-agent" --listen 127.0.0.1:0 --tcti "$tcti" \
  --eventlog "$d/eventlog.bin" --data-dir "$d/agent" --trust-verifier "$vthumb" \
  >"$work/h.out" 2>"$work/h.err" &
apid=$!
agent_pids+=("$apid")
wait_until 60 grep -q '^listening ' "$work/h.out" || fail "agent under valgrind did not start: $(tail -5 "$work/h.err")"
port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/h.out")
thumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/h.out")

# The verifier under valgrind (lib.sh's start_verifier, slower start).
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
: >"$work/ver.out"
"${vg[@]}" --log-file="$work/verifier.vg" "$bin/attest-verifier" --listen 127.0.0.1:0 \
  --data-dir "$work/vd" --ca-dir "$work/cas" --attest-interval 3600 --timeout-ms 60000 \
  --instance test-valgrind >"$work/ver.out" 2>>"$work/ver.err" &
ver_pid=$!
wait_until 60 grep -q '^admin-token ' "$work/ver.out" || fail "verifier under valgrind did not start"
url=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/ver.out")
admin=$(tr -d '\n' <"$work/vd/admin.token")

t0=$(date +%s)
call "$admin" POST "/api/v1/hosts?wait=1" \
  "{\"address\":\"127.0.0.1:$port\",\"name\":\"h\",\"thumbprint\":\"$thumb\"}" 201
[ "$(field .trust)" = green ] || fail "host not green under valgrind: $(field -c .reasons)"
call "$admin" POST "/api/v1/hosts/h/attest?wait=1" 200
[ "$(field .trust)" = green ] || fail "second attestation: $(field .trust) $(field -c .reasons)"
call "$admin" GET /api/v1/hosts 200
call "$admin" GET /api/v1/hosts/h/evidence 200
call "$admin" GET "/api/v1/events?limit=10" 200
call "$admin" POST /api/v1/tokens '{"name":"ro","role":"viewer"}' 201
call "$admin" POST /api/v1/hosts '{"address":"nope"}' 400
call "$admin" GET /metrics 200
ok "enrolled and attested green twice under valgrind in $(( $(date +%s) - t0 )) s"

kill -TERM "$ver_pid"; wait "$ver_pid"; vrc=$?; ver_pid=""
kill -TERM "$apid"; wait "$apid"; arc=$?
agent_pids=()
show() { echo "--- $1"; head -80 "$work/$1"; }
[ "$vrc" = 0 ] || { show verifier.vg; fail "attest-verifier under valgrind exited $vrc"; }
[ "$arc" = 0 ] || { show agent.vg; fail "attest-agent under valgrind exited $arc"; }
[ ! -s "$work/verifier.vg" ] || { show verifier.vg; fail "valgrind reported on the verifier"; }
[ ! -s "$work/agent.vg" ] || { show agent.vg; fail "valgrind reported on the agent"; }
ok "verifier and agent: no memory error, no definite leak"
echo "PASS"
