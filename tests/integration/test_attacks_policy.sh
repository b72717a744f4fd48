#!/usr/bin/env bash
# Attack matrix (docs/security.md), requirements and approved configurations:
# real verifier, real agents on swtpm hosts booted from real event logs,
# policies written with `attestctl policy create --file`, mitm_agent where the
# host's own report is the attack (the TPM interface).
#   secure_boot_disabled   Secure Boot off                    -> red SECURE_BOOT_DISABLED
#   sha1_only_bank         firmware that measures SHA-1 only   -> red SHA256_BANK_MISSING
#   sha1_only_tpm          TPM whose SHA-256 bank is deallocated -> red SHA256_BANK_MISSING
#   crb_under_tis_policy   interface crb (and unknown) under a TIS-only policy
#                                                             -> red TPM_INTERFACE_NOT_ALLOWED
#   firmware_not_approved  S-CRTM version not in the policy     -> red CONFIGURATION_NOT_APPROVED
#   boot_loader_not_approved  shim's digest not in the policy   -> red CONFIGURATION_NOT_APPROVED
#   dbx_too_old            dbx with fewer entries than required -> red CONFIGURATION_NOT_APPROVED
# Each policy variant is the host's own learned policy (green) with one
# reference value changed, so the one difference is what turns it red.
. "$(dirname "$0")/attacklib.sh"
attack_init attacks-policy
[ -x "$bin/attestctl" ] || skip "$bin/attestctl not built"

ctl() {
  "$bin/attestctl" --server "$url" --server-thumbprint "$vthumb" --token-file "$work/vd/admin.token" \
    "$@" >"$work/ctl.out" 2>"$work/ctl.err" </dev/null || fail "attestctl $*: $(cat "$work/ctl.err")"
}
# use_policy NAME FILE HOST: create NAME from FILE, assign it, attest HOST.
use_policy() {
  ctl policy create "$1" --file "$2"
  ctl policy assign "$1" --host "$3"
  attest "$3"
}
# reason_says REGEX: a CONFIGURATION_NOT_APPROVED reason's message matches.
reason_says() {
  jq -r '.reasons[]|select(.code=="CONFIGURATION_NOT_APPROVED")|.message' <<<"$body" | grep -q -E "$1" ||
    fail "no CONFIGURATION_NOT_APPROVED saying /$1/: $(field -c .reasons)"
}
only_not_approved() {
  [ "$(field '[.reasons[].code]|unique|join(",")')" = CONFIGURATION_NOT_APPROVED ] ||
    fail "other reasons than CONFIGURATION_NOT_APPROVED: $(field -c .reasons)"
}

secure_boot_disabled() {
  add s "127.0.0.1:$s_port" "$s_thumb"
  expect_red SECURE_BOOT_DISABLED
  ok "secure_boot_disabled: SecureBoot=0 in PCR 7 -> red SECURE_BOOT_DISABLED"
}

sha1_only_bank() {
  add l "127.0.0.1:$l_port" "$l_thumb"
  expect_red SHA256_BANK_MISSING
  [ "$(field .policy)" = null ] || fail "l is under policy $(field .policy)"
  ok "sha1_only_bank: a SHA-1-only log (sha256 bank unused) -> red SHA256_BANK_MISSING ($(field '[.reasons[].code]|join(",")'))"
}

# The TPM itself without a SHA-256 bank: tpm2_pcrallocate (platform
# hierarchy) takes effect at the next TPM reset, which attest-sim reboot is.
sha1_only_tpm() {
  command -v tpm2_pcrallocate >/dev/null || { echo "skip sha1_only_tpm: no tpm2_pcrallocate"; return; }
  tpm2_pcrallocate -T "$l_tcti" sha1:all+sha256:none >/dev/null 2>"$work/alloc.err" ||
    fail "tpm2_pcrallocate: $(cat "$work/alloc.err")"
  "$bin/attest-sim" reboot "$l_dir" >/dev/null 2>"$work/l.reboot.err" ||
    fail "attest-sim reboot l: $(cat "$work/l.reboot.err")"
  tpm2_pcrread -T "$l_tcti" sha256:0 2>/dev/null | grep -q '0 *:' &&
    fail "the sha256 bank is still active after the reset"
  attest l
  expect_red SHA256_BANK_MISSING
  field '.reasons[].code' | grep -qx AGENT_ERROR && fail "reported as an agent fault: $(field -c .reasons)"
  ok "sha1_only_tpm: a TPM with no SHA-256 bank -> red SHA256_BANK_MISSING ($(field '[.reasons[].code]|join(",")'))"
}

crb_under_tis_policy() {
  printf '{"version":1,"description":"seed profile","requirements":{"tpm_interfaces":["tis"]}}' >"$work/tis.json"
  add i "127.0.0.1:$qi_mport" "$qi_mthumb"; expect_green
  mode qi "interface crb"
  call "$admin" POST "/api/v1/hosts/i/reconnect?wait=1" 200
  [ "$(field .tpm.interface)" = crb ] || fail "interface $(field .tpm.interface)"
  use_policy tis-only "$work/tis.json" i
  expect_red TPM_INTERFACE_NOT_ALLOWED
  # swtpm's own answer, "unknown", is not TIS either.
  mode qi pass
  call "$admin" POST "/api/v1/hosts/i/reconnect?wait=1" 200
  [ "$(field .tpm.interface)" = unknown ] || fail "interface $(field .tpm.interface)"
  expect_red TPM_INTERFACE_NOT_ALLOWED
  ok "crb_under_tis_policy: interface crb, and unknown, under tpm_interfaces [tis] -> red TPM_INTERFACE_NOT_ALLOWED"
}

# variant NAME JQ: the learned policy edited by JQ, assigned to host p.
variant() {
  jq "$2" "$work/learned.json" >"$work/$1.json" || fail "jq $2"
  use_policy "$1" "$work/$1.json" p
}

firmware_not_approved() {
  variant fw '.reference.firmware_versions = ["attest-test firmware 9.9 (approved)"]'
  expect_red CONFIGURATION_NOT_APPROVED
  reason_says '^firmware version .* is not approved'
  only_not_approved
  ok "firmware_not_approved: the host's S-CRTM version is not approved -> red CONFIGURATION_NOT_APPROVED"
}

boot_loader_not_approved() {
  variant bootloader '.reference.boot_apps |= map(if (.path // "" | test("shim";"i")) then .digest = ("00" * 32) else . end)'
  expect_red CONFIGURATION_NOT_APPROVED
  reason_says '^boot application .*shim.* is not approved'
  only_not_approved
  ok "boot_loader_not_approved: shim's digest not approved -> red CONFIGURATION_NOT_APPROVED"
}

dbx_too_old() {
  variant dbx '.reference.dbx = {"min_entries": ((.reference.dbx.min_entries // 0) + 1000)}'
  expect_red CONFIGURATION_NOT_APPROVED
  reason_says '^dbx .* fewer than .* older than the approved one'
  only_not_approved
  ok "dbx_too_old: dbx with fewer entries than the policy requires -> red CONFIGURATION_NOT_APPROVED"
}

mitm_init qi
host p qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
host i qemu-ovmf-ubuntu-secureboot.bin "$work/ca" --trust-verifier "$qi_mthumb"
host s gce-ubuntu2104-no-secureboot.bin "$work/ca"
host l gce-debian10-secureboot-sha1-legacy.bin "$work/ca"
mitm qi i
verifier_up

# A policy stored from a file, with the seed's requirements only; p's learned
# policy below is assigned to p alone.
printf '{"version":1}' >"$work/seed.json"
ctl policy create seed --file "$work/seed.json"
add p "127.0.0.1:$p_port" "$p_thumb"; expect_green
call "$admin" POST /api/v1/policies '{"name":"learned","from_host":"p"}' 201
jq .body <<<"$body" >"$work/learned.json"
jq -e '(.reference.firmware_versions|length) > 0 and (.reference.boot_apps|length) > 0 and
  .reference.dbx.min_entries != null' "$work/learned.json" >/dev/null ||
  fail "the learned policy lacks firmware, boot apps or dbx: $(cat "$work/learned.json")"
ctl policy assign learned --host p
attest p; expect_green
ok "setup: p green under its own learned policy"

secure_boot_disabled
sha1_only_bank
sha1_only_tpm
crb_under_tis_policy
firmware_not_approved
boot_loader_not_approved
dbx_too_old
verifier_down
echo PASS
