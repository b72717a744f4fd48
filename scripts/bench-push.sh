#!/usr/bin/env bash
# make bench-push: the verifier's memory per connected pushing agent (issue
# 17). One verifier on SQLite with --push-listen; bench/push_idle.py adds
# N push hosts (each its own client certificate, disconnected so that
# nothing is scheduled), opens N idle mutual-TLS long polls as attest-agent
# --push does, and prints the verifier's RSS before and after and the
# difference per connection. Prints figures, asserts nothing; not in check.
#
# With HEAPTRACK=1 (heaptrack installed) the verifier runs under heaptrack and
# is stopped with SIGKILL while the polls are held: its live heap per
# connected agent, by part (bench/heap_breakdown.py).
#
#   scripts/bench-push.sh [BUILD]     env: AGENTS="1000 5000" HEAPTRACK=0
set -uo pipefail
build=${1:-build}
bin="$build/bin"
AGENTS=${AGENTS:-"1000 5000"}
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$bin/attest-verifier" ] || { echo "bench-push: $bin/attest-verifier not built"; exit 1; }
python3 -c 'import cryptography' 2>/dev/null ||
  { echo "bench-push: python3-cryptography missing (scripts/install-deps.sh)"; exit 1; }
[ "$(ulimit -n)" -ge 12000 ] || ulimit -n 12000 2>/dev/null || true
work=$(mktemp -d /tmp/attest-bench-push.XXXXXX)
vpid=""
cleanup() {
  [ -n "$vpid" ] && kill -TERM "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
for n in $AGENTS; do
  rm -rf "$work/vd" "$work/py"
  "$bin/attest-verifier" --listen 127.0.0.1:0 --push-listen 127.0.0.1:0 --data-dir "$work/vd" \
    --ca-dir "$work" >"$work/ver.out" 2>"$work/ver.err" &
  vpid=$!
  for _ in $(seq 100); do grep -q '^admin-token ' "$work/ver.out" && break; sleep 0.1; done
  url=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/ver.out")
  purl=$(sed -n 's/^push-listen \(https:.*\)$/\1/p' "$work/ver.out")
  [ -n "$purl" ] || { echo "bench-push: the verifier did not start: $(tail -3 "$work/ver.err")"; exit 1; }
  htp=""
  if [ "${HEAPTRACK:-0}" = 1 ] && command -v heaptrack >/dev/null; then
    rm -f "$work"/heaptrack.*.zst
    (cd "$work" && exec heaptrack -p "$vpid" >"$work/heaptrack.log" 2>&1) &
    htp=$!
    sleep 5 # gdb injects the tracker
    export PUSH_IDLE_AT_PEAK="kill -KILL $vpid"
  fi
  python3 "$here/../bench/push_idle.py" "$url" "$work/vd/admin.token" "$purl" "$vpid" "$n" "$work/py"
  unset PUSH_IDLE_AT_PEAK
  kill -TERM "$vpid" 2>/dev/null; wait "$vpid" 2>/dev/null; vpid=""
  if [ -n "$htp" ]; then
    wait "$htp" 2>/dev/null
    ht=$(ls "$work"/heaptrack.attest-verifier.*.zst 2>/dev/null | head -1)
    if [ -n "$ht" ] && heaptrack_print -f "$ht" --print-peaks 0 --print-allocators 0 --print-temporary 0 \
        --print-leaks 0 -F "$work/heap.folded" --flamegraph-cost-type leaked >/dev/null 2>&1; then
      echo "push bench: the verifier's live heap per connected agent, by part (heaptrack):"
      python3 "$here/../bench/heap_breakdown.py" "$n" "$work/heap.folded"
    else
      echo "push bench: heaptrack gave no data: $(tail -2 "$work/heaptrack.log")"
    fi
  fi
done
