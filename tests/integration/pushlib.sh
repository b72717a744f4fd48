# Helpers for the push-mode tests (test_push.sh, test_push_pg.sh), on top of
# lib.sh: simulated hosts whose agent runs with --push (no listening socket).
#
#   push_sim NAME LOG CADIR URLS [AGENT ARGS]
#       create + boot a simulated host, start its agent with --push URLS
#       pinning $vthumb (or what AGENT ARGS say): sets NAME_thumb, NAME_pid,
#       NAME_dir, NAME_tcti
#   push_agent NAME URLS [AGENT ARGS]   (re)start NAME's agent only
#   wait_host NAME JQ SECONDS           poll the host until jq JQ is true

push_agent() {
  local n=$1 urls=$2 d="$work/$1"
  shift 2
  local pins=("$@")
  [ ${#pins[@]} -gt 0 ] || pins=(--verifier-thumbprint "$vthumb")
  : >"$work/$n.out"
  "$bin/attest-agent" --push "$urls" --tcti "$(eval echo "\$${n}_tcti")" \
    --eventlog "$d/eventlog.bin" --data-dir "$d/agent" "${pins[@]}" \
    >"$work/$n.out" 2>>"$work/$n.err" &
  local pid=$!
  agent_pids+=("$pid")
  for _ in $(seq 100); do
    grep -q '^push ' "$work/$n.out" && break
    kill -0 "$pid" 2>/dev/null || fail "agent $n exited: $(tail -3 "$work/$n.err")"
    sleep 0.1
  done
  eval "${n}_thumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/$n.out")"
  eval "${n}_pid=$pid"
}

push_sim() {
  local n=$1 log=$2 ca=$3 urls=$4 d="$work/$1"
  shift 4
  "$bin/attest-sim" create "$d" --eventlog "$logs/$log" --ek-ca "$ca" >/dev/null \
    2>"$work/$n.sim.err" || fail "attest-sim create $n: $(tail -3 "$work/$n.sim.err")"
  sims+=("$d")
  local tcti
  tcti=$("$bin/attest-sim" boot "$d") || fail "attest-sim boot $n"
  eval "${n}_tcti=\$tcti"
  eval "${n}_dir=$d"
  push_agent "$n" "$urls" "$@"
}

# wait_host NAME JQ SECONDS: GET the host until JQ holds ($body is the host).
wait_host() {
  local i
  for i in $(seq $(($3 * 5))); do
    call "$admin" GET "/api/v1/hosts/$1" 200
    [ "$(jq -r "$2" <<<"$body")" = true ] && return 0
    sleep 0.2
  done
  fail "host $1: '$2' not true after $3 s: $(jq -c '{trust,connection,reasons,push_instance}' <<<"$body")"
}
