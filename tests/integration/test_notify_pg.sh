#!/usr/bin/env bash
# Notifications with two verifiers sharing PostgreSQL (issue 16): the
# outbox's rows are leased, so one instance delivers each, and when the
# instance holding a delivery dies another one takes it over.
#   shared    events written through either instance are each delivered
#             once (the receiver sees every idempotency key once)
#   takeover  the receiver accepts connections but never answers (a black
#             hole); the instance that claimed the row is killed with
#             SIGKILL in the middle of the delivery; the receiver comes back
#             and the other instance delivers it once the lease ran out
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
for t in jq curl psql python3 openssl; do command -v $t >/dev/null || skip "$t not installed"; done
for b in attest-verifier attestctl; do [ -x "$bin/$b" ] || skip "$bin/$b not built"; done
. "$here/pg.sh"

LEASE=3
work=$(mktemp -d /tmp/attest-test-notify-pg.XXXXXX)
declare -A vpid vurl
rcv_pid=""
cleanup() {
  local p
  [ -n "$rcv_pid" ] && kill "$rcv_pid" 2>/dev/null && wait "$rcv_pid" 2>/dev/null
  for p in "${vpid[@]}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for i in v1 v2; do echo "--- $i stderr (last 15 lines)"; tail -15 "$work/$i.err" 2>/dev/null; done
  exit 1
}
ok() { echo "ok: $*"; }
sql() { psql -X -q -t -A -d "$PG_URL" -v ON_ERROR_STOP=1 -c "$1"; }
wait_until() {
  local end=$(( $(date +%s) + $1 ))
  shift
  until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.2; done
}
pg_start || skip "no PostgreSQL server"

start_verifier() {
  local n=$1
  : >"$work/$n.out"
  "$bin/attest-verifier" --listen 127.0.0.1:0 --data-dir "$work/$n" --ca-dir "$work/cas" \
    --db "$PG_URL" --instance "$n" --lease-seconds $LEASE --attest-interval 300 \
    >"$work/$n.out" 2>>"$work/$n.err" &
  vpid[$n]=$!
  for _ in $(seq 100); do
    grep -q '^admin-token ' "$work/$n.out" && break
    kill -0 "${vpid[$n]}" 2>/dev/null || fail "verifier $n exited at start"
    sleep 0.1
  done
  vurl[$n]=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/$n.out")
  [ -n "${vurl[$n]}" ] || fail "verifier $n did not print its URL"
}
call() { # INSTANCE METHOD PATH [BODY] STATUS
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

d=$work/pki
mkdir -p "$d" "$work/cas"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=notify-pg-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || fail "CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=receiver \
  -keyout "$d/rcv.key" -out "$d/rcv.csr" 2>/dev/null || fail "CSR"
printf 'subjectAltName=IP:127.0.0.1\n' >"$d/ext"
openssl x509 -req -in "$d/rcv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
  -days 2 -extfile "$d/ext" -out "$d/rcv.pem" 2>/dev/null || fail "receiver certificate"
printf 'pg-secret\n' >"$work/secret"

start_receiver() { # [PORT]
  rm -f "$work/port"
  python3 "$here/notify_receiver.py" https "$work/port" "$work/received" "$d/rcv.pem" \
    "$d/rcv.key" "$work/secret" ${1:-} 2>>"$work/rcv.err" &
  rcv_pid=$!
  wait_until 10 test -s "$work/port" || fail "receiver did not start"
  port=$(cat "$work/port")
}
: >"$work/received"
start_receiver

start_verifier v1
admin=$(tr -d '\n' <"$work/v1/admin.token")
cp -a "$work/v1" "$work/v2"
start_verifier v2
export ATTEST_SERVER=${vurl[v1]} ATTEST_TOKEN_FILE=$work/v1/admin.token
export ATTEST_SERVER_THUMBPRINT=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/v1.out")
"$bin/attestctl" notify add hook --url "https://127.0.0.1:$port/hook" --secret-file "$work/secret" \
  --ca-file "$d/ca.pem" --events host >/dev/null || fail "notify add"

# --- shared: six events through both instances, each delivered once --------
tp0="SHA256:$(printf 'c%.0s' $(seq 63))" # + one hex digit: one agent per host
for i in 1 2 3 4 5 6; do
  v=v$(( (i % 2) + 1 ))
  call $v POST /api/v1/hosts "{\"address\":\"127.0.0.1:9\",\"name\":\"h$i\",\"thumbprint\":\"$tp0$i\"}" 201
done
wait_until 30 bash -c "[ \$(jq -r 'select(.doc.event==\"host added\") | .key' '$work/received' | sort -u | wc -l) -ge 6 ]" ||
  fail "not every event delivered: $(wc -l <"$work/received")"
sleep 2
dups=$(jq -r '.key' "$work/received" | sort | uniq -d)
[ -z "$dups" ] || fail "delivered twice: $dups"
jq -s -e 'all(.[]; .sig_ok == true)' "$work/received" >/dev/null || fail "a bad signature"
[ "$(sql "SELECT count(*) FROM notify_outbox")" = 0 ] || fail "rows left in the outbox"
ok "six events through two instances on PostgreSQL: each delivered once, signed"

# --- takeover: the instance holding a delivery dies --------------------------
kill "$rcv_pid"; wait "$rcv_pid" 2>/dev/null
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)   # accept, never answer
' "$port" &
rcv_pid=$!
sleep 0.5
call v1 POST /api/v1/hosts "{\"address\":\"127.0.0.1:9\",\"name\":\"late\",\"thumbprint\":\"${tp0}0\"}" 201
wait_until 10 bash -c "[ -n \"\$(psql -X -q -t -A -d '$PG_URL' -c \"SELECT lease_owner FROM notify_outbox WHERE lease_owner IS NOT NULL\")\" ]" ||
  fail "nobody claimed the delivery"
owner=$(sql "SELECT lease_owner FROM notify_outbox WHERE lease_owner IS NOT NULL")
other=v1; [ "$owner" = v1 ] && other=v2
t0=$(date +%s%N)
kill -9 "${vpid[$owner]}"; wait "${vpid[$owner]}" 2>/dev/null
vpid[$owner]=""
kill "$rcv_pid"; wait "$rcv_pid" 2>/dev/null
start_receiver "$port"
wait_until 40 bash -c "jq -s -e 'any(.[]; .doc.host==\"late\")' '$work/received' >/dev/null" ||
  fail "the delivery held by the killed $owner was not taken over by $other"
lat=$(( ($(date +%s%N) - t0) / 1000000 ))
call $other GET /metrics 200
grep -q '^attest_notifications_total{result="delivered"} [1-9]' <<<"$body" ||
  fail "$other did not count the delivery"
ok "$owner killed holding the delivery: $other delivered it $lat ms after the kill (lease $LEASE s)"
echo "PASS"
