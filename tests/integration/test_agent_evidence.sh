#!/usr/bin/env bash
# The agent's TPM module against real swtpm and the reference tools:
#  - the EK we create equals the key in the EK certificate (RSA-2048, P-384);
#  - a quote from `attest-agent evidence` verifies with tpm2_checkquote (the
#    peer: signature, qualifying data = SHA-256(nonce || SHA-256(metadata)),
#    PCR digest) and with `attestctl verify`, for RSA and ECC AKs, and fails
#    for the wrong nonce and after tampering;
#  - tpm2_makecredential's credential is activated by our module for the RSA
#    and the ECC P-384 EK; one made for another AK, or another EK, is refused;
#  - every transient handle is flushed.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in tpm2_checkquote tpm2_makecredential tpm2_print tpm2_getcap jq openssl; do
  command -v $t >/dev/null || skip "$t not installed"
done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
[ -x "$bin/attest-sim" ] && [ -x "$bin/attest-agent" ] || skip "attest-sim/attest-agent not built"

work=$(mktemp -d /tmp/attest-test-agent.XXXXXX)
h="$work/host"
cleanup() { "$bin/attest-sim" stop "$h" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
ms() { date +%s%N; }

log="$logs/gce-rhel8-secureboot.bin"
t0=$(ms)
"$bin/attest-sim" create "$h" --eventlog "$log" --ek-ca "$work/ca" || fail "create"
t1=$(ms)
tcti=$("$bin/attest-sim" boot "$h") || fail "boot"
t2=$(ms)
echo "timing: create $(( (t1 - t0) / 1000000 )) ms, boot $(( (t2 - t1) / 1000000 )) ms"

# --- evidence, checked by the peer and by us -----------------------------
# b64file JSON KEY OUT: decode a base64 field of the bundle into a file
b64file() { jq -r ".$2" "$1" | base64 -d >"$3"; }

for ak in rsa ecc; do
  flag=""; [ $ak = ecc ] && flag=--ecc
  nonce=$(openssl rand -hex 32)
  t3=$(ms)
  "$bin/attest-agent" evidence --tcti "$tcti" --eventlog "$log" --nonce "$nonce" \
    --pcrs sha256:0-9,14 $flag >"$work/b.json" || fail "$ak: evidence"
  t4=$(ms)
  echo "timing: evidence ($ak AK: EK + AK creation + quote + PCR read) $(( (t4 - t3) / 1000000 )) ms"
  for k in ak_public quote signature pcrs nonce metadata eventlog; do
    jq -e "has(\"$k\")" "$work/b.json" >/dev/null || fail "$ak: bundle lacks $k"
  done
  [ "$(jq -r .nonce "$work/b.json")" = "$nonce" ] || fail "$ak: nonce not echoed"
  jq -e '.metadata | (.hostname and .os_release and .kernel and .boot_id and .agent_version)' \
    "$work/b.json" >/dev/null || fail "$ak: metadata incomplete"
  cmp -s <(jq -r .eventlog "$work/b.json" | base64 -d) "$log" || fail "$ak: event log not sent verbatim"
  b64file "$work/b.json" ak_public "$work/ak.pub"
  b64file "$work/b.json" quote "$work/quote.msg"
  b64file "$work/b.json" signature "$work/quote.sig"
  # The PCR values in selection order, as tpm2_pcrread -o writes them.
  jq -r '.pcrs.sha256 | to_entries | sort_by(.key | tonumber) | .[].value' "$work/b.json" |
    tr -d '\n' | xxd -r -p >"$work/pcrs.bin"
  # qualifyingData = SHA-256(nonce || SHA-256(canonical metadata)); jq -S -c
  # sorts keys and drops whitespace like jansson's canonical form (ASCII values).
  mh=$(jq -S -c -j .metadata "$work/b.json" | sha256sum | cut -c1-64)
  qual=$(printf '%s%s' "$nonce" "$mh" | xxd -r -p | sha256sum | cut -c1-64)
  tpm2_print -t TPM2B_PUBLIC -f pem "$work/ak.pub" >"$work/ak.pem" 2>/dev/null ||
    fail "$ak: tpm2_print cannot read ak_public"
  # tpm2_checkquote 5.4 fails to hash a raw PCR file given with -f/-l ("Failed
  # to hash PCR values related to quote"), so it checks signature and
  # qualifying data, and the PCR digest is compared here with the one the
  # peer's own parser (tpm2_print) reads from our TPMS_ATTEST.
  tpm2_checkquote -u "$work/ak.pem" -m "$work/quote.msg" -s "$work/quote.sig" -g sha256 \
    -q "$qual" >/dev/null || fail "$ak: tpm2_checkquote rejects our quote"
  digest=$(tpm2_print -t TPMS_ATTEST "$work/quote.msg" | sed -n 's/^ *pcrDigest: //p')
  [ "$digest" = "$(sha256sum <"$work/pcrs.bin" | cut -c1-64)" ] ||
    fail "$ak: pcrDigest $digest is not the hash of the reported PCR values"
  tpm2_checkquote -u "$work/ak.pem" -m "$work/quote.msg" -s "$work/quote.sig" -g sha256 \
    -q "$(openssl rand -hex 32)" >/dev/null 2>&1 && fail "$ak: tpm2_checkquote accepted other qualifying data"
  ok "$ak AK: tpm2_checkquote verifies signature, qualifying data and PCR digest"
  if "$bin/attestctl" verify --help >/dev/null 2>&1; then
    "$bin/attestctl" verify "$work/b.json" --nonce "$nonce" >/dev/null || fail "$ak: attestctl verify rejects the bundle"
    "$bin/attestctl" verify "$work/b.json" --nonce "$(openssl rand -hex 32)" >/dev/null 2>&1 &&
      fail "$ak: attestctl verify accepted the wrong nonce"
    ok "$ak AK: attestctl verify accepts it, and refuses it for another nonce"
  fi
done

# --- EK = certificate key ------------------------------------------------
for kind in rsa2048 ecc-p384-h; do
  d="$work/$kind"; mkdir -p "$d"
  "$bin/attest-agent" selftest ak --tcti "$tcti" --dir "$d" --ek $kind >/dev/null || fail "selftest ak $kind"
  tpm2_print -t TPM2B_PUBLIC -f pem "$d/ek.pub" >"$d/ek.pem" 2>/dev/null || fail "$kind: EK public unreadable"
  openssl x509 -inform der -in "$d/ek.cert" -pubkey -noout >"$d/cert-key.pem" || fail "$kind: certificate"
  cmp -s <(openssl pkey -pubin -in "$d/ek.pem" -outform der) <(openssl pkey -pubin -in "$d/cert-key.pem" -outform der) ||
    fail "$kind: created EK is not the certificate's key"
done
ok "created EKs (RSA-2048 L-1, ECC P-384 H-3) equal their certificates' keys"

# --- credential activation ------------------------------------------------
head -c 32 /dev/urandom >"$work/secret"
want=$(xxd -p -c 64 "$work/secret")
for kind in rsa2048 ecc-p384-h; do
  d="$work/$kind"
  tpm2_makecredential --tcti none -u "$d/ek.pub" -s "$work/secret" -n "$(cat "$d/ak.name")" \
    -o "$d/cred" >/dev/null 2>&1 || fail "$kind: tpm2_makecredential"
  got=$("$bin/attest-agent" selftest activate --tcti "$tcti" --dir "$d" --ek $kind --cred "$d/cred") ||
    fail "$kind: activation refused"
  [ "$got" = "$want" ] || fail "$kind: activation returned another secret"
done
ok "tpm2_makecredential credentials activate for the RSA and the ECC P-384 EK"
# For another AK's name: the integrity check fails.
tpm2_makecredential --tcti none -u "$work/rsa2048/ek.pub" -s "$work/secret" \
  -n "$(cat "$work/ecc-p384-h/ak.name")" -o "$work/cred.other" >/dev/null 2>&1 || fail "makecredential"
"$bin/attest-agent" selftest activate --tcti "$tcti" --dir "$work/rsa2048" --ek rsa2048 \
  --cred "$work/cred.other" >/dev/null 2>"$work/err" && fail "credential for another AK activated"
grep -q TPM2_ActivateCredential "$work/err" || fail "no reason given: $(cat "$work/err")"
# Made for another EK (the ECC one) but presented to the RSA EK.
tpm2_makecredential --tcti none -u "$work/ecc-p384-h/ek.pub" -s "$work/secret" \
  -n "$(cat "$work/rsa2048/ak.name")" -o "$work/cred.ek" >/dev/null 2>&1 || fail "makecredential"
"$bin/attest-agent" selftest activate --tcti "$tcti" --dir "$work/rsa2048" --ek rsa2048 \
  --cred "$work/cred.ek" >/dev/null 2>&1 && fail "credential for another EK activated"
ok "credentials for another AK or another EK are refused"

# --- bad input --------------------------------------------------------------
"$bin/attest-agent" evidence --tcti "$tcti" --eventlog "$log" --nonce abcd >/dev/null 2>&1
[ $? -eq 2 ] || fail "short nonce not a usage error"
"$bin/attest-agent" evidence --tcti "$tcti" --eventlog "$log" --nonce "$(openssl rand -hex 32)" \
  --pcrs sha256:0-24 >/dev/null 2>&1
[ $? -eq 2 ] || fail "PCR 24 not a usage error"
"$bin/attest-agent" evidence --tcti "$tcti" --eventlog "$log" --nonce "$(openssl rand -hex 32)" \
  --pcrs sha384:0 >/dev/null 2>"$work/err" && fail "inactive bank quoted"
grep -q sha384 "$work/err" || fail "inactive bank: no reason ($(cat "$work/err"))"
"$bin/attest-agent" evidence --tcti "swtpm:host=127.0.0.1,port=1" --eventlog "$log" \
  --nonce "$(openssl rand -hex 32)" >/dev/null 2>"$work/err" && fail "dead TPM accepted"
[ -s "$work/err" ] || fail "dead TPM: no message"
ok "bad nonce, PCR, bank and TCTI: precise errors, non-zero exit"

# --- tamper: the agent still quotes, the verifier notices -------------------
if "$bin/attestctl" verify --help >/dev/null 2>&1; then
  "$bin/attest-sim" extend "$h" 4 "$(printf rootkit | sha256sum | cut -c1-64)" || fail "extend"
  nonce=$(openssl rand -hex 32)
  "$bin/attest-agent" evidence --tcti "$tcti" --eventlog "$log" --nonce "$nonce" >"$work/t.json" || fail "evidence after tamper"
  "$bin/attestctl" verify "$work/t.json" --nonce "$nonce" >/dev/null 2>&1 && fail "tampered host verified"
  ok "after an unlogged measurement attestctl verify fails"
fi

n=$(tpm2_getcap -T "$tcti" handles-transient | grep -c 0x)
[ "$n" -eq 0 ] || fail "$n transient handles left in the TPM"
n=$(tpm2_getcap -T "$tcti" handles-loaded-session | grep -c 0x)
[ "$n" -eq 0 ] || fail "$n sessions left in the TPM"
ok "no transient objects or sessions left"
echo "PASS"
