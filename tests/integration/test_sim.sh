#!/usr/bin/env bash
# attest-sim against real swtpm and the shared real event logs:
#  - a host booted from each log that states SHA-256 PCRs has exactly the PCRs
#    the log replays to (attestctl eventlog replay) and the source stated
#    (.pcrs.json), StartupLocality 3 logs included;
#  - its EK certificates chain to the test CA we gave it;
#  - reboot power-cycles (resetCount + 1) and boots the log again, after an
#    orderly TPM2_Shutdown (the lockout counter does not move);
#  - extend (tamper) changes exactly that PCR, in every bank;
#  - stop stops only that host's swtpm; nothing is left loaded in the TPM.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
command -v tpm2_getcap >/dev/null || skip "tpm2-tools not installed"
command -v jq >/dev/null || skip "jq not installed"
[ -d "$logs" ] || skip "$logs not found (shared test data)"
[ -x "$bin/attest-sim" ] && [ -x "$bin/attest-agent" ] || skip "attest-sim/attest-agent not built"

work=$(mktemp -d /tmp/attest-test-sim.XXXXXX)
hosts=()
cleanup() {
  for h in "${hosts[@]}"; do "$bin/attest-sim" stop "$h" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# pcrs_of TCTI SELECTION: the TPM's PCRs as {"sha256": {"0": hex}} via our agent
pcrs_of() {
  "$bin/attest-agent" evidence --tcti "$1" --eventlog /dev/null --pcrs "$2" \
    --nonce 00112233445566778899aabbccddeeff | jq -c .pcrs
}

port_of() { sed -n 's/^port=//p' "$1/swtpm.run"; }

tested=0
for json in "$logs"/*.pcrs.json; do
  name=$(basename "$json" .pcrs.json)
  log="$logs/$name.bin"
  jq -e '.sha256' "$json" >/dev/null || continue
  h="$work/$name"
  "$bin/attest-sim" create "$h" --eventlog "$log" --ek-ca "$work/ca" || fail "$name: create"
  hosts+=("$h")
  tcti=$("$bin/attest-sim" boot "$h") || fail "$name: boot"
  [[ "$tcti" == swtpm:host=127.0.0.1,port=* ]] || fail "$name: boot printed '$tcti'"
  for bank in sha256 sha1; do
    idx=$(jq -r --arg b $bank '.[$b] // {} | keys | join(",")' "$json")
    [ -n "$idx" ] || continue
    got=$(pcrs_of "$tcti" "$bank:$idx" | jq -S --arg b $bank '.[$b]')
    want=$(jq -S --arg b $bank '.[$b]' "$json")
    [ "$got" = "$want" ] || fail "$name: $bank PCRs differ from $json: got $got"
    replay=$("$bin/attestctl" eventlog replay --json "$log" |
             jq -S --arg b $bank --argjson w "$want" '.[$b] | with_entries(select(.key as $k | $w | has($k)))')
    [ "$got" = "$replay" ] || fail "$name: $bank PCRs differ from the log's replay"
  done
  ok "$name: booted PCRs equal the stated values and the replay"
  tested=$((tested + 1))
done
[ $tested -ge 3 ] || fail "only $tested logs with SHA-256 PCRs found"

h="$work/gce-rhel8-secureboot"
[ -d "$h" ] || fail "expected host $h"
tcti="swtpm:host=127.0.0.1,port=$(port_of "$h")"

# EK certificates: signed by our CA, never by the system one.
for c in "$h"/ek-rsa2048.crt "$h"/ek-secp384r1.crt; do
  openssl x509 -inform der -in "$c" -out "$work/ek.pem" || fail "$c is not DER"
  openssl verify -CAfile "$work/ca/ca.pem" "$work/ek.pem" >/dev/null || fail "$c does not chain to the test CA"
done
ok "EK certificates (RSA-2048, ECC P-384) chain to CADIR/ca.pem"

# Reboot: resetCount + 1 and the same PCRs after the new boot.
before=$("$bin/attest-sim" status "$h" | jq .reset_count)
pcrs_before=$(pcrs_of "$tcti" sha256:0-9,14)
tcti2=$("$bin/attest-sim" reboot "$h") || fail "reboot"
[ "$tcti2" = "$tcti" ] || fail "reboot changed the TCTI ($tcti2)"
after=$("$bin/attest-sim" status "$h" | jq .reset_count)
[ "$after" -eq $((before + 1)) ] || fail "resetCount $before -> $after after reboot"
[ "$(pcrs_of "$tcti" sha256:0-9,14)" = "$pcrs_before" ] || fail "PCRs differ after reboot"
ok "reboot: resetCount $before -> $after, PCRs booted again"
# A reboot is orderly (TPM2_Shutdown first, as an OS does): a DA-protected
# NV index used before each of three reboots leaves the lockout counter at 0
# (disorderly ones count as dictionary-attack failures and lock the TPM).
tpm2_nvdefine -T "$tcti" 0x1500016 -C o -s 8 -p pw -a "authread|authwrite" >/dev/null ||
  fail "nvdefine"
for i in 1 2 3; do
  echo -n 12345678 | tpm2_nvwrite -T "$tcti" 0x1500016 -P pw -i - >/dev/null || fail "nvwrite $i"
  "$bin/attest-sim" reboot "$h" >/dev/null || fail "reboot $i"
done
lc=$(tpm2_getcap -T "$tcti" properties-variable | sed -n 's/^TPM2_PT_LOCKOUT_COUNTER: *//p')
[ "$lc" = 0x0 ] || fail "lockout counter $lc after three reboots (disorderly shutdowns)"
tpm2_nvundefine -T "$tcti" 0x1500016 -C o >/dev/null || fail "nvundefine"
ok "three reboots after a DA-protected use: lockout counter 0 (orderly shutdowns)"

# Tamper: PCR 4 changes in both banks, PCR 0-3 do not.
p03=$(pcrs_of "$tcti" sha256:0-3+sha1:0-3)
p4=$(pcrs_of "$tcti" sha256:4+sha1:4)
"$bin/attest-sim" extend "$h" 4 "$(printf rootkit | sha256sum | cut -c1-64)" || fail "extend"
p4b=$(pcrs_of "$tcti" sha256:4+sha1:4)
[ "$(jq -r .sha256[\"4\"] <<<"$p4")" != "$(jq -r .sha256[\"4\"] <<<"$p4b")" ] || fail "extend left sha256 PCR 4"
[ "$(jq -r .sha1[\"4\"] <<<"$p4")" != "$(jq -r .sha1[\"4\"] <<<"$p4b")" ] || fail "extend left sha1 PCR 4"
[ "$(pcrs_of "$tcti" sha256:0-3+sha1:0-3)" = "$p03" ] || fail "extend changed another PCR"
"$bin/attest-sim" extend "$h" 24 "$(printf x | sha256sum | cut -c1-64)" 2>/dev/null && fail "PCR 24 accepted"
"$bin/attest-sim" extend "$h" 4 abcd 2>/dev/null && fail "short digest accepted"
ok "extend: PCR 4 changed in both banks, others untouched; bad input refused"

# Nothing left loaded: the module flushes every object and session.
n=$(tpm2_getcap -T "$tcti" handles-transient | grep -c 0x)
[ "$n" -eq 0 ] || fail "$n transient handles left in the TPM"
ok "no transient handles left"

# Stop only ours: stopping one host leaves the others running.
other="$work/gce-ubuntu2104-no-secureboot"
pid=$(sed -n 's/^pid=//p' "$h/swtpm.run")
"$bin/attest-sim" stop "$h" || fail "stop"
! grep -qa "$h/state" /proc/$pid/cmdline 2>/dev/null || fail "swtpm $pid still running"
"$bin/attest-sim" status "$h" | jq -e '.running == false' >/dev/null || fail "status after stop"
"$bin/attest-sim" status "$other" | jq -e '.running == true' >/dev/null || fail "stop hit another host"
# A pid file pointing elsewhere is not obeyed.
echo "pid=$$" >"$h/swtpm.run"; echo "port=1" >>"$h/swtpm.run"
"$bin/attest-sim" stop "$h" 2>/dev/null
kill -0 $$ || fail "stop killed a process that is not ours"
ok "stop: only this host's swtpm, verified by its command line"
echo "PASS"
