#!/usr/bin/env bash
# Push mode end to end (docs/protocol.md, "Push carrier"): a real verifier
# with --push-listen, real attest-agent daemons with --push (no listening
# socket) on swtpm hosts (attest-sim), curl and attestctl as the operator.
#   add              attestctl host add --push: mode push, no address,
#                    not_responding until the agent connects
#   green            the agent connects -> enrolled, green, push_instance set
#   no_listen        the pushing agent has no listening socket (ss -ltnp)
#   sb_off           Secure Boot off -> red SECURE_BOOT_DISABLED
#   uncertified      EK CA not in the list -> red TPM_NOT_CERTIFIED
#   latency          host attest?wait=1 on a connected push host < 1 s
#   lifecycle        alarm, disconnect, reconnect (new AK), remove: as in pull
#   restart          agent restarted -> reconnects, attested again, green
#   tamper           attest-sim extend -> red EVENTLOG_REPLAY_MISMATCH
#   unpinned         an agent whose certificate no push host pins -> 403,
#                    an event, no host changed
#   other_nonce      a relay answers one host's quote request with a quote
#                    over the nonce issued to another host -> red
#                    NONCE_MISMATCH; the other host stays green; an answer
#                    naming no waiting request -> 409, nothing changed
#   hold             a poll's ?wait=S: held S s, then 204; wait outside 1 to
#                    300 s -> 400 and nothing changed; attest-agent's
#                    --push-wait refuses the same values
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in jq curl openssl ss python3; do command -v $t >/dev/null || skip "$t not installed"; done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-sim attest-agent attest-verifier attestctl; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built"
done

work=$(mktemp -d /tmp/attest-test-push.XXXXXX)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pushlib.sh"
relay_pid=""
cleanup() {
  [ -n "$relay_pid" ] && kill -TERM "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
  lib_cleanup
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
ctl() {
  "$bin/attestctl" --server "$url" --server-thumbprint "$vthumb" --token-file "$work/vd/admin.token" \
    "$@" >"$work/ctl.out" 2>"$work/ctl.err" </dev/null
}

# Certified TPM list: "ca" is in it, "ca2" is not (attest-sim makes both).
mkdir -p "$work/cas"
verifier_thumbprint
"$bin/attest-sim" create "$work/seed" --eventlog "$logs/qemu-ovmf-ubuntu-secureboot.bin" \
  --ek-ca "$work/ca" >/dev/null 2>&1 || fail "attest-sim create (CA)"
cp "$work/ca/ca.pem" "$work/cas/test-ek-ca.pem"
start_verifier --push-listen 127.0.0.1:0 --attest-interval 300
admin=$(tr -d '\n' <"$work/vd/admin.token")
purl=$(sed -n 's/^push-listen \(https:.*\)$/\1/p' "$work/ver.out")
[ -n "$purl" ] || fail "the verifier did not print push-listen"

push_sim good qemu-ovmf-ubuntu-secureboot.bin "$work/ca" "$purl"
push_sim nosb gce-ubuntu2104-no-secureboot.bin "$work/ca" "$purl"
push_sim uncert qemu-ovmf-ubuntu-secureboot.bin "$work/ca2" "$purl"

add() {
  ctl host add --push --name good --thumbprint "$good_thumb" --json ||
    fail "attestctl host add --push: $(cat "$work/ctl.err")"
  body=$(cat "$work/ctl.out")
  [ "$(field .mode)" = push ] || fail "mode is $(field .mode)"
  [ "$(field .address)" = null ] || fail "a push host has address $(field .address)"
  ctl host add --push --name bad 127.0.0.1:1 --thumbprint "$good_thumb"
  [ $? = 2 ] || fail "host add --push with an address was not a usage error"
  call "$admin" POST /api/v1/hosts '{"mode":"push","name":"x"}' 400
  for n in nosb uncert; do
    call "$admin" POST /api/v1/hosts "{\"mode\":\"push\",\"name\":\"$n\",\"thumbprint\":\"$(eval echo \$${n}_thumb)\"}" 201
  done
  ctl host list --json || fail "host list --json"
  [ "$(jq -r '[.hosts[]|.mode]|unique|join(",")' "$work/ctl.out")" = push ] ||
    fail "host list --json modes: $(cat "$work/ctl.out")"
  ok "attestctl host add --push: mode push, no address; API refuses a push host without thumbprint"
}

green() {
  wait_host good '.trust == "green" and .connection == "connected"' 40
  [ "$(field .push_instance)" = test-verifier ] || fail "push_instance $(field .push_instance)"
  [ "$(field .ak_name)" != null ] || fail "no AK enrolled"
  good_ak=$(field .ak_name)
  ctl host show good || fail "host show"
  grep -q 'mode.*push' "$work/ctl.out" || fail "host show does not show the mode"
  ok "the pushing agent connected: enrolled and green"
}

no_listen() {
  local n
  n=$(ss -Hltnp 2>/dev/null | grep -c "pid=$good_pid," || true)
  [ "$n" = 0 ] || fail "the pushing agent listens: $(ss -ltnp | grep "pid=$good_pid,")"
  # And the verifier's side of it: one established connection from the agent.
  local i seen=0
  for i in $(seq 50); do
    # ss's output read whole: grep -q exiting at its match would SIGPIPE ss,
    # and pipefail would count the match as a miss.
    grep -q "pid=$good_pid," <<<"$(ss -Htnp 2>/dev/null)" && { seen=1; break; }
    sleep 0.2
  done
  [ $seen = 1 ] ||
    fail "no outbound connection from agent pid $good_pid: $(ss -Htanp | grep attest-agent); $(tail -3 "$work/good.err")"
  call "$admin" GET /metrics 200
  grep -q '^attest_push_channels [1-9]' <<<"$body" || fail "/metrics: $(grep push <<<"$body")"
  ok "the pushing agent has no listening socket, one outbound connection; /metrics counts it"
}

sb_off() {
  wait_host nosb '.trust == "red"' 40
  jq -e '.reasons|map(.code)|index("SECURE_BOOT_DISABLED")' <<<"$body" >/dev/null ||
    fail "nosb reasons: $(field -c .reasons)"
  ok "Secure Boot off -> red SECURE_BOOT_DISABLED"
}

uncertified() {
  wait_host uncert '.trust == "red"' 40
  jq -e '.reasons|map(.code)|index("TPM_NOT_CERTIFIED")' <<<"$body" >/dev/null ||
    fail "uncert reasons: $(field -c .reasons)"
  ok "uncertified TPM -> red TPM_NOT_CERTIFIED"
}

latency() {
  local best=999999 t0 ms
  for _ in 1 2 3; do
    t0=$(date +%s%N)
    call "$admin" POST "/api/v1/hosts/good/attest?wait=1" 200
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$(field .trust)" = green ] || fail "attest now: $(field .trust)"
    [ $ms -lt $best ] && best=$ms
  done
  [ $best -lt 1000 ] || fail "host attest took $best ms (best of 3) over the push channel"
  ok "host attest on a connected push host: $best ms (best of 3)"
}

# The other commands work the same for a push host: an open alarm for the red
# one; disconnect, attest refused while disconnected, reconnect (enrolled again
# with a new AK, over the channel the agent kept open); remove.
lifecycle() {
  call "$admin" GET "/api/v1/alarms?host=nosb&open=1" 200
  [ "$(field '.alarms|length')" = 1 ] || fail "no open alarm for nosb: $body"
  call "$admin" POST /api/v1/hosts/good/disconnect 200
  [ "$(field .connection)" = disconnected ] || fail "disconnect: $(field .connection)"
  call "$admin" POST /api/v1/hosts/good/attest 409
  call "$admin" POST "/api/v1/hosts/good/reconnect?wait=1" 200
  [ "$(field .trust)" = green ] && [ "$(field .connection)" = connected ] ||
    fail "reconnect: $(field .trust) $(field .connection) $(field -c .reasons)"
  [ "$(field .ak_name)" != "$good_ak" ] || fail "reconnect kept the old AK"
  call "$admin" DELETE /api/v1/hosts/uncert 200
  call "$admin" GET /api/v1/hosts/uncert 404
  ok "push host: alarm raised; disconnect -> disconnected, attest 409; reconnect -> new AK, green; remove"
}

restart() {
  kill -TERM "$good_pid"; wait "$good_pid" 2>/dev/null
  local before
  call "$admin" GET /api/v1/hosts/good 200
  before=$(field '.results[0].started_ms')
  push_agent good "$purl"
  wait_host good "(.results[0].started_ms > $before) and .trust == \"green\"" 40
  ok "agent restarted -> reconnected (hello) and attested green again"
}

tamper() {
  "$bin/attest-sim" extend "$good_dir" 4 "$(printf 'ab%.0s' $(seq 32))" >/dev/null || fail "attest-sim extend"
  call "$admin" POST "/api/v1/hosts/good/attest?wait=1" 200
  [ "$(field .trust)" = red ] || fail "after extend: $(field .trust)"
  jq -e '.reasons|map(.code)|index("EVENTLOG_REPLAY_MISMATCH")' <<<"$body" >/dev/null ||
    fail "tamper reasons: $(field -c .reasons)"
  ok "tampered event log -> red EVENTLOG_REPLAY_MISMATCH"
}

unpinned() {
  call "$admin" GET "/api/v1/hosts?limit=100" 200
  local before
  before=$(jq -c '[.hosts[]|{name,trust,connection}]' <<<"$body")
  mkdir -p "$work/stranger"
  "$bin/attest-agent" --push "$purl" --verifier-thumbprint "$vthumb" --tcti "$nosb_tcti" \
    --data-dir "$work/stranger" >"$work/stranger.out" 2>"$work/stranger.err" &
  local pid=$!
  agent_pids+=("$pid")
  for _ in $(seq 50); do
    grep -q 'HTTP 403' "$work/stranger.err" && break
    sleep 0.2
  done
  grep -q 'HTTP 403.*PUSH_NOT_PINNED' "$work/stranger.err" ||
    fail "the unpinned agent was not refused: $(tail -3 "$work/stranger.err")"
  local tp
  tp=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/stranger.out")
  call "$admin" GET "/api/v1/events?limit=50" 200
  jq -e --arg tp "$tp" '.events|map(.message)|map(select(contains($tp)))|length > 0' <<<"$body" \
    >/dev/null || fail "no event names the refused certificate $tp"
  call "$admin" GET "/api/v1/hosts?limit=100" 200
  [ "$(jq -c '[.hosts[]|{name,trust,connection}]' <<<"$body")" = "$before" ] ||
    fail "a refused agent changed hosts"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null
  ok "an agent with an unpinned certificate -> 403 PUSH_NOT_PINNED, an event, nothing changed"
}

# Two hosts behind a relay (tests/integration/push_relay.py) that speaks to
# the verifier as each of them (it has their keys: it is the test) and
# writes the nonce the verifier issued to host A into host B's quote request.
other_nonce() {
  push_sim ra qemu-ovmf-ubuntu-secureboot.bin "$work/ca" "$purl"
  push_sim rb qemu-ovmf-ubuntu-secureboot.bin "$work/ca" "$purl"
  kill -TERM "$ra_pid" "$rb_pid"; wait "$ra_pid" "$rb_pid" 2>/dev/null
  python3 "$(dirname "$0")/push_relay.py" "$purl" "$vthumb" \
    "$ra_dir/agent/agent.crt" "$ra_dir/agent/agent.key" \
    "$rb_dir/agent/agent.crt" "$rb_dir/agent/agent.key" "$work/relay" \
    >"$work/relay.out" 2>"$work/relay.err" &
  relay_pid=$!
  for _ in $(seq 50); do grep -q '^ports ' "$work/relay.out" && break; sleep 0.1; done
  local pa pb rtp
  read -r _ pa pb <<<"$(grep '^ports ' "$work/relay.out")"
  rtp=$(sed -n 's/^thumbprint //p' "$work/relay.out")
  [ -n "$pb" ] && [ -n "$rtp" ] || fail "relay did not start: $(tail -5 "$work/relay.err")"
  push_agent ra "https://127.0.0.1:$pa" --verifier-thumbprint "$rtp"
  push_agent rb "https://127.0.0.1:$pb" --verifier-thumbprint "$rtp"
  call "$admin" POST /api/v1/hosts "{\"mode\":\"push\",\"name\":\"ra\",\"thumbprint\":\"$ra_thumb\"}" 201
  wait_host ra '.trust == "green"' 40
  call "$admin" POST /api/v1/hosts "{\"mode\":\"push\",\"name\":\"rb\",\"thumbprint\":\"$rb_thumb\"}" 201
  wait_host rb '.trust == "red"' 40
  jq -e '.reasons|map(.code)|(index("NONCE_MISMATCH") or index("NONCE_NOT_FRESH"))' <<<"$body" >/dev/null ||
    fail "rb reasons: $(field -c .reasons)"
  grep -q 'rewrote' "$work/relay.err" || fail "the relay did not rewrite a nonce"
  call "$admin" GET /api/v1/hosts/ra 200
  [ "$(field .trust)" = green ] || fail "ra is $(field .trust)"
  ok "a quote over the nonce issued to another host -> red NONCE_MISMATCH; that host stays green"
  # An answer naming a request that is not waiting on this host's channel.
  local st
  st=$(curl -sk --cert "$ra_dir/agent/agent.crt" --key "$ra_dir/agent/agent.key" -o "$work/stale.out" \
    -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data '{"secret":"x"}' \
    "$purl/push/v1/poll?id=$(printf '0%.0s' $(seq 32))&status=200")
  [ "$st" = 409 ] && grep -q PUSH_UNKNOWN_REQUEST "$work/stale.out" ||
    fail "a stale answer got HTTP $st: $(cat "$work/stale.out")"
  call "$admin" GET /api/v1/hosts/ra 200
  [ "$(field .trust)" = green ] || fail "ra is $(field .trust) after a stale answer"
  ok "an answer for a request not waiting on that channel -> 409 PUSH_UNKNOWN_REQUEST, nothing changed"
}

# A push host whose agent is a curl with its own certificate; disconnected,
# so no request of the verifier's comes down its polls.
hold() {
  mkdir -p "$work/hw"
  openssl req -x509 -newkey ed25519 -nodes -subj /CN=hw -days 1 -keyout "$work/hw/k.pem" \
    -out "$work/hw/c.pem" 2>/dev/null || fail "openssl req"
  local tp
  tp="SHA256:$(openssl x509 -in "$work/hw/c.pem" -outform DER | sha256sum | cut -c1-64)"
  call "$admin" POST /api/v1/hosts "{\"mode\":\"push\",\"name\":\"hw\",\"thumbprint\":\"$tp\"}" 201
  call "$admin" POST /api/v1/hosts/hw/disconnect 200
  call "$admin" GET /api/v1/hosts/hw 200
  local before st t0 t1
  before=$(jq -c '{trust,connection}' <<<"$body")
  poll() { # QUERY: HTTP status
    curl -sk --max-time 40 --cert "$work/hw/c.pem" --key "$work/hw/k.pem" -o "$work/hw.out" \
      -w '%{http_code}' -X POST "$purl/push/v1/poll$1"
  }
  for q in '?wait=0' '?wait=301' '?wait=2x' '?wait=' '?wait=-1' '?wait=0002'; do
    st=$(poll "$q")
    [ "$st" = 400 ] && grep -q BAD_REQUEST "$work/hw.out" || fail "poll$q got HTTP $st: $(cat "$work/hw.out")"
  done
  t0=$(date +%s%N)
  st=$(poll '?wait=2')
  t1=$(date +%s%N)
  [ "$st" = 204 ] || fail "poll?wait=2 got HTTP $st: $(cat "$work/hw.out")"
  [ $(((t1 - t0) / 1000000)) -ge 1800 ] && [ $(((t1 - t0) / 1000000)) -lt 8000 ] ||
    fail "poll?wait=2 was held $(((t1 - t0) / 1000000)) ms"
  call "$admin" GET /api/v1/hosts/hw 200
  [ "$(jq -c '{trust,connection}' <<<"$body")" = "$before" ] || fail "hw changed: $body"
  ok "a poll's ?wait=2 is held 2 s then 204; wait outside 1..300 s -> 400, nothing changed"
  local v
  for v in 0 301 x; do
    "$bin/attest-agent" --push "$purl" --verifier-thumbprint "$vthumb" --push-wait "$v" \
      --data-dir "$work/hw/agent" >/dev/null 2>"$work/hw.err" </dev/null
    [ $? = 2 ] && grep -q -- '--push-wait' "$work/hw.err" || fail "--push-wait $v: $(cat "$work/hw.err")"
  done
  "$bin/attest-agent" --listen 127.0.0.1:0 --push-wait 5 --data-dir "$work/hw/agent" \
    >/dev/null 2>"$work/hw.err" </dev/null
  [ $? = 2 ] && grep -q 'goes with --push' "$work/hw.err" || fail "--push-wait without --push: $(cat "$work/hw.err")"
  ok "attest-agent --push-wait refuses 0, 301, x and goes only with --push"
}

add
green
no_listen
sb_off
uncertified
latency
lifecycle
restart
tamper
unpinned
other_nonce
hold
echo "PASS"
