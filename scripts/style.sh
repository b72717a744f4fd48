#!/usr/bin/env bash
# House style (.clang-format) over every C source and header of the project.
#   scripts/style.sh          check: list the files clang-format would change,
#                             exit 1 if any, 77 if clang-format is missing
#   scripts/style.sh --fix    reformat them in place (make format)
# The files are those git tracks (outside a git checkout: every .c and .h
# below the project root except build directories and node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
[ "${1:-}" = "--fix" ] && fix=1
if ! command -v clang-format >/dev/null; then
  echo "style: clang-format is not installed (scripts/install-deps.sh installs it)" >&2
  exit 77
fi
files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && files+=("$f")
  done < <(git ls-files -z -- '*.c' '*.h')
else
  while IFS= read -r -d '' f; do files+=("$f"); done < <(
    find . \( -path './build*' -o -name node_modules \) -prune -o \
      \( -name '*.c' -o -name '*.h' \) -type f -print0)
fi
if [ "$fix" -eq 1 ]; then
  clang-format -i -- "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror -- "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  echo "style: ${#bad[@]} of ${#files[@]} C files differ from .clang-format (run make format):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "style: ${#files[@]} C files follow .clang-format"
