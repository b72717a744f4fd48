#!/usr/bin/env bash
# make bench-push: the verifier's memory per connected pushing agent (issue
# 17). One verifier on SQLite with --push-listen; bench/push_idle.py adds
# N push hosts (each its own client certificate, disconnected so that
# nothing is scheduled), opens N idle mutual-TLS long polls as attest-agent
# --push does, and prints the verifier's RSS before and after and the
# difference per connection. Prints figures, asserts nothing; not in check.
#
#   scripts/bench-push.sh [BUILD]     env: AGENTS="1000 5000"
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
  python3 "$here/../bench/push_idle.py" "$url" "$work/vd/admin.token" "$purl" "$vpid" "$n" "$work/py"
  kill -TERM "$vpid"; wait "$vpid" 2>/dev/null; vpid=""
done
