#!/usr/bin/env bash
# The certified TPM list is cached by each verifier (verifier/castore.c) and
# reloaded when it changes, also when another instance sharing the database
# changed it (issue 13). Two instances on one throwaway PostgreSQL, one
# simulated host whose EK certificate comes from a test CA, no CA at first:
#   empty     both instances enroll the host and fail: TPM_NOT_CERTIFIED
#             (each has now read the empty list)
#   added     the CA added through v1: both instances enroll the host green
#             (v2 saw v1's addition)
#   removed   the CA removed through v2: both instances refuse the host again,
#             never green (v1 saw v2's removal)
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in jq curl psql; do command -v $t >/dev/null || skip "$t not installed"; done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-sim attest-agent attest-verifier; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built"
done
. "$here/pg.sh"

work=$(mktemp -d /tmp/attest-test-castore.XXXXXX)
declare -A vpid vurl
agent_pid=""
cleanup() {
  local p
  for p in "${vpid[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  "$bin/attest-sim" stop "$work/h1" >/dev/null 2>&1
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for i in v1 v2; do
    echo "--- $i stderr (last 15 lines)"; tail -15 "$work/$i.err" 2>/dev/null
  done
  exit 1
}
ok() { echo "ok: $*"; }

pg_start || skip "no PostgreSQL server"

start_verifier() {
  local n=$1
  : >"$work/$n.out"
  "$bin/attest-verifier" --listen 127.0.0.1:0 --data-dir "$work/$n" --ca-dir "$work/cas" \
    --db "$PG_URL" --instance "$n" --lease-seconds 3 --attest-interval 2 \
    --timeout-ms 5000 >"$work/$n.out" 2>>"$work/$n.err" &
  vpid[$n]=$!
  for _ in $(seq 100); do
    grep -q '^admin-token ' "$work/$n.out" && break
    kill -0 "${vpid[$n]}" 2>/dev/null || fail "verifier $n exited at start"
    sleep 0.1
  done
  vurl[$n]=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/$n.out")
  vthumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/$n.out")
  [ -n "${vurl[$n]}" ] || fail "verifier $n did not print its URL"
}

# call INSTANCE METHOD PATH [BODY] STATUS: sets $body or fails.
call() {
  local n=$1 m=$2 p=$3 want=${!#} out st
  if [ $# -eq 5 ]; then
    out=$(curl -sk -X "$m" -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
      --data "$4" -w '\n%{http_code}' "${vurl[$n]}$p")
  else
    out=$(curl -sk -X "$m" -H "Authorization: Bearer $admin" -w '\n%{http_code}' "${vurl[$n]}$p")
  fi
  st=$(tail -n1 <<<"$out")
  body=$(sed '$d' <<<"$out")
  [ "$st" = "$want" ] || fail "$n $m $p: HTTP $st, wanted $want: $body"
}
field() { jq -r "$1" <<<"$body"; }
# enrollments INSTANCE RESULT -> this process's count (/metrics)
enrollments() {
  call "$1" GET /metrics 200
  awk -v r="$2" '$1 == "attest_enrollments_total{result=\"" r "\"}" {print $2}' <<<"$body"
}

mkdir -p "$work/cas" # empty: the list starts empty
"$bin/attest-sim" create "$work/h1" --eventlog "$logs/qemu-ovmf-ubuntu-secureboot.bin" \
  --ek-ca "$work/ca" >/dev/null 2>"$work/h1.sim.err" || fail "attest-sim create: $(tail -3 "$work/h1.sim.err")"

start_verifier v1
admin=$(tr -d '\n' <"$work/v1/admin.token")
cp -a "$work/v1" "$work/v2"
start_verifier v2

tcti=$("$bin/attest-sim" boot "$work/h1") || fail "attest-sim boot"
"$bin/attest-agent" --listen 127.0.0.1:0 --tcti "$tcti" --eventlog "$work/h1/eventlog.bin" \
  --data-dir "$work/h1/agent" --trust-verifier "$vthumb" >"$work/h1.out" 2>"$work/h1.err" &
agent_pid=$!
for _ in $(seq 100); do grep -q '^listening ' "$work/h1.out" && break; sleep 0.1; done
port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/h1.out")
th=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/h1.out")
[ -n "$port" ] || fail "agent did not start: $(tail -3 "$work/h1.err")"
call v1 POST /api/v1/hosts "{\"address\":\"127.0.0.1:$port\",\"name\":\"h1\",\"thumbprint\":\"$th\"}" 201

# reenroll_until INSTANCE_COUNTER_RESULT WANT_TRUST: reconnect h1 (alternating
# the instance asked) until both instances counted one more enrollment with
# the given result; every answer must have the wanted trust. Lease affinity
# keeps a host with the instance that attested it last; a host an operator
# asks an instance to reconnect is that instance's to claim at once.
reenroll_until() {
  local result=$1 want=$2 b1 b2 i n
  b1=$(enrollments v1 "$result"); b2=$(enrollments v2 "$result")
  for i in $(seq 40); do
    n=v$((i % 2 + 1))
    call $n POST "/api/v1/hosts/h1/reconnect?wait=1" 200
    [ "$(field .trust)" = "$want" ] || fail "reconnect through $n: h1 $(field .trust) $(field -c .reasons), wanted $want"
    [ "$(enrollments v1 "$result")" -gt "$b1" ] && [ "$(enrollments v2 "$result")" -gt "$b2" ] && return 0
  done
  fail "not both instances enrolled h1 ($result) after 40 reconnects"
}

# --- empty: each instance has tried to enroll h1 and read the empty list
reenroll_until failed red
f1=$(enrollments v1 failed); f2=$(enrollments v2 failed)
call v2 GET /api/v1/hosts/h1 200
[ "$(field .trust)" = red ] && field '.reasons[].code' | grep -qx TPM_NOT_CERTIFIED ||
  fail "h1 with no CA: $(field .trust) $(field -c .reasons)"
ok "empty: v1 and v2 both refused h1 (TPM_NOT_CERTIFIED; $f1 and $f2 failed enrollments)"

# --- added: through v1; both instances must now enroll h1 green
pem=$(jq -Rs '{pem: .}' <"$work/ca/ca.pem")
call v1 POST /api/v1/cas "$pem" 201
fp=$(field '.added[0].fingerprint // empty')
[ -n "$fp" ] || { call v1 GET /api/v1/cas 200; fp=$(field '.cas[0].fingerprint'); }
reenroll_until ok green
ok "added: the CA added through v1, both instances enroll h1 green"

# --- removed: through v2; both instances must refuse h1 again, never green
call v2 DELETE "/api/v1/cas/$fp" 200
reenroll_until failed red
call v1 GET /api/v1/hosts/h1 200
field '.reasons[].code' | grep -qx TPM_NOT_CERTIFIED || fail "h1 after removal: $(field -c .reasons)"
ok "removed: the CA removed through v2, both instances refuse h1 (TPM_NOT_CERTIFIED)"
