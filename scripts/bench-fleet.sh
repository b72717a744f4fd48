#!/usr/bin/env bash
# make bench-fleet: the whole service under load. N simulated hosts (each a
# real swtpm and a real attest-agent on loopback) attested every INTERVAL
# seconds by one verifier on SQLite, for each N in SIZES, then by two
# verifiers sharing one PostgreSQL database at the largest N. Prints, per
# run: sustained attestations/s (and the demand N/INTERVAL), p50/p99 of an
# attestation's duration (request to verdict, from the verifier's history),
# verifier CPU seconds per attestation, CPU of agents + emulators, and RSS;
# and the single-core verification rate (bench_quote, bench_eventlog) so the
# gap between the core and the service is a ratio. Prints figures, asserts
# nothing. Not part of make check (takes several minutes). This is the
# honest end-to-end figure (real TPM emulators and agents); for thousands of
# hosts on one machine, make bench-fleet-swarm (scripts/bench-fleet-swarm.sh)
# loads the verifier with emulated hosts and prints the same summary lines.
#
#   scripts/bench-fleet.sh [BUILD]     env: SIZES="50 100 200" INTERVAL=2
#                                           MEASURE=30 (s) PG=1 (0: skip)
set -uo pipefail
build=${1:-build}
bin="$build/bin"
SIZES=${SIZES:-"50 100 200"}
INTERVAL=${INTERVAL:-2}
MEASURE=${MEASURE:-30}
PG=${PG:-1}
log=../shared/testdata/eventlogs/qemu-ovmf-ubuntu-secureboot.bin
here=$(cd "$(dirname "$0")" && pwd)
for b in attest-sim attest-agent attest-verifier; do
  [ -x "$bin/$b" ] || { echo "bench-fleet: $bin/$b not built"; exit 1; }
done
command -v swtpm >/dev/null || { echo "bench-fleet: swtpm not installed"; exit 1; }
for t in jq curl sqlite3; do command -v $t >/dev/null || { echo "bench-fleet: $t missing"; exit 1; }; done
[ -f "$log" ] || { echo "bench-fleet: $log not found (shared test data)"; exit 1; }
max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
# Each host: a swtpm (2 sockets) and an agent; the verifier holds up to
# --concurrency connections. This shell only needs a few descriptors, but
# the children inherit its limit.
[ "$(ulimit -n)" -ge 4096 ] || ulimit -n 4096 2>/dev/null || true

work=$(mktemp -d /tmp/attest-bench-fleet.XXXXXX)
agent_pids=()
ver_pids=()
pg_on=0
cleanup() {
  local p
  for p in "${ver_pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  for p in "${agent_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null; done
  for ((i = 1; i <= max; i++)); do "$bin/attest-sim" stop "$work/h$i" >/dev/null 2>&1; done
  [ "$pg_on" = 1 ] && pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hz=$(getconf CLK_TCK)
now_ms() { echo $(($(date +%s%N) / 1000000)); }
cpu_ticks() { # PID... -> utime+stime summed, in clock ticks
  local p s=0 f a
  for p in "$@"; do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    read -ra a <<<"${f##*) }" # from field 3 (state): utime, stime are fields 14, 15
    s=$((s + a[11] + a[12]))
  done
  echo $s
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
avg_rss_mb() { # PID... -> average RSS in MB
  local p t=0 n=0
  for p in "$@"; do t=$((t + $(rss_kb "$p"))); n=$((n + 1)); done
  awk -v t=$t -v n=$n 'BEGIN { printf "%.1f", n ? t / n / 1024 : 0 }'
}

echo "== fleet benchmark: $(nproc) CPU(s), $(awk '/MemTotal/ {printf "%.0f MB", $2/1024}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), ulimit -n $(ulimit -n)"
echo "   sizes: $SIZES; attestation interval ${INTERVAL} s; measured over ${MEASURE} s after every host is green"

# --- the verification core, measured in this run
echo
echo "== single-core verification rate (library, no I/O)"
q=$("$bin/bench_quote" 1 2>/dev/null | awk '/RSA-2048/ {for (i = 1; i <= NF; i++) if ($i == "quote_verify:") {sub("/s", "", $(i+1)); print $(i+1)}}')
e=$("$bin/bench_eventlog" "$log" 2>/dev/null | awk '/SHA-256 bank\):/ {for (i = 1; i <= NF; i++) if ($i == "logs/s") print $(i-1)}')
core=$(awk -v q="${q:-0}" -v e="${e:-0}" 'BEGIN { if (q > 0 && e > 0) printf "%.0f", 1 / (1 / q + 1 / e); else print 0 }')
echo "quote verify (RSA-2048 AK): ${q:-?}/s; event log parse+replay+checks ($(basename "$log")): ${e:-?}/s"
echo "=> verification core, both per attestation: ${core}/s on one core"

# --- simulated hosts, created in parallel (swtpm_setup makes RSA and ECC EKs)
echo
echo "== creating $max simulated hosts ($(nproc) at a time)"
t0=$(now_ms)
"$bin/attest-sim" create "$work/h1" --eventlog "$log" --ek-ca "$work/ca" >/dev/null 2>"$work/create.err" ||
  { echo "attest-sim create: $(tail -3 "$work/create.err")"; exit 1; }
seq 2 "$max" | xargs -P "$(nproc)" -I{} sh -c \
  '"$0" create "$1/h$2" --eventlog "$3" --ek-ca "$1/ca" >/dev/null 2>>"$1/create.err" && echo "$2"' \
  "$bin/attest-sim" "$work" {} "$log" |
  awk -v m="$max" '{ n++; if (n % 25 == 0) { printf "  %d/%d created\n", n + 1, m; fflush() } }'
[ -f "$work/h$max/eventlog.bin" ] || { echo "creation failed: $(tail -3 "$work/create.err")"; exit 1; }
echo "  $max created in $(( ($(now_ms) - t0) / 1000 )) s"
mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"

# The verifier identity, made once and shared by every run (agents pin it).
"$bin/attest-verifier" --listen 127.0.0.1:0 --data-dir "$work/vd" --db "sqlite:$work/scratch.db" \
  --ca-dir "$work/cas" >"$work/id.out" 2>"$work/id.err" &
p=$!
for _ in $(seq 100); do grep -q '^admin-token' "$work/id.out" && break; sleep 0.1; done
vthumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/id.out")
kill -TERM $p; wait $p 2>/dev/null
[ -n "$vthumb" ] || { echo "verifier did not start: $(tail -3 "$work/id.err")"; exit 1; }

echo "== booting $max hosts and starting their agents"
t0=$(now_ms)
seq 1 "$max" | xargs -P "$(nproc)" -I{} sh -c '"$0" boot "$1/h$2" >"$1/h$2/tcti" 2>>"$1/boot.err"' \
  "$bin/attest-sim" "$work" {}
for ((i = 1; i <= max; i++)); do
  d="$work/h$i"
  [ -s "$d/tcti" ] || { echo "boot h$i failed: $(tail -3 "$work/boot.err")"; exit 1; }
  "$bin/attest-agent" --listen 127.0.0.1:0 --tcti "$(cat "$d/tcti")" --eventlog "$d/eventlog.bin" \
    --data-dir "$d/agent" --trust-verifier "$vthumb" >"$d/agent.out" 2>/dev/null &
  agent_pids+=($!)
done
swtpm_pids=()
for ((i = 1; i <= max; i++)); do
  d="$work/h$i"
  for _ in $(seq 100); do grep -q '^listening' "$d/agent.out" && break; sleep 0.05; done
  grep -q '^listening' "$d/agent.out" || { echo "agent h$i did not start"; exit 1; }
  swtpm_pids+=("$("$bin/attest-sim" status "$d" | jq -r .pid)")
done
echo "  booted and listening in $(( ($(now_ms) - t0) / 1000 )) s"

# start_verifier NAME DBURL [DATADIR]: sets the pid in vp, URL in vu. The
# evidence validity is long: when the load stretches the period between two
# attestations of a host beyond 3 x INTERVAL, green would expire to unknown.
start_verifier() {
  local n=$1 db=$2 dd=${3:-$work/vd}
  "$bin/attest-verifier" --listen 127.0.0.1:0 --data-dir "$dd" --db "$db" --ca-dir "$work/cas" \
    --attest-interval "$INTERVAL" --evidence-validity 3600 --instance "$n" \
    >"$work/$n.out" 2>"$work/$n.err" &
  vp=$!
  ver_pids+=($vp)
  for _ in $(seq 200); do grep -q '^admin-token' "$work/$n.out" && break; sleep 0.05; done
  vu=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/$n.out")
  [ -n "$vu" ] || { echo "verifier $n did not start: $(tail -3 "$work/$n.err")"; exit 1; }
}
api() { curl -sk -H "Authorization: Bearer $tok" "$@"; }
attested() { # URL... -> attestations counted by those instances
  local u s=0
  for u in "$@"; do
    s=$((s + $(api "$u/metrics" | awk '/^attest_attestations_total\{/ {s += $2} END {print s + 0}')))
  done
  echo $s
}
add_hosts() { # N URL
  local i
  for ((i = 1; i <= $1; i++)); do
    local th port
    th=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/h$i/agent.out")
    port=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/h$i/agent.out")
    api -o /dev/null -X POST -H 'Content-Type: application/json' \
      --data "{\"address\":\"127.0.0.1:$port\",\"name\":\"h$i\",\"thumbprint\":\"$th\"}" "$2/api/v1/hosts"
  done
}
wait_green() { # N URL
  local t0 g=0
  t0=$(now_ms)
  while [ $(($(now_ms) - t0)) -lt 600000 ]; do
    g=$(api "$2/api/v1/status" | jq -r .hosts.green)
    [ "$g" = "$1" ] && break
    sleep 1
  done
  echo "  $g/$1 hosts green (enrolled and attested) in $(( ($(now_ms) - t0) / 1000 )) s"
}
percentiles() { # reads durations (ms), sorted -> "p50 p99 count"
  awk '{ a[n++] = $1 } END { if (!n) { print "- - 0"; exit }
        p50 = a[int(0.50 * (n - 1))]; p99 = a[int(0.99 * (n - 1))]; print p50, p99, n }'
}
report() { # LABEL N DELTA_ATT CPU_VERIFIER_TICKS CPU_OTHER_TICKS CPU_DB_TICKS P50 P99 VERIFIER_RSS_MB
  local rate cpa
  rate=$(awk -v a="$3" -v s="$MEASURE" 'BEGIN { printf "%.1f", a / s }')
  cpa=$(awk -v c="$4" -v a="$3" -v hz="$hz" 'BEGIN { printf "%.2f", a ? c / hz / a * 1000 : 0 }')
  # A host is due INTERVAL after its last attestation ended: at most
  # N / (INTERVAL + duration) attestations/s are asked for.
  printf '  %-28s %5s hosts  %7s att/s (asked: %5.1f/s)  p50 %5s ms  p99 %5s ms\n' "$1" "$2" "$rate" \
    "$(awk -v n="$2" -v i="$INTERVAL" -v d="$7" 'BEGIN { print n / (i + d / 1000) }')" "$7" "$8"
  printf '  %-28s verifier CPU %s ms/attestation (%s%% of a core); agents+swtpm CPU %s ms/att; DB server CPU %s ms/att\n' "" \
    "$cpa" "$(awk -v c="$4" -v hz="$hz" -v s="$MEASURE" 'BEGIN { printf "%.0f", c / hz / s * 100 }')" \
    "$(awk -v c="$5" -v a="$3" -v hz="$hz" 'BEGIN { printf "%.2f", a ? c / hz / a * 1000 : 0 }')" \
    "$(awk -v c="$6" -v a="$3" -v hz="$hz" 'BEGIN { printf "%.2f", a ? c / hz / a * 1000 : 0 }')"
  printf '  %-28s RSS: verifier %s MB, agent %s MB each, swtpm %s MB each; ratio core/service %s\n' "" \
    "$9" "$(avg_rss_mb "${agent_pids[@]:0:$2}")" "$(avg_rss_mb "${swtpm_pids[@]:0:$2}")" \
    "$(awk -v c="$core" -v r="$rate" 'BEGIN { printf "%.0fx", (r > 0 ? c / r : 0) }')"
  echo "$1|$2|$rate|$cpa|$7|$8" >>"$work/summary"
}

# --- one verifier on SQLite, per size
echo
echo "== one verifier, SQLite (synchronous=FULL), interval ${INTERVAL} s"
for n in $SIZES; do
  db="$work/fleet-$n.db"
  start_verifier "sqlite-$n" "sqlite:$db"
  tok=$(tr -d '\n' <"$work/vd/admin.token")
  add_hosts "$n" "$vu"
  wait_green "$n" "$vu"
  a0=$(attested "$vu"); c0=$(cpu_ticks $vp); o0=$(cpu_ticks "${agent_pids[@]:0:$n}" "${swtpm_pids[@]:0:$n}")
  t0=$(now_ms)
  sleep "$MEASURE"
  t1=$(now_ms)
  a1=$(attested "$vu"); c1=$(cpu_ticks $vp); o1=$(cpu_ticks "${agent_pids[@]:0:$n}" "${swtpm_pids[@]:0:$n}")
  read -r p50 p99 cnt < <(sqlite3 "file:$db?mode=ro" \
    "SELECT duration_ms FROM results WHERE started_ms >= $t0 AND started_ms + duration_ms <= $t1 ORDER BY duration_ms" | percentiles)
  report "1 verifier, SQLite" "$n" $((a1 - a0)) $((c1 - c0)) $((o1 - o0)) 0 "$p50" "$p99" \
    "$(awk -v k="$(rss_kb $vp)" 'BEGIN { printf "%.0f", k / 1024 }')"
  kill -TERM $vp; wait $vp 2>/dev/null
done

# --- two verifiers sharing PostgreSQL, at the largest size
if [ "$PG" = 1 ]; then
  echo
  echo "== two verifiers sharing one PostgreSQL (pg.sh: local server, fsync on), interval ${INTERVAL} s"
  . "$here/../tests/integration/pg.sh"
  if pg_start; then
    pg_on=1
    n=$max
    start_verifier "pg-a" "$PG_URL"
    pa=$vp; ua=$vu
    tok=$(tr -d '\n' <"$work/vd/admin.token")
    rm -rf "$work/vd2" && cp -a "$work/vd" "$work/vd2"
    start_verifier "pg-b" "$PG_URL" "$work/vd2"
    pb=$vp; ub=$vu
    add_hosts "$n" "$ua"
    wait_green "$n" "$ua"
    pgpids() { echo "$PG_PID" $(ps -o pid= --ppid "$PG_PID"); }
    a0=$(attested "$ua" "$ub"); c0=$(cpu_ticks $pa $pb); o0=$(cpu_ticks "${agent_pids[@]:0:$n}" "${swtpm_pids[@]:0:$n}")
    d0=$(cpu_ticks $(pgpids)); sa0=$(attested "$ua")
    t0=$(now_ms)
    sleep "$MEASURE"
    t1=$(now_ms)
    a1=$(attested "$ua" "$ub"); c1=$(cpu_ticks $pa $pb); o1=$(cpu_ticks "${agent_pids[@]:0:$n}" "${swtpm_pids[@]:0:$n}")
    d1=$(cpu_ticks $(pgpids)); sa1=$(attested "$ua")
    read -r p50 p99 cnt < <(psql -X -q -t -A -d "$PG_URL" -c \
      "SELECT duration_ms FROM results WHERE started_ms >= $t0 AND started_ms + duration_ms <= $t1 ORDER BY duration_ms" | percentiles)
    report "2 verifiers, PostgreSQL" "$n" $((a1 - a0)) $((c1 - c0)) $((o1 - o0)) $((d1 - d0)) "$p50" "$p99" \
      "$(awk -v a="$(rss_kb $pa)" -v b="$(rss_kb $pb)" 'BEGIN { printf "%.0f+%.0f", a / 1024, b / 1024 }')"
    echo "  share: pg-a $((sa1 - sa0)), pg-b $((a1 - a0 - sa1 + sa0)) attestations"
    kill -TERM $pa $pb; wait $pa $pb 2>/dev/null
  else
    echo "  (skipped: PostgreSQL server not available)"
  fi
fi

echo
echo "== summary (label|hosts|att/s|verifier CPU ms/att|p50 ms|p99 ms)"
cat "$work/summary"
echo "core verification ${core}/s per core; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
