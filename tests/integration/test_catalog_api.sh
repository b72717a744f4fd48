#!/usr/bin/env bash
# The software catalog through the real attest-verifier (SQLite, or
# ATTEST_TEST_DB): attestctl catalog import of Debian's shim-signed,
# grub-efi-amd64-signed and a signed kernel .deb, a re-import that adds
# nothing, list (filters, --json keys), show by id and by digest, remove,
# the REST API refusing bad entries with the field named, and viewers not
# allowed to change the catalog. Skips (77) without the packages.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
work=$(mktemp -d)
. "$(dirname "$0")/lib.sh"
trap 'lib_cleanup; rm -rf "$work"' EXIT
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
mapfile -t cached < <(bash sim/vm-image.sh cached 2>/dev/null)
[ ${#cached[@]} -ge 1 ] || mapfile -t cached < <(bash sim/vm-image.sh kernels 2>/dev/null)
[ ${#cached[@]} -ge 1 ] || { echo "SKIP: no signed kernel in the archive"; exit 77; }
debs=()
for p in shim-signed grub-efi-amd64-signed "linux-image-${cached[0]}"; do
  d=$(bash sim/vm-image.sh deb "$p" 2>"$work/fetch.err"); rc=$?
  [ $rc -eq 3 ] && { echo "SKIP: cannot fetch $p"; exit 77; }
  [ $rc -eq 0 ] || fail "vm-image.sh deb $p: $(cat "$work/fetch.err")"
  debs+=("$d")
done
mkdir -p "$work/cas"
start_verifier
tok=$(cat "$work/vd/admin.token")
export ATTEST_SERVER="$url" ATTEST_SERVER_THUMBPRINT="$vthumb" ATTEST_TOKEN_FILE="$work/vd/admin.token"
ctl="$bin/attestctl"

grep -q "usage: attestctl catalog" <<<"$("$ctl" catalog --help)" || fail "catalog --help"
grep -q "usage: attestctl policy check NAME" <<<"$("$ctl" policy check --help)" || fail "policy check --help"
grep -q "^  catalog " <<<"$("$ctl" --help)" || fail "attestctl --help does not list catalog"
for args in "catalog" "catalog frob" "catalog show" "catalog show notanid" "catalog remove abc" \
  "catalog remove 1 2" "catalog import" "catalog list extra" "policy check"; do
  # shellcheck disable=SC2086
  "$ctl" $args >/dev/null 2>"$work/err" </dev/null; rc=$?
  [ $rc = 2 ] && [ -s "$work/err" ] || fail "attestctl $args: exit $rc, want 2 with a message"
done
ok "--help of catalog and policy check; usage errors exit 2 with a message"

"$ctl" catalog import "${debs[@]}" >"$work/imp.out" 2>"$work/imp.err" || fail "import: $(cat "$work/imp.err")"
[ "$(grep -c ': added ' "$work/imp.out")" = 6 ] || fail "import: $(cat "$work/imp.out")"
ok "import of 3 packages: 6 entries ($(grep -c kernel "$work/imp.out") kernel)"
"$ctl" catalog import "${debs[0]}" >"$work/imp.out" 2>&1 || fail "re-import failed"
grep -q "is already in the catalog" "$work/imp.out" || fail "re-import: $(cat "$work/imp.out")"
ok "re-import: already in the catalog, nothing duplicated"

"$ctl" --json catalog list >"$work/list.json" || fail "list"
jq -e '.entries | length == 6' "$work/list.json" >/dev/null || fail "list: $(cat "$work/list.json")"
for k in kind package version path authenticode_sha256 file_sha256 signer; do
  jq -e --arg k "$k" 'all(.entries[]; has($k))' "$work/list.json" >/dev/null || fail "list --json lacks $k"
done
kid=$(jq -r '.entries[] | select(.kind == "kernel") | .id' "$work/list.json")
kdig=$(jq -r '.entries[] | select(.kind == "kernel") | .authenticode_sha256' "$work/list.json")
jq -e '.entries[] | select(.kind == "kernel") | .signer.subject == "CN=Debian Secure Boot Signer 2022 - linux"' \
  "$work/list.json" >/dev/null || fail "kernel signer"
"$ctl" --json catalog list --package 'linux-image-*' >"$work/k.json" || fail "list --package"
jq -e '.entries | length == 1' "$work/k.json" >/dev/null || fail "list --package linux-image-*"
"$ctl" --json catalog list --kind boot_loader >"$work/g.json" || fail "list --kind"
jq -e '.entries | length == 4' "$work/g.json" >/dev/null || fail "list --kind boot_loader"
"$ctl" catalog list >"$work/t.out" || fail "list text"
grep -q "CN=Debian Secure Boot Signer 2022 - grub2" "$work/t.out" || fail "list text: signer"
ok "list: 6 entries with every --json key; --package and --kind filter"

"$ctl" catalog show "$kid" >"$work/s.out" || fail "show id"
grep -q "authenticode $kdig" "$work/s.out" || fail "show: $(cat "$work/s.out")"
"$ctl" --json catalog show "$kdig" >"$work/s.json" || fail "show digest"
jq -e --argjson id "$kid" '.entries[0].id == $id' "$work/s.json" >/dev/null || fail "show by digest"
"$ctl" catalog show 999999 >/dev/null 2>"$work/err" && fail "show of a missing id succeeded"
grep -q "404" "$work/err" || fail "show missing: $(cat "$work/err")"
ok "show by id and by Authenticode digest; a missing id is 404"

# the API refuses bad entries, naming the field
good=$(jq -c '.entries[0] | del(.id, .added_at)' "$work/list.json")
call "$tok" POST /api/v1/catalog "$(jq -c '.path = "/boot/../x"' <<<"$good")" 400
field .error.message | grep -q '"path"' || fail "bad path: $body"
call "$tok" POST /api/v1/catalog "$(jq -c '.version = "not a version"' <<<"$good")" 400
field .error.message | grep -q 'not a Debian version' || fail "bad version: $body"
call "$tok" POST /api/v1/catalog "$(jq -c '.extra = 1' <<<"$good")" 400
field .error.message | grep -q 'unknown key "extra"' || fail "unknown key: $body"
call "$tok" POST /api/v1/catalog "$(jq -c '.package = "a\u0007b"' <<<"$good")" 400
call "$tok" POST /api/v1/catalog "$(jq -c '.authenticode_sha256 = "ABC"' <<<"$good")" 400
call "$tok" POST /api/v1/catalog "$good" 409
ok "API: bad path, version, unknown key, control character, digest refused (400); duplicate 409"

"$ctl" token create viewer1 --role viewer >"$work/vt.out" 2>&1 || fail "token create: $(cat "$work/vt.out")"
vtok=$(sed -n 's/^token //p' "$work/vt.out" | head -1)
[ -n "$vtok" ] || vtok=$(grep -oE '[A-Za-z0-9_-]{30,}' "$work/vt.out" | head -1)
call "$vtok" GET /api/v1/catalog 200
call "$vtok" DELETE "/api/v1/catalog/$kid" 403
ok "viewer token: may list, may not remove"

rm_out=$("$ctl" catalog remove "$kid") || fail "remove"
[ "$rm_out" = "catalog entry $kid removed" ] || fail "catalog remove said: $rm_out"
"$ctl" --json catalog list >"$work/list.json" || fail "list after remove"
jq -e '.entries | length == 5' "$work/list.json" >/dev/null || fail "remove did not remove"
call "$tok" GET "/api/v1/events?limit=50" 200
field '.events[].message' | grep -q "catalog entry $kid removed" || fail "no event for the removal"
ok "remove; the history records additions and removals"
kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
[ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
! grep -q -E 'Sanitizer|runtime error' "$work/ver.err" || fail "sanitizer report in the verifier"
echo PASS
