#!/usr/bin/env bash
# House rule (CONVENTIONS.md): no unbounded or unchecked string functions in
# the shipped code. Fails naming every use, so a new one never slips in.
set -uo pipefail
cd "$(dirname "$0")/../.."
banned='\b(sscanf|strncpy|sprintf|vsprintf|strcpy|strcat|gets|atoi|atol|atoll|strtok|tmpnam|mktemp|system|popen)[[:space:]]*\('
hits=$(grep -nE "$banned" lib/*.[ch] common/*.[ch] agent/*.[ch] verifier/*.[ch] cli/*.[ch] sim/*.[ch] 2>/dev/null |
  grep -vE '\b(snprintf|vsnprintf)\(')
if [ -n "$hits" ]; then
  echo "banned functions used (see CONVENTIONS.md):"
  echo "$hits"
  exit 1
fi
# The library is pure: no files, sockets, environment or output.
hits=$(grep -nE '\b(fopen|open|socket|connect|getenv|setenv|printf|fprintf|puts|syslog|exit|abort)[[:space:]]*\(' lib/*.c |
  grep -vE '\b(snprintf|vsnprintf)\(')
if [ -n "$hits" ]; then
  echo "I/O or process control in lib/ (it must stay pure):"
  echo "$hits"
  exit 1
fi
echo "no banned functions; lib/ does no I/O"
