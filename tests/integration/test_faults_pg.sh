#!/usr/bin/env bash
# PostgreSQL restarted under a running verifier (issue 7): a real verifier on
# a throwaway PostgreSQL (pg.sh) attesting two real agents on swtpm every
# second. The server is restarted (pg_restart: fast shutdown, start) while
# one host's quote is held in its paused TPM, so the answer arrives while
# the connection is gone. The verifier reports the lost connection, writes
# no verdict it could not check (no red, no alarm), reconnects by itself and
# attests everything green again; the API answers again without a restart.
# A job that ends while the server is still down cannot release its lease:
# that host waits for the lease to expire (--lease-seconds, 5 s here).
# Skips (77) without a PostgreSQL server.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/faultlib.sh"
. "$here/pg.sh"
fault_prereqs
command -v psql >/dev/null || skip "psql not installed"

work=$(mktemp -d /tmp/attest-test-faults-pg.XXXXXX)
stopped=""
cleanup() {
  [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
  lib_cleanup
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
pg_start || skip "PostgreSQL not available"

q() { "$PG_BIN/psql" -X -q -t -A -d "$PG_URL" -c "$1"; }
greens_after() { q "SELECT count(*) FROM results r JOIN hosts h ON h.id = r.host_id
                    WHERE h.name = '$1' AND r.trust_state = 'green' AND r.at >= $2"; }
all_green_after() {
  for n in a b; do [ "$(greens_after $n "$1" 2>/dev/null)" -ge 1 ] 2>/dev/null || return 1; done
}

for n in a b; do sim $n qemu-ovmf-ubuntu-secureboot.bin "$work/ca"; done
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
start_verifier --db "$PG_URL" --attest-interval 1 --timeout-ms 5000 --evidence-validity 120 \
  --lease-seconds 5
admin=$(tr -d '\n' <"$work/vd/admin.token")
for n in a b; do add_host $n; done
ok "two hosts green on PostgreSQL"

al0=$(q "SELECT count(*) FROM alarms")
t0=$(date +%s)
sp=$(swtpm_pid a)
kill -STOP "$sp"; stopped=$sp
call "$admin" POST /api/v1/hosts/a/attest 202
sleep 1
pg_restart || fail "PostgreSQL did not restart"
kill -CONT "$sp"; stopped=""
t1=$(date +%s)
wait_until 30 all_green_after "$t1" || fail "not green again after the restart: $(q 'SELECT name, trust_state, reasons FROM hosts')"
grep -qi 'connection\|terminat' "$work/ver.err" || fail "the verifier did not report the lost connection"
[ "$(q "SELECT count(*) FROM alarms")" = "$al0" ] || fail "the restart raised an alarm: $(q 'SELECT summary FROM alarms')"
r=$(q "SELECT count(*) FROM results WHERE trust_state <> 'green' AND at >= $t0")
[ "$r" = 0 ] || fail "a verdict other than green was written: $(q "SELECT reasons FROM results WHERE trust_state <> 'green' AND at >= $t0")"
call "$admin" GET /api/v1/hosts 200
[ "$(field '[.hosts[]|select(.trust=="green")]|length')" = 2 ] || fail "hosts: $body"
# Consistency, as for SQLite: one open alarm per host at most, none on
# green, trust agrees with the newest result, green verdicts <= used nonces.
[ -z "$(q "SELECT host_id FROM alarms WHERE cleared_at IS NULL GROUP BY host_id HAVING count(*) > 1")" ] || fail "two open alarms"
[ -z "$(q "SELECT h.name FROM hosts h JOIN results r ON r.id = (SELECT max(id) FROM results WHERE host_id = h.id)
           WHERE h.trust_state <> r.trust_state AND NOT (h.trust_state = 'unknown' AND r.trust_state = 'green')")" ] ||
  fail "trust disagrees with the history"
[ -z "$(q "SELECT h.name FROM hosts h WHERE (SELECT count(*) FROM results WHERE host_id = h.id AND trust_state = 'green')
           > (SELECT count(*) FROM nonces WHERE host_id = h.id AND used_at IS NOT NULL)")" ] || fail "green verdicts > used nonces"
kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
[ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
! grep -q 'Sanitizer' "$work/ver.err" || fail "sanitizer report"
ok "PostgreSQL restarted mid-attestation -> reported, no false verdict or alarm, reconnected, green"
echo "PASS"
