# Source this file to run a throwaway PostgreSQL for a test.
#
#   . tests/integration/pg.sh
#   pg_start || exit 77          # SKIP when PostgreSQL is not installed
#   trap 'pg_stop' EXIT          # (or call pg_stop from your own trap)
#   use "$PG_URL"                # postgresql://attest@127.0.0.1:PORT/attest
#
# pg_start: initdb into a mktemp -d directory (as the postgres user when run
# as root: initdb refuses root), a server listening on 127.0.0.1 only, on a
# free port (random high ports, retried), its unix socket inside the
# temporary directory (never /var/run), trust authentication for loopback,
# and a database "attest" owned by the unprivileged role "attest". Sets
# PG_URL, PG_PORT, PG_DIR, PG_BIN, PG_PID. Prints why and returns 1 if
# PostgreSQL is not installed or does not start.
# pg_stop: stops that server (pg_ctl stop -m fast on its data directory, then
# its postmaster pid if it is still there) and removes the directory.
# pg_restart: stop and start the same server on the same port (for tests of
# connection loss).
#
# fsync stays on: the figures measured against this server are those of a
# real installation. PG_EXTRA_OPTS adds server options (-c name=value ...).

pg_find_bin() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null)
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  fi
  # Debian keeps the server binaries out of PATH, one directory per version.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}

# Run a command as the user owning the cluster (postgres when we are root).
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd "$PG_DIR" && runuser -u postgres -- "$@")
  else
    (cd "$PG_DIR" && "$@")
  fi
}

pg_start_server() {
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=on ${PG_EXTRA_OPTS:-}" \
    start >/dev/null 2>&1
}

pg_start() {
  PG_BIN=$(pg_find_bin) || { echo "pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)"; return 1; }
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "pg.sh: running as root and there is no postgres user for initdb"
    return 1
  fi
  PG_DIR=$(mktemp -d /tmp/attest-pg.XXXXXX) || return 1
  chmod 0700 "$PG_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
  if ! pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 \
       --no-locale >"$PG_DIR/initdb.log" 2>&1; then
    echo "pg.sh: initdb failed:"; tail -5 "$PG_DIR/initdb.log"
    return 1
  fi
  # Loopback TCP only, trust (a throwaway server reachable from this host).
  printf 'host all all 127.0.0.1/32 trust\n' >"$PG_DIR/hba"
  pg_as_owner cp "$PG_DIR/hba" "$PG_DIR/data/pg_hba.conf"
  local try
  for try in 1 2 3 4 5 6 7 8; do
    PG_PORT=$((20000 + RANDOM % 30000))
    pg_start_server && break
    PG_PORT=
  done
  if [ -z "$PG_PORT" ]; then
    echo "pg.sh: the server did not start:"; tail -5 "$PG_DIR/server.log" 2>/dev/null
    return 1
  fi
  PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
  if ! "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
       -v ON_ERROR_STOP=1 -c "CREATE ROLE attest LOGIN" -c "CREATE DATABASE attest OWNER attest" \
       >/dev/null 2>"$PG_DIR/psql.err"; then
    echo "pg.sh: creating the test role/database failed:"; cat "$PG_DIR/psql.err"
    return 1
  fi
  PG_URL="postgresql://attest@127.0.0.1:$PG_PORT/attest"
  export PG_URL PG_PORT PG_DIR PG_BIN PG_PID
  return 0
}

pg_restart() {
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
  pg_start_server || return 1
  PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
}

pg_stop() {
  [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 20 stop >/dev/null 2>&1
    # Still there (pg_ctl failed): its own pid, nothing broader.
    if [ -n "${PG_PID:-}" ] && kill -0 "$PG_PID" 2>/dev/null; then
      kill -TERM "$PG_PID" 2>/dev/null
      sleep 1
      kill -KILL "$PG_PID" 2>/dev/null
    fi
  fi
  rm -rf "$PG_DIR"
  PG_DIR=
}
