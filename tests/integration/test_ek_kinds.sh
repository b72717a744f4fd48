#!/usr/bin/env bash
# Every kind of EK, with a real verifier and agents on swtpm whose NV the
# test fills as each case needs (tpm2_nvundefine/nvdefine/nvwrite on the
# simulated host's swtpm):
#  1. certificate in NV: green, tpm.ek_trust certified; the agent uses the
#     persistent EK (0x81010001) and `attest-agent ek` prints the same key
#     hash as the verifier and as openssl over the certificate's key;
#  2. certificate issued by a vendor intermediate, the intermediate in the
#     EK chain index 0x01c00100, only the root in the certified list: green,
#     certified; without the chain index: red TPM_NOT_CERTIFIED;
#  3a. no certificate in NV: red TPM_NOT_CERTIFIED (EK_CERT_MISSING); the
#     operator supplies one (attestctl host ek-cert): another TPM's is
#     refused (EK_CERT_KEY_MISMATCH), the right one makes it green with
#     ek_trust operator_certificate; a policy requiring "certified" refuses
#     it (EK_TRUST_NOT_ALLOWED);
#  3b. no certificate, EK approved by key hash (attestctl host add --ek):
#     ek_trust operator_key, red TPM_NOT_CERTIFIED under the default policy,
#     green under a policy with certified_tpm false; a wrong hash is red
#     EK_KEY_NOT_APPROVED.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/faultlib.sh"
fault_prereqs
for t in tpm2_nvdefine tpm2_nvundefine tpm2_nvwrite openssl; do
  command -v $t >/dev/null || skip "$t not installed"
done
[ -x "$bin/attestctl" ] || skip "$bin/attestctl not built"

work=$(mktemp -d /tmp/attest-test-ek-kinds.XXXXXX)
cleanup() { lib_cleanup; rm -rf "$work"; }
trap cleanup EXIT
log=qemu-ovmf-ubuntu-secureboot.bin

tcti_of() { "$bin/attest-sim" status "$(eval echo "\$${1}_dir")" | jq -r .tcti; }
# nv NAME tpm2-tool ARGS...: a tpm2-tools command on NAME's swtpm (its agent
# holds no connection between requests).
nv() {
  local n=$1; shift
  TPM2TOOLS_TCTI="$(tcti_of "$n")" "$@" >/dev/null 2>"$work/nv.err" || fail "$* on $n: $(cat "$work/nv.err")"
}
nv_remove() { nv "$1" tpm2_nvundefine -C p "$2"; }
nv_put() { # NAME INDEX FILE
  nv "$1" tpm2_nvdefine -C p "$2" -s "$(stat -c %s "$3")" -a "ppwrite|ppread|ownerread|authread|no_da|platformcreate"
  nv "$1" tpm2_nvwrite -C p "$2" -i "$3"
}
hash_of_cert() { # DER certificate -> SHA256:hex of its SubjectPublicKeyInfo
  echo "SHA256:$(openssl x509 -inform der -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -c1-64)"
}
reasons() { field '[.reasons[].code] | join(",")'; }

for n in a b c d e; do sim $n "$log" "$work/ca"; done
mkdir -p "$work/cas"

# --- a vendor root and intermediate (case 2) ------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout "$work/root.key" -out "$work/root.pem" \
  -subj "/CN=Test TPM Vendor Root" -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null || fail "root CA"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$work/ca.ext"
openssl req -new -newkey rsa:2048 -nodes -keyout "$work/int.key" -subj "/CN=Test TPM Vendor EK CA 1" 2>/dev/null |
  openssl x509 -req -CA "$work/root.pem" -CAkey "$work/root.key" -CAcreateserial -days 30 \
    -extfile "$work/ca.ext" -out "$work/int.pem" 2>/dev/null || fail "intermediate CA"
openssl x509 -in "$work/int.pem" -outform der -out "$work/int.der"
# b's EK certificate, reissued by the intermediate for the same key.
openssl x509 -inform der -in "$b_dir/ek-rsa2048.crt" -pubkey -noout >"$work/b-ek.pem"
openssl x509 -new -force_pubkey "$work/b-ek.pem" -subj "/CN=TPM EK b" -CA "$work/int.pem" \
  -CAkey "$work/int.key" -days 30 -outform der -out "$work/b-ek.der" 2>/dev/null || fail "reissue b's EK cert"
nv_remove b 0x01c00002
nv_remove b 0x01c00016
nv_put b 0x01c00002 "$work/b-ek.der"
nv_put b 0x01c00100 "$work/int.der"
# c and d: no EK certificate at all.
for n in c d e; do nv_remove $n 0x01c00002; nv_remove $n 0x01c00016; done

# The certified list: the sims' test CA (case 1, 3a) and the vendor root only.
cp "$work/ca/ca.pem" "$work/cas/"
cp "$work/root.pem" "$work/cas/"
start_verifier --attest-interval 300
admin=$(tr -d '\n' <"$work/vd/admin.token")
export ATTEST_SERVER=$url ATTEST_SERVER_THUMBPRINT=$vthumb ATTEST_TOKEN_FILE=$work/vd/admin.token

# --- 1. certificate in NV ------------------------------------------------------------------
add_host a
[ "$(field .tpm.ek_trust)" = certified ] || fail "a: ek_trust $(field .tpm.ek_trust)"
want=$(hash_of_cert "$a_dir/ek-rsa2048.crt")
[ "$(field .tpm.ek_sha256)" = "$want" ] || fail "a: ek_sha256 $(field .tpm.ek_sha256), openssl says $want"
out=$(TSS2_LOG=all+none "$bin/attest-agent" ek --tcti "$(tcti_of a)") || fail "attest-agent ek"
grep -qx "ek_sha256 $want" <<<"$out" || fail "attest-agent ek: $out"
grep -qx "ek_handle 0x81010001" <<<"$out" || fail "the persistent EK was not used: $out"
grep -qx "ek_certificate 0x01c00002" <<<"$out" || fail "attest-agent ek: $out"
ok "1. certificate in NV: green, ek_trust certified, persistent EK, key hash = openssl's = attest-agent ek's"

# --- 2. certificate + vendor chain in NV -------------------------------------------------------
add_host b
[ "$(field .tpm.ek_trust)" = certified ] || fail "b: ek_trust $(field .tpm.ek_trust)"
nv_remove b 0x01c00100
call "$admin" POST "/api/v1/hosts/b/reconnect?wait=1" 200
[ "$(field .trust)" = red ] && reasons | grep -q TPM_NOT_CERTIFIED ||
  fail "b without its chain: $(field .trust) $(reasons)"
field '.reasons[].code' | grep -qx EK_CERT_UNKNOWN_ISSUER || fail "b without its chain: $(field -c .reasons)"
nv_put b 0x01c00100 "$work/int.der"
call "$admin" POST "/api/v1/hosts/b/reconnect?wait=1" 200
[ "$(field .trust)" = green ] || fail "b with its chain again: $(field .trust) $(reasons)"
ok "2. certificate + intermediate in NV (0x01c00100), only the vendor root certified: green; without the chain: red"

# --- 3a. no certificate: the operator supplies it ------------------------------------------------
call "$admin" POST "/api/v1/hosts?wait=1" \
  "{\"address\":\"127.0.0.1:$c_port\",\"name\":\"c\",\"thumbprint\":\"$c_thumb\"}" 201
[ "$(field .trust)" = red ] && field '.reasons[].code' | grep -qx EK_CERT_MISSING ||
  fail "c without a certificate: $(field .trust) $(field -c .reasons)"
"$bin/attestctl" host ek-cert c "$d_dir/ek-rsa2048.crt" >/dev/null || fail "attestctl host ek-cert (wrong one)"
call "$admin" POST "/api/v1/hosts/c/attest?wait=1" 200
[ "$(field .trust)" = red ] && field '.reasons[].code' | grep -qx EK_CERT_KEY_MISMATCH ||
  fail "c with another TPM's certificate: $(field .trust) $(field -c .reasons)"
openssl x509 -inform der -in "$c_dir/ek-rsa2048.crt" -out "$work/c-ek.pem"
"$bin/attestctl" host ek-cert c "$work/c-ek.pem" | grep -q 'EK certificate supplied for c' ||
  fail "attestctl host ek-cert"
call "$admin" POST "/api/v1/hosts/c/attest?wait=1" 200
[ "$(field .trust)" = green ] && [ "$(field .tpm.ek_trust)" = operator_certificate ] ||
  fail "c with its certificate: $(field .trust) $(field .tpm.ek_trust) $(field -c .reasons)"
"$bin/attestctl" host show c | grep -q 'EK trust *operator_certificate' || fail "host show c: no EK trust line"
call "$admin" PUT /api/v1/policies/nv-only '{"version":1,"requirements":{"ek_trust":["certified"]}}' 201
call "$admin" POST /api/v1/policies/nv-only/assign '{"host":"c"}' 200
call "$admin" POST "/api/v1/hosts/c/attest?wait=1" 200
[ "$(field .trust)" = red ] && field '.reasons[].code' | grep -qx EK_TRUST_NOT_ALLOWED ||
  fail "c under a policy requiring certified: $(field .trust) $(field -c .reasons)"
ok "3a. no certificate in NV: EK_CERT_MISSING; another TPM's refused; the operator's makes it green (operator_certificate); a policy requiring certified refuses it"

# --- 3b. no certificate: the operator approves the EK key hash -------------------------------------
dhash=$(hash_of_cert "$d_dir/ek-rsa2048.crt")
"$bin/attestctl" host add "127.0.0.1:$d_port" --name d --thumbprint "$d_thumb" --ek "$dhash" --no-wait \
  >/dev/null || fail "attestctl host add --ek"
call "$admin" POST "/api/v1/hosts/d/attest?wait=1" 200
[ "$(field .tpm.ek_trust)" = operator_key ] || fail "d: ek_trust $(field .tpm.ek_trust) $(field -c .reasons)"
[ "$(field .trust)" = red ] && field '.reasons[].code' | grep -qx TPM_NOT_CERTIFIED ||
  fail "d under the default policy: $(field .trust) $(field -c .reasons)"
field '.reasons[].message' | grep -q operator_key || fail "d: the reason does not say operator_key: $(field -c .reasons)"
call "$admin" PUT /api/v1/policies/keys-ok '{"version":1,"requirements":{"certified_tpm":false}}' 201
call "$admin" POST /api/v1/policies/keys-ok/assign '{"host":"d"}' 200
call "$admin" POST "/api/v1/hosts/d/attest?wait=1" 200
[ "$(field .trust)" = green ] || fail "d under a policy accepting operator keys: $(field .trust) $(field -c .reasons)"
call "$admin" POST "/api/v1/hosts?wait=1" \
  "{\"address\":\"127.0.0.1:$e_port\",\"name\":\"e\",\"thumbprint\":\"$e_thumb\",\"ek\":\"SHA256:$(printf '%064d' 0)\"}" 201
[ "$(field .trust)" = red ] && field '.reasons[].code' | grep -qx EK_KEY_NOT_APPROVED ||
  fail "e with a wrong EK hash: $(field .trust) $(field -c .reasons)"
call "$admin" POST /api/v1/hosts '{"address":"127.0.0.1:1","name":"bad","ek":"SHA256:12"}' 400
ok "3b. no certificate, EK approved by key hash: operator_key, red by default (TPM_NOT_CERTIFIED), green when the policy allows it; a wrong hash is EK_KEY_NOT_APPROVED"
exit 0
