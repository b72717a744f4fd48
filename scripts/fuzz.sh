#!/usr/bin/env bash
# Run every libFuzzer target built in BUILD for SECONDS each.
# Each target starts from its committed corpus (fuzz/corpus/<name>/) plus,
# for the event log target, the real logs in ../shared/testdata (read in
# place, never copied into the repo). New inputs go to BUILD/corpus/<name>/;
# crashes are written to BUILD/crashes/ and fail the run.
set -uo pipefail
build=${1:-build-fuzz}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
# tss2-mu logs a warning per malformed input: thousands per second on stderr
# would slow the fuzzers and bury their output.
export TSS2_LOG=${TSS2_LOG:-all+none}
shopt -s nullglob
for bin in "$build"/bin/fuzz-*; do
  name=${bin##*/fuzz-}
  work="$build/corpus/$name"
  mkdir -p "$work" "$build/crashes"
  seeds=("$root/fuzz/corpus/$name")
  case $name in
    eventlog) [ -d "$root/../shared/testdata/eventlogs" ] && seeds+=("$root/../shared/testdata/eventlogs") ;;
    ekcert) [ -d "$root/../shared/testdata/tpm-vendor-cas" ] && seeds+=("$root/../shared/testdata/tpm-vendor-cas") ;;
  esac
  echo "== fuzz-$name for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -print_final_stats=1 \
       -artifact_prefix="$build/crashes/$name-" "$work" "${seeds[@]}" 2>"$build/fuzz-$name.log"; then
    echo "fuzz-$name: FAILED, see $build/fuzz-$name.log and $build/crashes/" >&2
    status=1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+ *DONE' "$build/fuzz-$name.log" | sed "s/^/  /"
done
exit $status
