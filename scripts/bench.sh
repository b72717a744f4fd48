#!/usr/bin/env bash
# make bench: performance figures, each next to a peer or a limit measured in
# the same run. Prints figures; asserts nothing (benchmarks are not tests).
set -uo pipefail
build=${1:-build}
bin="$build/bin"
logs_dir="../shared/testdata/eventlogs"
shopt -s nullglob

now_ns() { date +%s%N; }

# Wall time (ms, per run) of a command, averaged over RUNS runs.
time_cmd() {
  local runs=$1; shift
  local t0 t1
  t0=$(now_ns)
  for ((i = 0; i < runs; i++)); do "$@" >/dev/null 2>&1; done
  t1=$(now_ns)
  echo $(((t1 - t0) / runs / 1000))
}

if [ ! -d "$logs_dir" ]; then
  echo "bench: $logs_dir absent; event log figures need the shared real logs" >&2
else
  logs=()
  for f in "$logs_dir"/*.bin; do
    case $f in *malformed*) continue ;; esac
    logs+=("$f")
  done

  echo "== event log: parse + replay + content checks, in one process (bench_eventlog)"
  if [ -x "$bin/bench_eventlog" ]; then
    "$bin/bench_eventlog" "${logs[@]}"
  else
    echo "bench_eventlog not built"
  fi

  echo
  echo "== event log: whole-process time per file, attestctl eventlog replay vs tpm2_eventlog"
  printf '%-52s %12s %12s %8s\n' "log" "attestctl" "tpm2_eventlog" "ratio"
  runs=20
  for f in "${logs[@]}"; do
    ours=$(time_cmd $runs "$bin/attestctl" eventlog replay "$f")
    if tpm2_eventlog "$f" >/dev/null 2>&1; then
      peer=$(time_cmd $runs tpm2_eventlog "$f")
      ratio=$(awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.1fx", b / (a ? a : 1) }')
      printf '%-52s %9d us %9d us %8s\n' "${f##*/}" "$ours" "$peer" "$ratio"
    else
      printf '%-52s %9d us %12s %8s\n' "${f##*/}" "$ours" "(fails)" "-"
    fi
  done
  echo "(ratio = tpm2_eventlog time / attestctl time; above 1x means attestctl is faster)"
fi

echo
echo "== the verification core on one core: full attestations with the host's memo, steady state and with the log sent (bench_attest, CPU time)"
core_log="$logs_dir/qemu-ovmf-ubuntu-secureboot.bin"
if [ ! -x "$bin/bench_attest" ]; then
  echo "bench_attest not built"
elif [ ! -f "$core_log" ]; then
  echo "bench_attest: $core_log absent (shared test data)"
else
  "$bin/bench_attest" "$core_log" || echo "(the steady state is below the target of 20000/s on this run)"
fi

echo
echo "== quote verification on one core (bench_quote, CPU time)"
if [ -x "$bin/bench_quote" ]; then
  "$bin/bench_quote"
else
  echo "bench_quote not built"
fi
if [ -x scripts/bench-checkquote.sh ]; then
  bash scripts/bench-checkquote.sh "$build"
fi

echo
echo "== HTTPS transport on loopback: kept-alive TLS connection vs a handshake per request (bench_https)"
if [ -x "$bin/bench_https" ]; then
  "$bin/bench_https"
else
  echo "bench_https not built"
fi

bash scripts/bench-agent-tpm.sh "$build"

# The fleet view at 10,000 hosts: API page latency, first paint (about 10 s).
echo
ATTEST_BIN="$bin" ATTEST_BUILD="$build" bash tests/integration/test_dashboard.sh --bench 10000
echo
echo "== storage: verdicts direct, through the writer thread one per commit and grouped; the event loop's view of a 3 s lock (bench_store, SQLite)"
if [ -x "$bin/bench_store" ]; then
  store_dir=$(mktemp -d /tmp/attest-bench-store.XXXXXX)
  "$bin/bench_store" "sqlite:$store_dir/bench.db" 2000
  rm -rf "$store_dir"
else
  echo "bench_store not built"
fi
