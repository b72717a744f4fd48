#!/usr/bin/env bash
# Run one cmocka program and say honestly what it did. cmocka counts a case
# that called skip() (e.g. real data under ../shared/testdata is absent) as
# not failed, so the program exits 0 and ctest would call it passed.
#  - every case skipped, none passed: exit 77, which ctest reports as
#    skipped (SKIP_RETURN_CODE in tests/tests.cmake);
#  - some passed and some skipped: the program's passes are real, so it
#    stays passed; its "[  SKIPPED ] N test(s)" summary line is in the test
#    log, where scripts/check.sh counts it in its closing line.
# Usage: run_cmocka.sh PROGRAM [ARGS...]
set -uo pipefail
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ] && grep -qE '^\[  SKIPPED \] [0-9]+ test\(s\)' "$log" &&
  grep -qE '^\[  PASSED  \] 0 test\(s\)' "$log"; then
  echo "run_cmocka: every case of $(basename "$1") was skipped"
  exit 77
fi
exit "$rc"
