#!/usr/bin/env bash
# A real UEFI host with Secure Boot off (issue 10, scenario 3): OVMF's
# variables without enrolled keys, the same signed shim, grub and kernel
# (nothing checks them), a TIS TPM: red SECURE_BOOT_DISABLED under the
# default policy.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
work=$(mktemp -d /tmp/attest-test-vm-sb-off.XXXXXX)
. "$(dirname "$0")/vmlib.sh"
trap 'vm_cleanup; rm -rf "$work"' EXIT
t_start=$(date +%s)

vm_create h --secure-boot off
start_vm_verifier
vm_boot h
grep -aq 'attest-vm: kernel .* secure-boot=0' "$work/h/console.log" ||
  fail "the guest does not report Secure Boot off: $(grep -a 'attest-vm: kernel' "$work/h/console.log")"
add_host h
wait_host h '.trust == "red"'
[ "$(reasons)" = SECURE_BOOT_DISABLED ] || fail "reasons with Secure Boot off: $(reasons)"
[ "$(field .tpm.interface)" = tis ] || fail "tpm.interface is $(field .tpm.interface)"
ok "3. Secure Boot off (boot ${vm_secs}s): red SECURE_BOOT_DISABLED ($(field '.reasons[0].message'))"
echo "figures: total $(($(date +%s) - t_start))s"
