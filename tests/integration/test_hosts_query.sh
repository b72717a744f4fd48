#!/usr/bin/env bash
# GET /api/v1/hosts filters, sorts and pages in SQL (issue 14, the fleet view
# at 10,000 hosts), on SQLite and, when a PostgreSQL server can be started
# (pg.sh), on PostgreSQL: a real attest-verifier serving a synthetic fleet of
# 250 hosts with verdicts (fleetlib.sh) is asked for pages, filters (trust,
# connection, q), every sort in both orders, paging boundaries; every bad
# value is a 400 INVALID_PARAMETER naming the parameter; the fleet counts
# (in the answer and in /status) come from the database, not from the page.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
here=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }
for t in jq curl sqlite3; do command -v $t >/dev/null || skip "$t not installed"; done
[ -x "$bin/attest-verifier" ] || skip "$bin/attest-verifier not built"

base=$(mktemp -d /tmp/attest-test-hostsq.XXXXXX)
work=$base/sqlite
# shellcheck source=lib.sh
. "$here/tests/integration/lib.sh"
# shellcheck source=fleetlib.sh
. "$here/tests/integration/fleetlib.sh"
# shellcheck source=pg.sh
. "$here/tests/integration/pg.sh"
pg_up=""
trap 'lib_cleanup; [ -n "$pg_up" ] && pg_stop; rm -rf "$base"' EXIT
N=250

# expect TRUST CONN: how many of hosts 1..N have them ("" = any)
expect() {
  local i c=0 t k
  for ((i = 1; i <= N; i++)); do
    if ((i % 10 == 0)); then t=red; elif ((i % 10 == 1)); then t=unknown; else t=green; fi
    if ((i % 25 == 1)); then k=not_responding; elif ((i % 25 == 2)); then k=disconnected
    else k=connected; fi
    [ -z "$1" ] || [ "$1" = "$t" ] || continue
    [ -z "$2" ] || [ "$2" = "$k" ] || continue
    c=$((c + 1))
  done
  echo $c
}
names() { jq -r '[.hosts[].name]|join(" ")' <<<"$body"; }

checks() {
  local db=$1
  mkdir -p "$work/cas"
  start_verifier
  admin=$(tr -d '\n' <"$work/vd/admin.token")
  call "$admin" POST /api/v1/tokens '{"name":"v","role":"viewer"}' 201
  viewer=$(field .token)
  fleet_fill $N
  t0=$(date +%s%N)
  call "$viewer" GET /api/v1/hosts 200
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ "$(field .total)" = $N ] && [ "$(field '.hosts|length')" = 100 ] ||
    fail "$db: default page: total $(field .total), $(field '.hosts|length') hosts"
  [ "$(field '.hosts[0].name')" = fleet-00001 ] && [ "$(field '.hosts[99].name')" = fleet-00100 ] ||
    fail "$db: default order: $(names | cut -c1-80)"
  for k in green red unknown connected disconnected not_responding; do
    case $k in green|red|unknown) e=$(expect $k "");; *) e=$(expect "" $k);; esac
    [ "$(field .counts.$k)" = "$e" ] || fail "$db: counts.$k $(field .counts.$k), wanted $e"
  done
  [ "$(field .counts.total)" = $N ] || fail "$db: counts.total $(field .counts.total)"
  counts=$(jq -c .counts <<<"$body")
  call "$viewer" GET /api/v1/status 200
  [ "$(jq -c .hosts <<<"$body")" = "$counts" ] || fail "$db: /status hosts $(jq -c .hosts <<<"$body") != $counts"
  ok "$db: $N hosts, first page of 100 by name in $ms ms; counts $counts (also /status)"

  # Paging boundaries.
  call "$viewer" GET "/api/v1/hosts?limit=100&offset=200" 200
  [ "$(field '.hosts|length')" = 50 ] && [ "$(field '.hosts[0].name')" = fleet-00201 ] &&
    [ "$(field .total)" = $N ] || fail "$db: last page: $(field '.hosts|length') from $(field '.hosts[0].name')"
  call "$viewer" GET "/api/v1/hosts?limit=100&offset=250" 200
  [ "$(field '.hosts|length')" = 0 ] && [ "$(field .total)" = $N ] || fail "$db: offset 250"
  call "$viewer" GET "/api/v1/hosts?offset=99999999" 200
  [ "$(field '.hosts|length')" = 0 ] || fail "$db: far offset"
  call "$viewer" GET "/api/v1/hosts?limit=1000" 200
  [ "$(field '.hosts|length')" = $N ] || fail "$db: limit 1000"
  call "$viewer" GET "/api/v1/hosts?limit=1&offset=249" 200
  [ "$(names)" = fleet-00250 ] || fail "$db: limit 1 offset 249: $(names)"
  ok "$db: paging: offset 200 -> 50 hosts, 250 -> none, limit 1000 -> all"

  # Filters, before paging: total counts the matches.
  for f in "red " "unknown " "green " " not_responding" " disconnected" "unknown not_responding" \
    "green connected" "red not_responding"; do
    t=${f% *} k=${f#* } q=""
    [ -n "$t" ] && q="trust=$t"
    [ -n "$k" ] && q="$q${q:+&}connection=$k"
    e=$(expect "$t" "$k")
    call "$viewer" GET "/api/v1/hosts?limit=1000&$q" 200
    [ "$(field .total)" = "$e" ] && [ "$(field '.hosts|length')" = "$e" ] ||
      fail "$db: $q: total $(field .total), $(field '.hosts|length') hosts, wanted $e"
    jq -e --arg t "$t" --arg k "$k" 'all(.hosts[]; ($t == "" or .trust == $t) and
      ($k == "" or .connection == $k)) and ([.hosts[].name] == ([.hosts[].name]|sort))' \
      <<<"$body" >/dev/null || fail "$db: $q: wrong hosts or order"
    [ "$(field .counts.total)" = $N ] || fail "$db: $q: counts are not the whole fleet"
  done
  call "$viewer" GET "/api/v1/hosts?trust=green&limit=10&offset=190" 200
  [ "$(field .total)" = "$(expect green "")" ] && [ "$(field '.hosts|length')" = 10 ] &&
    [ "$(field '.hosts[9].name')" = fleet-00249 ] || fail "$db: green last page: $(names)"
  call "$viewer" GET "/api/v1/hosts?q=fleet-0012" 200
  [ "$(names)" = "$(echo fleet-0012{0..9})" ] || fail "$db: q=fleet-0012: $(names)"
  call "$viewer" GET "/api/v1/hosts?q=FLEET-0012&trust=red" 200
  [ "$(names)" = fleet-00120 ] && [ "$(field .total)" = 1 ] || fail "$db: q+trust: $(names)"
  call "$viewer" GET "/api/v1/hosts?q=10.0.5.1" 200
  [ "$(names)" = fleet-00005 ] || fail "$db: q by address: $(names)"
  for lit in %25 _ '%5C' "'" ; do
    call "$viewer" GET "/api/v1/hosts?q=$lit" 200
    [ "$(field .total)" = 0 ] || fail "$db: q=$lit is not literal: $(field .total) hosts"
  done
  call "$viewer" GET "/api/v1/hosts?q=" 200
  [ "$(field .total)" = $N ] || fail "$db: empty q"
  ok "$db: filters trust/connection/q in SQL before paging; %, _, \\ and ' literal"

  # policy=NAME: hosts assigned to it, and for the default policy the
  # unassigned ones too.
  call "$admin" PUT /api/v1/policies/p1 '{"version":1}' 201
  echo "UPDATE hosts SET policy_id = (SELECT id FROM policies WHERE name = 'p1')
        WHERE name <= 'fleet-00010';" | fleet_db || fail "$db: assigning p1"
  call "$viewer" GET "/api/v1/hosts?policy=p1&limit=1000" 200
  [ "$(field .total)" = 10 ] && [ "$(field '.hosts[9].name')" = fleet-00010 ] &&
    jq -e 'all(.hosts[]; .policy == "p1")' <<<"$body" >/dev/null || fail "$db: policy=p1: $(names)"
  call "$viewer" GET "/api/v1/hosts?policy=p1&trust=red" 200
  [ "$(names)" = fleet-00010 ] || fail "$db: policy=p1&trust=red: $(names)"
  call "$viewer" GET /api/v1/policies 200
  def=$(jq -r '.policies[]|select(.default)|.name' <<<"$body")
  if [ -n "$def" ]; then
    call "$viewer" GET "/api/v1/hosts?policy=$def&limit=1" 200
    [ "$(field .total)" = $((N - 10)) ] || fail "$db: policy=$def (default): $(field .total)"
  fi
  call "$viewer" GET "/api/v1/hosts?policy=nope" 400
  grep -q 'policy names no policy' <<<"$(field .error.message)" || fail "$db: policy=nope: $body"
  ok "$db: policy=p1 -> its 10 hosts; the default policy${def:+ ($def)} -> the $((N - 10)) others; unknown -> 400"

  # Sorts: each total (every page boundary exact), both orders.
  call "$viewer" GET "/api/v1/hosts?sort=trust&limit=30" 200
  jq -e '[.hosts[:25][].trust]|all(. == "red")' <<<"$body" >/dev/null &&
    [ "$(field '.hosts[0].name')" = fleet-00010 ] &&
    [ "$(field '.hosts[25].name')" = fleet-00001 ] || fail "$db: sort=trust: $(names)"
  call "$viewer" GET "/api/v1/hosts?sort=trust&order=desc&limit=1" 200
  [ "$(field '.hosts[0].trust')/$(field '.hosts[0].connection')" = green/connected ] &&
    [ "$(field '.hosts[0].name')" = fleet-00249 ] || fail "$db: sort=trust desc: $(names)"
  call "$viewer" GET "/api/v1/hosts?sort=connection&limit=1" 200
  [ "$(field '.hosts[0].connection')" = not_responding ] || fail "$db: sort=connection"
  call "$viewer" GET "/api/v1/hosts?sort=name&order=desc&limit=2" 200
  [ "$(names)" = "fleet-00250 fleet-00249" ] || fail "$db: name desc: $(names)"
  call "$viewer" GET "/api/v1/hosts?sort=last_attested&order=desc&limit=1000" 200
  jq -e '[.hosts[].last_attested // 0] as $a | $a == ($a|sort|reverse)' <<<"$body" >/dev/null ||
    fail "$db: last_attested desc not ordered"
  call "$viewer" GET "/api/v1/hosts?sort=last_attested&limit=1" 200
  [ "$(field '.hosts[0].last_attested')" = null ] && [ "$(field '.hosts[0].name')" = fleet-00001 ] ||
    fail "$db: last_attested asc starts with $(names)"
  call "$viewer" GET "/api/v1/hosts?sort=last_seen&order=asc&limit=1000" 200
  jq -e '[.hosts[].last_seen // 0] as $a | $a == ($a|sort)' <<<"$body" >/dev/null ||
    fail "$db: last_seen asc not ordered"
  call "$viewer" GET "/api/v1/hosts?sort=address&limit=1" 200
  [ "$(field '.hosts[0].address')" = 10.0.1.1:4433 ] || fail "$db: sort=address: $(field '.hosts[0].address')"
  for s in name trust connection last_attested last_seen address; do
    for o in asc desc; do
      all=""
      for off in 0 100 200; do
        call "$viewer" GET "/api/v1/hosts?sort=$s&order=$o&limit=100&offset=$off" 200
        all+="$(names) "
      done
      call "$viewer" GET "/api/v1/hosts?sort=$s&order=$o&limit=1000" 200
      [ "$all" = "$(names) " ] || fail "$db: sort=$s order=$o: three pages differ from one"
      [ "$(tr ' ' '\n' <<<"$all" | sed '/^$/d' | sort -u | wc -l)" = $N ] ||
        fail "$db: sort=$s order=$o: pages repeat or skip hosts"
    done
  done
  ok "$db: sorts name/trust/connection/last_attested/last_seen/address, asc and desc, pages exact"

  # Bad values: 400 naming the parameter, nothing answered.
  while read -r q want; do
    call "$viewer" GET "/api/v1/hosts?$q" 400
    [ "$(field .error.code)" = INVALID_PARAMETER ] || fail "$db: $q: $(field .error.code)"
    grep -q -- "$want" <<<"$(field .error.message)" || fail "$db: $q: message $(field .error.message)"
  done <<'BAD'
trust=purple trust must be green, red or unknown
trust= trust must be
trust=GREEN trust must be
connection=up connection must be connected, disconnected or not_responding
sort=colour sort must be name, trust, connection, last_attested, last_seen or address
sort=NAME sort must be
order=up order must be asc or desc
order= order must be
limit=-1 limit must be a non-negative integer
limit=abc limit must be
limit=1001 limit is at most 1000
offset=-5 offset must be
offset=1e3 offset must be
q=a%01b q contains a control character
q=a%7Fb q contains a control character
BAD
  long=$(printf 'x%.0s' $(seq 256))
  call "$viewer" GET "/api/v1/hosts?q=$long" 400
  grep -q 'q is at most 255 bytes' <<<"$(field .error.message)" || fail "$db: long q: $body"
  call "$viewer" GET "/api/v1/hosts?q=${long:1}" 200
  call "" GET /api/v1/hosts 401
  ok "$db: bad trust/connection/sort/order/limit/offset/q values: 400 INVALID_PARAMETER naming each"

  kill -TERM "$ver_pid"; wait "$ver_pid"; rc=$?; ver_pid=""
  [ "$rc" = 0 ] || fail "$db: verifier exited with $rc on SIGTERM"
  ! grep -q 'Sanitizer' "$work/ver.err" || fail "$db: sanitizer report"
}

checks sqlite
if command -v psql >/dev/null && pg_start >"$base/pg.out" 2>&1; then
  pg_up=1
  work=$base/pg
  ATTEST_TEST_DB=$PG_URL
  export ATTEST_TEST_DB
  checks postgresql
else
  echo "note: PostgreSQL part not run: $(tail -1 "$base/pg.out" 2>/dev/null)"
fi
echo "PASS"
