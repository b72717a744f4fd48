#!/usr/bin/env bash
# Faults in the verifier's storage (issue 7), SQLite: a real verifier
# attesting two real agents on swtpm every second.
#   db_locked   another process holds the database's write lock (sqlite3
#               CLI, BEGIN EXCLUSIVE) for longer than the verifier's busy
#               timeout: the verifier reports "database is locked", writes
#               no verdict it could not check (no red, no alarm, no green
#               without a consumed nonce), keeps serving reads, and attests
#               everything green again once the lock is released; during
#               the lock every API read is answered within 1 s and an
#               operator write gets 503 DATABASE_BUSY + Retry-After within
#               1 s (the event loop never waits for the lock, issue 14); a
#               refused disconnect changes nothing
#   disk_full   the data directory is a small tmpfs filled to the last byte:
#               writes fail (SQLITE_FULL), the verifier reports it and keeps
#               running without a false verdict or a corrupt file; space
#               freed -> green again (skipped unless tmpfs can be mounted,
#               i.e. as root)
# Each ends with the database consistency check (faultlib.sh).
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/faultlib.sh"
fault_prereqs

work=$(mktemp -d /tmp/attest-test-faults-db.XXXXXX)
lock_pid=""
mnt=""
stopped=""
cleanup() {
  [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
  [ -n "$lock_pid" ] && kill "$lock_pid" 2>/dev/null && wait "$lock_pid" 2>/dev/null
  lib_cleanup
  [ -n "$mnt" ] && umount "$mnt" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

for n in a b; do sim $n qemu-ovmf-ubuntu-secureboot.bin "$work/ca"; done
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
vopts=(--attest-interval 1 --timeout-ms 3000 --evidence-validity 120)

alarms_total() { db "SELECT count(*) FROM alarms;"; }
reds_since() { db "SELECT count(*) FROM results WHERE trust_state <> 'green' AND at >= $1;"; }
all_green_after() {
  for n in a b; do [ "$(greens_since $n "$1")" -ge 1 ] || return 1; done
  [ "$(db "SELECT count(*) FROM hosts WHERE trust_state = 'green'")" = 2 ]
}

# While the lock is held: the first GET (timed by db_locked) and 12 more over
# about 3 s, each answered 200 within 1 s (p50 and the slowest printed), and
# POST /hosts/b/attest answered 503
# DATABASE_BUSY with Retry-After within 1 s (nothing written).
api_latency_during_lock() {
  local times=("$first_get") i t code out hdr
  for i in $(seq 12); do
    local path=/api/v1/hosts
    [ $((i % 2)) = 0 ] && path=/api/v1/hosts/a
    out=$(curl -sk -m 5 -o /dev/null -H "Authorization: Bearer $admin" \
      -w '%{http_code} %{time_total}' "$url$path") || fail "GET $path during the lock: curl failed"
    code=${out%% *}; t=${out#* }
    [ "$code" = 200 ] || fail "GET $path during the lock: HTTP $code"
    times+=("$t")
    sleep 0.25
  done
  local sorted p50 max
  sorted=$(printf '%s\n' "${times[@]}" | sort -g)
  p50=$(sed -n 7p <<<"$sorted"); max=$(tail -n1 <<<"$sorted")
  echo "API latency during the lock: ${#times[@]} GETs, p50 ${p50} s, max ${max} s"
  awk -v m="$max" 'BEGIN { exit !(m < 1.0) }' || fail "a GET took ${max} s during the lock (limit 1 s)"
  hdr="$work/busy.hdr"
  out=$(curl -sk -m 5 -D "$hdr" -X POST -H "Authorization: Bearer $admin" \
    -w '\n%{http_code} %{time_total}' "$url/api/v1/hosts/b/attest")
  code=$(tail -n1 <<<"$out"); t=${code#* }; code=${code%% *}
  [ "$code" = 503 ] || fail "POST /hosts/b/attest during the lock: HTTP $code, not 503: $out"
  sed '$d' <<<"$out" | jq -e '.error.code == "DATABASE_BUSY"' >/dev/null ||
    fail "503 without the DATABASE_BUSY code: $out"
  grep -qi '^Retry-After: *1' "$hdr" || fail "503 without Retry-After: $(cat "$hdr")"
  awk -v m="$t" 'BEGIN { exit !(m < 1.0) }' || fail "POST during the lock answered after ${t} s"
  echo "API write during the lock: 503 DATABASE_BUSY in ${t} s"
  # Several changes in one call (disconnect: enabled, connection, trust):
  # refused whole, nothing half-changed (checked once the lock is gone).
  out=$(curl -sk -m 5 -X POST -H "Authorization: Bearer $admin" -w '\n%{http_code}' \
    "$url/api/v1/hosts/b/disconnect")
  [ "$(tail -n1 <<<"$out")" = 503 ] || fail "POST /hosts/b/disconnect during the lock: $out"
}

db_locked() {
  start_verifier "${vopts[@]}"
  admin=$(tr -d '\n' <"$work/vd/admin.token")
  for n in a b; do add_host $n; done
  local al0 t0 t1 errs0
  al0=$(alarms_total)
  errs0=$(grep -c 'locked' "$work/ver.err")
  t0=$(date +%s)
  # a's quote is held in its (paused) TPM while the lock is taken, so the
  # answer arrives when the verifier cannot consume the nonce or write.
  local sp
  sp=$(swtpm_pid a)
  kill -STOP "$sp"; stopped=$sp
  call "$admin" POST /api/v1/hosts/a/attest 202
  sleep 1
  # Hold the write lock 14 s: longer than the verifier's 10 s busy timeout.
  (printf '.timeout 20000\nBEGIN EXCLUSIVE;\nSELECT 1;\n'; sleep 14; printf 'COMMIT;\n') |
    sqlite3 -batch "$work/vd/verifier.db" >"$work/lock.out" 2>&1 &
  lock_pid=$!
  wait_until 5 grep -q '^1$' "$work/lock.out" || fail "the lock was not taken: $(cat "$work/lock.out")"
  kill -CONT "$sp"; stopped=""
  # Reads go on (WAL) while writers wait; the API answers within the busy timeout.
  # (Timed: it arrives while the verifier handles a's quote, whose nonce
  # cannot be consumed during the lock.)
  out=$(curl -sk -m 15 -H "Authorization: Bearer $admin" -w '\n%{http_code} %{time_total}' "$url/api/v1/hosts")
  first_get=$(tail -n1 <<<"$out")
  [ "${first_get%% *}" = 200 ] || fail "GET /hosts while the database is locked: $out"
  first_get=${first_get#* }
  # The event loop never waits for the lock (issue 14): reads are answered
  # at once, and an operator write is refused within --db-lock-wait-ms with
  # 503 DATABASE_BUSY and Retry-After, all well within 1 s.
  api_latency_during_lock
  wait "$lock_pid"; lock_pid=""
  t1=$(date +%s)
  [ "$(grep -c 'locked' "$work/ver.err")" -gt "$errs0" ] || fail "the verifier did not report the locked database"
  wait_until 20 all_green_after "$t1" || fail "not green after the lock was released: $(db 'SELECT name, trust_state, reasons FROM hosts')"
  [ "$(alarms_total)" = "$al0" ] || fail "the locked database raised an alarm: $(db 'SELECT summary FROM alarms')"
  [ "$(db "SELECT enabled FROM hosts WHERE name = 'b'")" = 1 ] || fail "the refused disconnect changed host b"
  # The writer's group that waited out its 10 s lock wait failed whole;
  # /metrics counts it, and the groups committed since.
  call "$admin" GET /metrics 200
  local wfail groups
  wfail=$(sed -n 's/^attest_store_writes_total{result="failed"} //p' <<<"$body")
  groups=$(sed -n 's/^attest_store_groups_total //p' <<<"$body")
  [ "${wfail:-0}" -ge 1 ] || fail "no failed write counted during the lock: $(grep attest_store <<<"$body")"
  [ "${groups:-0}" -ge 2 ] || fail "no group commits counted: $(grep attest_store <<<"$body")"
  [ "$(reds_since "$t0")" = 0 ] || fail "a verdict other than green was written: $(db "SELECT reasons FROM results WHERE trust_state <> 'green' AND at >= $t0")"
  db_consistent
  kill -TERM "$ver_pid"; wait "$ver_pid"; local rc=$?; ver_pid=""
  [ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
  ok "database locked 14 s -> error reported, no false verdict or alarm, reads served; released -> green"
}

disk_full() {
  mnt="$work/tmpfs"
  mkdir -p "$mnt"
  if ! mount -t tmpfs -o size=8m,mode=0700 tmpfs "$mnt" 2>/dev/null; then
    mnt=""
    echo "skip: disk_full needs to mount a tmpfs (root)"
    return 77
  fi
  fault_db="$mnt/verifier.db"
  mkdir -p "$mnt/vd"
  cp "$work/vd/verifier.key" "$work/vd/verifier.crt" "$mnt/vd/" 2>/dev/null
  local olddir="$work/vd"
  # Continue with the same data (inventory, AKs) on the small file system.
  sqlite3 -batch "$olddir/verifier.db" ".backup '$fault_db'" || fail "copying the database to the tmpfs"
  cp "$olddir/admin.token" "$mnt/vd/"
  start_verifier "${vopts[@]}" --db "sqlite:$fault_db"
  local t0 t1 al0 errs0
  wait_until 20 all_green_after "$(date +%s)" || fail "not green on the tmpfs"
  al0=$(alarms_total)
  errs0=$(grep -ci 'full' "$work/ver.err")
  t0=$(date +%s)
  local sp
  sp=$(swtpm_pid a)
  kill -STOP "$sp"; stopped=$sp
  call "$admin" POST /api/v1/hosts/a/attest 202
  sleep 1
  # Fill the file system to the last byte, then let a's quote through.
  dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null
  dd if=/dev/zero of="$mnt/filler2" bs=1 2>/dev/null
  kill -CONT "$sp"; stopped=""
  sleep 6
  kill -0 "$ver_pid" 2>/dev/null || fail "the verifier died when the disk filled"
  [ "$(grep -ci 'full' "$work/ver.err")" -gt "$errs0" ] || fail "the verifier did not report the full disk"
  call "$admin" GET /api/v1/hosts 200
  [ "$(reds_since "$t0")" = 0 ] || fail "a verdict other than green was written on a full disk"
  [ "$(alarms_total)" = "$al0" ] || fail "the full disk raised an alarm"
  r=$(sqlite3 -batch "$fault_db" 'PRAGMA integrity_check;')
  [ "$r" = ok ] || fail "integrity_check on the full disk: $r"
  rm -f "$mnt/filler" "$mnt/filler2"
  t1=$(date +%s)
  wait_until 25 all_green_after "$t1" || fail "not green after space was freed: $(db 'SELECT name, trust_state, reasons FROM hosts')"
  [ "$(alarms_total)" = "$al0" ] || fail "an alarm was raised"
  db_consistent
  kill -TERM "$ver_pid"; wait "$ver_pid"; local rc=$?; ver_pid=""
  [ "$rc" = 0 ] || fail "verifier exited with $rc on SIGTERM"
  ok "disk full -> error reported, no false verdict, file intact; space freed -> green"
}

db_locked
disk_full
! grep -q 'Sanitizer' "$work/ver.err" || fail "sanitizer report"
echo "PASS"
