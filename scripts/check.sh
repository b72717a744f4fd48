#!/usr/bin/env bash
# The whole test suite: the house style (scripts/style.sh, one test), the
# normal build's tests, then all of them again
# (unit, integration against the sanitized binaries, fuzz-corpus replays)
# under AddressSanitizer + UndefinedBehaviorSanitizer.
# Ends with one line "check: N passed, N failed, N skipped" (and, when
# passing cmocka programs skipped some of their cases, how many) and exits
# non-zero on failure.
set -uo pipefail
build=${1:-build}
asan=${2:-build-asan}
jobs=$(nproc 2>/dev/null || echo 2)
passed=0
skipped=0
failed=0
# Cases that cmocka programs skipped (skip(), e.g. ../shared/testdata absent)
# while the rest of the program passed. A program whose every case skipped
# exits 77 (tests/unit/run_cmocka.sh) and is counted in $skipped; one that
# also passed cases stays passed, since its passes are real, and its skipped
# cases are counted here and named in the closing line rather than hidden in
# the pass count. Counting whole programs as skipped instead would hide those
# passes; counting only cases would mix two units in one figure.
skipped_cases=0
skipped_in=0

# Skipped cmocka cases of the programs that passed, from ctest's full log
# (the console shows only the output of failed tests).
count_skipped_cases() {
  local log=$1/Testing/Temporary/LastTest.log
  [ -f "$log" ] || return 0
  local counts
  counts=$(awk '
    /^[0-9]+\/[0-9]+ Test: / { n = 0 }
    /^\[  SKIPPED \] [0-9]+ test\(s\)/ { n = $4 }
    /^Test Passed\.$/ { if (n > 0) { cases += n; progs++ } n = 0 }
    END { printf "%d %d\n", cases, progs }' "$log")
  skipped_cases=$((skipped_cases + ${counts% *}))
  skipped_in=$((skipped_in + ${counts#* }))
}

# ctest prints "NN% tests passed, F tests failed out of T"; add its counts up.
run_ctest() {
  local dir=$1; shift
  local log
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") 2>&1 | tee "$log"
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "check: ctest in $dir reported no summary" >&2
    failed=$((failed + 1))
  else
    local f t
    f=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
    t=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
    # ctest counts a skipped test (exit 77) as passed; count it apart.
    local sk
    sk=$(grep -c '(Skipped)$' "$log")
    passed=$((passed + t - f - sk))
    skipped=$((skipped + sk))
    failed=$((failed + f))
    count_skipped_cases "$dir"
  fi
  rm -f "$log"
}

build_dir() {
  local dir=$1; shift
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S . -B "$dir" "$@" >/dev/null || return 1
  fi
  cmake --build "$dir" -j "$jobs" >/dev/null || cmake --build "$dir" -j 1
}

# House style: one test, passed, failed, or skipped when clang-format is missing.
echo "== style (clang-format)"
bash scripts/style.sh
case $? in
0) passed=$((passed + 1)) ;;
77) skipped=$((skipped + 1)) ;;
*) failed=$((failed + 1)) ;;
esac

echo "== build ($build)"
if build_dir "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  echo "== tests ($build)"
  run_ctest "$build"
else
  echo "check: build failed in $build" >&2
  failed=$((failed + 1))
fi

echo "== build with ASan+UBSan ($asan)"
if build_dir "$asan" -DCMAKE_BUILD_TYPE=Debug -DATTEST_SANITIZE=ON; then
  echo "== every test again under ASan+UBSan ($asan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest "$asan"
else
  echo "check: build failed in $asan" >&2
  failed=$((failed + 1))
fi

# The closing line stays exactly "check: N passed, N failed, N skipped" (CI
# reads it); cases skipped inside passing programs are said just before it.
if [ "$skipped_cases" -gt 0 ]; then
  echo "check: besides, $skipped_cases cases skipped inside $skipped_in of the passed programs"
fi
echo "check: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
