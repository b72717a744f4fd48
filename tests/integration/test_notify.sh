#!/usr/bin/env bash
# Webhook notifications (issue 16) against a real HTTPS receiver on loopback
# (notify_receiver.py: python3 http.server + ssl, checks the HMAC itself):
#   delivery      attestctl notify add/test: the POST arrives with
#                 Content-Type application/json, a valid X-Attest-Signature
#                 and an Idempotency-Key equal to the body's; a pinned
#                 thumbprint works as well as the CA file
#   down then up  receiver stopped, a test queued: the failure is reported in
#                 notify show; receiver back on its port: delivered on retry
#   wrong cert    a pin or a CA the receiver's certificate does not match:
#                 refused, reported, a dead letter in notify list/show once its
#                 small budget (--attempts) is spent; a 4xx is a dead letter
#                 at once
#   kill -9       receiver stopped, a host turns red (attest-sim extend), the
#                 verifier killed with SIGKILL; receiver and verifier started
#                 again: the trust change and the alarm arrive
#   metrics       attest_notifications_total in /metrics
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
for t in python3 jq curl openssl swtpm; do command -v $t >/dev/null || skip "$t not installed"; done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-sim attest-agent attest-verifier attestctl; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built"
done
. "$here/lib.sh"
. "$here/faultlib.sh"

work=$(mktemp -d /tmp/attest-test-notify.XXXXXX)
rcv_pid=""
stop_receiver() {
  [ -n "$rcv_pid" ] && kill "$rcv_pid" 2>/dev/null && wait "$rcv_pid" 2>/dev/null
  rcv_pid=""
}
cleanup() {
  stop_receiver
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

# --- certificates: the receiver's (CA-signed, SAN 127.0.0.1) and a stranger's
cd_certs() {
  local d=$work/pki
  mkdir -p "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=notify-test-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || fail "CA"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=receiver \
    -keyout "$d/rcv.key" -out "$d/rcv.csr" 2>/dev/null || fail "CSR"
  printf 'subjectAltName=IP:127.0.0.1\n' >"$d/ext"
  openssl x509 -req -in "$d/rcv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/ext" -out "$d/rcv.pem" 2>/dev/null || fail "receiver certificate"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=stranger -keyout "$d/other.key" -out "$d/other.pem" 2>/dev/null || fail "stranger"
  rcv_thumb="SHA256:$(openssl x509 -in "$d/rcv.pem" -outform DER | sha256sum | cut -c1-64)"
  other_thumb="SHA256:$(openssl x509 -in "$d/other.pem" -outform DER | sha256sum | cut -c1-64)"
}
cd_certs
printf 'test-webhook-secret-%s\n' "$RANDOM$RANDOM" >"$work/secret"
chmod 600 "$work/secret"

# start_receiver [PORT]: sets rcv_port, rcv_pid
start_receiver() {
  rm -f "$work/port"
  python3 "$here/notify_receiver.py" https "$work/port" "$work/received" \
    "$work/pki/rcv.pem" "$work/pki/rcv.key" "$work/secret" ${1:-} 2>>"$work/rcv.err" &
  rcv_pid=$!
  wait_until 10 test -s "$work/port" || fail "receiver did not start: $(tail -3 "$work/rcv.err")"
  rcv_port=$(cat "$work/port")
}
: >"$work/received"
start_receiver

sim h1 qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
vopts=(--lease-seconds 3)
start_verifier "${vopts[@]}"
admin=$(tr -d '\n' <"$work/vd/admin.token")
export ATTEST_SERVER=$url ATTEST_SERVER_THUMBPRINT=$vthumb ATTEST_TOKEN_FILE=$work/vd/admin.token
ctl() { "$bin/attestctl" "$@" >"$work/out" 2>"$work/err" </dev/null; rc=$?; }
received() { jq -c "select($1)" "$work/received"; }
has() { [ -n "$(received "$1")" ]; }

# --- delivery, signature, idempotency key -----------------------------------
ctl notify add hook --url "https://127.0.0.1:$rcv_port/hook" --secret-file "$work/secret" \
  --ca-file "$work/pki/ca.pem" --events alarm,trust,host
[ $rc = 0 ] || fail "notify add: $(cat "$work/err")"
ctl notify show hook --json
[ "$(jq -r .secret "$work/out")" = true ] || fail "show: secret is not reported as true"
! grep -q "test-webhook-secret" "$work/out" || fail "the secret came back from the API"
ctl notify add http --url "http://127.0.0.1:$rcv_port/"
[ $rc = 1 ] && grep -q "http://" "$work/err" || fail "plain http accepted (rc $rc)"
t0=$(date +%s%N)
ctl notify test hook
[ $rc = 0 ] || fail "notify test: $(cat "$work/err")"
wait_until 20 has '.doc.kind=="test" and .path=="/hook"' || fail "test delivery did not arrive"
lat=$(( ($(date +%s%N) - t0) / 1000000 ))
r=$(received '.doc.kind=="test" and .path=="/hook"' | head -1)
[ "$(jq .sig_ok <<<"$r")" = true ] || fail "bad signature: $r"
[ "$(jq .ctype_ok <<<"$r")" = true ] || fail "bad Content-Type: $r"
[ "$(jq .key_ok <<<"$r")" = true ] || fail "Idempotency-Key header differs from the body's: $r"
[[ "$(jq -r .key <<<"$r")" =~ ^[0-9a-f]{32}$ ]] || fail "idempotency key: $r"
wait_until 10 bash -c "'$bin/attestctl' notify show hook --json | jq -e '.delivered>=1 and .pending==0' >/dev/null" \
  || fail "delivered not counted"
ok "delivery: signed (HMAC checked by the receiver), Idempotency-Key, CA-verified TLS; arrived $lat ms after notify test"

ctl notify add pinned --url "https://127.0.0.1:$rcv_port/pinned" --secret-file "$work/secret" \
  --thumbprint "$rcv_thumb" --events host
[ $rc = 0 ] || fail "notify add pinned: $(cat "$work/err")"
add_host h1
wait_until 20 has '.doc.kind=="host" and .path=="/pinned" and .doc.host=="h1"' ||
  fail "host added not delivered to the pinned target"
has '.doc.kind=="host" and .path=="/hook" and .doc.event=="host added"' ||
  wait_until 10 has '.doc.kind=="host" and .path=="/hook"' || fail "host added not delivered to hook"
ok "host added -> delivered to both targets (pinned thumbprint and CA)"

# --- receiver down, then up ---------------------------------------------------
stop_receiver
ctl notify test hook
wait_until 20 bash -c "'$bin/attestctl' notify show hook --json | jq -e '.failed>=1 and .pending>=1' >/dev/null" ||
  fail "the failure is not reported: $("$bin/attestctl" notify show hook --json)"
ctl notify show hook
grep -q "last error:.*connect" "$work/out" || fail "notify show does not say why: $(cat "$work/out")"
n0=$(received '.doc.kind=="test" and .path=="/hook"' | wc -l)
start_receiver "$rcv_port"
wait_until 30 bash -c "[ \$(jq -c 'select(.doc.kind==\"test\" and .path==\"/hook\")' '$work/received' | wc -l) -gt $n0 ]" ||
  fail "not delivered after the receiver came back"
ok "receiver down -> failure reported; receiver up -> delivered on retry"

# --- wrong certificate, refused answers: dead letters -------------------------
ctl notify add wrongpin --url "https://127.0.0.1:$rcv_port/wrongpin" --thumbprint "$other_thumb" \
  --attempts 2
ctl notify add wrongca --url "https://127.0.0.1:$rcv_port/wrongca" --ca-file "$work/pki/other.pem" \
  --attempts 1
ctl notify add rejected --url "https://127.0.0.1:$rcv_port/reject" --ca-file "$work/pki/ca.pem"
for t in wrongpin wrongca rejected; do ctl notify test $t; [ $rc = 0 ] || fail "notify test $t"; done
wait_until 30 bash -c "'$bin/attestctl' notify list --json |
  jq -e '[.targets[]|select(.name==\"wrongpin\" or .name==\"wrongca\" or .name==\"rejected\")|.dead]==[1,1,1]' >/dev/null" ||
  fail "not dead letters: $("$bin/attestctl" notify list --json)"
! has '.path=="/wrongpin" or .path=="/wrongca"' || fail "a receiver with the wrong certificate got the body"
ctl notify show wrongpin --json
jq -e '.dead_letters[0].error|test("pin")' "$work/out" >/dev/null || fail "pin failure not reported: $(cat "$work/out")"
[ "$(jq .dead_letters[0].attempts "$work/out")" = 2 ] || fail "wrongpin: not 2 attempts"
ctl notify show wrongca --json
jq -e '.dead_letters[0].error|test("tls")' "$work/out" >/dev/null || fail "CA failure not reported: $(cat "$work/out")"
ctl notify show rejected --json
jq -e '.dead_letters[0].attempts==1 and (.dead_letters[0].error|test("HTTP 400"))' "$work/out" >/dev/null ||
  fail "a 400 was retried: $(cat "$work/out")"
ctl notify list
grep -q "dead letter" "$work/out" || fail "notify list does not show the dead letters: $(cat "$work/out")"
ok "wrong pin / wrong CA -> refused, reported, dead letters after the budget; HTTP 400 -> dead at once"
for t in wrongpin wrongca rejected; do ctl notify remove $t; [ $rc = 0 ] || fail "remove $t"; done

# --- kill -9 between the event and its delivery -------------------------------
stop_receiver
"$bin/attest-sim" extend "$h1_dir" 4 "$(printf 'ab%.0s' $(seq 32))" >/dev/null || fail "attest-sim extend"
call "$admin" POST "/api/v1/hosts/h1/attest?wait=1" 200
[ "$(field .trust)" = red ] || fail "h1 not red after extend"
kill -9 "$ver_pid"
wait "$ver_pid" 2>/dev/null
ver_pid=""
start_receiver "$rcv_port"
t0=$(date +%s%N)
start_verifier "${vopts[@]}"
export ATTEST_SERVER=$url
wait_until 40 has '.doc.kind=="trust" and .doc.host=="h1" and .doc.trust=="red" and .path=="/hook"' ||
  fail "the trust change was lost with the verifier: $(cat "$work/received" | tail -3)"
lat=$(( ($(date +%s%N) - t0) / 1000000 ))
wait_until 20 has '.doc.kind=="alarm" and .doc.event=="alarm raised" and .doc.host=="h1"' ||
  fail "the alarm was lost with the verifier"
r=$(received '.doc.kind=="trust" and .doc.host=="h1" and .doc.trust=="red"' | head -1)
[ "$(jq .sig_ok <<<"$r")" = true ] || fail "bad signature after restart"
jq -e '.doc.reasons[]|select(.code=="EVENTLOG_REPLAY_MISMATCH")' <<<"$r" >/dev/null ||
  fail "the trust document lacks the reason: $r"
ok "kill -9 after a red verdict: trust change and alarm delivered after the restart ($lat ms after it)"

# --- metrics -------------------------------------------------------------------
call "$admin" GET /metrics 200
grep -q '^attest_notifications_total{result="delivered"} [1-9]' <<<"$body" ||
  fail "metrics: $(grep notif <<<"$body")"
grep -q '^attest_notifications_queued ' <<<"$body" || fail "no queue depth gauge"
ctl notify remove hook
[ $rc = 0 ] || fail "notify remove"
ok "metrics: delivered, failed, dead, queued"
echo "PASS"
