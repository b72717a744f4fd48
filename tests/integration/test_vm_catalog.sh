#!/usr/bin/env bash
# Issue 15 on a real UEFI Secure Boot boot: QEMU/OVMF boots Debian's signed
# shim, grub and the older of two signed kernels (attest-agent inside on
# /dev/tpmrm0, TIS TPM). Under a policy of catalog rules the host is green
# and its software view names shim, grub and the kernel from the catalog;
# after a kernel update and a real reboot it stays green and the history
# says "kernel A -> B, approved by rule ...".
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
work=$(mktemp -d /tmp/attest-test-vm-catalog.XXXXXX)
. "$(dirname "$0")/vmlib.sh"
trap 'vm_cleanup; rm -rf "$work"' EXIT

mapfile -t kernels < <(bash sim/vm-image.sh cached 2>/dev/null)
[ ${#kernels[@]} -ge 2 ] || mapfile -t kernels < <(bash sim/vm-image.sh kernels 2>/dev/null)
[ ${#kernels[@]} -ge 2 ] || skip "fewer than two linux-image-6.1.0-NN-amd64 available"
k_old=${kernels[1]} k_new=${kernels[0]}
debs=()
for p in shim-signed grub-efi-amd64-signed "linux-image-$k_old" "linux-image-$k_new"; do
  d=$(bash sim/vm-image.sh deb "$p" 2>"$work/fetch.err"); rc=$?
  [ $rc -eq 3 ] && skip "cannot fetch $p"
  [ $rc -eq 0 ] || fail "vm-image.sh deb $p: $(cat "$work/fetch.err")"
  debs+=("$d")
done
old_ver=$(dpkg-deb -f "${debs[2]}" Version) new_ver=$(dpkg-deb -f "${debs[3]}" Version)

vm_create h --tpm tis --kernel "$k_old"
start_vm_verifier --attest-interval 300
ctl() { "$bin/attestctl" --server "$url" --server-thumbprint "$vthumb" \
  --token-file "$work/vd/admin.token" "$@" >"$work/ctl.out" 2>"$work/ctl.err"; }
ctl catalog import "${debs[@]}" || fail "catalog import: $(cat "$work/ctl.err")"
call "$admin" GET /api/v1/policies/default 200
rules=$(jq -nc --arg min "$old_ver" '[
  {"name":"debian-shim","kind":"shim","package":"shim-signed"},
  {"name":"debian-grub","kind":"boot_loader","signer":"CN=Debian Secure Boot Signer * - grub2"},
  {"name":"debian-kernels","kind":"kernel","package":"linux-image-6.1.0-*-amd64","signer":"CN=Debian Secure Boot Signer *","min_version":$min}]')
call "$admin" POST /api/v1/policies "$(jq -c --argjson r "$rules" '{"name":"catalog","body":(.body | .reference = {"catalog_rules": $r})}' <<<"$body")" 201

vm_boot h
add_host h
call "$admin" POST /api/v1/policies/catalog/assign '{"host":"h"}' 200
wait_host h '.trust == "green" and .policy == "catalog"'
attest h
[ "$(field .trust)" = green ] || fail "not green: $(field -c .reasons)"
comps=$(field -c '[.software.components[] | .text]')
field '.software.components[].text' | grep -q "^shim: shim-signed " || fail "shim not named: $comps"
field '.software.components[].text' | grep -q "^boot_loader: grub-efi-amd64-signed " || fail "grub not named: $comps"
field '.software.components[].text' | grep -qx "kernel: linux-image-$k_old $old_ver, Debian, signed by CN=Debian Secure Boot Signer 2022 - linux" ||
  fail "kernel not named: $comps"
ok "real boot of $k_old: green under catalog rules; $(field '[.software.components[] | .text] | unique | join("; ")')"

"$bin/attest-sim" kernel "$work/h" "$k_new" 2>"$work/kernel.err" || fail "attest-sim kernel: $(tail -3 "$work/kernel.err")"
vm_reboot h
attest h # the restart is seen at the next attestation: re-enrolled, then judged
wait_host h '.trust == "green" and ([.software.components[]?.text] | any(contains("'"$k_new"'")))' 180
want="kernel linux-image-$k_old $old_ver -> linux-image-$k_new $new_ver, approved by rule \"debian-kernels\""
call "$admin" GET "/api/v1/events?host=h&limit=200" 200
field '.events[].message' | grep -qxF "$want" || fail "history lacks '$want': $(field -c '[.events[].message]')"
ok "kernel update to $k_new and a real reboot: green; history: $want"
echo PASS
