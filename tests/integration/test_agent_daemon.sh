#!/usr/bin/env bash
# The attest-agent daemon against a real swtpm (attest-sim), real TLS, curl
# as the verifier, and the reference tools:
#  - first start: thumbprint printed (and served), key file 0600, free port;
#  - pinning: a fresh agent pins no one: it says so at start and refuses
#    every caller (GET /v1/identity too) with 403 VERIFIER_NOT_TRUSTED;
#    the verifier's thumbprint given afterwards (attest-agent --trust-verifier,
#    read by the running agent) lets that verifier in and no other; none at
#    all fails TLS; --trust-first-verifier (labs) pins the first GET
#    /v1/identity only, with a warning at start and when it pins;
#  - identity fields; the EK certificates' keys equal the EK public;
#  - POST /v1/ak -> tpm2_makecredential (the peer) -> POST /v1/activate gives
#    the secret back; wrong ak_name 409, credential for another AK 422;
#  - quotes verify with `attestctl verify --nonce`; NO_AK before enrollment;
#    bad JSON / oversized body / bad nonce / bad PCRs: 400/413, precise
#    messages, no state change; the event log is re-read per quote;
#  - restart keeps the current AK; --trust-verifier adds a pin;
#  - no transient handles left; idle clients dropped after --timeout;
#  - SIGTERM: clean exit (and no sanitizer report in a sanitizer build);
#  - a TPM that is not there: identity says so and the daemon keeps serving.
# Prints the agent's RSS and a quote's overhead beyond the TPM's own time.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in tpm2_makecredential tpm2_print tpm2_getcap jq openssl curl od; do
  command -v $t >/dev/null || skip "$t not installed"
done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-sim attest-agent attestctl; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built"
done

work=$(mktemp -d /tmp/attest-test-agentd.XXXXXX)
h="$work/host"
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  [ -n "${dead_pid:-}" ] && kill -TERM "$dead_pid" 2>/dev/null && wait "$dead_pid" 2>/dev/null
  "$bin/attest-sim" stop "$h" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$work/agent.err" ] && { echo "--- agent stderr (last 20 lines)"; tail -20 "$work/agent.err"; }
  exit 1
}
ok() { echo "ok: $*"; }

"$bin/attest-sim" create "$h" --eventlog "$logs/gce-rhel8-secureboot.bin" --ek-ca "$work/ca" \
  >/dev/null || fail "attest-sim create"
tcti=$("$bin/attest-sim" boot "$h") || fail "attest-sim boot"
# The agent reads this copy, so the test can change the log under it.
cp "$h/eventlog.bin" "$work/eventlog.bin"

# Two verifier identities (P-256, self-signed, as attest-verifier makes them).
for v in v1 v2; do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -keyout "$work/$v.key" -out "$work/$v.crt" -subj "/CN=$v" 2>/dev/null || fail "openssl req"
  echo "SHA256:$(openssl x509 -in "$work/$v.crt" -outform der | sha256sum | cut -c1-64)" >"$work/$v.tp"
done

dd="$work/agent-data"
# start_agent [EXTRA ARGS...]: start the daemon on a free port, wait for its
# two stdout lines, set agent_pid, port, thumb.
start_agent() {
  : >"$work/agent.out"
  "$bin/attest-agent" --listen 127.0.0.1:0 --tcti "$tcti" --eventlog "$work/eventlog.bin" \
    --data-dir "$dd" --timeout 2 "$@" >"$work/agent.out" 2>>"$work/agent.err" &
  agent_pid=$!
  for _ in $(seq 100); do
    grep -q '^listening ' "$work/agent.out" && break
    kill -0 "$agent_pid" 2>/dev/null || fail "agent exited at start"
    sleep 0.1
  done
  port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/agent.out")
  thumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]\{64\}\)$/\1/p' "$work/agent.out")
  [ -n "$port" ] && [ "$port" != 0 ] || fail "no 'listening 127.0.0.1:PORT' line: $(cat "$work/agent.out")"
  [ -n "$thumb" ] || fail "no 'thumbprint SHA256:...' line: $(cat "$work/agent.out")"
}
stop_agent() {
  kill -TERM "$agent_pid" || fail "agent already gone"
  wait "$agent_pid"
  local st=$?
  agent_pid=""
  [ $st -eq 0 ] || fail "agent exited with status $st after SIGTERM"
  if grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error' "$work/agent.err"; then
    fail "sanitizer report"
  fi
}
# call CLIENT METHOD PATH [BODY-FILE]: sets code (HTTP status) and $work/resp
call() {
  local cert=() data=()
  [ "$1" != none ] && cert=(--cert "$work/$1.crt" --key "$work/$1.key")
  [ -n "${4:-}" ] && data=(--data-binary "@$4" -H 'Content-Type: application/json')
  code=$(curl -sk --max-time 20 "${cert[@]}" -X "$2" "${data[@]}" -o "$work/resp" \
    -w '%{http_code}' "https://127.0.0.1:$port$3")
}
body() { printf '%s' "$1" >"$work/req.json"; }
# expect_error STATUS CODE MESSAGE-REGEX
expect_error() {
  [ "$code" = "$1" ] || fail "expected $1 $2, got $code: $(head -c 300 "$work/resp")"
  [ "$(jq -r .error.code "$work/resp")" = "$2" ] || fail "expected code $2: $(cat "$work/resp")"
  local msg
  msg=$(jq -r .error.message "$work/resp")
  grep -q -E -- "$3" <<<"$msg" || fail "message does not match /$3/: $msg"
}
# Fingerprint of everything in the data directory (names, modes, contents).
state() { (cd "$dd" && for f in *; do stat -c '%n %a' "$f"; sha256sum "$f"; done) | sha256sum; }

# --- first start -----------------------------------------------------------------
start_agent
[ -f "$dd/agent.key" ] && [ -f "$dd/agent.crt" ] || fail "no TLS identity in the data directory"
[ "$(stat -c %a "$dd/agent.key")" = 600 ] || fail "agent.key mode $(stat -c %a "$dd/agent.key")"
want="SHA256:$(openssl x509 -in "$dd/agent.crt" -outform der | sha256sum | cut -c1-64)"
[ "$thumb" = "$want" ] || fail "printed thumbprint $thumb is not agent.crt's $want"
served=$(openssl s_client -connect "127.0.0.1:$port" -cert "$work/v2.crt" -key "$work/v2.key" \
  </dev/null 2>/dev/null | openssl x509 -outform der 2>/dev/null | sha256sum | cut -c1-64)
[ "SHA256:$served" = "$thumb" ] || fail "the certificate served is not the one printed"
ok "first start: identity created (key 0600), thumbprint printed and served, port $port"

# --- pinning ---------------------------------------------------------------------
grep -q 'no verifier is trusted yet: every request is refused' "$work/agent.err" ||
  fail "a fresh agent does not say at start that it trusts no verifier"
grep -q -- '--trust-verifier SHA256' "$work/agent.err" || fail "the start message does not say how to trust one"
for who in v1 v2; do
  call $who GET /v1/identity
  expect_error 403 VERIFIER_NOT_TRUSTED "trusts no verifier yet.*--trust-verifier"
done
call v1 POST /v1/ak "$(body '{}'; echo "$work/req.json")"
expect_error 403 VERIFIER_NOT_TRUSTED "trusts no verifier yet"
if [ -f "$dd/verifiers" ] && grep -q '^SHA256' "$dd/verifiers"; then fail "a caller was pinned without a pin or TOFU flag"; fi
grep -q 'refused GET /v1/identity .*(no verifier is trusted yet)' "$work/agent.err" || fail "refusal not logged"
ok "fresh agent: pins no one, says so at start, refuses the first callers (v1, v2) 403 VERIFIER_NOT_TRUSTED"
# The real verifier given afterwards by thumbprint, to the running agent.
"$bin/attest-agent" --data-dir "$dd" --trust-verifier "$(cat "$work/v1.tp")" 2>>"$work/agent.err" ||
  fail "attest-agent --trust-verifier (no --listen)"
call v1 GET /v1/identity
[ "$code" = 200 ] || fail "identity after --trust-verifier: $code $(cat "$work/resp")"
cp "$work/resp" "$work/identity.json"
grep -q 'verifiers changed: 1 verifier(s) trusted (was 0)' "$work/agent.err" || fail "reload not logged"
grep -qx "$(cat "$work/v1.tp")" "$dd/verifiers" || fail "v1 not in verifiers"
call v2 GET /v1/identity
expect_error 403 VERIFIER_NOT_TRUSTED "not a trusted verifier"
call v2 POST /v1/quote "$(body "{\"nonce\":\"$(openssl rand -hex 32)\"}"; echo "$work/req.json")"
expect_error 403 VERIFIER_NOT_TRUSTED "not a trusted verifier"
# A trusted verifier's connection is kept (Keep-Alive: timeout=150); an
# untrusted client's ends with its refusal.
hdr=$(curl -sk --max-time 20 --cert "$work/v1.crt" --key "$work/v1.key" -D - -o /dev/null \
  "https://127.0.0.1:$port/v1/identity")
grep -qi '^keep-alive: timeout=150' <<<"$hdr" || fail "no Keep-Alive: timeout=150 for v1: $hdr"
hdr=$(curl -sk --max-time 20 --cert "$work/v2.crt" --key "$work/v2.key" -D - -o /dev/null \
  "https://127.0.0.1:$port/v1/identity")
grep -qi '^connection: close' <<<"$hdr" || fail "refused v2's connection not closed: $hdr"
curl -sk --max-time 10 -o /dev/null "https://127.0.0.1:$port/v1/identity" &&
  fail "a client without a certificate was served"
# A pin file that no longer reads well: the pins read before are kept.
cp "$dd/verifiers" "$work/verifiers.good"
echo "not a thumbprint" >>"$dd/verifiers"
call v1 GET /v1/identity
[ "$code" = 200 ] || fail "a broken pin file dropped the pins: $code"
grep -q 'verifiers changed but cannot be used: still trusting the 1 verifier' "$work/agent.err" ||
  fail "the broken pin file is not reported"
cp "$work/verifiers.good" "$dd/verifiers"
ok "verifier v1 given by thumbprint to the running agent: v1 served 200; v2 refused 403 VERIFIER_NOT_TRUSTED; no certificate: TLS refused"

# Trust on first use, for labs: an agent of its own (own data dir), loudly logged.
tofu_dd="$work/tofu-data"
"$bin/attest-agent" --listen 127.0.0.1:0 --tcti "$tcti" --eventlog "$work/eventlog.bin" \
  --data-dir "$tofu_dd" --trust-first-verifier >"$work/tofu.out" 2>"$work/tofu.err" &
dead_pid=$!
for _ in $(seq 100); do grep -q '^listening ' "$work/tofu.out" && break; sleep 0.1; done
tofu_port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/tofu.out")
[ -n "$tofu_port" ] || fail "TOFU agent did not start: $(tail -3 "$work/tofu.err")"
grep -q 'WARNING: --trust-first-verifier: no verifier is trusted yet, and whichever client first calls GET /v1/identity will be trusted' \
  "$work/tofu.err" || fail "no warning at start with --trust-first-verifier"
port_main=$port; port=$tofu_port
call v2 POST /v1/ak "$(body '{}'; echo "$work/req.json")"
expect_error 403 VERIFIER_NOT_TRUSTED "only GET /v1/identity pins"
[ -f "$tofu_dd/verifiers" ] && grep -q '^SHA256' "$tofu_dd/verifiers" && fail "POST /v1/ak pinned a verifier"
call v2 GET /v1/identity
[ "$code" = 200 ] || fail "TOFU: first identity: $code $(cat "$work/resp")"
grep -q "WARNING: trust on first use (--trust-first-verifier): pinned the first caller $(cat "$work/v2.tp")" \
  "$work/tofu.err" || fail "the TOFU pin is not logged as a warning"
grep -qx "$(cat "$work/v2.tp")" "$tofu_dd/verifiers" || fail "TOFU pin not written to verifiers"
call v1 GET /v1/identity
expect_error 403 VERIFIER_NOT_TRUSTED "not a trusted verifier"
port=$port_main
kill -TERM "$dead_pid"; wait "$dead_pid"; dead_pid=""
ok "--trust-first-verifier: warned at start; POST /v1/ak pins no one; first GET /v1/identity pinned v2 (warning logged); v1 then refused"

# --- identity --------------------------------------------------------------------
j="$work/identity.json"
jq -e --arg tp "$thumb" '.agent_version == "0.1.0" and (.boot_id | length) > 0 and
  .tls_fingerprint == $tp and .tpm.present == true and .tpm.manufacturer == "IBM" and
  (.tpm.vendor | length) > 0 and (.tpm.firmware | test("^[0-9a-f]+\\.[0-9a-f]+$")) and
  (.tpm.interface | IN("tis", "crb", "unknown")) and (.tpm.banks | index("sha256")) != null and
  .tpm.ek_kind == "rsa2048" and
  ([.tpm.ek_certificates[].nv_index] == ["0x01c00002", "0x01c00016"])' "$j" >/dev/null ||
  fail "identity fields: $(jq -c 'del(.tpm.ek_public, .tpm.ek_certificates[].der)' "$j")"
jq -r .tpm.ek_public "$j" | base64 -d >"$work/ek.pub"
tpm2_print -t TPM2B_PUBLIC -f pem "$work/ek.pub" >"$work/ek.pem" 2>/dev/null || fail "ek_public unreadable"
jq -r '.tpm.ek_certificates[0].der' "$j" | base64 -d >"$work/ek0.der"
cmp -s <(openssl pkey -pubin -in "$work/ek.pem" -outform der) \
  <(openssl x509 -inform der -in "$work/ek0.der" -pubkey -noout | openssl pkey -pubin -outform der) ||
  fail "ek_public is not the key of the RSA EK certificate"
openssl verify -CAfile "$work/ca/ca.pem" <(openssl x509 -inform der -in "$work/ek0.der") >/dev/null ||
  fail "EK certificate does not chain to the simulator's CA"
ok "identity: version, boot id, thumbprint, TPM IBM/SW TPM, banks, EK certificates whose key is ek_public"

# --- before enrollment, and bad requests (no state change) ------------------------
before=$(state)
call v1 POST /v1/quote "$(body "{\"nonce\":\"$(openssl rand -hex 32)\"}"; echo "$work/req.json")"
expect_error 409 NO_AK "no activated AK"
call v1 POST /v1/quote "$(body '{"nonce": "00", ' ; echo "$work/req.json")"
expect_error 400 BAD_REQUEST "not JSON: invalid JSON"
call v1 POST /v1/quote "$(body '[1, 2]'; echo "$work/req.json")"
expect_error 400 BAD_REQUEST "must be a JSON object"
call v1 POST /v1/quote "$(body '{"nonce": "abcd"}'; echo "$work/req.json")"
expect_error 400 BAD_REQUEST '"nonce" must be 16 to 64 bytes in hex .*got 4 characters$'
call v1 POST /v1/quote "$(body "{\"nonce\": \"$(printf 'zz%.0s' $(seq 32))\"}"; echo "$work/req.json")"
expect_error 400 BAD_REQUEST "got 64 characters that are not hex"
call v1 POST /v1/quote "$(body '{"nonce": 12}'; echo "$work/req.json")"
expect_error 400 BAD_REQUEST '"nonce" must be a string'
call v1 POST /v1/quote "$(body "{\"nonce\":\"$(openssl rand -hex 32)\",\"pcrs\":\"sha256:0-24\"}"; echo "$work/req.json")"
expect_error 400 BAD_REQUEST '"pcrs" "sha256:0-24" is not a PCR selection'
call v1 POST /v1/ak "$(body '{"type": "dsa"}'; echo "$work/req.json")"
expect_error 400 BAD_REQUEST '"type" must be "rsa" or "ecc"'
call v1 POST /v1/activate "$(body '{"ak_name": "000b", "credential_blob": "not base64!", "secret": "AAA="}'; echo "$work/req.json")"
expect_error 400 BAD_REQUEST '"credential_blob" is not base64'
call v1 POST /v1/activate "$(body '{"credential_blob": "AAA=", "secret": "AAA="}'; echo "$work/req.json")"
expect_error 400 BAD_REQUEST '"ak_name" is missing'
head -c 70000 /dev/zero | tr '\0' 'a' >"$work/big.json"
call v1 POST /v1/quote "$work/big.json"
[ "$code" = 413 ] || fail "70000-byte body: $code, not 413"
call v1 POST /v1/nothing "$(body '{}'; echo "$work/req.json")"
[ "$code" = 404 ] || fail "unknown path: $code"
call v1 GET /v1/quote
[ "$code" = 405 ] || fail "GET /v1/quote: $code"
[ "$(state)" = "$before" ] || fail "a refused request changed the data directory"
ok "NO_AK before enrollment; bad JSON, non-object, nonce, PCRs, type, base64, missing field: 400 with the reason; 70 kB: 413; nothing changed"

# --- AK and credential activation ---------------------------------------------------
call v1 POST /v1/ak "$(body '{}'; echo "$work/req.json")"
[ "$code" = 200 ] || fail "POST /v1/ak: $code $(cat "$work/resp")"
cp "$work/resp" "$work/ak.json"
name=$(jq -r .ak_name "$work/ak.json")
jq -r .ak_public "$work/ak.json" | base64 -d >"$work/ak.pub"
[ "$(stat -c %a "$dd/ak-pending.json")" = 600 ] || fail "ak-pending.json missing or not 0600"
tpm2_print -t TPM2B_PUBLIC "$work/ak.pub" >"$work/ak.txt" 2>/dev/null || fail "ak_public unreadable"
grep -q 'restricted' "$work/ak.txt" && grep -q 'sign' "$work/ak.txt" && grep -q fixedtpm "$work/ak.txt" ||
  fail "AK attributes: $(grep -i attributes -A2 "$work/ak.txt")"
# The Name is nameAlg || H(TPMT_PUBLIC): check it from the public area.
[ "$name" = "000b$(tail -c +3 "$work/ak.pub" | sha256sum | cut -c1-64)" ] || fail "ak_name is not the AK's Name"

# cred_json AKNAME-FOR-CREDENTIAL AKNAME-FIELD: the activation request for a
# tpm2_makecredential credential (file: magic, version, TPM2B_ID_OBJECT,
# TPM2B_ENCRYPTED_SECRET).
head -c 32 /dev/urandom >"$work/secret"
cred_json() {
  tpm2_makecredential --tcti none -u "$work/ek.pub" -s "$work/secret" -n "$1" -o "$work/cred" \
    >/dev/null 2>&1 || fail "tpm2_makecredential"
  local n=$(( $(od -An -tu1 -j8 -N1 "$work/cred") * 256 + $(od -An -tu1 -j9 -N1 "$work/cred") ))
  local id sec
  id=$(tail -c +9 "$work/cred" | head -c $((n + 2)) | base64 -w0)
  sec=$(tail -c +$((9 + n + 2)) "$work/cred" | base64 -w0)
  printf '{"ak_name":"%s","credential_blob":"%s","secret":"%s"}' "$2" "$id" "$sec" >"$work/req.json"
  echo "$work/req.json"
}
before=$(state)
other="000b$(openssl rand -hex 32)"
call v1 POST /v1/activate "$(cred_json "$name" "$other")"
expect_error 409 AK_NOT_PENDING "not the name of the pending AK"
call v1 POST /v1/activate "$(cred_json "$other" "$name")"
expect_error 422 ACTIVATION_FAILED "TPM2_ActivateCredential"
[ "$(state)" = "$before" ] || fail "a refused activation changed the data directory"
call v1 POST /v1/quote "$(body "{\"nonce\":\"$(openssl rand -hex 32)\"}"; echo "$work/req.json")"
expect_error 409 NO_AK "no activated AK"
call v1 POST /v1/activate "$(cred_json "$name" "$name")"
[ "$code" = 200 ] || fail "activation: $code $(cat "$work/resp")"
cmp -s <(jq -r .secret "$work/resp" | base64 -d) "$work/secret" || fail "activation returned another secret"
[ -f "$dd/ak-current.json" ] && [ ! -e "$dd/ak-pending.json" ] || fail "pending AK not made current"
call v1 POST /v1/activate "$(cred_json "$name" "$name")"
expect_error 409 AK_NOT_PENDING "no AK is pending"
ok "AK: attributes and Name; tpm2_makecredential secret recovered; wrong ak_name 409, credential for another AK 422, both without state change"

# --- quotes ------------------------------------------------------------------------
nonce=$(openssl rand -hex 32)
call v1 POST /v1/quote "$(body "{\"nonce\":\"$nonce\",\"pcrs\":\"sha256:0-9,14+sha1:0-7\"}"; echo "$work/req.json")"
[ "$code" = 200 ] || fail "quote: $code $(cat "$work/resp")"
cp "$work/resp" "$work/q1.json"
jq -e --arg n "$nonce" --arg name "$name" --arg tp "$thumb" '.nonce == $n and .ak_name == $name and
  .metadata.tls_fingerprint == $tp and (.pcrs.sha256 | keys | length) == 11 and
  (.pcrs.sha1 | keys | length) == 8 and (.clock.reset_count | type) == "number" and
  .timing.tpm_ms > 0 and .timing.total_ms >= .timing.tpm_ms' "$work/q1.json" >/dev/null ||
  fail "quote answer: $(jq -c 'del(.eventlog, .quote, .signature, .ak_public)' "$work/q1.json")"
cmp -s <(jq -r .ak_public "$work/q1.json" | base64 -d) "$work/ak.pub" || fail "quote not by the activated AK"
cmp -s <(jq -r .eventlog "$work/q1.json" | base64 -d) "$work/eventlog.bin" || fail "event log not sent verbatim"
"$bin/attestctl" verify "$work/q1.json" --nonce "$nonce" >"$work/verify.out" 2>&1 ||
  fail "attestctl verify rejects the daemon's quote: $(cat "$work/verify.out")"
"$bin/attestctl" verify "$work/q1.json" --nonce "$(openssl rand -hex 32)" >/dev/null 2>&1 &&
  fail "attestctl verify accepted another nonce"
call v1 POST /v1/quote "$(body "{\"nonce\":\"$(openssl rand -hex 16)\",\"pcrs\":\"sha384:0\"}"; echo "$work/req.json")"
expect_error 422 PCR_BANK_INACTIVE "sha384"
ok "quote: attestctl verify accepts it for its nonce (and not another); inactive bank 422"

# Timing: several quotes, overhead = total - TPM.
overhead=""
for i in 1 2 3 4 5; do
  call v1 POST /v1/quote "$(body "{\"nonce\":\"$(openssl rand -hex 32)\"}"; echo "$work/req.json")"
  [ "$code" = 200 ] || fail "quote $i: $code"
  overhead+="$(jq -r '"\(.timing.total_ms) \(.timing.tpm_ms)"' "$work/resp")"$'\n'
done
echo "$overhead" | awk 'NF==2 { t += $1; p += $2; o = $1 - $2; if (o > m) m = o; n++ }
  END { printf "figure: quote (sha256:0-9, %d runs): total %.1f ms, TPM %.1f ms, agent overhead %.2f ms mean, %.2f ms max\n", n, t/n, p/n, (t-p)/n, m }'
rss=$(sed -n 's/^VmRSS:[[:space:]]*//p' "/proc/$agent_pid/status")
echo "figure: agent RSS after $((8 + 5)) quotes: $rss$([ "${ATTEST_SANITIZE:-0}" = 1 ] && echo ' (sanitizer build: ASan inflates it)')"

# Several verifiers' requests at once: all answered (TPM jobs queue).
pids=()
for i in 1 2 3 4; do
  printf '{"nonce":"%s"}' "$(openssl rand -hex 32)" >"$work/par$i.json"
  curl -sk --max-time 30 --cert "$work/v1.crt" --key "$work/v1.key" --data-binary "@$work/par$i.json" \
    -o "$work/par$i.out" -w '%{http_code}' "https://127.0.0.1:$port/v1/quote" >"$work/par$i.code" &
  pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4; do
  [ "$(cat "$work/par$i.code")" = 200 ] || fail "parallel quote $i: $(cat "$work/par$i.code")"
  "$bin/attestctl" verify "$work/par$i.out" --nonce "$(jq -r .nonce "$work/par$i.json")" >/dev/null 2>&1 ||
    fail "parallel quote $i does not verify"
done
ok "4 concurrent quotes all answered and verified"

# The event log is read again for every quote.
printf 'grown' >>"$work/eventlog.bin"
call v1 POST /v1/quote "$(body "{\"nonce\":\"$(openssl rand -hex 32)\"}"; echo "$work/req.json")"
[ "$code" = 200 ] || fail "quote after log change: $code"
cmp -s <(jq -r .eventlog "$work/resp" | base64 -d) "$work/eventlog.bin" || fail "the event log was not read again"
cp "$h/eventlog.bin" "$work/eventlog.bin"
ok "the event log is re-read for each quote"

# Nothing left loaded: the daemon holds no TCTI connection between requests.
n=$(tpm2_getcap -T "$tcti" handles-transient | grep -c 0x)
[ "$n" -eq 0 ] || fail "$n transient handles left in the TPM"
n=$(tpm2_getcap -T "$tcti" handles-loaded-session | grep -c 0x)
[ "$n" -eq 0 ] || fail "$n sessions left in the TPM"
ok "no transient objects or sessions left in the TPM"

# An idle client is dropped after --timeout (2 s), and others are served meanwhile.
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
t0=$(date +%s%N)
call v1 GET /v1/identity
[ "$code" = 200 ] || fail "identity while a client idles: $code"
read -r -t 10 -u 3 _
st=$?
t1=$(date +%s%N)
exec 3<&-
[ $st -le 128 ] || fail "idle connection still open after 10 s"
ms=$(( (t1 - t0) / 1000000 ))
[ $ms -ge 1500 ] && [ $ms -le 6000 ] || fail "idle connection closed after $ms ms, not about 2 s"
ok "idle connection dropped after $ms ms (--timeout 2); served others meanwhile"

# --- restart keeps the current AK; --trust-verifier adds a pin -------------------------
akpub=$(jq -r .ak_public "$work/q1.json")
stop_agent
ok "SIGTERM: exit status 0$([ "${ATTEST_SANITIZE:-0}" = 1 ] && echo ', no sanitizer report')"
old=$thumb
start_agent --trust-verifier "$(cat "$work/v2.tp")"
[ "$thumb" = "$old" ] || fail "thumbprint changed across a restart"
grep -qx "$(cat "$work/v2.tp")" "$dd/verifiers" || fail "--trust-verifier not recorded"
nonce=$(openssl rand -hex 32)
call v2 POST /v1/quote "$(body "{\"nonce\":\"$nonce\"}"; echo "$work/req.json")"
[ "$code" = 200 ] || fail "quote after restart: $code $(cat "$work/resp")"
[ "$(jq -r .ak_public "$work/resp")" = "$akpub" ] || fail "the AK changed across a restart"
cp "$work/resp" "$work/q2.json"
"$bin/attestctl" verify "$work/q2.json" --nonce "$nonce" >"$work/v2.out" 2>&1 || fail "quote after restart does not verify: $(tail -5 "$work/v2.out")"
call v1 GET /v1/identity
[ "$code" = 200 ] || fail "v1 no longer trusted after restart"
ok "restart: same thumbprint, same AK, quote verifies; --trust-verifier let v2 in, v1 still pinned"

# Re-enrollment with an ECC AK: until it is activated, quotes keep the old AK.
call v2 POST /v1/ak "$(body '{"type": "ecc"}'; echo "$work/req.json")"
[ "$code" = 200 ] || fail "POST /v1/ak ecc: $code $(cat "$work/resp")"
ename=$(jq -r .ak_name "$work/resp")
jq -r .ak_public "$work/resp" | base64 -d >"$work/eak.pub"
tpm2_print -t TPM2B_PUBLIC "$work/eak.pub" >"$work/eak.txt" 2>/dev/null || fail "ECC ak_public unreadable"
grep -q -i 'ecc' "$work/eak.txt" || fail "type ecc gave no ECC AK"
call v2 POST /v1/quote "$(body "{\"nonce\":\"$(openssl rand -hex 32)\"}"; echo "$work/req.json")"
[ "$code" = 200 ] && [ "$(jq -r .ak_name "$work/resp")" = "$name" ] || fail "pending AK replaced the current one early"
call v2 POST /v1/activate "$(cred_json "$ename" "$ename")"
[ "$code" = 200 ] || fail "ECC AK activation: $code $(cat "$work/resp")"
nonce=$(openssl rand -hex 32)
call v2 POST /v1/quote "$(body "{\"nonce\":\"$nonce\"}"; echo "$work/req.json")"
[ "$code" = 200 ] && [ "$(jq -r .ak_name "$work/resp")" = "$ename" ] || fail "quote not by the new ECC AK"
cp "$work/resp" "$work/q3.json"
"$bin/attestctl" verify "$work/q3.json" --nonce "$nonce" >/dev/null 2>&1 || fail "ECC AK quote does not verify"
ok "ECC AK: the old AK quotes until the new one is activated, then the new one (verified)"
# SIGTERM with requests in flight: still a clean exit.
for i in 1 2 3; do
  printf '{"nonce":"%s"}' "$(openssl rand -hex 32)" >"$work/late$i.json"
  curl -sk --max-time 10 --cert "$work/v1.crt" --key "$work/v1.key" --data-binary "@$work/late$i.json" \
    -o /dev/null "https://127.0.0.1:$port/v1/quote" &
  pids+=($!)
done
sleep 0.2
stop_agent
wait "${pids[@]}" 2>/dev/null
ok "SIGTERM with quotes in flight: exit status 0$([ "${ATTEST_SANITIZE:-0}" = 1 ] && echo ', no sanitizer report')"

# --- no TPM: identity says so, the daemon keeps serving -------------------------------
"$bin/attest-agent" --listen 127.0.0.1:0 --tcti "swtpm:host=127.0.0.1,port=1" \
  --eventlog "$work/eventlog.bin" --data-dir "$work/dead" --trust-verifier "$(cat "$work/v1.tp")" \
  >"$work/dead.out" 2>"$work/dead.err" &
dead_pid=$!
for _ in $(seq 100); do grep -q '^listening ' "$work/dead.out" && break; sleep 0.1; done
port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/dead.out")
[ -n "$port" ] || fail "agent without TPM did not start: $(cat "$work/dead.err")"
for i in 1 2; do
  call v1 GET /v1/identity
  [ "$code" = 200 ] || fail "identity without TPM: $code"
  jq -e '.tpm.present == false and (.tpm.error | length) > 0 and (.tls_fingerprint | length) == 71' \
    "$work/resp" >/dev/null || fail "identity without TPM: $(cat "$work/resp")"
done
call v1 POST /v1/ak "$(body '{}'; echo "$work/req.json")"
expect_error 503 TPM_UNAVAILABLE "TCTI|connect|Esys"
kill -TERM "$dead_pid"
wait "$dead_pid" || fail "agent without TPM: bad exit status"
dead_pid=""
grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error' "$work/dead.err" && fail "sanitizer report (no TPM)"
ok "no TPM: identity answers present=false with the reason (each time), AK 503 TPM_UNAVAILABLE"
echo "PASS"
