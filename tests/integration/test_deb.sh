#!/usr/bin/env bash
# The Debian packages, installed the way an operator installs them, on this
# machine (as root; skipped otherwise):
#  - builds attest-agent, attest-verifier and attestctl with `make deb`'s
#    script (dpkg-buildpackage + debhelper on a copy under the build dir;
#    lintian must report no error), or takes them from ATTEST_DEB_DIR;
#  - each package holds exactly its files: its one program in /usr/bin (never
#    attest-sim, attest-swarm or a test program), its manual page, the units,
#    /etc/attest/*.conf as conffiles, bash completion for attestctl;
#  - dpkg -i creates the system users (sysusers.d) and enables the units;
#    systemd-analyze verify accepts the installed units, and their
#    systemd-analyze security exposure is printed (figure) and at most 2.0;
#  - the manual pages name every option of the installed programs' --help,
#    and the completion completes commands and subcommands;
#  - the installed verifier runs from its unit (ExecStart= with
#    /etc/attest/verifier.conf, as user attest-verifier, in its
#    StateDirectory), the installed agent from its unit against a simulated
#    host (attest-sim from the build tree: swtpm + a real event log), and the
#    installed attestctl adds the host: it is green;
#  - dpkg -r keeps the conffiles, the state and the users; dpkg -P removes
#    all but the users (Debian keeps system users): no file of the packages,
#    no /etc/attest, no /var/lib/attest-*, no enablement symlink.
# systemd is not PID 1 here (a container), so the test runs the units'
# commands itself as systemd would (tests/integration/unit_argv.py reads
# them). It refuses to run where any of this exists already, and one run at
# a time (flock). Normal build only: the packages are built without
# sanitizers whatever the build directory.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
build=${ATTEST_BUILD:-build}
here=$(pwd)
logs=../shared/testdata/eventlogs
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "must run as root (dpkg -i, system users)"
[ "${ATTEST_SANITIZE:-0}" = 1 ] && skip "normal build only (the packages are built without sanitizers)"
for t in dpkg-buildpackage dh lintian dpkg-deb jq swtpm swtpm_setup setpriv flock python3 \
  systemd-analyze man; do
  command -v $t >/dev/null || skip "$t not installed (scripts/install-deps.sh)"
done
[ -x "$bin/attest-sim" ] || skip "$bin/attest-sim not built"
[ -d "$logs" ] || skip "$logs not found"

pkgs=(attest-agent attest-verifier attestctl)
# One run at a time on this machine; and never over an existing installation.
exec 9>/run/lock/attest-test-deb.lock
flock -w 600 9 || skip "another test_deb run holds /run/lock/attest-test-deb.lock"
for p in "${pkgs[@]}"; do
  if dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^[ir]'; then
    skip "package $p is installed on this machine: this test installs and purges it"
  fi
done
for f in /etc/attest /var/lib/attest-agent /var/lib/attest-verifier /run/attest-agent \
  /usr/bin/attest-agent /usr/bin/attest-verifier /usr/bin/attestctl; do
  [ -e "$f" ] && skip "$f exists: this test would install over it and purge it"
done

work=$(mktemp -d /tmp/attest-test-deb.XXXXXX)
chmod 0755 "$work"
installed=0
pids=()
sim_dir=""
t_start=$(date +%s)
fail() {
  echo "FAIL: $*"
  for f in "$work"/*.err "$work"/dpkg.out; do
    [ -s "$f" ] && { echo "--- $f (last 15 lines)"; tail -15 "$f"; }
  done
  exit 1
}
ok() { echo "ok: $*"; }
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -n "$sim_dir" ] && "$bin/attest-sim" stop "$sim_dir" >/dev/null 2>&1
  if [ "$installed" = 1 ]; then
    dpkg_retry -P "${pkgs[@]}" >/dev/null 2>&1
    # what this run created (the checks above found none of it before)
    rm -rf /etc/attest /var/lib/attest-agent /var/lib/attest-verifier /run/attest-agent \
      /etc/systemd/system/attest-agent.service.d
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# dpkg ARGS, retried while another engineer's apt/dpkg holds the lock.
dpkg_retry() {
  local i
  for i in $(seq 60); do
    dpkg "$@" >"$work/dpkg.out" 2>&1 && return 0
    grep -qi 'lock' "$work/dpkg.out" || return 1
    sleep 5
  done
  return 1
}

# ------------------------------------------------------------- the packages
if [ -n "${ATTEST_DEB_DIR:-}" ]; then
  debdir=$ATTEST_DEB_DIR
  echo "note: packages from ATTEST_DEB_DIR=$debdir"
else
  debdir="$build/deb-test"
  t0=$(date +%s)
  DEB_BUILD_OPTIONS="parallel=$(nproc)" bash scripts/build-deb.sh "$debdir" >"$work/build.err" 2>&1 ||
    fail "scripts/build-deb.sh (log: $debdir/build.log, lintian: $debdir/lintian.txt)"
  echo "figure: packages built and checked by lintian in $(($(date +%s) - t0)) s"
  ok "dpkg-buildpackage built the packages; lintian: no errors"
fi
debs=()
for p in "${pkgs[@]}"; do
  f=$(ls "$debdir/${p}"_*.deb 2>/dev/null | head -1)
  [ -n "$f" ] || fail "no $p package in $debdir"
  debs+=("$f")
done

# Each package holds its own program and nothing that is not for operators.
for i in 0 1 2; do
  dpkg-deb -c "${debs[$i]}" | awk '{print $6}' | sed 's|^\./|/|' >"$work/${pkgs[$i]}.files"
  progs=$(grep -E '^/usr/s?bin/.' "$work/${pkgs[$i]}.files" | tr '\n' ' ')
  [ "$progs" = "/usr/bin/${pkgs[$i]} " ] || fail "${pkgs[$i]} ships programs: $progs"
done
if cat "$work"/*.files | grep -E 'attest-sim|attest-swarm|bench_|/tests?/'; then
  fail "a test or benchmark program is packaged"
fi
grep -qx /usr/share/man/man8/attest-agent.8.gz "$work/attest-agent.files" || fail "no attest-agent(8)"
grep -qx /usr/share/man/man8/attest-verifier.8.gz "$work/attest-verifier.files" || fail "no attest-verifier(8)"
grep -qx /usr/share/man/man1/attestctl.1.gz "$work/attestctl.files" || fail "no attestctl(1)"
grep -qx /usr/share/bash-completion/completions/attestctl "$work/attestctl.files" || fail "no completion"
ok "each package ships its one program (no attest-sim, attest-swarm, tests), manual page, units"

# ----------------------------------------------------------------- install
dpkg_retry -i "${debs[@]}" || fail "dpkg -i: $(tail -5 "$work/dpkg.out")"
installed=1
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" | grep -q '^ii' || fail "$p not installed"
done
getent passwd attest-agent >/dev/null || fail "no user attest-agent"
getent passwd attest-verifier >/dev/null || fail "no user attest-verifier"
for p in attest-agent attest-verifier; do
  c=${p#attest-}
  dpkg-query -W -f='${Conffiles}\n' "$p" | grep -q "/etc/attest/$c.conf" ||
    fail "/etc/attest/$c.conf is not a conffile of $p"
  [ -L "/etc/systemd/system/multi-user.target.wants/$p.service" ] || fail "$p.service not enabled"
done
[ -d /etc/attest/tpm-cas ] || fail "no /etc/attest/tpm-cas"
ok "dpkg -i: users attest-agent and attest-verifier, conffiles, units enabled"

systemd-analyze verify /lib/systemd/system/attest-agent.service \
  /lib/systemd/system/attest-verifier.service >"$work/verify.err" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$work/verify.err")"
[ -s "$work/verify.err" ] && fail "systemd-analyze verify warns: $(cat "$work/verify.err")"
for u in attest-agent attest-verifier; do
  score=$(systemd-analyze security --offline=true "/lib/systemd/system/$u.service" 2>/dev/null |
    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
  [ -n "$score" ] || fail "systemd-analyze security $u: no score"
  echo "figure: systemd-analyze security (offline) $u.service: exposure $score"
  awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "$u exposure $score > 2.0"
done
ok "systemd-analyze verify accepts the installed units"

# The manual pages are the --help of the installed programs.
check_man() { # PROGRAM SECTION HELP-ARGS...
  local p=$1 s=$2 o
  shift 2
  MANWIDTH=200 man "$s" "$p" 2>/dev/null | col -b >"$work/$p.man"
  [ -s "$work/$p.man" ] || fail "man $s $p shows nothing"
  for o in $("/usr/bin/$p" "$@" | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u); do
    grep -qF -- "$o" "$work/$p.man" || fail "man $s $p lacks $o of $p $*"
  done
}
check_man attest-verifier 8 --help
check_man attest-agent 8 --help-daemon
check_man attestctl 1 host --help
grep -q 'attest-agent evidence' "$work/attest-agent.man" || fail "attest-agent(8) lacks evidence"
ok "man attest-verifier / attest-agent / attestctl: every option of --help"
# shellcheck disable=SC1091
out=$(bash -c 'source /usr/share/bash-completion/completions/attestctl
  COMP_WORDS=(attestctl ho); COMP_CWORD=1; _attestctl; echo "${COMPREPLY[*]}"
  COMP_WORDS=(attestctl host ""); COMP_CWORD=2; _attestctl; echo "${COMPREPLY[*]}"
  COMP_WORDS=(attestctl token create x --role ""); COMP_CWORD=5; _attestctl; echo "${COMPREPLY[*]}"')
[ "$out" = $'host\nadd list show attest disconnect reconnect remove ek-cert\nviewer admin' ] ||
  fail "completion: $out"
ok "bash completion: commands, subcommands, option values"

# ---------------------------------------------- run the units, as systemd
# start_unit UNIT OUT: as systemd does it for this unit: StateDirectory= and
# RuntimeDirectory= created for the unit's user, ExecStartPre= commands run
# (prefix '+' as root, '-' failure ignored), then ExecStart= in the
# background with User=, Group=, SupplementaryGroups=, UMask=; sets unit_pid.
# unit_files UNIT: the unit and its drop-ins, as unit_argv.py takes them.
unit_files() {
  local f="/lib/systemd/system/$1.service" d
  for d in "/etc/systemd/system/$1.service.d"/*.conf; do [ -f "$d" ] && f+=":$d"; done
  echo "$f"
}
uget() { python3 tests/integration/unit_argv.py "$(unit_files "$1")" get "$2"; }
# as_unit UNIT PREFIX ARGV...: exec ARGV as the unit would run it (call it in
# a subshell or in the background: it replaces the shell).
as_unit() {
  local u=$1 prefix=$2 user group groups ids
  shift 2
  user=$(uget "$u" User) group=$(uget "$u" Group)
  groups=$(uget "$u" SupplementaryGroups | tr ' ' ',')
  local -a env
  # systemd's environment: a few basics and the EnvironmentFile= variables
  python3 tests/integration/unit_argv.py "$(unit_files "$u")" env >"$work/env" ||
    exit 1
  mapfile -d '' -t env <"$work/env"
  umask "$(uget "$u" UMask)"
  cd / || exit 1
  [[ "$prefix" == *+* ]] && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${env[@]}" "$@"
  ids=(--reuid="$user" --regid="$group")
  if [ -n "$groups" ]; then ids+=(--groups="$groups"); else ids+=(--clear-groups); fi
  exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin USER="$user" LOGNAME="$user" \
    HOME="$(getent passwd "$user" | cut -d: -f6)" "${env[@]}" \
    setpriv "${ids[@]}" --no-new-privs -- "$@"
}
# unit_cmd UNIT KEY INDEX: the command into the array cmd; false if none.
unit_cmd() {
  python3 tests/integration/unit_argv.py "$(unit_files "$1")" exec "$2" "$3" \
    >"$work/cmd" || return 1
  mapfile -d '' -t cmd <"$work/cmd"
}
start_unit() {
  local u=$1 out=$2 user group d i cmd
  user=$(uget "$u" User) group=$(uget "$u" Group)
  for d in $(uget "$u" StateDirectory); do
    install -d -o "$user" -g "$group" -m "$(uget "$u" StateDirectoryMode)" "/var/lib/$d"
  done
  for d in $(uget "$u" RuntimeDirectory); do
    install -d -o "$user" -g "$group" -m "$(uget "$u" RuntimeDirectoryMode)" "/run/$d"
  done
  for i in 0 1 2 3; do
    unit_cmd "$u" ExecStartPre $i || break
    if ! (as_unit "$u" "${cmd[@]}") >>"$work/$u.pre.err" 2>&1; then
      [[ "${cmd[0]}" == *-* ]] || fail "$u ExecStartPre ${cmd[*]:1}"
    fi
  done
  [ "${#unit_hook[@]}" -gt 0 ] && "${unit_hook[@]}"
  unit_cmd "$u" ExecStart 0 || fail "$u: no ExecStart"
  [[ "${cmd[1]}" == /usr/bin/* ]] || fail "$u runs ${cmd[1]}, not the installed program"
  as_unit "$u" "${cmd[@]}" >"$out" 2>"$work/$u.err" 9>&- &
  unit_pid=$!
  pids+=("$unit_pid")
}
wait_line() { # FILE REGEX PID
  local i
  for i in $(seq 300); do
    grep -qE "$2" "$1" && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The verifier: its own port (any free one), its own directory.
sed -i 's|^LISTEN=.*|LISTEN=127.0.0.1:0|; s|^OPTIONS=.*|OPTIONS=--instance deb-test --timeout-ms 5000 --push-listen 127.0.0.1:0|' \
  /etc/attest/verifier.conf
unit_hook=()
start_unit attest-verifier "$work/ver.out"
ver_pid=$unit_pid
wait_line "$work/ver.out" '^admin-token ' "$ver_pid" || fail "the installed verifier did not start"
url=$(sed -n 's/^listen \(https:.*\)$/\1/p' "$work/ver.out")
vthumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/ver.out")
purl=$(sed -n 's/^push-listen \(https:.*\)$/\1/p' "$work/ver.out")
[ -n "$purl" ] || fail "verifier printed no push-listen"
[ -n "$url" ] && [ -n "$vthumb" ] || fail "verifier printed no listen/thumbprint"
[ "$(stat -c %U /var/lib/attest-verifier/verifier.db)" = attest-verifier ] ||
  fail "verifier.db is not attest-verifier's"
[ "$(stat -c %a /var/lib/attest-verifier/admin.token)" = 600 ] || fail "admin.token mode"
install -m 0600 /var/lib/attest-verifier/admin.token "$work/admin.token"
ok "installed verifier started from its unit and /etc/attest/verifier.conf at $url as attest-verifier"

# A simulated host (attest-sim from the build tree) and the installed agent.
sim_dir="$work/host"
"$bin/attest-sim" create "$sim_dir" --eventlog "$logs/gce-rhel8-secureboot.bin" \
  --ek-ca "$work/simca" >/dev/null 2>"$work/sim.err" || fail "attest-sim create"
tcti=$("$bin/attest-sim" boot "$sim_dir" 2>>"$work/sim.err") || fail "attest-sim boot"
sed -i "s|^LISTEN=.*|LISTEN=127.0.0.1:0|; s|^TCTI=.*|TCTI=$tcti|; s|^TRUST_VERIFIER=.*|TRUST_VERIFIER=$vthumb|" \
  /etc/attest/agent.conf
# The host's firmware log is the simulated host's: put it where the unit's
# privileged ExecStartPre copies securityfs's (absent in a container).
sim_log() {
  install -m 0440 -o root -g attest-agent "$sim_dir/eventlog.bin" \
    /run/attest-agent/binary_bios_measurements
}
unit_hook=(sim_log)
start_unit attest-agent "$work/agent.out"
agent_pid=$unit_pid
wait_line "$work/agent.out" '^listening ' "$agent_pid" || fail "the installed agent did not start"
aport=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/agent.out")
athumb=$(sed -n 's/^thumbprint \(SHA256:[0-9a-f]*\)$/\1/p' "$work/agent.out")
grep -qF "${vthumb#SHA256:}" /var/lib/attest-agent/verifiers ||
  fail "TRUST_VERIFIER did not reach /var/lib/attest-agent/verifiers"
[ "$(stat -c %U /var/lib/attest-agent/agent.key)" = attest-agent ] || fail "agent.key owner"
ok "installed agent started from its unit and /etc/attest/agent.conf (port $aport), trusting the verifier"

ctl() {
  /usr/bin/attestctl --server "$url" --server-thumbprint "$vthumb" \
    --token-file "$work/admin.token" "$@" >"$work/ctl.out" 2>"$work/ctl.err" </dev/null
}
ctl ca add "$work/simca/ca.pem" || fail "attestctl ca add: $(cat "$work/ctl.err")"
ctl host add "127.0.0.1:$aport" --name deb-host --thumbprint "$athumb" ||
  fail "attestctl host add: $(cat "$work/ctl.out" "$work/ctl.err")"
grep -q 'trust green' "$work/ctl.out" || fail "host not green: $(cat "$work/ctl.out")"
ctl --json host list || fail "attestctl host list"
jq -e '.hosts[] | select(.name == "deb-host") | .trust == "green"' "$work/ctl.out" >/dev/null ||
  fail "host list: $(cat "$work/ctl.out")"
ok "installed attestctl: the simulated host enrolled and attested green"

# Push mode through the shipped drop-in: the same host, its agent now opening
# no port and long-polling the verifier's push listener.
dropin=/usr/share/doc/attest-agent/examples/attest-agent-push.conf
[ -f "$dropin" ] || fail "the push-mode drop-in is not shipped ($dropin)"
kill -TERM "$agent_pid" 2>/dev/null
wait "$agent_pid" 2>/dev/null
ctl host remove deb-host || fail "attestctl host remove: $(cat "$work/ctl.err")"
install -D -m 0644 "$dropin" /etc/systemd/system/attest-agent.service.d/push.conf
sed -i "s|^PUSH=.*|PUSH=$purl|; s|^VERIFIER_THUMBPRINT=.*|VERIFIER_THUMBPRINT=$vthumb|" \
  /etc/attest/agent.conf
systemd-analyze verify /lib/systemd/system/attest-agent.service >"$work/verify.err" 2>&1 ||
  fail "systemd-analyze verify with the push drop-in: $(cat "$work/verify.err")"
unit_hook=(sim_log)
start_unit attest-agent "$work/agent-push.out"
agent_pid=$unit_pid
ctl host add --push --name deb-push --thumbprint "$athumb" ||
  fail "attestctl host add --push: $(cat "$work/ctl.out" "$work/ctl.err")"
trust=
for _ in $(seq 120); do
  ctl --json host show deb-push && trust=$(jq -r .trust "$work/ctl.out")
  [ "$trust" = green ] && break
  kill -0 "$agent_pid" 2>/dev/null || fail "push agent exited: $(tail -3 "$work/attest-agent.err")"
  sleep 0.5
done
[ "$trust" = green ] || fail "push host not green: $trust ($(tail -3 "$work/attest-agent.err"))"
grep -q "pid=$agent_pid," <<<"$(ss -Htlnp)" && fail "the push-mode agent listens on a port"
rm -rf /etc/systemd/system/attest-agent.service.d
ok "installed agent in push mode through the shipped drop-in (PUSH, VERIFIER_THUMBPRINT): green, no port open"

# Stop, as systemd would: SIGTERM, then the runtime directory goes.
for p in "$agent_pid" "$ver_pid"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
pids=()
"$bin/attest-sim" stop "$sim_dir" >/dev/null 2>&1
rm -rf /run/attest-agent

# ------------------------------------------------------------ remove, purge
cat "$work"/*.files | sort -u >"$work/all.files"
dpkg_retry -r "${pkgs[@]}" || fail "dpkg -r: $(tail -5 "$work/dpkg.out")"
for f in /usr/bin/attest-agent /usr/bin/attest-verifier /usr/bin/attestctl \
  /lib/systemd/system/attest-agent.service /lib/systemd/system/attest-verifier.service; do
  [ -e "$f" ] && fail "dpkg -r left $f"
done
[ -f /etc/attest/verifier.conf ] && [ -f /etc/attest/agent.conf ] || fail "dpkg -r removed a conffile"
[ -f /var/lib/attest-verifier/verifier.db ] || fail "dpkg -r removed the verifier's database"
ok "dpkg -r: programs and units gone; conffiles and state kept"

dpkg_retry -P "${pkgs[@]}" || fail "dpkg -P: $(tail -5 "$work/dpkg.out")"
installed=0
left=()
while read -r f; do
  [ -d "$f" ] && [ ! -L "$f" ] && continue # directories other packages share
  [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done <"$work/all.files"
for f in /etc/attest /var/lib/attest-agent /var/lib/attest-verifier \
  /etc/systemd/system/multi-user.target.wants/attest-agent.service \
  /etc/systemd/system/multi-user.target.wants/attest-verifier.service; do
  [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done
left+=($(ls /var/lib/systemd/deb-systemd-helper-enabled 2>/dev/null | grep -E 'attest-(agent|verifier)'))
[ ${#left[@]} = 0 ] || fail "dpkg -P left: ${left[*]}"
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^[ir]' && fail "$p still known to dpkg"
done
getent passwd attest-agent >/dev/null && getent passwd attest-verifier >/dev/null ||
  fail "the system users were removed (Debian keeps them)"
ok "dpkg -P: nothing left but the system users attest-agent and attest-verifier (Debian keeps them)"
echo "figure: test_deb took $(($(date +%s) - t_start)) s"
