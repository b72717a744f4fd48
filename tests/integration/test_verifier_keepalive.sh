#!/usr/bin/env bash
# Kept-alive connections from the verifier to agents and the event-log memo
# (docs/transport.md "Kept-alive connections", lib/verify_memo.h), with a
# real verifier, a real agent on a swtpm host and the verifier's /metrics:
#   reuse        attestations in a row share one TLS connection (the
#                agent's connections counter and the verifier's metrics
#                say so), and the unchanged event log is memoized
#   kept         the agent says Keep-Alive: timeout=150 and the verifier
#                keeps the connection past the old 5 s for the next
#                attestation (--agent-keepalive default)
#   resumed      with --agent-keepalive 0, after the kept-alive
#                connection's 5 s, the next connection resumes the TLS
#                session (no certificate exchange) and the host stays green
#   log_changed  a log edited between two quotes of the same boot (digests
#                kept) is parsed again: red EVENT_CONTENT_MISMATCH, then
#                green again with the honest log
#   host_time    the agent's own time for each quote (its answer's
#                "timing") is counted apart from the verifier's: the
#                phases host and own grow by one per attestation, host
#                within agent, own the rest
#   pin_changed  the agent comes back on the same port with another
#                certificate: the parked connection is gone with the old
#                agent, the new connection's handshake checks the pin ->
#                red AGENT_THUMBPRINT_MISMATCH, nothing sent
. "$(dirname "$0")/attacklib.sh"
attack_init verifier-keepalive
edit=$(dirname "$0")/edit_eventlog.py
command -v python3 >/dev/null || skip "python3 not installed"

metric() { # NAME{LABELS} -> value
  curl -sk -H "Authorization: Bearer $admin" "$url/metrics" |
    awk -v k="$1" '$1 == k { print $2 }'
}

host a qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
verifier_up
add a "127.0.0.1:$a_port" "$a_thumb"; expect_green

reuse() {
  local n0 r0 h0
  n0=$(metric 'attest_agent_connections_total{kind="new"}')
  r0=$(metric 'attest_agent_connections_total{kind="reused"}')
  h0=$(metric 'attest_eventlog_memo_total{result="hit"}')
  for _ in 1 2 3 4; do attest a; expect_green; done
  local n1 r1 h1
  n1=$(metric 'attest_agent_connections_total{kind="new"}')
  r1=$(metric 'attest_agent_connections_total{kind="reused"}')
  h1=$(metric 'attest_eventlog_memo_total{result="hit"}')
  # Four quotes well within the 5 s idle time: at most one new connection
  # (the last one may have been closed by the agent's idle timeout if the
  # machine stalled), the others reused.
  [ $((n1 - n0)) -le 1 ] || fail "4 attestations opened $((n1 - n0)) new connections"
  [ $((r1 - r0)) -ge 3 ] || fail "only $((r1 - r0)) of 4 attestations reused a connection"
  [ $((h1 - h0)) -ge 3 ] || fail "only $((h1 - h0)) of 4 unchanged logs were memoized"
  [ "$(metric attest_agent_connections_idle)" -ge 1 ] || fail "no connection parked"
  ok "reuse: 4 attestations, $((n1 - n0)) new connection(s), $((r1 - r0)) reused, $((h1 - h0)) memo hits"
}

kept() {
  local n0 r0
  attest a; expect_green
  n0=$(metric 'attest_agent_connections_total{kind="new"}')
  r0=$(metric 'attest_agent_connections_total{kind="reused"}')
  sleep 6 # past the 5 s of an agent that says nothing
  [ "$(metric attest_agent_connections_idle)" -ge 1 ] || fail "no connection parked after 6 s"
  attest a; expect_green
  [ "$(metric 'attest_agent_connections_total{kind="new"}')" = "$n0" ] ||
    fail "a new connection after 6 s, though the agent keeps it 150 s"
  [ "$(metric 'attest_agent_connections_total{kind="reused"}')" -gt "$r0" ] ||
    fail "the parked connection was not reused"
  ok "kept: the connection outlived 6 s idle (agent Keep-Alive 150 s) and was reused; green"
}

resumed() {
  verifier_down
  verifier_up --agent-keepalive 0
  attest a; expect_green # a new connection: its TLS session is kept
  local s0 n0
  s0=$(metric 'attest_agent_connections_total{kind="resumed"}')
  n0=$(metric 'attest_agent_connections_total{kind="new"}')
  sleep 6 # past the 5 s a connection stays parked (--agent-keepalive 0)
  [ "$(metric attest_agent_connections_idle)" = 0 ] || fail "a connection is still parked after 6 s"
  attest a; expect_green
  [ "$(metric 'attest_agent_connections_total{kind="new"}')" -gt "$n0" ] || fail "no new connection"
  [ "$(metric 'attest_agent_connections_total{kind="resumed"}')" -gt "$s0" ] ||
    fail "the new connection did not resume the TLS session"
  ok "resumed: a new connection after the idle time resumed the TLS session; green"
}

log_changed() {
  local m0 log="$a_dir/eventlog.bin"
  cp "$log" "$work/honest.bin"
  # grub's kernel command line, edited with its digests kept: still replays
  python3 "$edit" "$work/honest.bin" "$work/lie.bin" "ro" "rw" --keep-digests >/dev/null ||
    fail "edit_eventlog"
  cmp -s "$work/honest.bin" "$work/lie.bin" && fail "edit_eventlog changed nothing"
  m0=$(metric 'attest_eventlog_memo_total{result="miss"}')
  cp "$work/lie.bin" "$log"
  attest a
  expect_red EVENT_CONTENT_MISMATCH
  [ "$(metric 'attest_eventlog_memo_total{result="miss"}')" -gt "$m0" ] ||
    fail "the changed log was not parsed again"
  cp "$work/honest.bin" "$log"
  attest a; expect_green
  ok "log_changed: a log edited between two quotes of one boot -> parsed again, red EVENT_CONTENT_MISMATCH"
}

host_time() {
  local k c0=() s0=() c1=() s1=() ph
  for ph in start agent verify host own; do
    c0+=("$(metric "attest_attestation_phase_seconds_count{phase=\"$ph\"}")")
    s0+=("$(metric "attest_attestation_phase_seconds_sum{phase=\"$ph\"}")")
  done
  for _ in 1 2 3; do attest a; expect_green; done
  for ph in start agent verify host own; do
    c1+=("$(metric "attest_attestation_phase_seconds_count{phase=\"$ph\"}")")
    s1+=("$(metric "attest_attestation_phase_seconds_sum{phase=\"$ph\"}")")
  done
  local d=() t=()
  for k in 0 1 2 3 4; do
    d+=($((c1[k] - c0[k])))
    t+=("$(awk -v a="${s1[k]}" -v b="${s0[k]}" 'BEGIN { printf "%.6f", a - b }')")
  done
  [ "${d[1]}" -ge 3 ] || fail "agent phase counted ${d[1]} times for 3 attestations"
  [ "${d[3]}" = "${d[1]}" ] && [ "${d[4]}" = "${d[1]}" ] ||
    fail "host/own counted ${d[3]}/${d[4]} times, agent ${d[1]}"
  # the agent's time covers its TPM quote: more than nothing, never more than
  # the agent phase; own is the rest of start + agent + verify (give or take
  # 20 us: /metrics prints each sum to the microsecond, and there are ten)
  awk -v st="${t[0]}" -v ag="${t[1]}" -v ve="${t[2]}" -v ho="${t[3]}" -v ow="${t[4]}" \
    'BEGIN { exit !(ho > 0 && ho <= ag && ow > 0 && ow + ho <= st + ag + ve + 0.00002 &&
                    ow + ho >= (st + ag + ve) * 0.5) }' ||
    fail "phase sums: start ${t[0]} agent ${t[1]} verify ${t[2]} host ${t[3]} own ${t[4]}"
  ok "host_time: ${d[3]} attestations, the agent's own ${t[3]} s of the agent phase's ${t[1]} s, the rest ${t[4]} s"
}

pin_changed() {
  attest a; expect_green # a connection is parked
  local old=$a_thumb
  kill -TERM "$a_pid"; wait "$a_pid" 2>/dev/null
  rm -f "$a_dir/agent/agent.key" "$a_dir/agent/agent.crt"
  start_agent_on a "127.0.0.1:$a_port"
  [ "$a_thumb" != "$old" ] || fail "the agent kept its certificate"
  attest a
  expect_red AGENT_THUMBPRINT_MISMATCH
  field '.reasons[0].message' | grep -q "$a_thumb" || fail "the refusal does not name $a_thumb"
  ok "pin_changed: another certificate on the same address -> red AGENT_THUMBPRINT_MISMATCH"
}

reuse
kept
resumed
log_changed
host_time
pin_changed
verifier_down
echo PASS
