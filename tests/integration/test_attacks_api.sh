#!/usr/bin/env bash
# Attack matrix (docs/security.md), the operator API and the HTTPS layer:
# real verifier, a real agent on swtpm, curl and slow_clients.py as attackers.
#   unauthenticated_admin  every admin endpoint without a token, with an unknown
#                          token, with a malformed header -> 401 (WWW-Authenticate)
#   viewer_admin           every admin endpoint with a viewer token -> 403 FORBIDDEN
#                          (reads: 401 without a token, 200 for a viewer); nothing changed
#   oversized_body         > 64 KiB (> 1 MiB for policies) -> 413, nothing changed
#   deep_json              JSON nested 10000 deep -> 400 JSON_TOO_DEEP, to the
#                          verifier and to the agent, both still serving
#   slow_clients           40 byte-dripping + 400 silent connections from one
#                          address: an honest client is served within 2 s; the
#                          attacker holds at most max_per_peer slots; drippers
#                          are cut at the request deadline (20 s)
#   spread_slow_clients    200 silent connections from one address, then 90 each
#                          from 12 more (127.0.0.10-21): past the budget (1024)
#                          no address holds more than its fair share (+1), every
#                          address keeps a share, an honest newcomer address
#                          is served within 2 s
#   repeated_content_length  two Content-Length fields (different, or equal) with
#                          a smuggled request after the first framing, raw over
#                          TLS to the verifier and to the agent -> one 400, then
#                          the connection closed; the smuggled request never runs
. "$(dirname "$0")/attacklib.sh"
attack_init attacks-api

# hit TOKEN|- METHOD PATH [BODY] [EXTRA CURL ARGS...]: status in $st, body in $work/hit.
hit() {
  local tok=$1 m=$2 p=$3 b=${4:-} auth=()
  shift $(( $# < 4 ? $# : 4 ))
  [ "$tok" != - ] && auth=(-H "Authorization: Bearer $tok")
  if [ -n "$b" ]; then
    st=$(curl -sk --max-time 20 -X "$m" "${auth[@]}" "$@" -H 'Content-Type: application/json' \
      --data-binary "$b" -D "$work/hit.h" -o "$work/hit" -w '%{http_code}' "$url$p")
  else
    st=$(curl -sk --max-time 20 -X "$m" "${auth[@]}" "$@" -D "$work/hit.h" -o "$work/hit" \
      -w '%{http_code}' "$url$p")
  fi
}
code() { jq -r .error.code "$work/hit" 2>/dev/null; }
# Everything an operator could change, as one string.
snapshot() {
  local s=""
  call "$admin" GET "/api/v1/hosts" 200
  s+=$(jq -c '[.hosts[]|{name,trust,enabled,connection,ak_name,policy,thumbprint,interval_s}]' <<<"$body")
  call "$admin" GET "/api/v1/policies" 200
  s+=$(jq -c '[.policies[]|{name,default,hosts,updated_at}]' <<<"$body")
  call "$admin" GET "/api/v1/cas" 200;    s+=$(jq -c '[.cas[].fingerprint]' <<<"$body")
  call "$admin" GET "/api/v1/alarms" 200; s+=$(jq -c '[.alarms[]|{id,acked_at}]' <<<"$body")
  call "$admin" GET "/api/v1/tokens" 200; s+=$(jq -c '[.tokens[]|{name,role}]' <<<"$body")
  call "$admin" GET "/api/v1/events?limit=1000" 200; s+=$(jq -c '.events|length' <<<"$body")
  printf '%s' "$s"
}

admin_endpoints() {
  local pem
  pem=$(jq -Rs . <"$work/extra-ca.pem")
  ADMIN=(
    "POST|/api/v1/hosts|{\"address\":\"127.0.0.1:$s_port\",\"name\":\"x\",\"thumbprint\":\"$s_thumb\"}"
    "POST|/api/v1/hosts/s/attest|"
    "POST|/api/v1/hosts/s/disconnect|"
    "POST|/api/v1/hosts/s/reconnect|"
    "DELETE|/api/v1/hosts/s|"
    "PUT|/api/v1/policies/x|{\"version\":1}"
    "PUT|/api/v1/policies/p1|{\"version\":1,\"description\":\"changed\"}"
    "POST|/api/v1/policies|{\"name\":\"x\",\"body\":{\"version\":1}}"
    "POST|/api/v1/policies|{\"name\":\"x\",\"from_host\":\"s\"}"
    "POST|/api/v1/policies|{\"from_host\":\"s\",\"dry_run\":true}"
    "POST|/api/v1/policies/p1/assign|{\"host\":\"s\"}"
    "POST|/api/v1/policies/p1/assign|{\"default\":true}"
    "DELETE|/api/v1/policies/p2|"
    "POST|/api/v1/cas|{\"pem\":$pem}"
    "DELETE|/api/v1/cas/$ca_fp|"
    "POST|/api/v1/alarms/$alarm_id/ack|"
    "GET|/api/v1/tokens|"
    "POST|/api/v1/tokens|{\"name\":\"x\",\"role\":\"admin\"}"
    "DELETE|/api/v1/tokens/ops|"
  )
  READS=(/api/v1/hosts /api/v1/hosts/s /api/v1/hosts/s/evidence /api/v1/policies
    /api/v1/policies/p1 /api/v1/cas "/api/v1/cas/$ca_fp" /api/v1/alarms /api/v1/events
    /api/v1/status /metrics)
}

unauthenticated_admin() {
  local before n=0 e m p b
  before=$(snapshot)
  for e in "${ADMIN[@]}"; do
    IFS='|' read -r m p b <<<"$e"
    hit - "$m" "$p" "$b"
    [ "$st" = 401 ] && [ "$(code)" = UNAUTHENTICATED ] || fail "no token: $m $p -> $st $(cat "$work/hit")"
    grep -qi '^WWW-Authenticate: Bearer' "$work/hit.h" || fail "no WWW-Authenticate on $m $p"
    hit "$(openssl rand -hex 32)" "$m" "$p" "$b"
    [ "$st" = 401 ] || fail "unknown token: $m $p -> $st"
    hit - "$m" "$p" "$b" -H "Authorization: Basic $(printf admin:%s "$admin" | base64 -w0)"
    [ "$st" = 401 ] || fail "Basic auth: $m $p -> $st"
    hit - "$m" "$p" "$b" -H "Authorization: Bearer $admin\"x"
    [ "$st" = 401 ] || fail "malformed bearer: $m $p -> $st"
    n=$((n + 1))
  done
  for p in "${READS[@]}"; do
    hit - GET "$p"
    [ "$st" = 401 ] || fail "no token: GET $p -> $st"
  done
  [ "$(snapshot)" = "$before" ] || fail "unauthenticated calls changed something"
  ok "unauthenticated_admin: $n admin endpoints x (no token, unknown token, Basic, malformed) -> 401; ${#READS[@]} reads -> 401; nothing changed"
}

viewer_admin() {
  local before n=0 e m p b
  before=$(snapshot)
  for e in "${ADMIN[@]}"; do
    IFS='|' read -r m p b <<<"$e"
    hit "$viewer" "$m" "$p" "$b"
    [ "$st" = 403 ] && [ "$(code)" = FORBIDDEN ] || fail "viewer: $m $p -> $st $(cat "$work/hit")"
    n=$((n + 1))
  done
  for p in "${READS[@]}"; do
    hit "$viewer" GET "$p"
    [ "$st" = 200 ] || fail "viewer: GET $p -> $st"
  done
  [ "$(snapshot)" = "$before" ] || fail "viewer calls changed something"
  ok "viewer_admin: $n admin endpoints with a viewer token -> 403 FORBIDDEN; ${#READS[@]} reads 200; nothing changed"
}

oversized_body() {
  local before big
  before=$(snapshot)
  big=$(head -c $((64 * 1024)) /dev/zero | tr '\0' a)
  hit "$admin" POST /api/v1/hosts "{\"address\":\"127.0.0.1:1\",\"name\":\"$big\"}"
  [ "$st" = 413 ] || fail "65 KiB host body -> $st"
  head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$work/big.json"
  hit "$admin" PUT /api/v1/policies/big "@$work/big.json"
  [ "$st" = 413 ] || fail "1 MiB + 1 policy body -> $st"
  head -c $((8 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$work/huge.json"
  hit "$admin" POST /api/v1/tokens "@$work/huge.json"
  [ "$st" = 413 ] || fail "8 MiB body -> $st"
  [ "$(snapshot)" = "$before" ] || fail "an oversized body changed something"
  ok "oversized_body: 64 KiB + JSON -> 413, policy 1 MiB + 1 -> 413, 8 MiB -> 413; nothing changed"
}

deep_json() {
  local deep obj
  deep=$(printf '%.0s[' $(seq 10000))
  hit "$admin" POST /api/v1/hosts "$deep"
  [ "$st" = 400 ] && [ "$(code)" = JSON_TOO_DEEP ] || fail "10000 x [ -> $st $(cat "$work/hit")"
  obj=$(printf '%.0s{"a":' $(seq 10000))1$(printf '%.0s}' $(seq 10000))
  hit "$admin" POST /api/v1/tokens "$obj"
  [ "$st" = 400 ] && [ "$(code)" = JSON_TOO_DEEP ] || fail "10000 x {\"a\": -> $st $(cat "$work/hit")"
  { printf '{"version":1,"description":'; printf '%.0s[' $(seq 100000); } >"$work/deep-policy.json"
  hit "$admin" PUT /api/v1/policies/deep "@$work/deep-policy.json"
  [ "$st" = 400 ] || fail "policy nested 100000 deep -> $st $(cat "$work/hit")"
  hit "$admin" GET /api/v1/status
  [ "$st" = 200 ] || fail "the verifier stopped serving"
  # The agent parses its trusted verifier's bodies: nested 30000 deep (under its 64 KiB cap).
  local a=(--cert "$work/vd/verifier.crt" --key "$work/vd/verifier.key")
  deep=$(printf '%.0s[' $(seq 30000))
  st=$(curl -sk --max-time 20 "${a[@]}" -H 'Content-Type: application/json' --data-binary "$deep" \
    -o "$work/hit" -w '%{http_code}' "https://127.0.0.1:$s_port/v1/quote")
  [ "$st" = 400 ] || fail "agent: 30000 x [ -> $st $(cat "$work/hit")"
  kill -0 "$s_pid" 2>/dev/null || fail "the agent died"
  call "$admin" POST "/api/v1/hosts/s/attest?wait=1" 200
  [ "$(field .connection)" = connected ] || fail "the agent no longer answers: $(field .connection)"
  ok "deep_json: 10000-deep arrays/objects -> 400 JSON_TOO_DEEP, 100000-deep policy -> 400; agent 30000-deep -> 400; both keep serving"
}

slow_clients() {
  command -v python3 >/dev/null && python3 -c 'import ssl' 2>/dev/null || {
    echo "skip: slow_clients needs python3 with ssl"; return 0; }
  local port=${url##*:}
  python3 "$(dirname "$0")/slow_clients.py" 127.0.0.1 "$port" 127.0.0.2 400 40 23 \
    >"$work/slow.json" 2>"$work/slow.err" &
  local spid=$!
  for _ in $(seq 300); do grep -q marked "$work/slow.err" 2>/dev/null && break; sleep 0.2; done
  grep -q marked "$work/slow.err" || fail "slow clients did not start: $(cat "$work/slow.err")"
  # An honest client (another address) during the attack.
  local worst=0 t0 ms
  for _ in $(seq 10); do
    t0=$(date +%s%N)
    hit "$admin" GET /api/v1/status "" --max-time 5
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$st" = 200 ] || fail "honest client refused during the attack: $st"
    [ $ms -gt $worst ] && worst=$ms
    sleep 0.3
  done
  [ $worst -lt 2000 ] || fail "honest client waited $worst ms ($(cat "$work/slow.err"))"
  wait "$spid" || fail "slow_clients.py: $(cat "$work/slow.err")"
  local r; r=$(cat "$work/slow.json")
  local held=$(( $(jq .silent_open_1s <<<"$r") + $(jq .drip_open_1s <<<"$r") ))
  [ "$held" -le 256 ] || fail "one address holds $held connections (cap 256): $r"
  [ "$(jq .drip_open_end <<<"$r")" = 0 ] && [ "$(jq .silent_open_end <<<"$r")" = 0 ] ||
    fail "slow connections still open after 23 s: $r"
  jq -e '.drip_connected == 40 and .drip_open_1s == 40 and .drip_closed_max_s != null and
    .drip_closed_max_s >= 10 and .drip_closed_max_s <= 22' <<<"$r" >/dev/null ||
    fail "drippers were not cut at the deadline: $r"
  hit "$admin" GET /api/v1/status
  [ "$st" = 200 ] || fail "the verifier stopped serving"
  ok "slow_clients: 400 silent + 40 dripping from 127.0.0.2 -> $held held (cap 256), rest closed; honest client worst $worst ms; drippers cut by $(jq .drip_closed_max_s <<<"$r") s: $r"
}

spread_slow_clients() {
  command -v python3 >/dev/null && python3 -c 'import ssl' 2>/dev/null || {
    echo "skip: spread_slow_clients needs python3"; return 0; }
  local port=${url##*:}
  python3 "$(dirname "$0")/slow_clients.py" spread 127.0.0.1 "$port" 127.0.0.3 200 127.0.0.10 12 90 4 \
    >"$work/spread.json" 2>"$work/spread.err" &
  local spid=$!
  for _ in $(seq 300); do grep -q marked "$work/spread.err" 2>/dev/null && break; sleep 0.2; done
  grep -q marked "$work/spread.err" || fail "spread clients did not start: $(cat "$work/spread.err")"
  # An honest client from an address of its own (127.0.0.1) meanwhile.
  local worst=0 t0 ms
  for _ in $(seq 5); do
    t0=$(date +%s%N)
    hit "$admin" GET /api/v1/status "" --max-time 5
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$st" = 200 ] || fail "honest client refused during the spread attack: $st"
    [ $ms -gt $worst ] && worst=$ms
    sleep 0.2
  done
  [ $worst -lt 2000 ] || fail "honest client waited $worst ms during the spread attack"
  wait "$spid" || fail "slow_clients.py spread: $(cat "$work/spread.err")"
  local r; r=$(cat "$work/spread.json")
  # 13 addresses share 1024 slots: a fair share is 78.
  jq -e '.heavy_connected == 200 and .spread_connected >= 1000 and .total_open <= 1024 and
    .heavy_open <= 80 and .spread_open_max <= 80 and .spread_open_min >= 70' <<<"$r" >/dev/null ||
    fail "the budget was not shared fairly: $r"
  hit "$admin" GET /api/v1/status
  [ "$st" = 200 ] || fail "the verifier stopped serving"
  ok "spread_slow_clients: 200 + 12 x 90 silent from 13 addresses -> $(jq -c '{heavy_open,spread_open_min,spread_open_max,total_open}' <<<"$r") (budget 1024, fair share 78); honest newcomer worst $worst ms"
}

# raw_tls HOST:PORT CERTARGS... <<< REQUEST: the server's whole answer until it
# closes (timeout 10 s: status 124 means it did not close).
raw_tls() {
  local where=$1; shift
  timeout 10 openssl s_client -quiet -connect "$where" "$@" 2>/dev/null
}

repeated_content_length() {
  local smuggle="DELETE /api/v1/hosts/s HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"Authorization: Bearer $admin"$'\r\n\r\n'
  local n=${#smuggle} out rc
  for pair in "2 $((2 + n))" "2 2"; do
    set -- $pair
    out=$(printf 'POST /api/v1/policies/p9 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nContent-Length: %s\r\n\r\n{}%s' \
      "$admin" "$1" "$2" "$smuggle" | raw_tls "127.0.0.1:${url##*:}")
    rc=$?
    [ $rc != 124 ] || fail "verifier: connection not closed after a repeated Content-Length ($1, $2)"
    grep -q '^HTTP/1.1 400' <<<"$out" || fail "verifier: Content-Length $1 and $2 not refused: $out"
    [ "$(grep -c '^HTTP/1.1' <<<"$out")" = 1 ] || fail "verifier: more than one answer: $out"
  done
  call "$admin" GET /api/v1/hosts/s 200
  call "$admin" GET /api/v1/policies/p9 404
  # The agent, as its verifier (the verifier's own identity).
  local q='{"nonce":"'$(openssl rand -hex 32)'"}' quotes
  quotes=$(grep -c 'quote from' "$work/s.err")
  for pair in "${#q} 5" "${#q} ${#q}"; do
    set -- $pair
    out=$(printf 'POST /v1/quote HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\nContent-Length: %s\r\n\r\n%sGET /v1/identity HTTP/1.1\r\nHost: x\r\n\r\n' \
      "$1" "$2" "$q" | raw_tls "127.0.0.1:$s_port" -cert "$work/vd/verifier.crt" -key "$work/vd/verifier.key")
    rc=$?
    [ $rc != 124 ] || fail "agent: connection not closed after a repeated Content-Length ($1, $2)"
    grep -q '^HTTP/1.1 400' <<<"$out" || fail "agent: Content-Length $1 and $2 not refused: $out"
    [ "$(grep -c '^HTTP/1.1' <<<"$out")" = 1 ] || fail "agent: more than one answer: $out"
  done
  [ "$(grep -c 'quote from' "$work/s.err")" = "$quotes" ] || fail "the agent ran a quote for a refused request"
  # One Content-Length: the agent answers as ever.
  out=$(printf 'POST /v1/quote HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
    "${#q}" "$q" | raw_tls "127.0.0.1:$s_port" -cert "$work/vd/verifier.crt" -key "$work/vd/verifier.key")
  grep -q '^HTTP/1.1 200' <<<"$out" || fail "agent: a normal raw quote failed: $(head -3 <<<"$out")"
  ok "repeated_content_length: conflicting and equal pairs with a smuggled request -> one 400 and close, verifier and agent; host s kept, no policy p9, no quote"
}

host s qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
host n gce-ubuntu2104-no-secureboot.bin "$work/ca"
verifier_up
call "$admin" POST /api/v1/tokens '{"name":"ops","role":"viewer"}' 201
viewer=$(field .token)
add s "127.0.0.1:$s_port" "$s_thumb"; expect_green
add n "127.0.0.1:$n_port" "$n_thumb"; expect_red SECURE_BOOT_DISABLED
call "$admin" GET "/api/v1/alarms?host=n" 200
alarm_id=$(field '.alarms[0].id')
call "$admin" PUT /api/v1/policies/p1 '{"version":1}' 201
call "$admin" PUT /api/v1/policies/p2 '{"version":1}' 201
call "$admin" GET /api/v1/cas 200
ca_fp=$(field '.cas[0].fingerprint')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=extra \
  -keyout "$work/extra-ca.key" -out "$work/extra-ca.pem" 2>/dev/null || fail "openssl req"
admin_endpoints

unauthenticated_admin
viewer_admin
oversized_body
deep_json
slow_clients
spread_slow_clients
repeated_content_length
verifier_down
echo PASS
