#!/usr/bin/env bash
# attest-verifier migrate-db: a verifier on SQLite with a green and a red
# simulated host (AKs, an alarm, events, an operator token) is stopped, its
# database copied into a throwaway PostgreSQL, and a verifier started on
# PostgreSQL with the same data directory shows the same hosts, AKs, alarms,
# events and tokens, then keeps attesting with the migrated AKs. A second
# migrate-db into the now non-empty database is refused and changes nothing.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
here=$(cd "$(dirname "$0")" && pwd)
skip() { echo "SKIP: $*"; exit 77; }
command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
for t in jq curl psql; do command -v $t >/dev/null || skip "$t not installed"; done
[ -d "$logs" ] || skip "$logs not found (shared test data)"
for b in attest-sim attest-agent attest-verifier; do
  [ -x "$bin/$b" ] || skip "$bin/$b not built"
done
. "$here/pg.sh"
work=$(mktemp -d /tmp/attest-test-migrate.XXXXXX)
. "$here/lib.sh"
trap 'lib_cleanup; pg_stop; rm -rf "$work"' EXIT
pg_start || skip "no PostgreSQL server"
sql() { psql -X -q -t -A -d "$PG_URL" -v ON_ERROR_STOP=1 -c "$1"; }

sim good qemu-ovmf-ubuntu-secureboot.bin "$work/ca"
sim nosb gce-ubuntu2104-no-secureboot.bin "$work/ca"
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"

# --- on SQLite
start_verifier
admin=$(tr -d '\n' <"$work/vd/admin.token")
call "$admin" POST "/api/v1/hosts?wait=1" \
  "{\"address\":\"127.0.0.1:$good_port\",\"name\":\"good\",\"thumbprint\":\"$good_thumb\"}" 201
[ "$(field .trust)" = green ] || fail "good: $(field .trust)"
call "$admin" POST "/api/v1/hosts?wait=1" \
  "{\"address\":\"127.0.0.1:$nosb_port\",\"name\":\"nosb\",\"thumbprint\":\"$nosb_thumb\"}" 201
[ "$(field .trust)" = red ] || fail "nosb: $(field .trust)"
call "$admin" POST /api/v1/tokens '{"name":"ops","role":"viewer"}' 201
viewer=$(field .token)
snapshot() {
  call "$admin" GET /api/v1/hosts 200
  jq -c '[.hosts[]|{name,address,thumbprint,trust,connection,ak_name,ek_certified,reasons,last_attested,tpm,software}]' <<<"$body" >"$work/$1.hosts"
  call "$admin" GET "/api/v1/alarms" 200
  jq -c '.alarms' <<<"$body" >"$work/$1.alarms"
  call "$admin" GET "/api/v1/events?limit=1000" 200
  jq -c '.events' <<<"$body" >"$work/$1.events"
  call "$admin" GET /api/v1/tokens 200
  jq -c '.tokens' <<<"$body" >"$work/$1.tokens"
  call "$admin" GET /api/v1/cas 200
  jq -c '.cas' <<<"$body" >"$work/$1.cas"
  call "$admin" GET /api/v1/hosts/good 200
  jq -c '.results' <<<"$body" >"$work/$1.results"
}
snapshot before
[ "$(jq length "$work/before.alarms")" = 1 ] || fail "no alarm before: $(cat "$work/before.alarms")"
kill -TERM "$ver_pid"; wait "$ver_pid"; ver_pid=""

# --- migrate
"$bin/attest-verifier" migrate-db --from "sqlite:$work/vd/verifier.db" --to "$PG_URL" \
  >"$work/mig.out" 2>"$work/mig.err" || fail "migrate-db: $(cat "$work/mig.err")"
grep -q '^  hosts  *2 row(s)$' "$work/mig.out" || fail "no progress for hosts: $(cat "$work/mig.out")"
grep -q '^done: [0-9]* row(s) copied' "$work/mig.out" || fail "no summary: $(cat "$work/mig.out")"
ok "migrate-db: $(grep '^done' "$work/mig.out" | cut -d';' -f1)"
rows_before=$(sql "SELECT count(*) FROM events")
if "$bin/attest-verifier" migrate-db --from "sqlite:$work/vd/verifier.db" --to "$PG_URL" \
  >"$work/mig2.out" 2>"$work/mig2.err"; then
  fail "a second migrate-db into a non-empty database succeeded"
fi
grep -q 'refused: the destination .* is not empty' "$work/mig2.err" || fail "refusal: $(cat "$work/mig2.err")"
[ "$(sql "SELECT count(*) FROM events")" = "$rows_before" ] || fail "the refused copy wrote rows"
ok "a second migrate-db is refused (destination not empty), nothing written"

# --- on PostgreSQL, same data dir
n0=$(wc -l <"$work/ver.err")
start_verifier --db "$PG_URL"
! tail -n +$((n0 + 1)) "$work/ver.err" | grep -q 'created admin token\|imported' ||
  fail "the PostgreSQL start set the database up again"
[ "$(tr -d '\n' <"$work/vd/admin.token")" = "$admin" ] || fail "admin.token rewritten"
snapshot after
for k in hosts alarms events tokens cas results; do
  cmp -s "$work/before.$k" "$work/after.$k" || fail "$k differ after migration: $(diff "$work/before.$k" "$work/after.$k" | head -5)"
done
call "$viewer" GET /api/v1/hosts 200
ok "on PostgreSQL: same hosts, AKs, alarms, events, tokens, CAs and history as on SQLite"
call "$admin" POST "/api/v1/hosts/good/attest?wait=1" 200
[ "$(field .trust)" = green ] || fail "good on PG: $(field .trust) $(field -c .reasons)"
[ "$(field .ak_name)" = "$(jq -r '.[]|select(.name=="good")|.ak_name' "$work/before.hosts")" ] ||
  fail "the migrated AK was not used"
call "$admin" POST "/api/v1/hosts/nosb/attest?wait=1" 200
call "$admin" GET "/api/v1/alarms?open=1" 200
[ "$(field '.alarms|length')" = 1 ] || fail "alarm raised again after migration: $body"
call "$admin" POST /api/v1/tokens '{"name":"ops2","role":"viewer"}' 201
id_after=$(sql "SELECT max(id) FROM api_tokens")
[ "$id_after" -gt "$(jq '[.[].id]|max' "$work/before.tokens")" ] || fail "ids reused"
ok "attests on PostgreSQL with the migrated AK (no re-enrollment), alarm not raised twice, new ids above the old"
kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
[ "$rc" = 0 ] || fail "verifier exited with $rc"
! grep -q Sanitizer "$work/ver.err" "$work/mig.err" || fail "sanitizer report"
echo PASS
