#!/usr/bin/env bash
# attest-verifier end to end: real verifier, real attest-agent daemons, real
# swtpm hosts (attest-sim) booted from real event logs, curl as the operator.
#   first_start      identity + admin token (0600), listen port 0, 401/403
#   add_green        add without thumbprint -> 409 showing the agent's; add
#                    with it -> enrolled (AK), green (Secure Boot on)
#   secure_boot_off  -> red SECURE_BOOT_DISABLED, alarm raised
#   uncertified      EK CA not in the list -> red TPM_NOT_CERTIFIED
#   wrong_thumbprint -> red AGENT_THUMBPRINT_MISMATCH, nothing enrolled
#   viewer           a viewer token reads but cannot change anything
#   reboot           attest-sim reboot -> re-enrolled with a new AK, green
#   tamper           attest-sim extend -> red EVENTLOG_REPLAY_MISMATCH on PCR 4
#   unreachable      agent stopped -> connection not_responding
#   kill9            verifier killed during attestation -> restart, nothing lost
# ATTEST_TEST_DB=postgresql://... runs the same scenarios against that
# (empty) database instead of SQLite (test_verifier_pg.sh does).
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in jq curl openssl; do command -v $t >/dev/null || skip "$t not installed"; done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-sim attest-agent attest-verifier; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built"
done

work=$(mktemp -d /tmp/attest-test-verifier.XXXXXX)
# sim, start_verifier, api, call, field, fail, ok: shared with the other
# end-to-end tests. ATTEST_TEST_DB=postgresql://... runs it on PostgreSQL.
. "$(dirname "$0")/lib.sh"
cleanup() {
  lib_cleanup
  rm -rf "$work"
}
trap cleanup EXIT

host() { call "$admin" GET "/api/v1/hosts/$1" 200; }

# --- the scenarios ---------------------------------------------------------

first_start() {
  mkdir -p "$work/cas"
  cp "$work/ca/ca.pem" "$work/cas/test-ek-ca.pem"
  start_verifier
  [ "$(stat -c %a "$work/vd/admin.token")" = 600 ] || fail "admin.token is not mode 0600"
  admin=$(tr -d '\n' <"$work/vd/admin.token")
  [[ "$admin" =~ ^[0-9a-f]{64}$ ]] || fail "admin token is not 64 hex digits"
  if [ -n "${ATTEST_TEST_DB:-}" ]; then
    pg_dump -d "$ATTEST_TEST_DB" >"$work/dump.sql" || fail "pg_dump"
    ! grep -q "$admin" "$work/dump.sql" || fail "the token itself is in the database"
  else
    ! grep -q "$admin" "$work/vd/verifier.db"* || fail "the token itself is in the database"
  fi
  [ "$(curl -sk -o /dev/null -w '%{http_code}' "$url/api/v1/hosts")" = 401 ] || fail "no token: not 401"
  call "${admin}x" GET /api/v1/hosts 401
  call "$admin" GET /api/v1/cas 200
  [ "$(field '.cas|length')" = 1 ] || fail "the CA dir was not imported: $body"
  call "$admin" POST /api/v1/tokens '{"name":"ops","role":"viewer"}' 201
  viewer=$(field .token)
  ok "first start: identity $vthumb, admin token 0600, CA imported, 401 without token"
}

add_green() {
  call "$admin" POST /api/v1/hosts "{\"address\":\"127.0.0.1:$good_port\",\"name\":\"good\"}" 409
  [ "$(field .error.code)" = THUMBPRINT_NOT_CONFIRMED ] || fail "add without thumbprint: $body"
  [ "$(field .error.thumbprint)" = "$good_thumb" ] || fail "409 shows $(field .error.thumbprint), agent printed $good_thumb"
  call "$admin" GET /api/v1/hosts 200
  [ "$(field '.hosts|length')" = 0 ] || fail "the 409 added a host"
  local t0=$(date +%s%N)
  call "$admin" POST "/api/v1/hosts?wait=1" \
    "{\"address\":\"127.0.0.1:$good_port\",\"name\":\"good\",\"thumbprint\":\"$good_thumb\"}" 201
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$(field .trust)" = green ] || fail "good host not green: $(field -c .reasons)"
  [ "$(field .connection)" = connected ] || fail "good host not connected"
  [ "$(field .ak_name)" != null ] || fail "no AK enrolled"
  [ "$(field .ek_certified)" = true ] || fail "EK not certified"
  [ "$(field .tpm.ek_certificate.status)" = ok ] || fail "EK certificate status $(field .tpm.ek_certificate.status)"
  good_ak=$(field .ak_name)
  ok "add -> 409 with the agent's thumbprint; add confirmed -> enrolled and green in $ms ms"
}

secure_boot_off() {
  call "$admin" POST "/api/v1/hosts?wait=1" \
    "{\"address\":\"127.0.0.1:$nosb_port\",\"name\":\"nosb\",\"accept_thumbprint\":true}" 201
  [ "$(field .thumbprint)" = "$nosb_thumb" ] || fail "accept_thumbprint pinned $(field .thumbprint)"
  [ "$(field .trust)" = red ] || fail "Secure Boot off host is $(field .trust)"
  field '.reasons[].code' | grep -qx SECURE_BOOT_DISABLED || fail "no SECURE_BOOT_DISABLED: $(field -c .reasons)"
  call "$admin" GET "/api/v1/alarms?host=nosb&open=1" 200
  [ "$(field '.alarms|length')" = 1 ] || fail "no open alarm for nosb: $body"
  ok "Secure Boot off -> red SECURE_BOOT_DISABLED, alarm raised"
}

uncertified() {
  call "$admin" POST "/api/v1/hosts?wait=1" \
    "{\"address\":\"127.0.0.1:$uncert_port\",\"name\":\"uncert\",\"thumbprint\":\"$uncert_thumb\"}" 201
  [ "$(field .trust)" = red ] || fail "uncertified host is $(field .trust)"
  field '.reasons[].code' | grep -qx TPM_NOT_CERTIFIED || fail "no TPM_NOT_CERTIFIED: $(field -c .reasons)"
  [ "$(field .ak_name)" = null ] || fail "an AK was enrolled for an uncertified TPM"
  ok "EK CA not in the list -> red TPM_NOT_CERTIFIED ($(field '.reasons[1].code')), no AK"
}

wrong_thumbprint() {
  local bogus=SHA256:$(printf '%064d' 0)
  call "$admin" POST "/api/v1/hosts?wait=1" \
    "{\"address\":\"127.0.0.1:$good_port\",\"name\":\"impostor\",\"thumbprint\":\"$bogus\"}" 201
  [ "$(field .trust)" = red ] || fail "wrong thumbprint host is $(field .trust)"
  field '.reasons[].code' | grep -qx AGENT_THUMBPRINT_MISMATCH || fail "$(field -c .reasons)"
  [ "$(field .ak_name)" = null ] || fail "an AK was enrolled through a wrong pin"
  call "$admin" DELETE /api/v1/hosts/impostor 200
  ok "wrong thumbprint -> refused (red AGENT_THUMBPRINT_MISMATCH, nothing enrolled)"
}

viewer() {
  call "$viewer" GET /api/v1/hosts 200
  [ "$(field '.hosts|length')" = 3 ] || fail "viewer sees $(field '.hosts|length') hosts"
  call "$viewer" POST /api/v1/hosts/good/attest 403
  call "$viewer" POST /api/v1/hosts/good/disconnect 403
  call "$viewer" DELETE /api/v1/hosts/good 403
  call "$viewer" POST /api/v1/hosts '{"address":"127.0.0.1:1","thumbprint":"'"$good_thumb"'"}' 403
  call "$viewer" POST /api/v1/tokens '{"name":"x","role":"admin"}' 403
  call "$viewer" GET /api/v1/tokens 403
  call "$viewer" POST /api/v1/cas '{"pem":"x"}' 403
  call "$viewer" PUT /api/v1/policies/p '{}' 403
  host good
  [ "$(field .trust)" = green ] && [ "$(field .enabled)" = true ] || fail "viewer changed the host"
  call "$admin" POST /api/v1/hosts '{"address":"127.0.0.1:1","thumbprint":"nope"}' 400
  call "$admin" GET /api/v1/hosts 200
  [ "$(field '.hosts|length')" = 3 ] || fail "a 400 added a host"
  ok "viewer token reads, every change 403; bad input 400 changes nothing"
}

reboot() {
  "$bin/attest-sim" reboot "$good_dir" >/dev/null || fail "attest-sim reboot"
  call "$admin" POST "/api/v1/hosts/good/attest?wait=1" 200
  [ "$(field .trust)" = green ] || fail "after reboot: $(field .trust) $(field -c .reasons)"
  [ "$(field .ak_name)" != "$good_ak" ] || fail "after reboot the AK is unchanged"
  call "$admin" GET "/api/v1/events?host=good&kind=enroll" 200
  field '.events[].message' | grep -q restarted || fail "no restart event: $body"
  good_ak=$(field .ak_name)
  ok "reboot -> restart detected, re-enrolled with a new AK, green again"
}

learn_and_reconnect() {
  call "$admin" POST /api/v1/policies '{"name":"learned","from_host":"good"}' 201
  [ "$(field '.learned|length')" -gt 0 ] || fail "nothing learned: $body"
  call "$admin" POST /api/v1/policies/learned/assign '{"host":"good"}' 200
  call "$admin" POST "/api/v1/hosts/good/attest?wait=1" 200
  [ "$(field .policy)" = learned ] && [ "$(field .trust)" = green ] ||
    fail "good under its learned policy: $(field .policy) $(field .trust) $(field -c .reasons)"
  call "$admin" POST /api/v1/hosts/good/disconnect 200
  [ "$(field .connection)" = disconnected ] && [ "$(field .trust)" = unknown ] ||
    fail "disconnect: $(field .connection) $(field .trust)"
  call "$admin" POST "/api/v1/hosts/good/attest" 409
  call "$admin" POST "/api/v1/hosts/good/reconnect?wait=1" 200
  [ "$(field .trust)" = green ] && [ "$(field .connection)" = connected ] ||
    fail "reconnect: $(field .trust) $(field -c .reasons)"
  [ "$(field .ak_name)" != "$good_ak" ] || fail "reconnect kept the old AK"
  good_ak=$(field .ak_name)
  ok "policy learned from a host ($(field '.tpm.manufacturer') TPM), assigned, green; disconnect -> unknown; reconnect -> new AK, green"
}

tamper() {
  "$bin/attest-sim" extend "$good_dir" 4 "$(printf 'ab%.0s' $(seq 32))" >/dev/null || fail "attest-sim extend"
  call "$admin" POST "/api/v1/hosts/good/attest?wait=1" 200
  [ "$(field .trust)" = red ] || fail "after extend: $(field .trust)"
  jq -e '.reasons[]|select(.code=="EVENTLOG_REPLAY_MISMATCH")' <<<"$body" >/dev/null ||
    fail "no EVENTLOG_REPLAY_MISMATCH: $(field -c .reasons)"
  jq -r '.reasons[]|select(.code=="EVENTLOG_REPLAY_MISMATCH")|.message' <<<"$body" | grep -q 'PCR 4' ||
    fail "the reason does not name PCR 4: $(field -c .reasons)"
  call "$admin" GET "/api/v1/alarms?host=good&open=1" 200
  [ "$(field '.alarms|length')" = 1 ] || fail "no alarm for good"
  local id=$(field '.alarms[0].id')
  call "$admin" POST "/api/v1/alarms/$id/ack" 200
  call "$admin" POST "/api/v1/alarms/$id/ack" 409
  ok "extend -> red EVENTLOG_REPLAY_MISMATCH naming PCR 4; alarm raised and acknowledged once"
}

unreachable() {
  kill -TERM "$nosb_pid"; wait "$nosb_pid" 2>/dev/null
  call "$admin" POST "/api/v1/hosts/nosb/attest?wait=1" 200
  [ "$(field .connection)" = not_responding ] || fail "stopped agent is $(field .connection)"
  ok "agent stopped -> not_responding"
}

kill9() {
  call "$admin" GET /api/v1/hosts 200
  local before=$(jq -c '[.hosts[]|{name,trust,ak_name,thumbprint}]' <<<"$body")
  call "$admin" GET "/api/v1/events?limit=1000" 200
  local nev=$(field '.events|length')
  call "$admin" GET /api/v1/alarms 200
  local alarms=$(jq -c '[.alarms[]|{id,host,acked_at}]' <<<"$body")
  call "$admin" POST /api/v1/hosts/uncert/attest 202
  call "$admin" POST /api/v1/hosts/good/attest 202
  sleep 0.05
  kill -KILL "$ver_pid"; wait "$ver_pid" 2>/dev/null; ver_pid=""
  start_verifier
  call "$admin" GET /api/v1/hosts 200
  [ "$(jq -c '[.hosts[]|{name,trust,ak_name,thumbprint}]' <<<"$body")" = "$before" ] ||
    fail "hosts changed across kill -9: $before vs $body"
  call "$admin" GET "/api/v1/events?limit=1000" 200
  [ "$(field '.events|length')" -ge "$nev" ] || fail "events lost"
  call "$admin" GET /api/v1/alarms 200
  [ "$(jq -c '[.alarms[]|{id,host,acked_at}]' <<<"$body")" = "$alarms" ] || fail "alarms changed"
  call "$viewer" GET /api/v1/hosts 200
  call "$admin" POST "/api/v1/hosts/uncert/attest?wait=1" 200
  [ "$(field .trust)" = red ] || fail "after restart uncert is $(field .trust)"
  ok "verifier kill -9 during attestation -> restart with inventory, AKs, alarms, history, tokens"
}

# CA dirs: "ca" is listed in the verifier's certified TPM list, "ca2" is not.
sim good qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
sim nosb gce-ubuntu2104-no-secureboot.bin "$work/ca"
sim uncert qemu-ovmf-ubuntu-secureboot.bin "$work/ca2"

first_start
add_green
secure_boot_off
uncertified
wrong_thumbprint
viewer
reboot
learn_and_reconnect
tamper
unreachable
kill9
call "$admin" GET /metrics 200
grep -q '^attest_attestations_total{result="green"} ' <<<"$body" || fail "metrics"
grep -q '^attest_attestation_duration_seconds_count ' <<<"$body" || fail "metrics histogram"
# A clean stop, and no sanitizer report in a sanitizer build.
kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
[ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
! grep -q 'Sanitizer' "$work/ver.err" || fail "sanitizer report"
ok "SIGTERM -> clean exit; /metrics served"
echo "PASS"
