#!/usr/bin/env bash
# Syslog notifications (issue 16): the same outbox delivered as RFC 5424
# messages to real receivers on loopback (notify_receiver.py):
#   unix   a datagram socket (as /dev/log), one message per datagram
#   tcp    a stream framed by RFC 6587 octet counting
#   tls    the same inside TLS, the collector's certificate checked against a
#          CA file; a wrong pin is refused and ends as a dead letter
# Each receiver parses the frame (PRI, version 1, timestamp, hostname,
# APP-NAME, MSGID = kind, STRUCTURED-DATA attest@32473 with kind, host,
# event, trust) for a host added and removed through the API.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
for t in python3 jq curl openssl; do command -v $t >/dev/null || skip "$t not installed"; done
for b in attest-verifier attestctl; do [ -x "$bin/$b" ] || skip "$bin/$b not built"; done
logs=/nonexistent
. "$here/lib.sh"
. "$here/faultlib.sh"

work=$(mktemp -d /tmp/attest-test-syslog.XXXXXX)
rpids=()
cleanup() {
  for p in "${rpids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

d=$work/pki
mkdir -p "$d" "$work/cas"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=syslog-test-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || fail "CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=collector \
  -keyout "$d/col.key" -out "$d/col.csr" 2>/dev/null || fail "CSR"
printf 'subjectAltName=IP:127.0.0.1\n' >"$d/ext"
openssl x509 -req -in "$d/col.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
  -days 2 -extfile "$d/ext" -out "$d/col.pem" 2>/dev/null || fail "collector certificate"

recv() { # MODE LOG ARGS...
  local mode=$1 log=$2
  shift 2
  python3 "$here/notify_receiver.py" "$mode" "$@" 2>>"$work/rcv.err" &
  rpids+=($!)
}
: >"$work/unix.log" >"$work/tcp.log" >"$work/tls.log"
recv syslog-unix "$work/unix.log" "$work/log.sock" "$work/unix.log"
recv syslog-tcp "$work/tcp.log" "$work/tcp.port" "$work/tcp.log"
recv syslog-tcp "$work/tls.log" "$work/tls.port" "$work/tls.log" "$d/col.pem" "$d/col.key"
wait_until 10 test -S "$work/log.sock" -a -s "$work/tcp.port" -a -s "$work/tls.port" ||
  fail "receivers did not start: $(tail -3 "$work/rcv.err")"

start_verifier
export ATTEST_SERVER=$url ATTEST_SERVER_THUMBPRINT=$vthumb ATTEST_TOKEN_FILE=$work/vd/admin.token
admin=$(tr -d '\n' <"$work/vd/admin.token")
ctl() { "$bin/attestctl" "$@" >"$work/out" 2>"$work/err" </dev/null; rc=$?; }

ctl notify add local --syslog "unix:$work/log.sock" --events host
[ $rc = 0 ] || fail "add unix: $(cat "$work/err")"
ctl notify add siem --syslog "tcp://127.0.0.1:$(cat "$work/tcp.port")" --events host
[ $rc = 0 ] || fail "add tcp: $(cat "$work/err")"
ctl notify add siem-tls --syslog "tls://127.0.0.1:$(cat "$work/tls.port")" --ca-file "$d/ca.pem" --events host
[ $rc = 0 ] || fail "add tls: $(cat "$work/err")"
ctl notify add siem-badpin --syslog "tls://127.0.0.1:$(cat "$work/tls.port")" --events host \
  --thumbprint "SHA256:$(printf '0%.0s' $(seq 64))" --attempts 1
[ $rc = 0 ] || fail "add tls pinned: $(cat "$work/err")"
ctl notify add bad --syslog "tcp://collector.example:514"
[ $rc = 1 ] || fail "a collector named by DNS name was accepted"
ctl notify list
grep -q '^siem-tls *syslog' "$work/out" || fail "list: $(cat "$work/out")"

tp="SHA256:$(printf 'ab%.0s' $(seq 32))"
call "$admin" POST /api/v1/hosts "{\"address\":\"127.0.0.1:9\",\"name\":\"web-1\",\"thumbprint\":\"$tp\"}" 201
call "$admin" DELETE /api/v1/hosts/web-1 200

check() { # LOG NAME
  local log=$1 n=$2 m
  wait_until 20 bash -c "[ \$(jq -c 'select(.sd.host==\"web-1\")' '$log' | wc -l) -ge 2 ]" ||
    fail "$n: messages missing: $(cat "$log")"
  jq -s -e 'all(.[]; .error == null)' "$log" >/dev/null || fail "$n: a frame did not parse: $(cat "$log")"
  m=$(jq -c 'select(.sd.event=="host added")' "$log" | head -1)
  [ -n "$m" ] || fail "$n: no host added"
  jq -e '.msgid=="host" and .app=="attest-verifier" and .sd_id=="attest@32473" and
         .sd.kind=="host" and .sd.trust=="unknown" and (.sd.key|test("^[0-9a-f]{32}$")) and
         .pri==30 and (.timestamp|test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"))' <<<"$m" >/dev/null ||
    fail "$n: header or structured data wrong: $m"
  jq -s -e 'any(.[]; .sd.event=="host removed")' "$log" >/dev/null || fail "$n: no host removed: $(cat "$log")"
}
check "$work/unix.log" unix
check "$work/tcp.log" tcp
check "$work/tls.log" tls
ok "RFC 5424 to a unix datagram socket, over TCP (octet counting) and TLS (CA checked)"

wait_until 20 bash -c "'$bin/attestctl' notify show siem-badpin --json | jq -e '.dead==2' >/dev/null" ||
  fail "wrong pin not a dead letter: $("$bin/attestctl" notify show siem-badpin --json)"
ctl notify show siem-badpin
grep -q "does not match the pin" "$work/out" || fail "the pin failure is not said: $(cat "$work/out")"
ok "tls:// with a wrong pin: refused, dead letters, reported"
echo "PASS"
