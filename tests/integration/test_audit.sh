#!/usr/bin/env bash
# The audit chain end to end (issue 16) on SQLite: a real attest-verifier,
# two simulated hosts (swtpm + real agents), one green and one red (Secure
# Boot off), operator actions (CA, hosts, policy, token, alarm ack) and a
# second attestation whose event log the agent leaves out as unchanged.
#   whole      'attestctl audit verify' exits 0 (admin and viewer tokens),
#              prints the head, --json says whole; --expect-head the head: 0;
#              an unknown --expect-head: 1 (REWRITTEN)
#   records    every kind is there: verdicts (with evidence), trust, alarm
#              raised and acknowledged, host, policy, token, ca
#   offline    'audit export' then 'attestctl verify --audit FILE --record
#              SEQ' re-checks a past green verdict (first attestation, and the
#              one with the log left out): exit 0; a tampered record or event
#              log in the export: exit 1 naming it
#   edited     one row changed with the sqlite3 CLI (a red verdict made
#              green): exit 1 naming that record (hash); restored: 0
#   deleted    one row removed: exit 1 naming it (missing); the last row
#              removed: named too (the head row says more)
#   inserted   a record slipped in the middle with a correct hash, the later
#              ones renumbered: exit 1 naming the record after it (link)
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
for b in attest-verifier attestctl attest-sim attest-agent; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built"
done
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in jq sqlite3 python3; do command -v $t >/dev/null || skip "$t not installed"; done
[ -d "$logs" ] || skip "$logs not found (shared test data)"

work=$(mktemp -d /tmp/attest-test-audit.XXXXXX)
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
  echo "--- verifier stderr (last 20 lines)"; tail -20 "$work/verifier.err" 2>/dev/null
  exit 1
}
ok() { echo "ok: $*"; }
ctl() { "$bin/attestctl" "$@" >"$work/out" 2>"$work/err" </dev/null; rc=$?; }
expect() { [ "$rc" = "$1" ] || fail "$2: exit $rc, expected $1"; }
out_has() { grep -qF -- "$1" "$work/out" || fail "stdout lacks \"$1\": $(head -5 "$work/out")"; }
db="$work/v.db"
sql() { sqlite3 -cmd ".timeout 10000" "$db" "$1"; }

# ---------------------------------------------------------------- verifier, hosts
"$bin/attest-verifier" --listen 127.0.0.1:0 --db "sqlite:$db" --data-dir "$work/vdata" \
  --attest-interval 3600 >"$work/verifier.out" 2>"$work/verifier.err" &
vpid=$!
for _ in $(seq 100); do
  grep -q '^admin-token ' "$work/verifier.out" && break
  kill -0 "$vpid" 2>/dev/null || fail "verifier exited at start"
  sleep 0.1
done
url=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/verifier.out")
vtp=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]\{64\}\)$/\1/p' "$work/verifier.out")
admin=$(sed -n 's/^admin-token //p' "$work/verifier.out")
[ -n "$url" ] && [ -n "$vtp" ] && [ -f "$admin" ] || fail "verifier start lines"
export ATTEST_SERVER="$url" ATTEST_SERVER_THUMBPRINT="$vtp" ATTEST_TOKEN_FILE="$admin"

start_host() { # N LOG: sets port_N, tp_N
  local n=$1 h="$work/h$1"
  "$bin/attest-sim" create "$h" --eventlog "$logs/$2" --ek-ca "$work/simca" >/dev/null ||
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
ctl ca add "$work/simca/ca.pem"; expect 0 "ca add"
ctl host add "127.0.0.1:$port_1" --name web-01 --thumbprint "$tp_1"; expect 0 "host add green"
out_has "trust green"
ctl host add "127.0.0.1:$port_2" --name nosb --thumbprint "$tp_2"; expect 0 "host add red"
out_has "trust red"
ctl policy assign default --host nosb; expect 0 "policy assign"
ctl host attest nosb; expect 0 "attest nosb after its policy assignment"
ctl host attest web-01; expect 0 "attest again (log left out as unchanged)"
ctl --json alarm list; expect 0 "alarm list"
alarm=$(jq -r '.alarms[0].id' "$work/out")
ctl alarm ack "$alarm"; expect 0 "alarm ack"
ctl token create ro --role viewer --output "$work/ro.tok"; expect 0 "token create"
# Quiet: no attestation left in flight (the chain must not grow under the
# checks below).
prev=-1
for _ in $(seq 60); do
  cur=$(sql "SELECT COUNT(*) FROM audit_log")
  [ "$cur" = "$prev" ] && break
  prev=$cur
  sleep 1
done
ok "two hosts attested (green, red), CA, token, policy, alarm acknowledged"

# ---------------------------------------------------------------- whole
ctl audit verify; expect 0 "audit verify"
out_has "audit chain whole:"
head=$(sed -n 's/^audit chain whole: [0-9]* records, head [0-9]* \([0-9a-f]\{64\}\)$/\1/p' "$work/out")
n=$(sed -n 's/^audit chain whole: \([0-9]*\) records.*/\1/p' "$work/out")
[ -n "$head" ] && [ "${n:-0}" -ge 10 ] || fail "audit verify output: $(cat "$work/out")"
ctl --token-file "$work/ro.tok" --json audit verify; expect 0 "audit verify (viewer, --json)"
jq -e --arg h "$head" --argjson n "$n" '.whole == true and .records == $n and .head.hash == $h
  and .head.seq == $n and (has("broken") | not)' "$work/out" >/dev/null ||
  fail "audit verify --json: $(cat "$work/out")"
ctl audit verify --expect-head "$head" --page 3; expect 0 "--expect-head the head, pages of 3"
out_has "the expected head is record $n"
ctl audit verify --expect-head "$(printf 'ab%.0s' {1..32})"; expect 1 "--expect-head unknown"
out_has "REWRITTEN"
ok "audit verify: whole, $n records, head $head; anchored head found, unknown one refused"

kinds=$(sql "SELECT group_concat(kind) FROM (SELECT DISTINCT kind FROM audit_log ORDER BY kind)")
for k in alarm ca connection host policy token trust verdict; do
  grep -qw "$k" <<<"$kinds" || fail "no $k record in the chain (kinds: $kinds)"
done
sql "SELECT body FROM audit_log WHERE kind = 'alarm'" | grep -q "acknowledged" ||
  fail "no record of the alarm acknowledgement"
[ "$(sql "SELECT COUNT(*) FROM audit_eventlogs")" = 2 ] || fail "event logs not kept once each"
ok "records: kinds $kinds; the acknowledgement; two distinct event logs kept once"

# ---------------------------------------------------------------- offline
ctl audit export --out "$work/audit.jsonl"; expect 0 "audit export"
jq -e -s --argjson n "$n" '.[0].format == "attest-audit-export/1" and
  ([.[] | select(.record)] | length == $n) and ([.[] | select(.eventlog)] | length == 2)' \
  "$work/audit.jsonl" >/dev/null || fail "export shape: $(head -c 300 "$work/audit.jsonl")"
greens=$(jq -r 'select(.record.kind == "verdict" and .record.host == "web-01")
  | select((.record.body | fromjson).trust == "green") | .record.seq' "$work/audit.jsonl")
first=$(head -1 <<<"$greens"); second=$(sed -n 2p <<<"$greens")
[ -n "$first" ] && [ -n "$second" ] || fail "two green verdicts of web-01 not in the export"
for s in $first $second; do
  ctl verify --audit "$work/audit.jsonl" --record "$s"; expect 0 "offline re-check of record $s"
  out_has "record $s: verdict green on host web-01"
  out_has "evidence: verified"; out_has "replays to the quoted PCRs"
done
ctl verify --json --audit "$work/audit.jsonl" --record "$first"; expect 0 "offline --json"
jq -e --argjson s "$first" '.verified == true and .record == $s and .trust == "green"
  and .chain_whole == true and (.eventlog_sha256 | length == 64)' "$work/out" >/dev/null ||
  fail "verify --audit --json: $(cat "$work/out")"
ctl audit export --since "$second" --page 2 --out "$work/since.jsonl"; expect 0 "export --since"
jq -e -s --argjson s "$second" '.[0].first_seq == $s and ([.[] | select(.record)][0].record.seq == $s)
  and ([.[] | select(.eventlog)] | length >= 1)' "$work/since.jsonl" >/dev/null ||
  fail "export --since: $(head -c 300 "$work/since.jsonl")"
ctl verify --audit "$work/since.jsonl" --record "$second"; expect 0 "re-check from a --since export"
ctl verify --audit "$work/since.jsonl" --record "$first"; expect 1 "record before --since"
out_has "AUDIT_CHAIN_BROKEN"
# Tampered: the record's body edited (its trust), or the event log's bytes.
python3 - "$work/audit.jsonl" "$work/t1.jsonl" "$work/t2.jsonl" "$first" <<'EOF'
import json, sys
src, t1, t2, seq = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
a, b = [], []
for line in open(src).read().splitlines():
    o = json.loads(line)
    if o.get("record", {}).get("seq") == seq - 1:
        o["record"]["body"] += " "  # one byte more in the record before it
        a.append(json.dumps(o))
    else:
        a.append(line)
    if "eventlog" in o:
        d = o["eventlog"]["data"]
        o["eventlog"]["data"] = ("B" if d[0] != "B" else "C") + d[1:]
        b.append(json.dumps(o))
    else:
        b.append(line)
open(t1, "w").write("\n".join(a) + "\n")
open(t2, "w").write("\n".join(b) + "\n")
EOF
ctl verify --audit "$work/t1.jsonl" --record "$first"; expect 1 "tampered record before it"
out_has "AUDIT_CHAIN_BROKEN"; out_has "record $((first - 1)): its contents were changed"
ctl verify --audit "$work/t2.jsonl" --record "$first"; expect 1 "tampered event log"
out_has "AUDIT_EVENTLOG_MISSING"
ok "offline: green verdicts $first and $second re-checked; tampered export refused"

# ---------------------------------------------------------------- edited
red=$(sql "SELECT MIN(seq) FROM audit_log WHERE kind = 'verdict' AND body LIKE '%\"trust\":\"red\"}'")
[ -n "$red" ] || fail "no red verdict record"
sql "UPDATE audit_log SET body = replace(body, '\"trust\":\"red\"}', '\"trust\":\"green\"}') WHERE seq = $red"
ctl audit verify; expect 1 "edited row"
out_has "audit chain BROKEN at record $red (hash)"
ctl --json audit verify; expect 1 "edited row --json"
jq -e --argjson s "$red" '.whole == false and .broken.seq == $s and .broken.fault == "hash"' \
  "$work/out" >/dev/null || fail "--json broken: $(cat "$work/out")"
sql "UPDATE audit_log SET body = replace(body, '\"trust\":\"green\"}', '\"trust\":\"red\"}') WHERE seq = $red"
ctl audit verify; expect 0 "edit undone"
ok "a red verdict edited to green in the database: record $red named; undone: whole"

# ---------------------------------------------------------------- deleted
mid=$((n / 2))
sql "CREATE TABLE bak AS SELECT * FROM audit_log WHERE seq = $mid; DELETE FROM audit_log WHERE seq = $mid"
ctl audit verify; expect 1 "deleted row"
out_has "audit chain BROKEN at record $mid (missing)"
sql "INSERT INTO audit_log SELECT * FROM bak; DROP TABLE bak"
ctl audit verify; expect 0 "deleted row put back"
last=$(sql "SELECT MAX(seq) FROM audit_log")
sql "CREATE TABLE bak AS SELECT * FROM audit_log WHERE seq = $last; DELETE FROM audit_log WHERE seq = $last"
ctl audit verify; expect 1 "last row deleted"
out_has "audit chain BROKEN at record $last (missing)"
sql "INSERT INTO audit_log SELECT * FROM bak; DROP TABLE bak"
ok "a deleted row named (record $mid), the last one too (record $last)"

# ---------------------------------------------------------------- inserted
# Record $mid forged with a correct hash over its predecessor; the later
# records renumbered (negated first: the key is unique at every step).
prev=$(sql "SELECT hash FROM audit_log WHERE seq = $((mid - 1))")
sql "UPDATE audit_log SET seq = -seq WHERE seq >= $mid; UPDATE audit_log SET seq = 1 - seq WHERE seq < 0"
forged=$(python3 - "$prev" "$mid" <<'EOF'
import hashlib, sys
prev, seq = bytes.fromhex(sys.argv[1]), int(sys.argv[2])
body = '{"event":0,"message":"nothing happened"}'
text = f"attest-audit/1\n{seq}\n1700000000\nhost\nadmin\n0\n\n{body}".encode()
print(hashlib.sha256(prev + text).hexdigest())
EOF
)
sql "INSERT INTO audit_log VALUES ($mid, 1700000000, 'host', 'admin', 0, '', '{\"event\":0,\"message\":\"nothing happened\"}', '$prev', '$forged')"
ctl audit verify; expect 1 "inserted row"
out_has "audit chain BROKEN at record $((mid + 1)) (link)"
ok "a record inserted at $mid with a valid hash: record $((mid + 1)) no longer links"
# The forged record taken out again, the later ones renumbered back.
sql "DELETE FROM audit_log WHERE seq = $mid; UPDATE audit_log SET seq = -seq WHERE seq > $mid; UPDATE audit_log SET seq = -seq - 1 WHERE seq < 0"
ctl audit verify; expect 0 "forged record removed"

# ---------------------------------------------------------------- pruned
# Retention: export, then prune the start of the chain. The chain is whole
# from the first record kept because its prune record names exactly the
# records removed; the same start deleted without one is not.
ctl audit export --out "$work/before-prune.jsonl"; expect 0 "export before pruning"
cut=$((n / 2))
ctl --token-file "$work/ro.tok" audit prune --through "$cut"; expect 1 "prune with a viewer token"
ctl audit prune --through "$((n + 1000))"; expect 1 "prune beyond the head"
grep -q "NOT_IN_CHAIN" "$work/err" || fail "prune beyond the head: $(cat "$work/err")"
ctl --json audit prune --through "$cut"; expect 0 "audit prune"
jq -e --argjson c "$cut" '.pruned == $c and .through == $c and (.through_hash | length == 64)' \
  "$work/out" >/dev/null || fail "prune answer: $(cat "$work/out")"
[ "$(sql "SELECT MIN(seq) FROM audit_log")" = $((cut + 1)) ] || fail "records up to $cut not pruned"
[ "$(sql "SELECT COUNT(*) FROM audit_log WHERE kind = 'audit' AND body LIKE '%\"pruned\"%'")" = 1 ] ||
  fail "no prune record"
ctl audit verify; expect 0 "audit verify after pruning"
out_has "records 1 to $cut were pruned"
ctl --json audit verify; expect 0 "audit verify --json after pruning"
jq -e --argjson c "$cut" '.whole == true and .pruned.through == $c' "$work/out" >/dev/null ||
  fail "verify --json after pruning: $(cat "$work/out")"
ctl audit prune --through "$cut"; expect 1 "the same records pruned twice"
# The first records kept deleted by hand: the prune record no longer names
# the start, so the chain is not whole.
sql "CREATE TABLE bak AS SELECT * FROM audit_log WHERE seq <= $((cut + 2)); DELETE FROM audit_log WHERE seq <= $((cut + 2))"
ctl audit verify; expect 1 "start deleted without a prune record"
out_has "audit chain BROKEN at record $((cut + 2)) (missing)"
sql "INSERT INTO audit_log SELECT * FROM bak; DROP TABLE bak"
ctl audit verify; expect 0 "start put back"
# A past verdict from the export taken before the prune still re-checks.
ctl verify --audit "$work/before-prune.jsonl" --record "$second"; expect 0 "offline after pruning"
ok "pruned through $cut: whole from $((cut + 1)) with its prune record; the start deleted by hand named"
# Pruned in batches: each request deletes at most --batch records and
# appends its own prune record; the last one names the chain's new start.
cut2=$((cut + 6))
ctl --json audit prune --through "$cut2" --batch 2; expect 0 "audit prune in batches"
jq -e --argjson c "$cut2" '.pruned == 6 and .batches == 3 and .through == $c' "$work/out" >/dev/null ||
  fail "batched prune answer: $(cat "$work/out")"
grep -q "through record $((cut + 2)) of $cut2" "$work/err" || fail "batched prune: no progress: $(cat "$work/err")"
[ "$(sql "SELECT MIN(seq) FROM audit_log")" = $((cut2 + 1)) ] || fail "records up to $cut2 not pruned"
[ "$(sql "SELECT COUNT(*) FROM audit_log WHERE kind = 'audit' AND body LIKE '%\"pruned\"%'")" = 4 ] ||
  fail "not one prune record per batch"
ctl --json audit verify; expect 0 "audit verify after a batched prune"
jq -e --argjson c "$cut2" '.whole == true and .pruned.through == $c' "$work/out" >/dev/null ||
  fail "verify --json after a batched prune: $(cat "$work/out")"
ctl audit prune --through "$cut2" --batch 0; expect 2 "a batch of 0"
ok "pruned through $cut2 in 3 batches of 2: 3 prune records, whole from $((cut2 + 1))"
