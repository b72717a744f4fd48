#!/usr/bin/env bash
# The agent on a TPM as slow as a discrete chip (tpm_delay_proxy.py in front
# of swtpm: +2 s per CreatePrimary, +300 ms per Create/Sign/Quote), counting
# what the TPM is asked to do:
#  - on a TPM without a persistent EK, enrollment (identity, ak, activate)
#    costs one CreatePrimary, one Create and one ActivateCredential;
#  - a quote costs no CreatePrimary, no Create and no Load: one ContextLoad,
#    one Quote, and the flush; its latency is one Quote delay plus little;
#  - after a TPM Reset (attest-sim reboot) the saved contexts no longer load:
#    the first quote makes the EK once and loads the AK, the next is cheap
#    again;
#  - nothing is left loaded in the TPM between requests;
#  - swtpm stopped (SIGSTOP): the quote answers 503 TPM_TIMEOUT after
#    --tpm-timeout; continued (SIGCONT): the agent recovers by itself and
#    leaves no handle behind.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in tpm2_makecredential tpm2_getcap jq openssl curl od python3; do
  command -v $t >/dev/null || skip "$t not installed"
done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-sim attest-agent; do [ -x "$bin/$b" ] || skip "$bin/$b not built"; done

work=$(mktemp -d /tmp/attest-test-tpmslow.XXXXXX)
. "$(dirname "$0")/agent_tpm_lib.sh"
trap 'tpm_cleanup; rm -rf "$work"' EXIT

tpm_host "$work/host"
# No persistent EK (as on many firmware TPMs): the agent must create it,
# once per TPM reset. (test_ek_kinds.sh covers the persistent one.)
evict_ek
start_proxy
start_agent "swtpm:host=127.0.0.1,port=$proxy_port" --tpm-timeout 3

# --- enrollment ----------------------------------------------------------------------
t0=$(now_ms)
enroll
t1=$(now_ms)
cp_n=$(count CreatePrimary)
cr_n=$(count Create)
ac_n=$(count ActivateCredential)
[ "$cp_n" = 1 ] && [ "$cr_n" = 1 ] && [ "$ac_n" = 1 ] ||
  fail "enrollment asked CreatePrimary x$cp_n, Create x$cr_n, ActivateCredential x$ac_n (want 1 each): $(cat "$counts")"
ok "enrollment: one CreatePrimary, one Create, one ActivateCredential ($((t1 - t0)) ms; delays 2300 ms)"

# --- quotes ----------------------------------------------------------------------------
cp "$counts" "$work/before.json"
worst=0
for i in 1 2 3; do
  a=$(now_ms)
  quote
  b=$(now_ms)
  [ "$code" = 200 ] || fail "quote $i: $code $(cat "$work/resp")"
  [ $((b - a)) -gt "$worst" ] && worst=$((b - a))
done
delta() { echo $(( $(count "$1") - $(count "$1" "$work/before.json") )); }
for c in CreatePrimary Create Load StartAuthSession PolicySecret; do
  [ "$(delta $c)" = 0 ] || fail "3 quotes asked $c x$(delta $c): $(cat "$counts")"
done
[ "$(delta Quote)" = 3 ] && [ "$(delta ContextLoad)" = 3 ] || fail "3 quotes: Quote x$(delta Quote), ContextLoad x$(delta ContextLoad)"
[ "$(delta FlushContext)" -ge 3 ] || fail "3 quotes flushed $(delta FlushContext) times"
# One Quote delay is 300 ms; curl, TLS and the rest stay well under a second.
[ "$worst" -lt 1300 ] || fail "a quote took $worst ms"
ok "a quote: ContextLoad + Quote + flush, no CreatePrimary/Create/Load (slowest $worst ms, Quote delay 300 ms)"
[ "$(transient_handles)" = 0 ] || fail "transient handles left in the TPM"
ok "nothing left loaded in the TPM between requests"

# --- TPM Reset ---------------------------------------------------------------------------
"$bin/attest-sim" reboot "$work/host" >/dev/null || fail "attest-sim reboot"
cp "$counts" "$work/before.json"
quote
[ "$code" = 200 ] || fail "quote after a TPM reset: $code $(cat "$work/resp")"
[ "$(jq -r .clock.reset_count "$work/resp")" -ge 1 ] || fail "reset_count did not move"
[ "$(delta CreatePrimary)" = 1 ] && [ "$(delta Load)" = 1 ] && [ "$(delta Create)" = 0 ] ||
  fail "first quote after a reset: CreatePrimary x$(delta CreatePrimary), Load x$(delta Load), Create x$(delta Create)"
cp "$counts" "$work/before.json"
quote
[ "$code" = 200 ] || fail "second quote after a reset: $code"
[ "$(delta CreatePrimary)" = 0 ] && [ "$(delta Load)" = 0 ] && [ "$(delta ContextLoad)" = 1 ] ||
  fail "second quote after a reset: CreatePrimary x$(delta CreatePrimary), Load x$(delta Load)"
[ "$(transient_handles)" = 0 ] || fail "transient handles left after the reset"
ok "TPM reset: the first quote makes the EK once and reloads the AK; the next is one ContextLoad again"

# --- a TPM that stops answering -----------------------------------------------------------
kill -STOP "$swtpm_pid"
a=$(now_ms)
quote
b=$(now_ms)
kill -CONT "$swtpm_pid"
[ "$code" = 503 ] && [ "$(jq -r .error.code "$work/resp")" = TPM_TIMEOUT ] ||
  fail "quote with swtpm stopped: $code $(head -c 300 "$work/resp") after $((b - a)) ms"
[ $((b - a)) -ge 2900 ] && [ $((b - a)) -lt 6000 ] || fail "TPM_TIMEOUT after $((b - a)) ms (--tpm-timeout 3)"
ok "swtpm stopped: 503 TPM_TIMEOUT after $((b - a)) ms ($(jq -r .error.message "$work/resp"))"
kill -0 "$agent_pid" || fail "agent died"
for i in $(seq 20); do
  quote
  [ "$code" = 200 ] && break
  sleep 0.5
done
[ "$code" = 200 ] || fail "no recovery after SIGCONT: $code $(cat "$work/resp")"
quote
[ "$code" = 200 ] || fail "second quote after recovery: $code"
[ "$(transient_handles)" = 0 ] || fail "transient handles left after the timeout"
ok "swtpm continued: the agent recovered by itself, nothing left loaded"

# A TPM that hangs in the middle of a command (the Quote never answers in
# time): the receive is bounded too, and what the lost command left loaded
# in a TPM without a resource manager is flushed on the next request.
echo '{"Quote": 6}' >"$work/delays.json"
a=$(now_ms)
quote
b=$(now_ms)
rm -f "$work/delays.json"
[ "$code" = 503 ] && [ "$(jq -r .error.code "$work/resp")" = TPM_TIMEOUT ] ||
  fail "quote with a hanging TPM2_Quote: $code $(head -c 300 "$work/resp")"
[ $((b - a)) -ge 2900 ] && [ $((b - a)) -lt 5900 ] || fail "TPM_TIMEOUT after $((b - a)) ms"
grep -q 'TPM2_Quote' <<<"$(jq -r .error.message "$work/resp")" || fail "message: $(jq -r .error.message "$work/resp")"
sleep 3.5 # the proxy delivers the late Quote to swtpm, with the AK loaded
for i in $(seq 10); do
  quote
  [ "$code" = 200 ] && break
  sleep 0.5
done
[ "$code" = 200 ] || fail "no recovery after a hanging Quote: $code $(head -c 300 "$work/resp")"
grep -q 'flushed 1 handle' "$work/agent.err" || fail "the AK loaded for the lost Quote was not flushed"
[ "$(transient_handles)" = 0 ] || fail "transient handles left after the hanging Quote"
ok "a Quote that hangs: 503 TPM_TIMEOUT after $((b - a)) ms, recovered, the lost command's AK flushed"
exit 0
