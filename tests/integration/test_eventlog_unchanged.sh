#!/usr/bin/env bash
# An unchanged event log is not sent again (docs/protocol.md "eventlog_sha256",
# docs/security.md "An event log left out"), with a real verifier, real agents
# on swtpm hosts and mitm_agent (tests/integration/mitm_agent.c) in front of
# host "a":
#   not_resent       the second quote of an unchanged boot carries no log (the
#                    agent says so in its log, the verifier's metrics count
#                    it) and the host stays green
#   log_changed      a log edited between two quotes (digests kept): its
#                    digest differs, so it is sent and parsed: red
#                    EVENT_CONTENT_MISMATCH; green again with the honest log
#   pcr_changed      a PCR extended behind the log's back: the honest agent
#                    leaves the unchanged log out, the memoized replay does not
#                    explain the quote, the verifier asks again for the log
#                    and the replay names the PCR: red EVENTLOG_REPLAY_MISMATCH
#   false_unchanged  an agent that claims "unchanged" whatever it holds, after
#                    the PCR change: the claim cannot turn the host green (red
#                    EVIDENCE_MALFORMED, the verifier having asked for the log)
#   old_agent        an agent that ignores eventlog_sha256 sends the whole
#                    log every time: green, and the memo still serves it
. "$(dirname "$0")/attacklib.sh"
attack_init eventlog-unchanged
edit=$(dirname "$0")/edit_eventlog.py
command -v python3 >/dev/null || skip "python3 not installed"

metric() { # NAME{LABELS} -> value
  curl -sk -H "Authorization: Bearer $admin" "$url/metrics" |
    awk -v k="$1" '$1 == k { print $2 }'
}
unchanged_lines() { grep -c 'quote from .*event log unchanged, not sent' "$work/$1.err"; }
quote_lines() { grep -c 'quote from .*: 200 in' "$work/$1.err"; }

mitm_init qa
host a qemu-ovmf-ubuntu-secureboot.bin "$work/ca" --trust-verifier "$qa_mthumb"
host b qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
verifier_up
mitm qa a
add a "127.0.0.1:$qa_mport" "$qa_mthumb"; expect_green
add b "127.0.0.1:$b_port" "$b_thumb"; expect_green
[ "$(unchanged_lines a)" = 0 ] || fail "the first quote left the log out"
ok "setup: a (behind mitm_agent) and b green, first quotes with the log"

not_resent() {
  local u0 q0 m0
  u0=$(unchanged_lines b); q0=$(quote_lines b)
  m0=$(metric 'attest_eventlog_unchanged_total{result="used"}')
  attest b; expect_green
  attest b; expect_green
  [ $(($(unchanged_lines b) - u0)) = 2 ] ||
    fail "b's agent left the log out of $(($(unchanged_lines b) - u0)) of 2 quotes: $(tail -3 "$work/b.err")"
  [ $(($(quote_lines b) - q0)) = 2 ] || fail "b answered $(($(quote_lines b) - q0)) quotes, wanted 2"
  [ $(($(metric 'attest_eventlog_unchanged_total{result="used"}') - m0)) = 2 ] ||
    fail "the verifier did not count 2 logs left out"
  # The dashboard's stored evidence still has the log.
  call "$admin" GET "/api/v1/hosts/b/evidence" 200
  [ "$(field '.eventlog.event_count // 0')" -gt 10 ] ||
    fail "the stored evidence lost its event log: $(head -c 300 <<<"$body")"
  ok "not_resent: 2 quotes of an unchanged boot carried no log; green; stored log kept"
}

log_changed() {
  local log="$b_dir/eventlog.bin" u0
  cp "$log" "$work/honest.bin"
  python3 "$edit" "$work/honest.bin" "$work/lie.bin" "ro" "rw" --keep-digests >/dev/null ||
    fail "edit_eventlog"
  cmp -s "$work/honest.bin" "$work/lie.bin" && fail "edit_eventlog changed nothing"
  u0=$(unchanged_lines b)
  cp "$work/lie.bin" "$log"
  attest b
  expect_red EVENT_CONTENT_MISMATCH
  [ "$(unchanged_lines b)" = "$u0" ] || fail "the edited log was left out as unchanged"
  cp "$work/honest.bin" "$log"
  attest b; expect_green
  ok "log_changed: a log edited between two quotes is sent and parsed -> red EVENT_CONTENT_MISMATCH"
}

pcr_changed() {
  local a0 u0
  attest a; expect_green # the memo holds a's log
  a0=$(metric 'attest_eventlog_unchanged_total{result="asked_again"}')
  u0=$(unchanged_lines a)
  "$bin/attest-sim" extend "$a_dir" 4 "$(printf '%064d' 7)" >/dev/null || fail "attest-sim extend"
  attest a
  expect_red EVENTLOG_REPLAY_MISMATCH
  [ $(($(unchanged_lines a) - u0)) = 1 ] || fail "a's agent did not leave the unchanged log out once"
  [ $(($(metric 'attest_eventlog_unchanged_total{result="asked_again"}') - a0)) = 1 ] ||
    fail "the verifier did not ask again for the log"
  ok "pcr_changed: PCR 4 extended; the log left out does not explain the quote -> asked again -> red EVENTLOG_REPLAY_MISMATCH"
}

false_unchanged() {
  mode qa claim-unchanged
  attest a
  expect_red EVIDENCE_MALFORMED
  mitm_saw qa 'POST /v1/quote mode=claim-unchanged .*status=200' || fail "the claim was not made"
  ok "false_unchanged: an agent claiming \"unchanged\" after a PCR change stays red (EVIDENCE_MALFORMED)"
}

old_agent() {
  local u0 h0
  mode qa old-agent
  "$bin/attest-sim" reboot "$a_dir" >/dev/null || fail "attest-sim reboot"
  attest a; expect_green # restart: re-enrolled, the whole log
  u0=$(unchanged_lines a)
  h0=$(metric 'attest_eventlog_memo_total{result="hit"}')
  attest a; expect_green
  attest a; expect_green
  [ "$(unchanged_lines a)" = "$u0" ] || fail "the log was left out although the field was dropped"
  mitm_saw qa 'POST /v1/quote mode=old-agent .*eventlog_sha256-dropped' ||
    fail "the verifier did not name its memoized log"
  [ $(($(metric 'attest_eventlog_memo_total{result="hit"}') - h0)) -ge 1 ] ||
    fail "the whole log of an old agent was not served by the memo"
  mode qa pass
  attest a; expect_green
  ok "old_agent: an agent that ignores eventlog_sha256 sends the whole log: green"
}

not_resent
log_changed
pcr_changed
false_unchanged
old_agent
verifier_down
