#!/usr/bin/env bash
# A real UEFI Secure Boot host that first has no TPM, then gets a CRB one
# (issue 10, scenarios 6 and 2 on one VM):
#   6. booted without a TPM: unknown TPM_NOT_PRESENT; restarted with a TPM:
#      TPM_ADDED_RECONNECT_REQUIRED and never green; green only after
#      disconnect + reconnect
#   2. CRB: green under the default policy with tpm.interface crb (the
#      kernel's tpm_crb driver); red TPM_INTERFACE_NOT_ALLOWED under the
#      seed's TIS-only rule
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
work=$(mktemp -d /tmp/attest-test-vm-crb.XXXXXX)
. "$(dirname "$0")/vmlib.sh"
trap 'vm_cleanup; rm -rf "$work"' EXIT
t_start=$(date +%s)

vm_create h --tpm none
start_vm_verifier
vm_boot h
thumb0=$h_thumb addr0=$h_addr
grep -aq 'attest-vm: tpm0 driver' "$work/h/console.log" && fail "the guest without a TPM has a tpm0"
add_host h
wait_host h '.trust == "unknown" and .reasons[0].code == "TPM_NOT_PRESENT"'
[ "$(field .ak_name)" = null ] || fail "an AK was enrolled without a TPM"
[ "$(field .tpm.present)" = false ] || fail "tpm.present is $(field .tpm.present)"
ok "6a. no TPM (boot ${vm_secs}s): unknown, TPM_NOT_PRESENT, no AK"

"$bin/attest-sim" stop "$work/h" || fail "attest-sim stop"
vm_boot h --tpm crb
[ "$h_addr" = "$addr0" ] || fail "the host's address changed across boots ($addr0 -> $h_addr)"
[ "$h_thumb" = "$thumb0" ] || fail "the agent's identity changed across boots ($thumb0 -> $h_thumb): the data disk did not persist"
grep -aq 'attest-vm: tpm0 driver tpm_crb' "$work/h/console.log" || fail "the guest kernel does not drive a CRB TPM"
attest h
wait_host h '.reasons[0].code == "TPM_ADDED_RECONNECT_REQUIRED"'
[ "$(field .trust)" != green ] || fail "a TPM found after connect made the host green"
[ "$(field .ak_name)" = null ] || fail "the new TPM was enrolled without a reconnect"
for i in 1 2 3; do
  attest h
  [ "$(field .trust)" != green ] || fail "green before a reconnect (attestation $i)"
done
ok "6b. restarted with a CRB TPM (boot ${vm_secs}s, same agent identity): $(field .trust), TPM_ADDED_RECONNECT_REQUIRED, never green"

call "$admin" POST /api/v1/hosts/h/disconnect '{}' 200
call "$admin" POST "/api/v1/hosts/h/reconnect?wait=1" '{}' 200
wait_host h '.trust == "green"'
[ "$(field .ak_name)" != null ] || fail "reconnect did not enroll an AK"
ok "6c. after disconnect + reconnect: AK $(field .ak_name | cut -c1-16)..., green"

[ "$(field .tpm.interface)" = crb ] || fail "tpm.interface is $(field .tpm.interface), not crb"
ok "2a. CRB: green under the default policy, tpm.interface crb"
call "$admin" PUT /api/v1/policies/tis-only '{"version":1,"description":"the seed: TIS/FIFO only","requirements":{"tpm_interfaces":["tis"]}}' 201
call "$admin" POST /api/v1/policies/tis-only/assign '{"host":"h"}' 200
wait_host h '.policy == "tis-only" and .trust == "red"'
[ "$(reasons)" = TPM_INTERFACE_NOT_ALLOWED ] || fail "reasons under TIS-only: $(reasons)"
ok "2b. under the seed's TIS-only rule: red TPM_INTERFACE_NOT_ALLOWED ($(field '.reasons[0].message'))"
echo "figures: total $(($(date +%s) - t_start))s"
