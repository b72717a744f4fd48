# Helpers shared by integration tests that run a real attest-verifier with
# simulated hosts (attest-sim: swtpm + a real event log) and real agents.
# Source it after setting: bin (the build's bin dir), logs (event logs dir),
# work (a mktemp -d directory). It defines the arrays agent_pids and sims and
# the variable ver_pid that lib_cleanup stops; set your own EXIT trap that
# calls lib_cleanup (and removes $work).
#
#   verifier_thumbprint  the thumbprint of the verifier identity in $work/vd
#                        (created there if new): sets vthumb
#   sim NAME LOG CADIR [AGENT ARGS]
#                        create + boot a simulated host, start its agent
#                        (trusting the verifier: --trust-verifier $vthumb,
#                        unless AGENT ARGS say whom to trust): sets
#                        NAME_port, NAME_thumb, NAME_pid, NAME_dir
#   start_verifier [ARGS] start attest-verifier on a free port with CA dir
#                        (on ATTEST_TEST_DB instead of SQLite if set)
#                        $work/cas: sets url, vthumb, ver_pid; admin token in
#                        $work/vd/admin.token
#   call TOKEN METHOD PATH [BODY] STATUS   curl the API; sets $body or fails
#   field JQ             jq -r on $body
agent_pids=()
sims=()
ver_pid=""

lib_cleanup() {
  [ -n "$ver_pid" ] && kill -TERM "$ver_pid" 2>/dev/null && wait "$ver_pid" 2>/dev/null
  for p in "${agent_pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for s in "${sims[@]}"; do "$bin/attest-sim" stop "$s" >/dev/null 2>&1; done
  return 0
}

fail() {
  echo "FAIL: $*"
  echo "--- verifier stderr (last 30 lines)"; tail -30 "$work/ver.err" 2>/dev/null
  exit 1
}
ok() { echo "ok: $*"; }

verifier_thumbprint() {
  vthumb=$("$bin/attest-verifier" thumbprint --data-dir "$work/vd" | sed -n 's/^thumbprint //p')
  [ -n "$vthumb" ] || fail "attest-verifier thumbprint --data-dir $work/vd"
}

# The agent arguments that say whom an agent trusts: the caller's, or else
# the verifier of this test (agents pin no one by themselves). The marker
# --trust-nobody (dropped here) starts an agent that trusts no one.
trust_args() {
  local a rest=()
  for a in "$@"; do
    case $a in
      --trust-verifier|--trust-first-verifier) printf '%s\n' "$@"; return;;
      --trust-nobody) ;;
      *) rest+=("$a");;
    esac
  done
  if [ ${#rest[@]} != $# ]; then
    [ ${#rest[@]} = 0 ] || printf '%s\n' "${rest[@]}"
    return
  fi
  printf '%s\n' "$@" --trust-verifier "$vthumb"
}

sim() {
  local n=$1 log=$2 ca=$3 d="$work/$1"
  shift 3
  local targs
  [ -n "${vthumb:-}" ] || verifier_thumbprint
  mapfile -t targs < <(trust_args "$@")
  "$bin/attest-sim" create "$d" --eventlog "$logs/$log" --ek-ca "$ca" >/dev/null \
    2>"$work/$n.sim.err" || fail "attest-sim create $n: $(tail -3 "$work/$n.sim.err")"
  sims+=("$d")
  local tcti
  tcti=$("$bin/attest-sim" boot "$d") || fail "attest-sim boot $n"
  "$bin/attest-agent" --listen 127.0.0.1:0 --tcti "$tcti" --eventlog "$d/eventlog.bin" \
    --data-dir "$d/agent" "${targs[@]}" >"$work/$n.out" 2>"$work/$n.err" &
  local pid=$!
  agent_pids+=("$pid")
  for _ in $(seq 100); do
    grep -q '^listening ' "$work/$n.out" && break
    kill -0 "$pid" 2>/dev/null || fail "agent $n exited: $(tail -3 "$work/$n.err")"
    sleep 0.1
  done
  eval "${n}_port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/$n.out")"
  eval "${n}_thumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/$n.out")"
  eval "${n}_pid=$pid"
  eval "${n}_dir=$d"
}

start_verifier() {
  : >"$work/ver.out"
  "$bin/attest-verifier" --listen 127.0.0.1:0 --data-dir "$work/vd" --ca-dir "$work/cas" \
    --attest-interval 300 --timeout-ms 5000 --instance test-verifier \
    ${ATTEST_TEST_DB:+--db "$ATTEST_TEST_DB"} "$@" >"$work/ver.out" 2>>"$work/ver.err" &
  ver_pid=$!
  for _ in $(seq 100); do
    grep -q '^admin-token ' "$work/ver.out" && break
    kill -0 "$ver_pid" 2>/dev/null || fail "verifier exited at start"
    sleep 0.1
  done
  url=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/ver.out")
  vthumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/ver.out")
  [ -n "$url" ] && [ -n "$vthumb" ] || fail "verifier did not print listen/thumbprint"
}

api() {
  local tok=$1 m=$2 p=$3 b=${4:-}
  if [ -n "$b" ]; then
    curl -sk -X "$m" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
      --data "$b" -w '\n%{http_code}' "$url$p"
  else
    curl -sk -X "$m" -H "Authorization: Bearer $tok" -w '\n%{http_code}' "$url$p"
  fi
}
call() {
  local want=${!#} out st
  out=$(api "${@:1:$#-1}")
  st=$(tail -n1 <<<"$out")
  body=$(sed '$d' <<<"$out")
  [ "$st" = "$want" ] || fail "$2 $3: HTTP $st, wanted $want: $body"
}
field() { jq -r "$1" <<<"$body"; }
