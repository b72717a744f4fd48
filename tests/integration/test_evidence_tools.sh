#!/usr/bin/env bash
# Verifier-side TPM evidence checks against a REAL TPM emulator (swtpm) with
# tpm2-tools as the peer:
#  - EK certificates written by swtpm_setup chain to its local CA with our
#    ekcert code; a certificate from an unknown CA, or whose key is not the
#    EK, is refused;
#  - our software MakeCredential is accepted by TPM2_ActivateCredential for
#    the RSA-2048 and the ECC P-384 EK; a credential for another AK's Name, or
#    made with the other EK, is refused by the TPM;
#  - quotes made by tpm2_quote (RSA and ECC AKs) over PCRs extended from a
#    real event log verify with `attestctl verify` and with tpm2_checkquote;
#  - negatives, each its own check: wrong nonce, nonce not the one asked for,
#    metadata edited, PCR value changed, signature bit flip, quote from
#    another AK, AK without `restricted`, a PCR extended behind the log's back.
set -uo pipefail

skip() { echo "SKIP: $*"; exit 77; }
for t in swtpm swtpm_setup tpm2_createak tpm2_quote tpm2_checkquote tpm2_activatecredential \
         tpm2_nvread python3 openssl; do
  command -v "$t" >/dev/null || skip "$t not installed"
done
BIN=${ATTEST_BIN:-build/bin}
TOOL=${ATTEST_BUILD:-build}/tests/evidence-tool
ATTESTCTL=$BIN/attestctl
[ -x "$TOOL" ] && [ -x "$ATTESTCTL" ] || skip "evidence-tool or attestctl not built"
TOOL=$(realpath "$TOOL"); ATTESTCTL=$(realpath "$ATTESTCTL")
LOG=../shared/testdata/eventlogs/gce-ubuntu2104-no-secureboot.bin
OTHERLOG=../shared/testdata/eventlogs/gce-rhel8-secureboot.bin
[ -f "$LOG" ] && [ -f "$OTHERLOG" ] || skip "../shared/testdata is absent"
ROOT=$(pwd)

W=$(mktemp -d)
SWTPM_PID=
cleanup() {
  if [ -n "$SWTPM_PID" ]; then kill "$SWTPM_PID" 2>/dev/null; fi
  [ -n "${KEEP_WORKDIR:-}" ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT

failures=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

# ---- TPM state with EK certificates from a local CA in the temp dir -------
mkdir -p "$W/state" "$W/ca"
cat >"$W/localca.conf" <<EOF
statedir = $W/ca
signingkey = $W/ca/signkey.pem
issuercert = $W/ca/issuercert.pem
certserial = $W/ca/certserial
EOF
printf -- '--platform-manufacturer attest\n--platform-version 2.1\n--platform-model sim\n' \
  >"$W/localca.options"
cat >"$W/setup.conf" <<EOF
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $W/localca.conf
create_certs_tool_options = $W/localca.options
active_pcr_banks = sha256
EOF
swtpm_setup --tpm2 --tpmstate "$W/state" --create-ek-cert --create-platform-cert \
  --config "$W/setup.conf" >"$W/setup.log" 2>&1 || { cat "$W/setup.log"; echo "swtpm_setup failed"; exit 1; }

# ---- start swtpm on a free loopback port (retry on collisions) ------------
for attempt in 1 2 3 4 5 6 7 8; do
  PORT=$((20000 + RANDOM % 40000))
  rm -f "$W/swtpm.pid"
  if swtpm socket --tpm2 --server type=tcp,port=$PORT,bindaddr=127.0.0.1 \
       --ctrl type=tcp,port=$((PORT + 1)),bindaddr=127.0.0.1 \
       --tpmstate dir="$W/state" --flags not-need-init,startup-clear \
       --pid file="$W/swtpm.pid" --daemon 2>"$W/swtpm.err"; then
    for _ in $(seq 50); do [ -s "$W/swtpm.pid" ] && break; sleep 0.1; done
    SWTPM_PID=$(cat "$W/swtpm.pid" 2>/dev/null)
    [ -n "$SWTPM_PID" ] && break
  fi
done
[ -n "$SWTPM_PID" ] || { cat "$W/swtpm.err"; echo "cannot start swtpm"; exit 1; }
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$PORT"
cd "$W"
# No resource manager: flush transient objects and sessions after each step.
flush() { tpm2_flushcontext -t >/dev/null 2>&1; tpm2_flushcontext -s >/dev/null 2>&1; }
q() { "$@" >>"$W/tools.log" 2>&1; }

# ---- EKs (persisted by swtpm_setup) and their certificates ----------------
q tpm2_readpublic -c 0x81010001 -o ek-rsa.pub || { echo "no RSA EK"; exit 1; }
q tpm2_readpublic -c 0x81010016 -o ek-ecc.pub || { echo "no ECC P-384 EK"; exit 1; }
q tpm2_nvread 0x01c00002 -o ekcert-rsa.der
q tpm2_nvread 0x01c00016 -o ekcert-ecc.der
CAS=("$W/ca/issuercert.pem" "$W/ca/swtpm-localca-rootca-cert.pem")

out=$("$TOOL" ekcert ekcert-rsa.der ek-rsa.pub "${CAS[@]}")
[[ $? -eq 0 && $out == OK:* && $out == *model=swtpm* ]] && pass "RSA EK certificate chains to the local CA and holds the EK" \
  || fail "RSA EK certificate: $out"
out=$("$TOOL" ekcert ekcert-ecc.der ek-ecc.pub "${CAS[@]}")
[[ $? -eq 0 && $out == OK:* && $out == *key=EC-secp384r1* ]] && pass "ECC P-384 EK certificate chains and holds the EK" \
  || fail "ECC EK certificate: $out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ca.key \
  -out other-ca.pem -subj "/CN=Some Other TPM CA" -days 30 >/dev/null 2>&1
out=$("$TOOL" ekcert ekcert-rsa.der ek-rsa.pub other-ca.pem)
[[ $? -eq 1 && $out == EK_CERT_UNKNOWN_ISSUER:*swtpm-localca* ]] && pass "EK certificate from an unknown CA is refused, issuer named" \
  || fail "unknown CA: $out"
out=$("$TOOL" ekcert ekcert-rsa.der ek-ecc.pub "${CAS[@]}")
[[ $? -eq 1 && $out == EK_CERT_KEY_MISMATCH:* ]] && pass "EK certificate whose key is not the EK is refused" \
  || fail "key mismatch: $out"

# ---- AKs under the RSA EK (tpm2_createak runs the EK policy itself) --------
q tpm2_createak -C 0x81010001 -c ak-rsa.ctx -G rsa -g sha256 -s rsassa -u ak-rsa.pub -n ak-rsa.name; flush
q tpm2_createak -C 0x81010001 -c ak-ecc.ctx -G ecc -g sha256 -s ecdsa -u ak-ecc.pub -n ak-ecc.name; flush
q tpm2_createak -C 0x81010001 -c ak-rsa2.ctx -G rsa -g sha256 -s rsassa -u ak-rsa2.pub -n ak-rsa2.name; flush
for k in rsa ecc; do
  ours=$("$TOOL" name ak-$k.pub); theirs=$(od -An -v -tx1 ak-$k.name | tr -d ' \n')
  [ "$ours" = "$theirs" ] && pass "$k AK Name equals tpm2-tools' ($ours)" || fail "$k AK Name $ours != $theirs"
  out=$("$TOOL" akcheck ak-$k.pub)
  [ $? -eq 0 ] && pass "$k AK from tpm2_createak passes the AK checks" || fail "$k AK checks: $out"
done

# ---- credential activation: our MakeCredential, the TPM's Activate ---------
activate() { # EKHANDLE CREDFILE OUT
  if [ "$1" = 0x81010001 ]; then # low-range RSA EK: PolicySecret(endorsement)
    q tpm2_startauthsession --policy-session -S sess.ctx
    q tpm2_policysecret -S sess.ctx -c e
    q tpm2_activatecredential -c ak-rsa.ctx -C "$1" -i "$2" -o "$3" -P session:sess.ctx
    local rc=$?
    q tpm2_flushcontext sess.ctx; flush
    return $rc
  fi
  q tpm2_activatecredential -c ak-rsa.ctx -C "$1" -i "$2" -o "$3" # P-384 EK: userWithAuth
  local rc=$?; flush; return $rc
}
SECRET=$(openssl rand -hex 32)
for ek in rsa:0x81010001 ecc:0x81010016; do
  kind=${ek%%:*}; handle=${ek#*:}
  "$TOOL" makecred ek-$kind.pub ak-rsa.name "$SECRET" cred-$kind.bin || fail "makecred $kind"
  rm -f act.out
  if activate "$handle" cred-$kind.bin act.out && [ "$(od -An -v -tx1 act.out | tr -d ' \n')" = "$SECRET" ]; then
    pass "MakeCredential for the $kind EK is accepted by TPM2_ActivateCredential, secret recovered"
  else
    fail "ActivateCredential of our $kind credential"
  fi
  "$TOOL" makecred ek-$kind.pub ak-rsa2.name "$SECRET" cred-other-$kind.bin
  if activate "$handle" cred-other-$kind.bin act.out; then
    fail "a $kind credential for another AK's Name was activated"
  else
    pass "a $kind-EK credential made for another AK's Name fails activation"
  fi
done
if activate 0x81010016 cred-rsa.bin act.out; then fail "RSA-EK credential activated with the ECC EK"
else pass "a credential made with another EK fails activation"; fi

# ---- quotes over PCRs that a real event log explains ----------------------
# Extend every logged sha256 digest (EV_NO_ACTION excluded) into the swtpm.
"$ATTESTCTL" eventlog show "$ROOT/$LOG" --json >log.json || { echo "cannot read $LOG"; exit 1; }
python3 - log.json >extends.txt <<'EOF'
import json, sys
log = json.load(open(sys.argv[1]))
for e in log["events"]:
    if e["type"] == 3 or "sha256" not in e["digests"] or e["pcr"] > 23:
        continue
    print("%d:sha256=%s" % (e["pcr"], e["digests"]["sha256"]))
EOF
xargs -n 20 tpm2_pcrextend <extends.txt >>tools.log 2>&1 || fail "tpm2_pcrextend"
SEL=sha256:0,1,2,3,4,5,6,7

make_bundle() { # AKPUB MSG SIG PCRBIN NONCEHEX METAJSON LOG OUT
  python3 - "$@" <<'EOF'
import base64, json, sys
akpub, msg, sig, pcrbin, nonce, meta, log, out = sys.argv[1:9]
b64 = lambda p: base64.b64encode(open(p, "rb").read()).decode()
raw = open(pcrbin, "rb").read()
pcrs = {str(i): raw[32 * i:32 * i + 32].hex() for i in range(len(raw) // 32)}
json.dump({"ak_public": b64(akpub), "quote": b64(msg), "signature": b64(sig),
           "pcrs": {"sha256": pcrs}, "nonce": nonce, "metadata": json.loads(meta),
           "eventlog": b64(log)}, open(out, "w"), indent=1)
EOF
}
qualifying() { # NONCEHEX METAJSON -> hex of SHA-256(nonce || SHA-256(canonical metadata))
  python3 - "$1" "$2" <<'EOF'
import hashlib, json, sys
meta = json.dumps(json.loads(sys.argv[2]), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
print(hashlib.sha256(bytes.fromhex(sys.argv[1]) + hashlib.sha256(meta.encode()).digest()).hexdigest())
EOF
}
META='{"agent_version":"0.1.0","boot_id":"6b1e4c2e-3d1f-4b7a-9c55-0f2b5d0e8a11","hostname":"sim-1"}'

quote_with() { # CTX PREFIX NONCE
  local qd; qd=$(qualifying "$3" "$META")
  q tpm2_quote -c "$1" -l $SEL -q "$qd" -m "$2.msg" -s "$2.sig" -o "$2.tpmpcrs" -g sha256 || fail "tpm2_quote $2"
  flush
  q tpm2_pcrread $SEL -o "$2.pcrs" || fail "tpm2_pcrread"
  echo "$qd"
}
verify_expect() { # DESCRIPTION BUNDLE EXPECTED-CODE|OK [attestctl args...]
  local what=$1 bundle=$2 want=$3; shift 3
  local out rc
  out=$("$ATTESTCTL" verify "$bundle" --json "$@" 2>&1); rc=$?
  if [ "$want" = OK ]; then
    if [ $rc -eq 0 ] && [ "$(jq -r .verified <<<"$out")" = true ]; then pass "$what"; else fail "$what: rc=$rc $out"; fi
  else
    if [ $rc -eq 1 ] && jq -e --arg c "$want" '.verified == false and any(.reasons[]; .code == $c)' <<<"$out" >/dev/null; then
      pass "$what ($want)"
    else
      fail "$what: expected $want, rc=$rc: $out"
    fi
  fi
}

for k in rsa ecc; do
  NONCE=$(openssl rand -hex 32)
  QD=$(quote_with ak-$k.ctx q-$k "$NONCE")
  make_bundle ak-$k.pub q-$k.msg q-$k.sig q-$k.pcrs "$NONCE" "$META" "$ROOT/$LOG" b-$k.json
  verify_expect "$k AK: real quote, nonce, PCR digest and event-log replay verify" b-$k.json OK --nonce "$NONCE"
  # The peer: tpm2_checkquote on the same quote and PCR values. tpm2-tools
  # 5.4 mis-reads raw PCR files (tpm2_pcrread -o) of 8 or more PCRs, so it
  # gets the PCRs in tpm2_quote's own -o format, without -l.
  if q tpm2_checkquote -u ak-$k.pub -m q-$k.msg -s q-$k.sig -f q-$k.tpmpcrs -g sha256 -q "$QD"; then
    pass "$k AK: tpm2_checkquote accepts the same quote"
  else
    fail "$k AK: tpm2_checkquote refuses the quote"
  fi
done

# Negatives on the RSA bundle, each its own check.
mutate() { # IN OUT PYTHON-EXPR-ON-b
  python3 - "$1" "$2" "$3" <<'EOF'
import base64, json, sys
b = json.load(open(sys.argv[1]))
def flip(field, byte=-1, bit=0):
    raw = bytearray(base64.b64decode(b[field])); raw[byte] ^= 1 << bit
    b[field] = base64.b64encode(bytes(raw)).decode()
exec(sys.argv[3])
json.dump(b, open(sys.argv[2], "w"))
EOF
}
NONCE_RSA=$(jq -r .nonce b-rsa.json)
verify_expect "bundle answering another nonce than the one asked for" b-rsa.json NONCE_NOT_FRESH \
  --nonce "$(openssl rand -hex 32)"
mutate b-rsa.json n1.json 'b["nonce"] = "00" * 32'
verify_expect "bundle whose nonce is not the quoted one" n1.json NONCE_MISMATCH
mutate b-rsa.json n2.json 'b["metadata"]["hostname"] = "other"'
verify_expect "metadata edited after the quote" n2.json NONCE_MISMATCH
mutate b-rsa.json n3.json 'b["pcrs"]["sha256"]["4"] = "11" * 32'
verify_expect "a reported PCR value changed" n3.json PCR_DIGEST_MISMATCH
mutate b-rsa.json n4.json 'flip("signature", -1, 3)'
verify_expect "signature bit flip" n4.json QUOTE_SIGNATURE_INVALID
mutate b-rsa.json n5.json 'b["ak_public"] = base64.b64encode(open("ak-rsa2.pub","rb").read()).decode()'
verify_expect "quote checked against another AK (of the same TPM)" n5.json QUOTE_SIGNATURE_INVALID
mutate b-rsa.json n6.json 'b["eventlog"] = base64.b64encode(open(sys.argv[0] and "'"$ROOT/$OTHERLOG"'","rb").read()).decode()'
verify_expect "event log of another machine" n6.json EVENTLOG_REPLAY_MISMATCH
mutate b-rsa.json n7.json 'del b["eventlog"]'
verify_expect "bundle without an event log" n7.json EVENTLOG_MISSING
out=$("$ATTESTCTL" verify n6.json --json)
jq -e '[.reasons[] | select(.code == "EVENTLOG_REPLAY_MISMATCH") | .pcr] | length > 0 and all(. >= 0)' <<<"$out" >/dev/null \
  && pass "replay mismatch names the PCR and its values" || fail "replay mismatch evidence: $out"

# A quote from another TPM's AK: a second swtpm would do; a key outside the
# EK hierarchy of this TPM is as foreign to the bundle's AK.
q tpm2_createprimary -C o -g sha256 -G rsa -c prim.ctx; flush
q tpm2_create -C prim.ctx -G rsa2048:rsassa-sha256:null -g sha256 \
  -a "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign" -u nr.pub -r nr.priv; flush
q tpm2_load -C prim.ctx -u nr.pub -r nr.priv -c nr.ctx; flush
NONCE=$(openssl rand -hex 32)
quote_with nr.ctx q-nr "$NONCE" >/dev/null
make_bundle nr.pub q-nr.msg q-nr.sig q-nr.pcrs "$NONCE" "$META" "$ROOT/$LOG" b-nr.json
verify_expect "quote by a key without 'restricted'" b-nr.json AK_NOT_RESTRICTED
mutate b-nr.json n8.json 'b["ak_public"] = base64.b64encode(open("ak-rsa.pub","rb").read()).decode()'
verify_expect "quote signed by a key other than the bundle's AK" n8.json QUOTE_SIGNATURE_INVALID

# Tamper: measure something the log does not show, then quote.
q tpm2_pcrextend 4:sha256=$(openssl rand -hex 32)
NONCE=$(openssl rand -hex 32)
quote_with ak-rsa.ctx q-t "$NONCE" >/dev/null
make_bundle ak-rsa.pub q-t.msg q-t.sig q-t.pcrs "$NONCE" "$META" "$ROOT/$LOG" b-t.json
out=$("$ATTESTCTL" verify b-t.json --json)
if jq -e '[.reasons[].code] == ["EVENTLOG_REPLAY_MISMATCH"] and .reasons[0].pcr == 4' <<<"$out" >/dev/null; then
  pass "PCR 4 extended behind the log's back: only EVENTLOG_REPLAY_MISMATCH on PCR 4"
else
  fail "tamper: $out"
fi
# Text output names the code and evidence too.
"$ATTESTCTL" verify b-t.json >text.out; rc=$?
[ $rc -eq 1 ] && grep -q '^EVENTLOG_REPLAY_MISMATCH' text.out && grep -q 'expected:' text.out \
  && pass "text output: exit 1 with reason code and evidence" || fail "text output rc=$rc: $(cat text.out)"

echo "$failures failure(s)"
[ $failures -eq 0 ]
