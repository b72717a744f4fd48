#!/usr/bin/env bash
# GET /api/v1/reasons: the verifier serves lib/reason.c's table (code,
# sentence, advice) to any token, the dashboard's one source of advice.
#   auth       no token -> 401; a viewer token reads it; POST -> 403/405
#   table      codes unique, each with a sentence; advice where expected
#   documented every reason code docs/policy.md lists, and the service's
#              codes docs/api.md lists, are served
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
skip() { echo "SKIP: $*"; exit 77; }
for t in jq curl; do command -v $t >/dev/null || skip "$t not installed"; done
[ -x "$bin/attest-verifier" ] || skip "$bin/attest-verifier not built"

work=$(mktemp -d /tmp/attest-test-reasons.XXXXXX)
. "$(dirname "$0")/lib.sh"
cleanup() {
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/cas"
start_verifier
admin=$(cat "$work/vd/admin.token")

# auth
out=$(curl -sk -w '\n%{http_code}' "$url/api/v1/reasons")
[ "$(tail -n1 <<<"$out")" = 401 ] || fail "no token: $(tail -n1 <<<"$out"), wanted 401"
call "$admin" POST /api/v1/tokens '{"name":"reader","role":"viewer"}' 201
viewer=$(field .token)
call "$viewer" POST /api/v1/reasons '{}' 403
call "$admin" POST /api/v1/reasons '{}' 405
call "$viewer" GET /api/v1/reasons 200
ok "auth: 401 without a token, 200 for a viewer; POST: 403 for a viewer, 405 for an admin"

# table
n=$(field '.reasons | length')
[ "$n" -ge 40 ] || fail "only $n reasons served"
[ "$(field '[.reasons[].code] | unique | length')" = "$n" ] || fail "duplicate codes"
[ "$(field '[.reasons[] | select((.sentence | type) != "string" or (.sentence | length) == 0)] | length')" = 0 ] ||
  fail "a reason without a sentence"
[ "$(field '[.reasons[] | select(.advice != null and (.advice | type) != "string")] | length')" = 0 ] ||
  fail "advice neither text nor null"
sentence() { jq -r --arg c "$1" '.reasons[] | select(.code == $c) | .sentence' <<<"$body"; }
advice() { jq -r --arg c "$1" '.reasons[] | select(.code == $c) | .advice' <<<"$body"; }
[ "$(sentence AGENT_ERROR)" = "The agent answered an error to an enrollment or quote request, or could not be asked." ] ||
  fail "AGENT_ERROR: $(sentence AGENT_ERROR)"
[ "$(advice SECURE_BOOT_DISABLED)" = "Secure Boot was not on when the host booted, so boot code that nobody signed could have run. Enable UEFI Secure Boot in the firmware setup and reboot the host." ] ||
  fail "SECURE_BOOT_DISABLED advice: $(advice SECURE_BOOT_DISABLED)"
[ "$(advice QUOTE_MALFORMED)" = null ] || fail "QUOTE_MALFORMED has advice"
ok "table: $n codes, unique, each with a sentence"

# documented
docs=$(dirname "$0")/../../docs
codes=$( (sed -n '/^## The verification pipeline/,/^## /p' "$docs/policy.md" |
  grep '^| ' | cut -d'|' -f3
  sed -n '/from the service:/,/^- `tpm`/p' "$docs/api.md" | grep '^| `' | cut -d'|' -f2) |
  grep -o '`[A-Z][A-Z0-9_]*`' | tr -d '`' | sort -u)
[ "$(wc -l <<<"$codes")" -ge 30 ] || fail "too few documented codes found: $codes"
for c in $codes; do
  [ -n "$(sentence "$c")" ] || fail "$c is documented but not served"
done
ok "documented: the $(wc -l <<<"$codes") codes in docs/policy.md and docs/api.md are served"
