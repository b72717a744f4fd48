#!/usr/bin/env bash
# Issue 15, "What must show": a simulated host whose event log carries the
# digests of Debian's real shim, grub and signed kernel (composed by
# attest-sim compose-log from the files of the packages) is green under a
# policy of catalog rules, and its software view names each component from
# the catalog; it "updates" to the newer kernel and stays green, the
# history recording "kernel A -> B, approved by rule ..."; under a policy
# learned from the first boot the same update is red, as before; a kernel
# the catalog does not know is red CONFIGURATION_NOT_APPROVED naming it; the
# old kernel under a minimum version above it is red (rollback). The
# unknown kernel and the rollback run on hosts of their own.
# Packages from apt-get download into the VM cache; skips (77) without them.
. "$(dirname "$0")/attacklib.sh"
attack_init catalog-policy
base="$logs/supermicro-server-pxe-secureboot.bin" # shim 38, grub 40, kernel 53 (PCR 9) + 54
[ -f "$base" ] || skip "$base missing"
mapfile -t cached < <(bash sim/vm-image.sh cached 2>/dev/null)
[ ${#cached[@]} -ge 2 ] || mapfile -t cached < <(bash sim/vm-image.sh kernels 2>/dev/null)
[ ${#cached[@]} -ge 2 ] || skip "fewer than two signed kernels"
new_k=${cached[0]} old_k=${cached[1]}
debs=() dirs=()
for p in shim-signed grub-efi-amd64-signed "linux-image-$old_k" "linux-image-$new_k"; do
  d=$(bash sim/vm-image.sh deb "$p" 2>"$work/fetch.err"); rc=$?
  [ $rc -eq 3 ] && skip "cannot fetch $p"
  [ $rc -eq 0 ] || fail "vm-image.sh deb $p: $(cat "$work/fetch.err")"
  debs+=("$d"); dirs+=("$(bash sim/vm-image.sh unpacked "$p")")
done
shim="${dirs[0]}/usr/lib/shim/shimx64.efi.signed"
grub="${dirs[1]}/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
kold="${dirs[2]}/boot/vmlinuz-$old_k" knew="${dirs[3]}/boot/vmlinuz-$new_k"
old_ver=$(dpkg-deb -f "${debs[2]}" Version) new_ver=$(dpkg-deb -f "${debs[3]}" Version)
# a kernel nobody catalogued: the new one with one byte changed
cp "$knew" "$work/vmlinuz-unknown"
printf '\x5a' | dd of="$work/vmlinuz-unknown" bs=1 seek=4096 conv=notrunc status=none
compose() { # OUT KERNEL
  "$bin/attest-sim" compose-log "$base" "$1" 38="$shim" 40="$grub" 53="$2" 54="$2" ||
    fail "compose-log $1"
}
compose "$work/old.bin" "$kold"; compose "$work/new.bin" "$knew"; compose "$work/unknown.bin" "$work/vmlinuz-unknown"

sim_boot() {
  local d="$work/$1"
  "$bin/attest-sim" create "$d" --eventlog "$2" --ek-ca "$work/ca" >/dev/null \
    2>"$work/$1.sim.err" || fail "attest-sim create $1: $(tail -3 "$work/$1.sim.err")"
  sims+=("$d")
  eval "${1}_tcti=\$(\"\$bin/attest-sim\" boot \"\$d\")" || fail "attest-sim boot $1"
  eval "${1}_dir=\$d"
}
# boot_into LOG: the host reboots into the binaries LOG records
boot_into() {
  cp "$1" "$h_dir/eventlog.bin"
  "$bin/attest-sim" reboot "$h_dir" >/dev/null || fail "attest-sim reboot"
}
ctl() { "$bin/attestctl" --server "$url" --server-thumbprint "$vthumb" \
  --token-file "$work/vd/admin.token" "$@" >"$work/ctl.out" 2>"$work/ctl.err"; }
comp() { field ".software.components[] | select(.kind == \"$1\") | .text"; }

sim_boot h "$work/old.bin"
verifier_up
start_agent_on h 127.0.0.1:0 --trust-verifier "$vthumb"
ctl catalog import "${debs[@]}" || fail "catalog import: $(cat "$work/ctl.err")"
ok "catalog: $(grep -c ': added ' "$work/ctl.out") entries from shim-signed, grub-efi-amd64-signed, linux-image-$old_k, linux-image-$new_k"

call "$admin" GET /api/v1/policies/default 200
rules=$(jq -nc --arg min "$old_ver" '[
  {"name":"debian-shim","kind":"shim","package":"shim-signed"},
  {"name":"debian-grub","kind":"boot_loader","package":"grub-efi-amd64-signed","signer":"CN=Debian Secure Boot Signer 2022 - grub2"},
  {"name":"debian-kernels","kind":"kernel","package":"linux-image-6.1.0-*-amd64","signer":"CN=Debian Secure Boot Signer *","min_version":$min}]')
catalog_policy=$(jq -c --argjson r "$rules" '.body | .reference = {"catalog_rules": $r}' <<<"$body")
call "$admin" POST /api/v1/policies "$(jq -nc --argjson b "$catalog_policy" '{"name":"catalog","body":$b}')" 201
add h "127.0.0.1:$h_port" "$h_thumb"
call "$admin" POST /api/v1/policies/catalog/assign '{"host":"h"}' 200
attest h; expect_green
comp kernel | grep -qx "kernel: linux-image-$old_k $old_ver, Debian, signed by CN=Debian Secure Boot Signer 2022 - linux" ||
  fail "software view: $(field -c .software.components)"
comp shim | grep -q "^shim: shim-signed .*, Debian, signed by .*CN=Microsoft Windows UEFI Driver Publisher" || fail "shim: $(comp shim)"
comp boot_loader | grep -q "^boot_loader: grub-efi-amd64-signed " || fail "grub: $(comp boot_loader)"
[ "$(field '.software.components[] | select(.kind == "kernel") | .rule')" = debian-kernels ] || fail "rule not named"
field '.software.reported_by_agent[]' | grep -qx kernel || fail "agent's own kernel report not kept apart"
ok "boot 1 (shim, grub, $old_k): green; $(comp kernel)"
ctl host show h || fail "host show: $(cat "$work/ctl.err")"
grep -q "kernel: linux-image-$old_k $old_ver, Debian" "$work/ctl.out" || fail "attestctl host show: $(cat "$work/ctl.out")"
ok "attestctl host show names the components"

call "$admin" POST /api/v1/policies "{\"name\":\"learned\",\"from_host\":\"h\"}" 201
ok "policy 'learned' learned from boot 1"

boot_into "$work/new.bin"
attest h; expect_green
comp kernel | grep -q "^kernel: linux-image-$new_k $new_ver, Debian" || fail "after update: $(comp kernel)"
call "$admin" GET "/api/v1/events?host=h&limit=100" 200
want="kernel linux-image-$old_k $old_ver -> linux-image-$new_k $new_ver, approved by rule \"debian-kernels\""
field '.events[].message' | grep -qxF "$want" || fail "history lacks '$want': $(field -c '[.events[].message]')"
ok "update to $new_k: stays green; history: $want"

# what-if before enforcing: the learned policy would turn h red; nothing changes
call "$admin" GET "/api/v1/events?limit=1000" 200; nev=$(field '.events | length')
ctl policy check learned || fail "policy check: $(cat "$work/ctl.err")"
grep -q "^h: green -> red" "$work/ctl.out" || fail "policy check learned: $(cat "$work/ctl.out")"
grep -q "CONFIGURATION_NOT_APPROVED: boot application" "$work/ctl.out" || fail "no reason: $(cat "$work/ctl.out")"
grep -q "1 host(s) would change colour" "$work/ctl.out" || fail "count: $(cat "$work/ctl.out")"
ctl policy check catalog || fail "policy check catalog"
grep -q "no host would change colour" "$work/ctl.out" || fail "catalog what-if: $(cat "$work/ctl.out")"
call "$admin" GET /api/v1/hosts/h 200
[ "$(field .trust)" = green ] && [ "$(field .policy)" = catalog ] || fail "policy check changed the host: $body"
call "$admin" GET "/api/v1/events?limit=1000" 200
[ "$(field '.events | length')" = "$nev" ] || fail "policy check wrote events"
ok "policy check learned: h green -> red (CONFIGURATION_NOT_APPROVED), policy check catalog: no change; nothing changed"

call "$admin" POST /api/v1/policies/learned/assign '{"host":"h"}' 200
attest h; expect_red CONFIGURATION_NOT_APPROVED
ok "the same update under the learned policy: red CONFIGURATION_NOT_APPROVED, as before"

# Further boots are new hosts: each unclean swtpm power cycle counts as a
# dictionary-attack failure, and a few put the TPM in lockout.
sim_boot u "$work/unknown.bin"
start_agent_on u 127.0.0.1:0 --trust-verifier "$vthumb"
add u "127.0.0.1:$u_port" "$u_thumb"
call "$admin" POST /api/v1/policies/catalog/assign '{"host":"u"}' 200
attest u; expect_red CONFIGURATION_NOT_APPROVED
field '.reasons[].message' | grep -q "is not in the catalog (digest $("$bin/attestctl" --json catalog inspect "$work/vmlinuz-unknown" --package x --version 1 | jq -r '.[0].authenticode_sha256'))" ||
  fail "unknown kernel not named: $(field -c .reasons)"
comp "" >/dev/null
field '.software.components[].text' | grep -q ": not in the catalog" || fail "software view: $(field -c .software.components)"
ok "unknown kernel: red CONFIGURATION_NOT_APPROVED: $(field '.reasons[] | select(.code == "CONFIGURATION_NOT_APPROVED") | .message' | head -1)"

strict=$(jq -c --arg min "$new_ver" '(.reference.catalog_rules[] | select(.name == "debian-kernels") | .min_version) = $min' <<<"$catalog_policy")
call "$admin" PUT /api/v1/policies/catalog "$strict" 200
sim_boot r "$work/old.bin"
start_agent_on r 127.0.0.1:0 --trust-verifier "$vthumb"
add r "127.0.0.1:$r_port" "$r_thumb"
call "$admin" POST /api/v1/policies/catalog/assign '{"host":"r"}' 200
attest r; expect_red CONFIGURATION_NOT_APPROVED
field '.reasons[].message' | grep -q "older than the minimum $new_ver of catalog rule \"debian-kernels\" (rollback)" ||
  fail "rollback not said: $(field -c .reasons)"
ok "rollback to $old_k under minimum $new_ver: red: $(field '.reasons[] | select(.code == "CONFIGURATION_NOT_APPROVED") | .message' | head -1)"
call "$admin" POST /api/v1/policies/catalog/assign '{"host":"h"}' 200
attest h; expect_green
ok "host h on $new_k under the stricter rule: green"
# The verifier caches catalog lookups under the catalog's marker: a removal
# and a re-import are seen at the next attestation (the log is unchanged).
call "$admin" GET "/api/v1/catalog?package=linux-image-$new_k" 200
kentry=$(field '[.entries[] | select(.kind == "kernel")][0]')
kid=$(jq -r .id <<<"$kentry")
[ -n "$kid" ] && [ "$kid" != null ] || fail "no catalog entry for linux-image-$new_k: $body"
call "$admin" DELETE "/api/v1/catalog/$kid" 200
attest h; expect_red CONFIGURATION_NOT_APPROVED
field '.reasons[].message' | grep -q "is not in the catalog" || fail "removal not seen: $(field -c .reasons)"
call "$admin" POST /api/v1/catalog "$(jq -c 'del(.id, .added_at)' <<<"$kentry")" 201
attest h; expect_green
ok "catalog entry of $new_k removed: h red at the next attestation; imported again: green"
# --- the dashboard: catalog page, named components, what-if ----------------------
chromium=${CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null || [ ! -x "$chromium" ] ||
  [ ! -f tests/browser/node_modules/playwright-core/package.json ]; then
  fail "node, $chromium or playwright-core missing (scripts/install-deps.sh)"
fi
shots="${ATTEST_BUILD:-build}/screenshots"; mkdir -p "$shots"
CAT_URL=$url CAT_TOKEN=$admin CAT_SHOTS="$shots" CAT_CHROMIUM=$chromium \
  node --test --test-reporter=spec tests/browser/catalog.test.mjs >"$work/node.out" 2>&1
rc=$?
[ "$rc" = 0 ] || { cat "$work/node.out"; fail "browser test failed (node exit $rc)"; }
ok "dashboard: catalog page, host components, policy what-if ($(grep -c '^✔' "$work/node.out") browser tests)"
verifier_down
echo PASS
