#!/usr/bin/env bash
# Push mode with two verifiers sharing one PostgreSQL database (issue 17): a
# throwaway PostgreSQL (pg.sh), v1 and v2 with --push-listen (v2 from a copy
# of v1's data directory: one identity), short leases, one simulated host
# whose agent pushes with both addresses (--push URL1,URL2).
#   held        the host is attested green, only by the instance holding its
#               channel (push_instance; the history's instance column)
#   kill9       kill -9 that instance: the agent reconnects to the other, which
#               attests it green within two lease periods
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

LEASE=5
work=$(mktemp -d /tmp/attest-test-push-pg.XXXXXX)
declare -A vpid vurl vpush
agent_pids=()
sims=()
cleanup() {
  local p
  for p in "${vpid[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for p in "${agent_pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for s in "${sims[@]}"; do "$bin/attest-sim" stop "$s" >/dev/null 2>&1; done
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for i in v1 v2 good; do
    echo "--- $i stderr (last 15 lines)"; tail -15 "$work/$i.err" 2>/dev/null
  done
  exit 1
}
ok() { echo "ok: $*"; }
sql() { psql -X -q -t -A -d "$PG_URL" -v ON_ERROR_STOP=1 -c "$1"; }

pg_start || skip "no PostgreSQL server"

start_verifier() {
  local n=$1
  : >"$work/$n.out"
  "$bin/attest-verifier" --listen 127.0.0.1:0 --push-listen 127.0.0.1:0 --data-dir "$work/$n" \
    --ca-dir "$work/cas" --db "$PG_URL" --instance "$n" --lease-seconds $LEASE \
    --attest-interval 2 --timeout-ms 5000 >"$work/$n.out" 2>>"$work/$n.err" &
  vpid[$n]=$!
  for _ in $(seq 100); do
    grep -q '^admin-token ' "$work/$n.out" && break
    kill -0 "${vpid[$n]}" 2>/dev/null || fail "verifier $n exited at start"
    sleep 0.1
  done
  vurl[$n]=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/$n.out")
  vpush[$n]=$(sed -n 's/^push-listen \(https:.*\)$/\1/p' "$work/$n.out")
  vthumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/$n.out")
  [ -n "${vurl[$n]}" ] && [ -n "${vpush[$n]}" ] || fail "verifier $n did not print its URLs"
}
host() { # INSTANCE -> $body: the host "good"
  local out
  out=$(curl -sk -H "Authorization: Bearer $admin" -w '\n%{http_code}' "${vurl[$1]}/api/v1/hosts/good")
  [ "$(tail -n1 <<<"$out")" = 200 ] || fail "GET host via $1: $out"
  body=$(sed '$d' <<<"$out")
}

mkdir -p "$work/cas"
d="$work/good"
"$bin/attest-sim" create "$d" --eventlog "$logs/qemu-ovmf-ubuntu-secureboot.bin" \
  --ek-ca "$work/ca" >/dev/null 2>"$work/sim.err" || fail "attest-sim create: $(tail -3 "$work/sim.err")"
sims+=("$d")
cp "$work/ca/ca.pem" "$work/cas/test-ek-ca.pem"
tcti=$("$bin/attest-sim" boot "$d") || fail "attest-sim boot"

start_verifier v1
admin=$(tr -d '\n' <"$work/v1/admin.token")
cp -a "$work/v1" "$work/v2"
start_verifier v2

"$bin/attest-agent" --push "${vpush[v1]},${vpush[v2]}" --verifier-thumbprint "$vthumb" \
  --tcti "$tcti" --eventlog "$d/eventlog.bin" --data-dir "$d/agent" \
  >"$work/good.out" 2>"$work/good.err" &
agent_pids+=($!)
for _ in $(seq 50); do grep -q '^push ' "$work/good.out" && break; sleep 0.1; done
thumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/good.out")
[ -n "$thumb" ] || fail "the agent did not print its thumbprint"
out=$(curl -sk -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  --data "{\"mode\":\"push\",\"name\":\"good\",\"thumbprint\":\"$thumb\"}" -w '\n%{http_code}' \
  "${vurl[v2]}/api/v1/hosts")
[ "$(tail -n1 <<<"$out")" = 201 ] || fail "add via v2: $out"

# --- held: green, attested only by the instance that holds the channel
for _ in $(seq 150); do
  host v2
  [ "$(jq -r '.trust == "green" and .push_instance != null' <<<"$body")" = true ] && break
  sleep 0.2
done
[ "$(jq -r .trust <<<"$body")" = green ] || fail "not green: $(jq -c '{trust,connection,reasons}' <<<"$body")"
holder=$(jq -r .push_instance <<<"$body")
case $holder in v1) other=v2;; v2) other=v1;; *) fail "push_instance is $holder";; esac
sleep 5 # a few attestations (interval 2 s) with both instances running
[ "$(sql "SELECT string_agg(DISTINCT instance, ',') FROM results")" = "$holder" ] ||
  fail "attested by: $(sql "SELECT instance, count(*) FROM results GROUP BY instance")"
n=$(sql "SELECT count(*) FROM results")
ok "green; $n attestations, all by $holder, which holds the channel ($other took none)"

# --- kill9: the holder dies; the agent moves; the other attests it
kill -9 "${vpid[$holder]}"; wait "${vpid[$holder]}" 2>/dev/null; vpid[$holder]=""
t0=$(date +%s%N)
killed_ms=$(( t0 / 1000000 ))
deadline=$(( 2 * LEASE ))
for _ in $(seq $(( deadline * 10 + 50 ))); do
  host "$other"
  [ "$(jq -r --arg o "$other" '.push_instance == $o and .trust == "green"' <<<"$body")" = true ] &&
    [ "$(sql "SELECT count(*) FROM results WHERE instance = '$other' AND started_ms > $killed_ms")" -gt 0 ] && break
  sleep 0.1
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(sql "SELECT count(*) FROM results WHERE instance = '$other' AND started_ms > $killed_ms AND trust_state = 'green'")" -gt 0 ] ||
  fail "$other did not attest the host green after the kill: $(jq -c '{trust,connection,push_instance}' <<<"$body")"
[ $ms -le $(( deadline * 1000 )) ] || fail "attested again after $ms ms, more than two leases ($deadline s)"
grep -q "push: connected to ${vpush[$other]}" "$work/good.err" || fail "the agent did not log its move"
ok "kill -9 $holder: the agent moved to $other, attested green again after $ms ms (two leases: ${deadline} s)"
echo "PASS"
