#!/usr/bin/env bash
# attestctl's operator commands against the real attest-verifier (SQLite, loopback
# TLS) and, when swtpm is installed, real hosts (attest-sim + attest-agent):
#  - usage errors exit 2 with usage text; every group's --help exits 0;
#  - settings: no server / no thumbprint (the seen one is shown) / bad
#    thumbprint -> 2; wrong thumbprint -> refused (1) showing the seen one,
#    nothing sent; no token -> 2; group-readable, empty or unknown token -> 1;
#  - global options before the command word and from the environment;
#  - tokens: create viewer to a 0600 file; a viewer reads but cannot change;
#  - CAs: add (PEM, DER), already listed, not a certificate, list, remove by
#    fingerprint (colon form) and by id, not found;
#  - hosts: add without confirmation (nothing added, thumbprint printed; JSON
#    error on stdout with --json), add with --thumbprint -> green, duplicate,
#    --accept-thumbprint on a Secure Boot off host -> red SECURE_BOOT_DISABLED
#    with its sentence, alarms listed and acknowledged once, attest,
#    disconnect (unknown, attest refused), reconnect (new AK, green), remove;
#  - policies: from a file, bad files, show, assign, in use, from a host;
#  - events filtered by host and limited;
#  - every --json output parses with jq and has the contract keys.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
cas=../shared/testdata/tpm-vendor-cas
skip() { echo "SKIP: $*"; exit 77; }
for b in attest-verifier attestctl; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built"
done
for t in jq openssl; do command -v $t >/dev/null || skip "$t not installed"; done

hosts=1
if ! command -v swtpm >/dev/null || ! command -v swtpm_setup >/dev/null; then
  echo "note: swtpm not installed: host enrollment parts skipped"; hosts=0
fi
[ -x "$bin/attest-sim" ] && [ -x "$bin/attest-agent" ] || { echo "note: attest-sim/attest-agent not built: host parts skipped"; hosts=0; }
[ -d "$logs" ] || { echo "note: $logs not found: host parts skipped"; hosts=0; }

work=$(mktemp -d /tmp/attest-test-ctl.XXXXXX)
umask 077
vpid=""; apids=()
cleanup() {
  for p in "${apids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -n "$vpid" ] && kill -TERM "$vpid" 2>/dev/null && wait "$vpid" 2>/dev/null
  for h in "$work"/h[0-9]; do [ -d "$h" ] && "$bin/attest-sim" stop "$h" >/dev/null 2>&1; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  for f in out err; do [ -s "$work/$f" ] && { echo "--- attestctl std$f"; tail -20 "$work/$f"; }; done
  [ -f "$work/verifier.err" ] && { echo "--- verifier stderr (last 20 lines)"; tail -20 "$work/verifier.err"; }
  exit 1
}
ok() { echo "ok: $*"; }

# ctl [ARGS...]: run attestctl with stdout/stderr in $work/out, $work/err; $rc.
ctl() { "$bin/attestctl" "$@" >"$work/out" 2>"$work/err" </dev/null; rc=$?; }
expect() { # expect RC DESCRIPTION
  [ "$rc" = "$1" ] || fail "$2: exit $rc, expected $1"
}
out_has() { grep -qF -- "$1" "$work/out" || fail "stdout lacks \"$1\""; }
err_has() { grep -qF -- "$1" "$work/err" || fail "stderr lacks \"$1\""; }

# ---------------------------------------------------------------- usage
for args in "host" "host frobnicate" "host add" "host add not-an-address" \
  "host add 127.0.0.1:99999" "host add 10.0.0.1:4433 --thumbprint nothex" \
  "host add 10.0.0.1:4433 --thumbprint SHA256:$(printf 'a%.0s' {1..64}) --accept-thumbprint" \
  "host add 10.0.0.1:4433 --interval 0" "host list --trust purple" "host list extra" \
  "host show" "host show a b" "host list --bogus" "host attest" \
  "policy create p" "policy create p --file x --from-host y" "policy assign p" \
  "policy assign p --host h --default" "ca add" "ca remove nothex" "alarm ack abc" \
  "alarm list --limit 0" "event list --limit 1001" "event list --kind nope" \
  "token create t" "token create t --role root" "--timeout 0 status" "--server"; do
  # shellcheck disable=SC2086
  ctl $args
  expect 2 "attestctl $args"
  [ -s "$work/err" ] || fail "attestctl $args: no message"
done
ok "usage errors exit 2 with a message"
for g in host policy ca alarm event token status; do
  ctl $g --help
  expect 0 "$g --help"
  out_has "usage: attestctl $g"
done
ctl host add --help; expect 0 "host add --help"; out_has "--accept-thumbprint"
ok "--help of every group"

# ---------------------------------------------------------------- verifier
"$bin/attest-verifier" --listen 127.0.0.1:0 --db "sqlite:$work/v.db" --data-dir "$work/vdata" \
  >"$work/verifier.out" 2>"$work/verifier.err" &
vpid=$!
for _ in $(seq 100); do
  grep -q '^admin-token ' "$work/verifier.out" && break
  kill -0 "$vpid" 2>/dev/null || fail "verifier exited at start"
  sleep 0.1
done
url=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/verifier.out")
vtp=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]\{64\}\)$/\1/p' "$work/verifier.out")
admin=$(sed -n 's/^admin-token //p' "$work/verifier.out")
[ -n "$url" ] && [ -n "$vtp" ] && [ -f "$admin" ] || fail "verifier start lines: $(cat "$work/verifier.out")"
ok "verifier at $url"

unset ATTEST_SERVER ATTEST_SERVER_THUMBPRINT ATTEST_TOKEN_FILE
ctl status; expect 2 "no server"; err_has "--server"
ctl --server "$url" status; expect 2 "no thumbprint"; err_has "$vtp"; err_has "not pinned"
ctl --server "$url" --server-thumbprint SHA256:xyz status; expect 2 "bad thumbprint"
ctl --server "http://127.0.0.1:1" --server-thumbprint "$vtp" status; expect 2 "http URL"
other="SHA256:$(printf '0%.0s' {1..64})"
ctl --server "$url" --server-thumbprint "$other" --token-file "$admin" status
expect 1 "wrong thumbprint"; err_has "refusing"; err_has "$vtp"; err_has "nothing was sent"
ctl --server "$url" --server-thumbprint "$vtp" status; expect 2 "no token"; err_has "no API token"
ok "settings: server, pinned thumbprint (seen one shown), token required"

export ATTEST_SERVER="$url" ATTEST_SERVER_THUMBPRINT="$vtp"
# Colon form of the thumbprint works too.
colon=$(echo "${vtp#SHA256:}" | sed 's/../&:/g; s/:$//' | tr a-f A-F)
ctl --server-thumbprint "$colon" --token-file "$admin" status; expect 0 "colon thumbprint"
cp "$admin" "$work/loose.tok"; chmod 640 "$work/loose.tok"
ctl --token-file "$work/loose.tok" status; expect 1 "group-readable token"; err_has "chmod 600"
: >"$work/empty.tok"; chmod 600 "$work/empty.tok"
ctl --token-file "$work/empty.tok" status; expect 1 "empty token"; err_has "does not hold a token"
printf '%064d\n' 0 >"$work/bad.tok"
ctl --token-file "$work/bad.tok" status; expect 1 "unknown token"; err_has "401 UNAUTHENTICATED"
ctl --token-file "$work/nonexistent.tok" status; expect 1 "missing token file"; err_has "cannot open"
ok "token files: mode checked, empty refused, unknown token is 401"

# Global options before the command word, then from the environment.
ctl --server "$url" --server-thumbprint "$vtp" --token-file "$admin" --json status
expect 0 "global options first"
jq -e --arg tp "$vtp" '.thumbprint == $tp and .hosts.total == 0 and (.version|type=="string")' \
  "$work/out" >/dev/null || fail "status --json: $(cat "$work/out")"
export ATTEST_TOKEN_FILE="$admin"
ctl status; expect 0 "status from the environment"; out_has "$vtp"
ctl host --json list; expect 0 "global option between group and command"
jq -e '.hosts == [] and .total == 0' "$work/out" >/dev/null || fail "host --json list: $(cat "$work/out")"
ok "global options and environment"

# ---------------------------------------------------------------- tokens
ctl token create ro --role viewer --output "$work/ro.tok"; expect 0 "token create viewer"
[ "$(stat -c %a "$work/ro.tok")" = 600 ] || fail "token file mode $(stat -c %a "$work/ro.tok")"
grep -qE '^[0-9a-f]{64}$' "$work/ro.tok" || fail "token file content"
ctl token create ro2 --role viewer --output "$work/ro.tok"; expect 1 "token output exists"; err_has "exists"
ctl token create ro --role admin; expect 1 "duplicate token"; err_has "409 EXISTS"
ctl --json token create ops --role admin; expect 0 "token create --json"
jq -e '.name == "ops" and .role == "admin" and (.token|test("^[0-9a-f]{64}$"))' "$work/out" >/dev/null ||
  fail "token create --json: $(cat "$work/out")"
ctl token list; expect 0 "token list"; out_has "ro"; out_has "viewer"
grep -q "$(cat "$work/ro.tok")" "$work/out" && fail "token list shows a token"
ctl token remove ops; expect 0 "token remove"; out_has "Revoked token ops."
ctl token remove ops; expect 1 "token remove again"; err_has "404 NOT_FOUND"
ok "tokens: create (file 0600, --json), duplicate, list without secrets, remove"

# ---------------------------------------------------------------- CAs
if [ -d "$cas" ]; then
  f1=$(ls "$cas"/*.pem | head -1); f2=$(ls "$cas"/*.pem | sed -n 2p)
  openssl x509 -in "$f2" -outform der -out "$work/ca2.der" 2>/dev/null || fail "openssl der"
  ctl ca add "$f1" "$work/ca2.der" --source vendors; expect 0 "ca add PEM + DER"
  out_has "added CA"
  [ "$(grep -c 'added CA' "$work/out")" -ge 2 ] || fail "two CAs added: $(cat "$work/out")"
  ctl ca add "$f1"; expect 1 "ca add again"; err_has "already listed"
  echo "not a certificate" >"$work/junk.pem"
  ctl ca add "$work/junk.pem"; expect 1 "ca add junk"; err_has "400 INVALID_FIELD"
  ctl --json ca list; expect 0 "ca list --json"
  fp=$(openssl x509 -in "$f1" -outform der | sha256sum | cut -c1-64)
  jq -e --arg fp "$fp" '.cas | map(select(.fingerprint == $fp and .source == "vendors")) | length == 1' \
    "$work/out" >/dev/null || fail "ca list --json lacks $fp"
  id2=$(jq -r --arg fp "$fp" '.cas[] | select(.fingerprint != $fp) | .id' "$work/out" | head -1)
  ctl ca list; expect 0 "ca list"; out_has "$fp"; out_has "FINGERPRINT"
  ctl --token-file "$work/ro.tok" ca remove "$fp"; expect 1 "viewer ca remove"; err_has "403 FORBIDDEN"
  ctl ca remove "$(echo "$fp" | sed 's/../&:/g; s/:$//')"; expect 0 "ca remove by colon fingerprint"
  ctl ca remove "$fp"; expect 1 "ca remove again"; err_has "404 NOT_FOUND"
  ctl ca remove "$id2"; expect 0 "ca remove by id"
  ok "CAs: add PEM and DER, duplicate, junk, list, remove by fingerprint and id"
else
  echo "note: $cas not found: CA part skipped"
fi

# ---------------------------------------------------------------- viewer
ctl --token-file "$work/ro.tok" host list; expect 0 "viewer host list"
ctl --token-file "$work/ro.tok" host add 127.0.0.1:9 --accept-thumbprint; expect 1 "viewer host add"
err_has "403 FORBIDDEN"; err_has "admin token"
ctl --token-file "$work/ro.tok" token list; expect 1 "viewer token list"; err_has "403"
ctl --token-file "$work/ro.tok" --json token create x --role admin; expect 1 "viewer token create"
jq -e '.error.code == "FORBIDDEN"' "$work/out" >/dev/null || fail "--json error passthrough: $(cat "$work/out")"
ok "viewer token reads, cannot change; --json passes the API error through"

ctl host show nosuch; expect 1 "host show missing"; err_has "404 NOT_FOUND"
ctl host add 127.0.0.1:1 --accept-thumbprint; expect 1 "unreachable agent"; err_has "502 HOST_UNREACHABLE"
ctl alarm ack 999; expect 1 "alarm ack missing"; err_has "404"
ctl policy show nosuch; expect 1 "policy show missing"; err_has "404 NOT_FOUND"
ok "server-side errors: HTTP status, code and message"

# ---------------------------------------------------------------- policies
cat >"$work/pol.json" <<'EOF'
{"version": 1, "description": "test",
 "requirements": {"secure_boot": true, "banks": ["sha256"], "uefi": true,
                  "certified_tpm": true, "quote_pcrs": {"sha256": "0-7"}},
 "reference": {}}
EOF
ctl policy create base --file "$work/pol.json"; expect 0 "policy create --file"; out_has "Created policy base"
ctl policy create base --file "$work/pol.json"; expect 1 "policy create dup"; err_has "409 EXISTS"
ctl policy create base --file "$work/pol.json" --replace; expect 0 "policy replace"
echo '{"version": 1, "requirements": {"secure_bot": true}}' >"$work/typo.json"
ctl policy create typo --file "$work/typo.json"; expect 1 "policy typo"; err_has "400 INVALID_FIELD"; err_has "secure_bot"
echo '{"version": 1,' >"$work/broken.json"
ctl policy create broken --file "$work/broken.json"; expect 1 "policy not JSON"; err_has "line"
ctl policy create x --file "$work/none.json"; expect 1 "policy file missing"; err_has "cannot read"
ctl --json policy show base; expect 0 "policy show --json"
jq -e '.name == "base" and .body.requirements.secure_boot == true and (.hosts|type=="number")' \
  "$work/out" >/dev/null || fail "policy show --json: $(cat "$work/out")"
ctl policy show base; expect 0 "policy show"; out_has "Policy base"; out_has '"secure_boot": true'
ctl policy list; expect 0 "policy list"; out_has "base"
ctl --json policy list; expect 0 "policy list --json"
jq -e '.policies | map(.name) | index("base") != null' "$work/out" >/dev/null || fail "policy list --json"
# Strings from the network never reach the terminal with control characters.
printf '{"version": 1, "description": "\\u001b[2J\\u009b31m evil", "requirements": {}}' >"$work/esc.json"
ctl policy create esc --file "$work/esc.json"; expect 0 "policy with escapes"
ctl policy show esc; expect 0 "policy show esc"; out_has '"\u001B[2J\u009B31m evil"'
if LC_ALL=C grep -q $'\e\|\xc2\x9b' "$work/out"; then fail "control characters printed"; fi
ctl --json policy remove esc; expect 0 "policy remove"
jq -e 'type == "object"' "$work/out" >/dev/null || fail "policy remove --json: $(cat "$work/out")"
ok "policies: create from file (dup, replace, typo, broken JSON), show, list"

if [ "$hosts" = 1 ]; then
  # -------------------------------------------------------------- hosts
  # start_host N LOG: simulated host hN with agent; sets port_N, tp_N.
  start_host() {
    local n=$1 log=$2 h="$work/h$1"
    "$bin/attest-sim" create "$h" --eventlog "$logs/$log" --ek-ca "$work/simca" >/dev/null ||
      fail "attest-sim create h$n"
    local tcti
    tcti=$("$bin/attest-sim" boot "$h") || fail "attest-sim boot h$n"
    "$bin/attest-agent" --listen 127.0.0.1:0 --tcti "$tcti" --eventlog "$h/eventlog.bin" \
      --data-dir "$work/a$n" --trust-verifier "$vtp" >"$work/a$n.out" 2>"$work/a$n.err" &
    apids+=($!)
    for _ in $(seq 100); do grep -q '^listening ' "$work/a$n.out" && break; sleep 0.1; done
    eval "port_$n=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/a$n.out")"
    eval "tp_$n=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/a$n.out")"
  }
  start_host 1 gce-rhel8-secureboot.bin
  start_host 2 gce-ubuntu2104-no-secureboot.bin
  [ -n "${port_1:-}" ] && [ -n "${tp_1:-}" ] && [ -n "${port_2:-}" ] || fail "agents did not start"
  ctl ca add "$work/simca/ca.pem"; expect 0 "ca add the simulator's EK CA"

  ctl host add "127.0.0.1:$port_1" --name web-01
  expect 1 "host add unconfirmed"; err_has "$tp_1"; err_has "--thumbprint $tp_1"
  ctl --json host add "127.0.0.1:$port_1" --name web-01
  expect 1 "host add unconfirmed --json"
  jq -e --arg tp "$tp_1" '.error.code == "THUMBPRINT_NOT_CONFIRMED" and .error.thumbprint == $tp' \
    "$work/out" >/dev/null || fail "unconfirmed --json: $(cat "$work/out")"
  ctl --json host list; expect 0 "host list"
  jq -e '.hosts == [] and .total == 0' "$work/out" >/dev/null || fail "an unconfirmed host was added"
  ok "host add without confirmation: nothing added, the agent's thumbprint shown"

  if command -v script >/dev/null; then
    # On a terminal the operator is asked; "n" adds nothing, "y" pins what was shown.
    (sleep 1; echo n) | script -qec "'$bin/attestctl' host add 127.0.0.1:$port_1 --name tty" /dev/null \
      >"$work/out" 2>&1; rc=$?
    expect 1 "terminal prompt answered n"; out_has "Accept this host's thumbprint"; out_has "$tp_1"
    out_has "Not added."
    (sleep 1; echo y) | script -qec "'$bin/attestctl' host add 127.0.0.1:$port_1 --name tty" /dev/null \
      >"$work/out" 2>&1; rc=$?
    expect 0 "terminal prompt answered y"; out_has "Added host tty"
    ctl --json host show tty
    jq -e --arg tp "$tp_1" '.thumbprint == $tp' "$work/out" >/dev/null || fail "prompted pin: $(cat "$work/out")"
    ctl host remove tty; expect 0 "remove tty"
    ok "host add on a terminal: the vCenter-style question, n and y"
  fi

  t0=$(date +%s%N)
  ctl host add "127.0.0.1:$port_1" --name web-01 --thumbprint "$tp_1"
  t1=$(date +%s%N)
  expect 0 "host add --thumbprint"; out_has "trust green"; out_has "$tp_1"
  echo "figure: host add with enrollment and first attestation: $(( (t1 - t0) / 1000000 )) ms"
  ctl host add "127.0.0.1:$port_1" --name web-01 --thumbprint "$tp_1"; expect 1 "host add dup"; err_has "409 EXISTS"
  ctl host add "127.0.0.1:$port_2" --name nosb --accept-thumbprint; expect 0 "host add --accept-thumbprint"
  out_has "trust red"; out_has "SECURE_BOOT_DISABLED"; out_has "$tp_2"
  ok "host add: pinned thumbprint -> green; accepted thumbprint, Secure Boot off -> red"

  ctl --json host list; expect 0 "host list --json"
  jq -e '.total == 2 and (.hosts | length == 2) and all(.hosts[];
      has("name") and has("trust") and has("connection") and has("last_attested")
      and has("ak_name") and has("tpm") and has("software")
      and (.reasons | type == "array") and all(.reasons[]; has("code") and has("message")))' \
    "$work/out" >/dev/null || fail "host list --json contract: $(cat "$work/out")"
  jq -e '[.hosts[] | {(.name): .trust}] | add == {"nosb": "red", "web-01": "green"}' "$work/out" \
    >/dev/null || fail "host list trusts: $(cat "$work/out")"
  ctl host list; expect 0 "host list"
  grep -qE '^web-01 +127\.0\.0\.1:[0-9]+ +green +connected' "$work/out" || fail "host list row: $(cat "$work/out")"
  grep -qE '^nosb .* red .*SECURE_BOOT_DISABLED' "$work/out" || fail "host list row nosb: $(cat "$work/out")"
  ctl host list --trust red; expect 0 "host list --trust red"; out_has nosb
  grep -q web-01 "$work/out" && fail "--trust red lists a green host"
  ctl --json host show web-01; expect 0 "host show --json"
  jq -e '.name == "web-01" and .trust == "green" and .connection == "connected" and .reasons == []
      and (.ak_name|type=="string") and .tpm.present != false and (.software.os|type=="string")
      and (.last_attested|type=="number") and (.results|length >= 1)' "$work/out" >/dev/null ||
    fail "host show --json: $(cat "$work/out")"
  ak1=$(jq -r .ak_name "$work/out")
  ctl host show web-01; expect 0 "host show"
  out_has "trust              green"; out_has "Attested and trusted"; out_has "EK certificate"
  out_has "Recent attestations"; out_has "kernel"
  ctl host show nosb; expect 0 "host show red"
  out_has "Why it is not green:"; out_has "[SECURE_BOOT_DISABLED]"; out_has "where: PCR 7"
  ok "host list/show: tables, contract keys, reasons as sentences with evidence"

  ctl --json alarm list; expect 0 "alarm list --json"
  aid=$(jq -r '.alarms[] | select(.host == "nosb") | .id' "$work/out" | head -1)
  [ -n "$aid" ] || fail "no alarm for the red host: $(cat "$work/out")"
  ctl alarm list; expect 0 "alarm list"; out_has "nosb"; out_has "open"
  ctl --token-file "$work/ro.tok" alarm ack "$aid"; expect 1 "viewer ack"; err_has "403"
  ctl alarm ack "$aid"; expect 0 "alarm ack"; out_has "acknowledged by admin"
  ctl alarm ack "$aid"; expect 1 "alarm ack twice"; err_has "409 ALREADY_ACKNOWLEDGED"
  ctl alarm list --unacked; expect 0 "alarm list --unacked"; out_has "No open alarms unacknowledged"
  ok "alarms: raised for red, listed, acknowledged once"

  ctl host attest web-01; expect 0 "host attest"; out_has "web-01: trust green"
  ctl --json host attest web-01 --no-wait; expect 0 "attest --no-wait"
  jq -e '.queued == true' "$work/out" >/dev/null || fail "attest --no-wait: $(cat "$work/out")"
  ctl host disconnect web-01; expect 0 "disconnect"; out_has "trust unknown"; out_has "HOST_DISCONNECTED"
  ctl host attest web-01; expect 1 "attest disconnected"; err_has "409 BUSY"; err_has "reconnect"
  ctl host reconnect web-01; expect 0 "reconnect"; out_has "trust green"
  ctl --json host show web-01
  ak2=$(jq -r .ak_name "$work/out")
  [ -n "$ak2" ] && [ "$ak2" != null ] && [ "$ak2" != "$ak1" ] || fail "reconnect kept the AK ($ak1 -> $ak2)"
  ok "attest, disconnect (attest refused), reconnect (new AK, green)"

  ctl policy assign base --host web-01; expect 0 "policy assign host"; out_has "web-01 now uses policy base"
  ctl --json host show web-01
  jq -e '.policy == "base"' "$work/out" >/dev/null || fail "assigned policy not shown"
  ctl policy remove base; expect 1 "policy in use"; err_has "409 POLICY_IN_USE"
  ctl policy create learned --from-host web-01
  if [ "$rc" = 0 ]; then
    out_has "Approved from host web-01"; ok "policy create --from-host prints what it approved"
  else
    expect 1 "policy create --from-host"; err_has "the verifier answered"
    echo "note: the verifier refused learning: $(head -1 "$work/err")"
  fi

  ctl event list --host web-01 --limit 3; expect 0 "event list --host --limit"
  [ "$(grep -cE '^[0-9]+ ' "$work/out")" = 3 ] || fail "event list --limit 3: $(cat "$work/out")"
  out_has "web-01"; out_has "(more: attestctl event list --before"
  ctl --json event list --host nosb; expect 0 "event list --json"
  jq -e '(.events|length) > 0 and all(.events[]; .host == "nosb" and has("kind") and has("actor") and has("message"))' \
    "$work/out" >/dev/null || fail "event list --json: $(cat "$work/out")"
  ctl event list --kind policy; expect 0 "event list --kind"; out_has "assigned to host web-01"
  ok "events: by host, kind, limit, paging hint"

  ctl host remove nosb; expect 0 "host remove"; out_has "Removed host nosb"
  ctl host show nosb; expect 1 "removed host"; err_has "404 NOT_FOUND"
  ok "host remove"
fi

ctl policy assign base --default; expect 0 "policy assign --default"; out_has "is now the default"
ctl --json policy list
jq -e '.policies[] | select(.name == "base") | .default == true' "$work/out" >/dev/null || fail "default not set"
ok "policy assign --default"

kill -TERM "$vpid"; wait "$vpid" 2>/dev/null; vpid=""
ctl status; expect 1 "verifier stopped"; err_has "cannot reach the verifier"
ok "verifier down: network failure exit 1"
echo "PASS"
