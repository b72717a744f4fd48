#!/usr/bin/env bash
# The verifier's route table (verifier/routes.c, printed by attest-verifier
# --routes) against docs/api.md and against the running service.
#   documented  every route of the table is documented, marked "(admin)" iff
#               it needs an admin token; every documented route under the
#               table's base paths is in the table (a route named several
#               times counts with its marked mention)
#   enforced    each route: 401 without a token; with a viewer token, 403 on
#               an admin route and neither 401 nor 403 on a viewer route
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
skip() { echo "SKIP: $*"; exit 77; }
for t in jq curl; do command -v $t >/dev/null || skip "$t not installed"; done
[ -x "$bin/attest-verifier" ] || skip "$bin/attest-verifier not built"
docs=$(dirname "$0")/../../docs/api.md

work=$(mktemp -d /tmp/attest-test-routes.XXXXXX)
. "$(dirname "$0")/lib.sh"
cleanup() {
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

table=$("$bin/attest-verifier" --routes) || fail "--routes failed"
[ "$(wc -l <<<"$table")" -ge 29 ] || fail "short table: $table"
grep -q -- '--routes' <<<"$("$bin/attest-verifier" --help)" || fail "--help does not name --routes"

# documented: "METHOD /path/NAME" in docs/api.md is "METHOD /path/{name}" in the table
# (ID: {id}, FINGERPRINT: {fingerprint})
norm() { sed -E 's#/NAME(/| |$)#/{name}\1#; s#/ID(/| |$)#/{id}\1#; s#/FINGERPRINT(/| |$)#/{fingerprint}\1#'; }
documented=$(grep -oE '`(GET|POST|PUT|DELETE|PATCH) /api/v1/[^` ]*`( \((admin|viewer)\))?' "$docs" |
  tr -d '`' | norm | sort -u)
bases=$(awk '{print $2}' <<<"$table" | sed -E 's#/\{[a-z]+\}.*##' | sort -u)
while read -r method pattern role cap; do
  line=$(grep -E "^$method $(sed 's/[{}]/\\&/g' <<<"$pattern")( |$)" <<<"$documented" | sort -r | head -1)
  [ -n "$line" ] || fail "$method $pattern is in the table but not in docs/api.md"
  if [ "$role" = admin ]; then
    grep -q '(admin)' <<<"$line" || fail "$method $pattern needs admin; docs/api.md does not say (admin)"
  else
    ! grep -q '(admin)' <<<"$line" || fail "$method $pattern is a viewer route; docs/api.md says (admin)"
  fi
done <<<"$table"
n=0
while read -r method pattern _; do
  for b in $bases; do
    case $pattern in
    "$b" | "$b"/*)
      grep -q "^$method $pattern " <<<"$table" || fail "docs/api.md documents $method $pattern; the table has no such route"
      n=$((n + 1))
      ;;
    esac
  done
done <<<"$documented"
ok "documented: the $(wc -l <<<"$table") routes of the table, and the $n documented under its base paths"

# enforced
mkdir -p "$work/cas"
start_verifier
admin=$(cat "$work/vd/admin.token")
call "$admin" POST /api/v1/tokens '{"name":"reader","role":"viewer"}' 201
viewer=$(field .token)
while read -r method pattern role cap; do
  p=$(sed -E 's#\{[a-z]+\}#no-such-thing#g' <<<"$pattern")
  st=$(curl -sk -o /dev/null -w '%{http_code}' -X "$method" "$url$p")
  [ "$st" = 401 ] || fail "$method $p without a token: $st, wanted 401"
  st=$(curl -sk -o /dev/null -w '%{http_code}' -X "$method" -H "Authorization: Bearer $viewer" \
    -H 'Content-Type: application/json' --data '{}' "$url$p")
  if [ "$role" = admin ]; then
    [ "$st" = 403 ] || fail "$method $p with a viewer token: $st, wanted 403"
  else
    [ "$st" != 401 ] && [ "$st" != 403 ] || fail "$method $p with a viewer token: $st"
  fi
done <<<"$table"
ok "enforced: 401 without a token on every route; a viewer token gets 403 exactly on admin routes"
