# Helpers for the fault tests (test_faults_*.sh), on top of lib.sh.
# Source lib.sh first. Every helper acts on processes this test started, by
# pid, never by name.
#
#   fault_prereqs                 skip (77) unless swtpm, jq, curl, sqlite3, the
#                                 binaries and the shared event logs are there
#   agent_restart NAME [TCTI]     start NAME's agent again on its old port, same
#                                 data dir (identity, pins, AK); sets NAME_pid
#   agent_kill NAME [SIG]         stop NAME's agent (default SIGKILL) and reap it
#   swtpm_pid NAME                pid of NAME's emulator (attest-sim status)
#   wait_until SECS CMD...        poll CMD every 0.2 s until it succeeds; 1 on timeout
#   hostf NAME JQ                 one field of GET /api/v1/hosts/NAME
#   add_host NAME                 add with its thumbprint, ?wait=1, must be green
#   db SQL                        sqlite3 on the verifier's database (read-only use)
#   greens_since NAME T           number of green results of NAME at or after T
#   last_attested NAME            hosts.last_attested (0 if never)
#   db_consistent                 integrity_check, trust vs latest result, nonces,
#                                 alarms: fails the test on any inconsistency

fault_prereqs() {
  command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null || skip "swtpm not installed"
  for t in jq curl openssl sqlite3; do command -v $t >/dev/null || skip "$t not installed"; done
  [ -d "$logs" ] || skip "$logs not found (shared test data)"
  for b in attest-sim attest-agent attest-verifier; do
    [ -x "$bin/$b" ] || skip "$bin/$b not built"
  done
}

agent_restart() {
  local n=$1 tcti=${2:-} d port
  d=$(eval echo "\$${n}_dir")
  port=$(eval echo "\$${n}_port")
  [ -n "$tcti" ] || tcti=$("$bin/attest-sim" status "$d" | jq -r .tcti)
  : >"$work/$n.out"
  local pid try
  # The old listening socket may linger a moment: retry the bind briefly.
  for try in 1 2 3 4 5 6 7 8 9 10; do
    "$bin/attest-agent" --listen "127.0.0.1:$port" --tcti "$tcti" --eventlog "$d/eventlog.bin" \
      --data-dir "$d/agent" >"$work/$n.out" 2>>"$work/$n.err" &
    pid=$!
    agent_pids+=("$pid")
    for _ in $(seq 50); do
      grep -q '^listening ' "$work/$n.out" && break 2
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    wait "$pid" 2>/dev/null
    sleep 0.3
  done
  grep -q '^listening ' "$work/$n.out" || fail "agent $n did not restart on port $port: $(tail -3 "$work/$n.err")"
  eval "${n}_pid=$pid"
}

agent_kill() {
  local n=$1 sig=${2:-KILL} pid
  pid=$(eval echo "\$${n}_pid")
  kill -"$sig" "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

swtpm_pid() {
  "$bin/attest-sim" status "$(eval echo "\$${1}_dir")" | jq -r .pid
}

wait_until() {
  local secs=$1; shift
  local end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
  while :; do
    "$@" && return 0
    [ $(( $(date +%s%N) / 1000000 )) -ge "$end" ] && return 1
    sleep 0.2
  done
}

hostf() {
  local out
  out=$(api "$admin" GET "/api/v1/hosts/$1") || return 1
  sed '$d' <<<"$out" | jq -r "$2"
}

add_host() {
  local n=$1 port thumb
  port=$(eval echo "\$${n}_port")
  thumb=$(eval echo "\$${n}_thumb")
  call "$admin" POST "/api/v1/hosts?wait=1" \
    "{\"address\":\"127.0.0.1:$port\",\"name\":\"$n\",\"thumbprint\":\"$thumb\"}" 201
  [ "$(field .trust)" = green ] || fail "$n not green after add: $(field -c .reasons)"
}

dbfile() { echo "${fault_db:-$work/vd/verifier.db}"; }
db() { sqlite3 -batch -noheader "file:$(dbfile)?mode=ro" "$1"; }

greens_since() {
  db "SELECT count(*) FROM results r JOIN hosts h ON h.id = r.host_id
      WHERE h.name = '$1' AND r.trust_state = 'green' AND r.at >= $2"
}

last_attested() {
  db "SELECT coalesce(last_attested, 0) FROM hosts WHERE name = '$1'"
}

# The database after any fault: the file is sound, and what it says agrees
# with itself. Run with the verifier stopped or running (WAL readers).
db_consistent() {
  local f r
  f=$(dbfile)
  r=$(sqlite3 -batch "$f" 'PRAGMA integrity_check;') || fail "integrity_check could not run"
  [ "$r" = ok ] || fail "PRAGMA integrity_check: $r"
  r=$(sqlite3 -batch "$f" 'PRAGMA foreign_key_check;')
  [ -z "$r" ] || fail "foreign_key_check: $r"
  # Trust written with its history row in one transaction: a host's trust
  # equals its newest result's, unless a later non-attestation change
  # (expiry, disconnect, TPM absent: never green) came after it.
  r=$(sqlite3 -batch "$f" "
    SELECT h.name || ': ' || h.trust_state || ' vs latest result ' || r.trust_state
    FROM hosts h JOIN results r ON r.id = (SELECT max(id) FROM results WHERE host_id = h.id)
    WHERE h.trust_state <> r.trust_state
      AND NOT (h.trust_state = 'unknown' AND r.trust_state = 'green')
      AND NOT (h.trust_state = 'unknown' AND h.enabled = 0);")
  [ -z "$r" ] || fail "trust disagrees with the history: $r"
  # Green only with a result behind it, never past its evidence.
  r=$(sqlite3 -batch "$f" "
    SELECT name FROM hosts WHERE trust_state = 'green' AND (
      NOT EXISTS (SELECT 1 FROM results WHERE host_id = hosts.id AND trust_state = 'green')
      OR evidence_expires IS NULL OR last_attested IS NULL
      OR NOT EXISTS (SELECT 1 FROM aks WHERE host_id = hosts.id AND retired_at IS NULL));")
  [ -z "$r" ] || fail "green without green evidence or AK: $r"
  r=$(sqlite3 -batch "$f" "SELECT count(*) FROM results;")
  [ "$r" -gt 0 ] || fail "no results at all"
  # Every green verdict consumed a nonce of its host (single use): never
  # more green results than used nonces, per host.
  r=$(sqlite3 -batch "$f" "
    SELECT h.name FROM hosts h WHERE
      (SELECT count(*) FROM results WHERE host_id = h.id AND trust_state = 'green') >
      (SELECT count(*) FROM nonces WHERE host_id = h.id AND used_at IS NOT NULL);")
  [ -z "$r" ] || fail "more green verdicts than used nonces: $r"
  # Nonces: unique by construction (primary key); each used at most once
  # and never after it expired.
  r=$(sqlite3 -batch "$f" "SELECT count(*) - count(DISTINCT value) FROM nonces;")
  [ "$r" = 0 ] || fail "a nonce value appears twice"
  r=$(sqlite3 -batch "$f" "SELECT count(*) FROM nonces WHERE used_at IS NOT NULL AND used_at > expires_at;")
  [ "$r" = 0 ] || fail "$r nonces used after they expired"
  # A nonce is 8 bytes of the clock in microseconds (when it was drawn:
  # near its created_at) and 24 random ones, never seen twice.
  r=$(sqlite3 -batch "$f" "SELECT count(*) - count(DISTINCT substr(value, 9)) FROM nonces;")
  [ "$r" = 0 ] || fail "a nonce's random part appears twice"
  local pre at
  while IFS='|' read -r pre at; do
    [ -n "$pre" ] || continue
    local us=$((16#$pre)) d
    d=$((us / 1000000 - at))
    [ "${d#-}" -le 120 ] || fail "nonce prefix $pre is not its issue time ($at)"
  done < <(sqlite3 -batch "$f" "SELECT hex(substr(value, 1, 8)), created_at FROM nonces;")
  # Alarms: at most one open per host; an open alarm only on a red host
  # (green clears them in the verdict's transaction).
  # (Fleet alarms, host_id NULL, have their own index: one open per kind.)
  r=$(sqlite3 -batch "$f" "SELECT host_id FROM alarms WHERE cleared_at IS NULL AND host_id IS NOT NULL
                           GROUP BY host_id HAVING count(*) > 1;")
  [ -z "$r" ] || fail "hosts with more than one open alarm: $r"
  r=$(sqlite3 -batch "$f" "SELECT h.name FROM alarms a JOIN hosts h ON h.id = a.host_id
                           WHERE a.cleared_at IS NULL AND h.trust_state = 'green';")
  [ -z "$r" ] || fail "green hosts with an open alarm: $r"
  # AKs: at most one current per host (index), Names unique.
  r=$(sqlite3 -batch "$f" "SELECT host_id FROM aks WHERE retired_at IS NULL GROUP BY host_id HAVING count(*) > 1;")
  [ -z "$r" ] || fail "hosts with two current AKs: $r"
}
