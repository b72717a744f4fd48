#!/usr/bin/env bash
# The N longest C functions under the given directories (default: verifier/),
# as "LINES FILE:START NAME", longest first. Lines are counted from the line
# that names the function to its closing brace (universal-ctags "end:" field).
# Usage: scripts/longest-functions.sh [-n N] [DIR...]
set -euo pipefail
n=10
if [ "${1:-}" = "-n" ]; then
  n=$2
  shift 2
fi
[ $# -gt 0 ] || set -- verifier
command -v ctags >/dev/null || { echo "longest-functions: needs universal-ctags" >&2; exit 1; }
find "$@" -name '*.c' -print0 | sort -z |
  xargs -0 ctags --c-kinds=f --fields=+ne -o - |
  awk -F'\t' '{
    start = ""; end = ""
    for (i = 4; i <= NF; i++) {
      if ($i ~ /^line:/) start = substr($i, 6)
      if ($i ~ /^end:/) end = substr($i, 5)
    }
    if (start != "" && end != "") printf "%d %s:%d %s\n", end - start + 1, $2, start, $1
  }' | sort -k1,1nr -k2 | head -n "$n"
