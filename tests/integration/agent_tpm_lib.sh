# Helpers for the agent-on-a-slow-TPM tests (test_agent_tpm_*.sh) and
# scripts/bench.sh: a simulated host, the delay proxy in front of its swtpm,
# an agent on the proxy, curl as the verifier (client certificate v1), and
# enrollment with tpm2_makecredential. Source after setting bin and work.
#
#   tpm_host DIR [CREATE-ARGS]  attest-sim create + boot: sets tcti, swtpm_port,
#                               swtpm_pid
#   start_proxy [ARGS]          the delay proxy on swtpm_port: sets proxy_port,
#                               proxy_pid, counts (file)
#   start_agent TCTI [ARGS]     the daemon: sets agent_pid, port, thumb
#   call METHOD PATH [BODY]     curl as v1: sets code, $work/resp
#   enroll                      identity + ak + activate: sets ak_name
#   quote                       one POST /v1/quote; sets code
#   count NAME [FILE]           commands NAME the TPM carried out so far
#   transient_handles           tpm2_getcap handles-transient on swtpm (count)
agent_pid=""
proxy_pid=""
tpm_dirs=()

tpm_cleanup() {
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "$proxy_pid" ] && kill -TERM "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
  for d in "${tpm_dirs[@]}"; do
    [ -n "${swtpm_pid:-}" ] && kill -CONT "$swtpm_pid" 2>/dev/null
    "$bin/attest-sim" stop "$d" >/dev/null 2>&1
  done
  return 0
}

fail() {
  echo "FAIL: $*"
  [ -f "$work/agent.err" ] && { echo "--- agent stderr (last 20 lines)"; tail -20 "$work/agent.err"; }
  exit 1
}
ok() { echo "ok: $*"; }

tpm_host() {
  local d=$1
  shift
  "$bin/attest-sim" create "$d" --eventlog "$logs/gce-rhel8-secureboot.bin" --ek-ca "$work/ca" \
    "$@" >/dev/null 2>"$work/sim.err" || fail "attest-sim create: $(tail -3 "$work/sim.err")"
  tpm_dirs+=("$d")
  tcti=$("$bin/attest-sim" boot "$d") || fail "attest-sim boot"
  swtpm_port=${tcti##*port=}
  swtpm_pid=$("$bin/attest-sim" status "$d" | jq -r .pid)
  [ -n "$swtpm_pid" ] && [ "$swtpm_pid" != null ] || fail "no swtpm pid"
}

start_proxy() {
  counts="$work/counts.json"
  : >"$work/proxy.out"
  python3 "$(dirname "${BASH_SOURCE[0]}")/tpm_delay_proxy.py" --upstream "$swtpm_port" \
    --counts "$counts" --log "$work/proxy.log" \
    --delays-file "$work/delays.json" "$@" >"$work/proxy.out" 2>"$work/proxy.err" &
  proxy_pid=$!
  for _ in $(seq 100); do
    grep -q '^port ' "$work/proxy.out" && break
    kill -0 "$proxy_pid" 2>/dev/null || fail "delay proxy exited: $(cat "$work/proxy.err")"
    sleep 0.05
  done
  proxy_port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$work/proxy.out")
  [ -n "$proxy_port" ] || fail "delay proxy printed no port"
}

start_agent() {
  local t=$1
  shift
  : >"$work/agent.out"
  # curl plays the verifier with certificate v1: the agent is given its
  # thumbprint, as an operator gives it the verifier's.
  if [ ! -f "$work/v1.crt" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
      -keyout "$work/v1.key" -out "$work/v1.crt" -subj "/CN=v1" 2>/dev/null || fail "openssl req"
  fi
  local v1tp
  v1tp="SHA256:$(openssl x509 -in "$work/v1.crt" -outform der | sha256sum | cut -c1-64)"
  "$bin/attest-agent" --listen 127.0.0.1:0 --tcti "$t" --eventlog "$work/host/eventlog.bin" \
    --data-dir "$work/agent-data" --trust-verifier "$v1tp" "$@" >"$work/agent.out" \
    2>>"$work/agent.err" &
  agent_pid=$!
  for _ in $(seq 100); do
    grep -q '^listening ' "$work/agent.out" && break
    kill -0 "$agent_pid" 2>/dev/null || fail "agent exited at start: $(tail -3 "$work/agent.err")"
    sleep 0.1
  done
  port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/agent.out")
  [ -n "$port" ] || fail "agent printed no port"
}

call() {
  local data=()
  [ -n "${3:-}" ] && data=(--data-binary "@$3" -H 'Content-Type: application/json')
  code=$(curl -sk --max-time 60 --cert "$work/v1.crt" --key "$work/v1.key" -X "$1" \
    "${data[@]}" -o "$work/resp" -w '%{http_code}' "https://127.0.0.1:$port$2")
}

enroll() {
  call GET /v1/identity
  [ "$code" = 200 ] || fail "identity: $code $(cat "$work/resp")"
  cp "$work/resp" "$work/identity.json"
  jq -r .tpm.ek_public "$work/resp" | base64 -d >"$work/ek.pub"
  printf '{}' >"$work/req.json"
  call POST /v1/ak "$work/req.json"
  [ "$code" = 200 ] || fail "ak: $code $(cat "$work/resp")"
  ak_name=$(jq -r .ak_name "$work/resp")
  head -c 32 /dev/urandom >"$work/secret"
  tpm2_makecredential --tcti none -u "$work/ek.pub" -s "$work/secret" -n "$ak_name" \
    -o "$work/cred" >/dev/null 2>&1 || fail "tpm2_makecredential"
  local n=$(( $(od -An -tu1 -j8 -N1 "$work/cred") * 256 + $(od -An -tu1 -j9 -N1 "$work/cred") ))
  local id sec
  id=$(tail -c +9 "$work/cred" | head -c $((n + 2)) | base64 -w0)
  sec=$(tail -c +$((9 + n + 2)) "$work/cred" | base64 -w0)
  printf '{"ak_name":"%s","credential_blob":"%s","secret":"%s"}' "$ak_name" "$id" "$sec" \
    >"$work/req.json"
  call POST /v1/activate "$work/req.json"
  [ "$code" = 200 ] || fail "activate: $code $(cat "$work/resp")"
}

quote() {
  printf '{"nonce":"%s"}' "$(openssl rand -hex 32)" >"$work/req.json"
  call POST /v1/quote "$work/req.json"
}

# count NAME [FILE]: commands NAME the TPM carried out (answered with success)
count() { jq -r --arg n "$1" '.[$n].ok // 0' "${2:-$counts}"; }

# evict_ek: remove the persistent EK swtpm_setup made (a TPM whose EK is not
# persistent: the agent has to create it).
evict_ek() {
  TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$swtpm_port" tpm2_evictcontrol -C o -c 0x81010001 \
    >/dev/null 2>&1 || fail "tpm2_evictcontrol 0x81010001"
}

transient_handles() {
  TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$swtpm_port" tpm2_getcap handles-transient \
    2>/dev/null | grep -c '0x' || true
}

now_ms() { date +%s%3N; }
