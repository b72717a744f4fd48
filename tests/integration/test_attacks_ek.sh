#!/usr/bin/env bash
# Attack matrix (docs/security.md), TPM identity and enrollment: a real
# verifier, real agents on swtpm hosts, mitm_agent as the adversary in front
# of host "e" (host "f" is another TPM whose agent the adversary also
# controls), EK certificates forged with openssl. Every attack must end red
# with no AK enrolled; the honest path then turns "e" green again.
#   ek_self_signed        self-signed EK cert (the real EK key)   -> red TPM_NOT_CERTIFIED
#   ek_uncertified_ca     EK cert from a CA not in the list        -> red EK_CERT_UNKNOWN_ISSUER
#   ek_expired_ca         listed intermediate CA expired           -> red EK_CERT_EXPIRED
#   ek_future_ca          listed intermediate CA not yet valid     -> red EK_CERT_NOT_YET_VALID
#   ek_other_key          f's genuine EK cert presented for e's EK -> red EK_CERT_KEY_MISMATCH
#   ek_swap               f's EK and EK cert, AK made in e's TPM   -> red AK_ACTIVATION_FAILED
#   ak_unrestricted       AK public without `restricted`           -> red AK_NOT_RESTRICTED,
#                                                                   refused before activation
#   ak_foreign            AK living in f's TPM                     -> red AK_ACTIVATION_FAILED
#   fresh_agent           an agent given no verifier, reached first by
#                         the adversary                            -> 403 to both, nothing pinned;
#                                                                   red AGENT_ERROR VERIFIER_NOT_TRUSTED;
#                                                                   verifier given by thumbprint -> green
#   agent_twice           f's agent added again under another name -> 409 AGENT_ALREADY_ADDED
#                                                                   naming f (API and attestctl)
#   tpm_twice             a second agent on f's TPM (same EK)      -> red EK_ALREADY_ENROLLED
#                                                                   naming f, no AK; f stays green
#   agent_cert_changed    agent's TLS identity replaced (MITM)     -> red AGENT_THUMBPRINT_MISMATCH
. "$(dirname "$0")/attacklib.sh"
attack_init attacks-ek

# reconnect HOST: read the identity again and enroll afresh (?wait=1).
reconnect() { call "$admin" POST "/api/v1/hosts/$1/reconnect?wait=1" 200; }
no_ak() { [ "$(field .ak_name)" = null ] || fail "an AK was enrolled: $(field .ak_name)"; }
honest_again() {
  mode qe pass; reconnect e; expect_green
}
# certs_attack NAME CERT.pem CODE: present CERT as e's only EK certificate.
certs_attack() {
  openssl x509 -in "$2" -outform der -out "$work/$1.der" || fail "openssl x509 $2"
  mode qe "certs $work/$1.der"
  reconnect e
  expect_red TPM_NOT_CERTIFIED "$3"
  no_ak
  [ "$(field .ek_certified)" = false ] || fail "ek_certified is $(field .ek_certified)"
  honest_again
}

ek_self_signed() {
  openssl x509 -new -key "$work/atk.key" -force_pubkey "$work/ek.pem" -subj "/CN=forged EK" \
    -days 30 -out "$work/self.pem" || fail "openssl: self-signed"
  certs_attack self "$work/self.pem" EK_CERT_UNKNOWN_ISSUER
  ok "ek_self_signed: self-signed EK certificate over the real EK -> red TPM_NOT_CERTIFIED (EK_CERT_UNKNOWN_ISSUER), no AK"
}

ek_uncertified_ca() {
  openssl x509 -new -force_pubkey "$work/ek.pem" -subj "/CN=rogue EK" -CA "$work/rogue.pem" \
    -CAkey "$work/rogue.key" -days 30 -extfile "$work/ek.ext" -out "$work/rogue-ek.pem" ||
    fail "openssl: rogue EK"
  certs_attack rogue "$work/rogue-ek.pem" EK_CERT_UNKNOWN_ISSUER
  ok "ek_uncertified_ca: EK certificate from a CA not in the certified list -> red EK_CERT_UNKNOWN_ISSUER, no AK"
}

# intermediate NAME START END: a CA under the listed root with those dates,
# and an EK certificate (e's EK key, valid now) that it issued.
intermediate() {
  openssl req -new -newkey rsa:2048 -nodes -keyout "$work/$1.key" -out "$work/$1.csr" \
    -subj "/CN=attest test intermediate $1" 2>/dev/null || fail "openssl req $1"
  openssl ca -config "$work/ca.cnf" -batch -notext -startdate "$2" -enddate "$3" \
    -cert "$work/root.pem" -keyfile "$work/root.key" -extensions v3_ca \
    -in "$work/$1.csr" -out "$work/$1.pem" 2>"$work/$1.ca.err" || fail "openssl ca $1: $(cat "$work/$1.ca.err")"
  openssl x509 -new -force_pubkey "$work/ek.pem" -subj "/CN=EK under $1" -CA "$work/$1.pem" \
    -CAkey "$work/$1.key" -days 30 -extfile "$work/ek.ext" -out "$work/$1-ek.pem" ||
    fail "openssl: EK under $1"
}

ek_expired_ca() {
  certs_attack expired-ek "$work/expired-ek.pem" EK_CERT_EXPIRED
  ok "ek_expired_ca: EK certificate under an expired (listed) intermediate -> red EK_CERT_EXPIRED, no AK"
}

ek_future_ca() {
  certs_attack future-ek "$work/future-ek.pem" EK_CERT_NOT_YET_VALID
  ok "ek_future_ca: EK certificate under a not-yet-valid (listed) intermediate -> red EK_CERT_NOT_YET_VALID, no AK"
}

ek_other_key() {
  jq -r '.tpm.ek_certificates[0].der' "$work/f.identity" | base64 -d >"$work/f-ek.der"
  openssl x509 -inform der -in "$work/f-ek.der" -out "$work/f-ek.pem" || fail "f's EK cert"
  certs_attack other "$work/f-ek.pem" EK_CERT_KEY_MISMATCH
  ok "ek_other_key: another TPM's genuine, certified EK certificate -> red EK_CERT_KEY_MISMATCH, no AK"
}

ek_swap() {
  mode qe identity-upstream2
  reconnect e
  expect_red AK_ACTIVATION_FAILED
  no_ak
  mitm_saw qe 'POST /v1/activate mode=identity-upstream2 upstream=1 status=422' ||
    fail "e's TPM did not refuse the credential"
  honest_again
  ok "ek_swap: f's certified EK and certificate, AK in e's TPM -> activation fails (422), red AK_ACTIVATION_FAILED, no AK"
}

ak_unrestricted() {
  mode qe unrestricted-ak
  reconnect e
  expect_red AK_ACTIVATION_FAILED AK_NOT_RESTRICTED
  no_ak
  ! mitm_saw qe 'POST /v1/activate mode=unrestricted-ak' || fail "activation was attempted"
  honest_again
  ok "ak_unrestricted: AK public without restricted -> red AK_NOT_RESTRICTED before any activation, no AK"
}

ak_foreign() {
  mode qe foreign-ak
  reconnect e
  expect_red AK_ACTIVATION_FAILED
  no_ak
  mitm_saw qe 'POST /v1/activate mode=foreign-ak upstream=2 status=422' ||
    fail "f's TPM did not refuse the credential"
  honest_again
  ok "ak_foreign: AK living in f's TPM -> f's TPM cannot activate e's credential (422), red AK_ACTIVATION_FAILED, no AK"
}

fresh_agent() {
  local cert=(--cert "$work/qe.mitm/mitm.crt" --key "$work/qe.mitm/mitm.key") st
  # The adversary reaches the new host first.
  st=$(curl -sk --max-time 20 "${cert[@]}" -o "$work/h.first" -w '%{http_code}' \
    "https://127.0.0.1:$h_port/v1/identity")
  [ "$st" = 403 ] && [ "$(jq -r .error.code "$work/h.first")" = VERIFIER_NOT_TRUSTED ] ||
    fail "a fresh agent served its first caller: $st $(cat "$work/h.first")"
  [ -s "$h_dir/agent/verifiers" ] && grep -q '^SHA256' "$h_dir/agent/verifiers" && fail "the first caller was pinned"
  grep -q 'no verifier is trusted yet: every request is refused' "$work/h.err" || fail "no start-up notice"
  add h "127.0.0.1:$h_port" "$h_thumb"
  expect_red AGENT_ERROR
  field '.reasons[0].message' | grep -q VERIFIER_NOT_TRUSTED || fail "reason: $(field -c .reasons)"
  no_ak
  # The operator gives the running agent the verifier's thumbprint.
  "$bin/attest-agent" --data-dir "$h_dir/agent" --trust-verifier "$vthumb" 2>>"$work/h.err" ||
    fail "attest-agent --trust-verifier"
  reconnect h; expect_green
  st=$(curl -sk --max-time 20 "${cert[@]}" -o "$work/h.first" -w '%{http_code}' \
    "https://127.0.0.1:$h_port/v1/identity")
  [ "$st" = 403 ] || fail "the adversary is served after the verifier was given: $st"
  ok "fresh_agent: adversary first -> 403, nothing pinned; verifier -> red AGENT_ERROR VERIFIER_NOT_TRUSTED; verifier's thumbprint given to the running agent -> green; adversary still 403"
}

agent_twice() {
  add f "127.0.0.1:$f_port" "$f_thumb"; expect_green
  call "$admin" POST "/api/v1/hosts?wait=1" \
    "{\"address\":\"127.0.0.1:$f_port\",\"name\":\"f-again\",\"thumbprint\":\"$f_thumb\"}" 409
  [ "$(field .error.code)" = AGENT_ALREADY_ADDED ] && [ "$(field .error.host)" = f ] ||
    fail "second add of f's agent: $body"
  field .error.message | grep -q 'host "f" already has the agent' || fail "message: $body"
  # The same through attestctl (another address string for the same agent).
  "$bin/attestctl" --server "$url" --server-thumbprint "$vthumb" --token-file "$work/vd/admin.token" \
    host add "localhost:$f_port" --name f-third --thumbprint "$f_thumb" >"$work/ctl.out" 2>"$work/ctl.err" &&
    fail "attestctl added f's agent a second time"
  grep -q 'host "f" already has the agent' "$work/ctl.err" || fail "attestctl: $(cat "$work/ctl.err")"
  call "$admin" GET "/api/v1/hosts/f-again" 404
  call "$admin" GET "/api/v1/hosts/f-third" 404
  attest f; expect_green
  ok "agent_twice: f's agent added again as f-again (API) and f-third (attestctl) -> 409 AGENT_ALREADY_ADDED naming f; f green"
}

tpm_twice() {
  # A second agent (own TLS identity) on f's swtpm: the same EK, as a cloned
  # or moved TPM presents it.
  f2_dir="$work/f2"; f2_tcti=$f_tcti
  mkdir -p "$f2_dir" && cp "$f_dir/eventlog.bin" "$f2_dir/eventlog.bin"
  start_agent_on f2 127.0.0.1:0
  [ "$f2_thumb" != "$f_thumb" ] || fail "f2 has f's TLS identity"
  add f2 "127.0.0.1:$f2_port" "$f2_thumb"
  expect_red EK_ALREADY_ENROLLED
  no_ak
  field '.reasons[]|select(.code=="EK_ALREADY_ENROLLED")|.message' | grep -q 'already enrolled for host "f"' ||
    fail "the reason does not name f: $(field -c .reasons)"
  field '.reasons[].code' | grep -q QUOTE_SIGNATURE_INVALID && fail "misleading QUOTE_SIGNATURE_INVALID"
  attest f; expect_green
  call "$admin" DELETE "/api/v1/hosts/f2" 200
  ok "tpm_twice: second agent on f's TPM (same EK) -> red EK_ALREADY_ENROLLED naming f, no AK; f still green"
}

agent_cert_changed() {
  add g "127.0.0.1:$g_port" "$g_thumb"; expect_green
  local old=$g_thumb
  # Same address, new TLS identity (a man in the middle, or a re-installed agent).
  g_dir_agent="$g_dir/agent"
  mv "$g_dir_agent" "$g_dir/agent.orig"
  restart_agent g --trust-verifier "$vthumb"
  [ "$g_thumb" != "$old" ] || fail "the agent kept its identity"
  attest g
  expect_red AGENT_THUMBPRINT_MISMATCH
  field '.reasons[0].message' | grep -q "$g_thumb" || fail "the reason does not name the new thumbprint"
  call "$admin" GET "/api/v1/hosts/g" 200
  [ "$(field .thumbprint)" = "$old" ] || fail "the pin changed"
  ok "agent_cert_changed: new agent certificate at the pinned address -> red AGENT_THUMBPRINT_MISMATCH, pin kept"
}

# --- setup -------------------------------------------------------------------
mitm_init qe
host e qemu-ovmf-ubuntu-secureboot.bin "$work/ca" --trust-verifier "$qe_mthumb"
host f qemu-ovmf-ubuntu-secureboot.bin "$work/ca" --trust-verifier "$qe_mthumb"
host g qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
host h qemu-ovmf-ubuntu-secureboot.bin "$work/ca" --trust-nobody
mitm qe e f
# What the adversary learns from e and f (their identities, over its own
# pinned certificate): e's EK public key, f's EK certificate.
for h in e f; do
  eval "p=\$${h}_port"
  curl -sk --max-time 20 --cert "$work/qe.mitm/mitm.crt" --key "$work/qe.mitm/mitm.key" \
    -o "$work/$h.identity" "https://127.0.0.1:$p/v1/identity" || fail "identity of $h"
done
jq -r '.tpm.ek_certificates[0].der' "$work/e.identity" | base64 -d |
  openssl x509 -inform der -pubkey -noout >"$work/ek.pem" || fail "e's EK key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/atk.key" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyEncipherment\n' >"$work/ek.ext"
for c in rogue root; do
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/$c.key" -out "$work/$c.pem" \
    -subj "/CN=attest test $c CA" -days 3650 -addext basicConstraints=critical,CA:true \
    -addext keyUsage=critical,keyCertSign 2>/dev/null || fail "openssl: $c CA"
done
mkdir -p "$work/cadb"; : >"$work/cadb/index.txt"; echo 01 >"$work/cadb/serial"
cat >"$work/ca.cnf" <<EOF
[ ca ]
default_ca = d
[ d ]
database = $work/cadb/index.txt
new_certs_dir = $work/cadb
serial = $work/cadb/serial
default_md = sha256
policy = p
unique_subject = no
[ p ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
intermediate expired 20200101000000Z 20210101000000Z
intermediate future 20990101000000Z 21000101000000Z

verifier_up
# The certified list also holds a vendor line: root + its two intermediates.
pem=$(cat "$work/root.pem" "$work/expired.pem" "$work/future.pem" | jq -Rs .)
call "$admin" POST /api/v1/cas "{\"pem\":$pem,\"source\":\"attack test vendor\"}" 201
[ "$(field '.added|length')" = 3 ] || fail "vendor CAs not added: $body"
# f's agent trusts the verifier too (the adversary controls f's OS as well).
restart_agent f --trust-verifier "$vthumb"
restart_agent g --trust-verifier "$vthumb"
add e "127.0.0.1:$qe_mport" "$qe_mthumb"; expect_green
ok "setup: e green behind the adversary; forged certificates made"

ek_self_signed
ek_uncertified_ca
ek_expired_ca
ek_future_ca
ek_other_key
ek_swap
ak_unrestricted
ak_foreign
fresh_agent
agent_twice
tpm_twice
agent_cert_changed
verifier_down
echo PASS
