#!/usr/bin/env bash
# Attack matrix (docs/security.md), quotes in transit: a real verifier, real
# agents on swtpm hosts, and mitm_agent (tests/integration/mitm_agent.c) as
# the adversary in front of host "a". Every attack must end red with its
# reason code; after each one the honest path turns the host green again, so
# the refusal is the attack's doing.
#   replay_quote        quote from an earlier round     -> red NONCE_MISMATCH
#   swap_nonce          host b's quote over a's nonce    -> red QUOTE_SIGNATURE_INVALID
#   edit_pcr            a PCR value edited               -> red PCR_DIGEST_MISMATCH
#   edit_pcr_digest     TPMS_ATTEST pcrDigest edited      -> red QUOTE_SIGNATURE_INVALID
#   flip_signature_bit  one signature bit flipped         -> red QUOTE_SIGNATURE_INVALID
#   lie_log             SecureBoot data 0 -> 1, digest of 0 kept
#                       -> red EVENT_CONTENT_MISMATCH + SECURE_BOOT_DISABLED
#   old_ak_quote        after a reboot, the pre-reboot quote -> red NONCE_MISMATCH
#   old_ak_enroll       after a reboot, the pre-reboot AK offered for
#                       re-enrollment                   -> red AK_ACTIVATION_FAILED
. "$(dirname "$0")/attacklib.sh"
attack_init attacks-quote

replay_quote() {
  mode qa replay-quote
  attest a
  expect_red NONCE_MISMATCH
  mitm_saw qa 'POST /v1/quote mode=replay-quote .*canned' || fail "the quote was not replayed"
  mode qa pass; attest a; expect_green
  ok "replay_quote: a quote from an earlier round -> red NONCE_MISMATCH"
}

swap_nonce() {
  mode qa swap-nonce
  attest a
  expect_red QUOTE_SIGNATURE_INVALID
  mitm_saw qa 'POST /v1/quote mode=swap-nonce upstream=2 status=200' ||
    fail "host b did not quote a's nonce"
  mode qa pass; attest a; expect_green
  ok "swap_nonce: b's TPM quoted the nonce issued for a -> red QUOTE_SIGNATURE_INVALID"
}

edit_pcr() {
  mode qa edit-pcr
  attest a
  expect_red PCR_DIGEST_MISMATCH
  mode qa pass; attest a; expect_green
  ok "edit_pcr: PCR 0 edited in transit -> red PCR_DIGEST_MISMATCH"
}

edit_pcr_digest() {
  mode qa edit-pcr-digest
  attest a
  expect_red QUOTE_SIGNATURE_INVALID
  mode qa pass; attest a; expect_green
  ok "edit_pcr_digest: pcrDigest in TPMS_ATTEST edited -> red QUOTE_SIGNATURE_INVALID"
}

flip_signature_bit() {
  mode qa flip-signature-bit
  attest a
  expect_red QUOTE_SIGNATURE_INVALID
  mode qa pass; attest a; expect_green
  ok "flip_signature_bit: one bit of TPMT_SIGNATURE -> red QUOTE_SIGNATURE_INVALID"
}

lie_log() {
  add n "127.0.0.1:$qn_mport" "$qn_mthumb"
  expect_red SECURE_BOOT_DISABLED
  mode qn lie-log
  attest n
  expect_red EVENT_CONTENT_MISMATCH SECURE_BOOT_DISABLED
  grep -q 'SecureBoot variable(s) edited' "$work/qn.mitm.err" || fail "the log was not edited"
  # The lie replays: no replay mismatch, only the content check catches it.
  ! field '.reasons[].code' | grep -qx EVENTLOG_REPLAY_MISMATCH ||
    fail "the edited log should still replay: $(field -c .reasons)"
  jq -e '.reasons[]|select(.code=="EVENT_CONTENT_MISMATCH")|.evidence.pcr==7' <<<"$body" >/dev/null ||
    fail "EVENT_CONTENT_MISMATCH does not name PCR 7: $(field -c .reasons)"
  ok "lie_log: SecureBoot=1 with the digest of 0 -> red EVENT_CONTENT_MISMATCH (PCR 7) + SECURE_BOOT_DISABLED"
}

old_ak() {
  local ak_before
  attest a; expect_green
  ak_before=$(field .ak_name)
  "$bin/attest-sim" reboot "$a_dir" >/dev/null || fail "attest-sim reboot"
  # The adversary keeps answering with the quote captured before the reboot.
  mode qa replay-quote
  attest a
  expect_red NONCE_MISMATCH
  ok "old_ak_quote: after a reboot, the pre-reboot AK's quote -> red NONCE_MISMATCH"
  # Now the real quote goes through (restart detected), and the adversary
  # offers the pre-reboot AK again for the re-enrollment.
  mode qa old-ak
  attest a
  expect_red AK_ACTIVATION_FAILED
  mitm_saw qa 'POST /v1/ak mode=old-ak .*canned' || fail "the old AK was not offered"
  [ "$(field .ak_name)" = null ] || [ "$(field .ak_name)" != "$ak_before" ] ||
    fail "the pre-reboot AK is still enrolled"
  call "$admin" GET "/api/v1/events?host=a&kind=enroll" 200
  field '.events[].message' | grep -q restarted || fail "the restart was not detected: $body"
  mode qa pass; attest a; expect_green
  [ "$(field .ak_name)" != "$ak_before" ] || fail "green with the pre-reboot AK"
  ok "old_ak_enroll: after a reboot, the pre-reboot AK offered again -> red AK_ACTIVATION_FAILED; honest re-enrollment -> new AK, green"
}

mitm_init qa
mitm_init qn
host a qemu-ovmf-ubuntu-secureboot.bin "$work/ca" --trust-verifier "$qa_mthumb"
host n gce-ubuntu2104-no-secureboot.bin "$work/ca" --trust-verifier "$qn_mthumb"
verifier_up
# Host b is honest and enrolled by the verifier; the adversary controls its
# OS too (b's agent also serves the adversary's certificate).
host b qemu-ovmf-ubuntu-secureboot.bin "$work/ca" --trust-verifier "$vthumb" --trust-verifier "$qa_mthumb"
mitm qa a b
mitm qn n
add b "127.0.0.1:$b_port" "$b_thumb"; expect_green
add a "127.0.0.1:$qa_mport" "$qa_mthumb"; expect_green
ok "setup: a (behind the adversary) and b green"

replay_quote
swap_nonce
edit_pcr
edit_pcr_digest
flip_signature_bit
lie_log
old_ak
verifier_down
echo PASS
