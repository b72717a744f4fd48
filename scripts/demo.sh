#!/usr/bin/env bash
# make demo: the main job. A verifier on SQLite, three simulated hosts (real
# swtpm TPMs that "booted" real measured-boot event logs) with real agents,
# and the dashboard:
#   trusted      QEMU/OVMF Ubuntu, Secure Boot on, certified TPM  -> green
#   sb-off       GCE Ubuntu 21.04, Secure Boot off                 -> red SECURE_BOOT_DISABLED
#   uncertified  GCE RHEL 8, TPM whose EK CA is not certified      -> red TPM_NOT_CERTIFIED
# With DEMO_VM=1, a fourth host beside them is a real UEFI machine: QEMU/OVMF
# booting Debian's signed shim, grub and kernel with Secure Boot on, swtpm as
# its TIS TPM and the real agent inside (attest-sim create --vm; about 30 s
# to boot, more the first time while Debian's packages are fetched):
#   vm-uefi      Debian 12 signed chain, Secure Boot on, TIS       -> green
# Prints the dashboard URL, the admin token and attestctl commands to try,
# then runs until Ctrl-C, which stops everything it started (by pid).
set -uo pipefail
build=${1:-build}
bin="$(cd "$build/bin" && pwd)"
logs="$(cd ../shared/testdata/eventlogs 2>/dev/null && pwd)" || {
  echo "demo: ../shared/testdata/eventlogs not found; the demo boots its hosts from those real logs" >&2
  exit 1
}
listen=${DEMO_LISTEN:-127.0.0.1:8443}
interval=${DEMO_INTERVAL:-30}
work=${DEMO_DIR:-$(mktemp -d /tmp/attest-demo.XXXXXX)}
mkdir -p "$work"

pids=()
sims=()
stop_all() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null && wait "${pids[$i]}" 2>/dev/null
  done
  for s in "${sims[@]}"; do "$bin/attest-sim" stop "$s" >/dev/null 2>&1; done
  echo "demo: everything stopped; state kept in $work"
}
trap stop_all EXIT
trap 'exit 130' INT TERM
die() { echo "demo: $*" >&2; exit 1; }
step() { printf '\033[1m== %s\033[0m\n' "$*"; }

# wait_line FILE PATTERN PID: wait until FILE has a line matching PATTERN.
wait_line() {
  for _ in $(seq 150); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

step "1. Three simulated hosts (swtpm + real event logs) and their agents"
# An agent answers only the verifiers it was told about: give each the
# verifier's certificate thumbprint (its identity is made here, before the
# verifier first starts, and kept in its data directory).
vthumb=$("$bin/attest-verifier" thumbprint --data-dir "$work/verifier" | sed -n 's/^thumbprint //p')
[ -n "$vthumb" ] || die "attest-verifier thumbprint failed"
echo "  verifier identity $vthumb: every agent gets --trust-verifier $vthumb"
# The certified TPM list holds the CA of the "certified" hosts only; the
# uncertified host's EK certificate comes from a CA the verifier never saw.
host() { # NAME LOG CADIR
  local n=$1 d="$work/$1"
  if [ ! -d "$d" ]; then
    "$bin/attest-sim" create "$d" --eventlog "$logs/$2" --ek-ca "$work/$3" >/dev/null 2>"$work/$n.sim.err" \
      || die "attest-sim create $n failed: $(tail -3 "$work/$n.sim.err")"
  fi
  sims+=("$d")
  local tcti
  tcti=$("$bin/attest-sim" boot "$d" 2>>"$work/$n.sim.err") || die "attest-sim boot $n failed"
  "$bin/attest-agent" --listen 127.0.0.1:0 --tcti "$tcti" --eventlog "$d/eventlog.bin" \
    --data-dir "$d/agent" --trust-verifier "$vthumb" >"$work/$n.agent.out" 2>"$work/$n.agent.err" &
  pids+=($!)
  wait_line "$work/$n.agent.out" '^listening ' $! || die "agent $n did not start: $(tail -3 "$work/$n.agent.err")"
  local addr thumb
  addr=$(sed -n 's/^listening //p' "$work/$n.agent.out")
  thumb=$(sed -n 's/^thumbprint //p' "$work/$n.agent.out")
  printf '  %-12s %-22s agent %s  %s\n' "$n" "$2" "$addr" "$thumb"
  eval "${n//-/_}_addr=$addr ${n//-/_}_thumb=$thumb"
}
host trusted qemu-ovmf-ubuntu-secureboot.bin certified-ca
host sb-off gce-ubuntu2104-no-secureboot.bin certified-ca
host uncertified gce-rhel8-secureboot.bin rogue-ca

step "2. The verifier on SQLite, with the certified TPM list"
mkdir -p "$work/tpm-cas"
cp "$work/certified-ca/ca.pem" "$work/tpm-cas/demo-tpm-vendor-ca.pem"
start_verifier() {
  : >"$work/verifier.out"
  "$bin/attest-verifier" --listen "$1" --db "sqlite:$work/verifier.db" --data-dir "$work/verifier" \
    --ca-dir "$work/tpm-cas" --attest-interval "$interval" >"$work/verifier.out" 2>"$work/verifier.log" &
  vpid=$!
  wait_line "$work/verifier.out" '^admin-token ' $vpid
}
if ! start_verifier "$listen"; then
  echo "  ($listen is busy or refused; using a free port instead)"
  start_verifier 127.0.0.1:0 || die "verifier did not start: $(tail -5 "$work/verifier.log")"
fi
pids+=($vpid)
url=$(sed -n 's/^listen //p' "$work/verifier.out")
[ "$(sed -n 's/^thumbprint //p' "$work/verifier.out")" = "$vthumb" ] ||
  die "the verifier does not present the identity the agents trust"
export ATTEST_SERVER="$url" ATTEST_TOKEN_FILE="$work/verifier/admin.token" ATTEST_SERVER_THUMBPRINT="$vthumb"
echo "  verifier $url ($vthumb), log in $work/verifier.log"

nhosts=3
if [ "${DEMO_VM:-0}" = 1 ]; then
  step "2b. A real UEFI Secure Boot host in QEMU (DEMO_VM=1; about 30 s)"
  d="$work/vm-uefi"
  if [ ! -f "$d/sim.conf" ]; then
    "$bin/attest-sim" create "$d" --vm --tpm tis --ek-ca "$work/certified-ca" >/dev/null 2>"$work/vm-uefi.sim.err" ||
      die "attest-sim create --vm failed: $(tail -5 "$work/vm-uefi.sim.err")"
  fi
  sims+=("$d")
  line=$("$bin/attest-sim" boot "$d" --trust-verifier "$vthumb" 2>>"$work/vm-uefi.sim.err" | tail -n1) ||
    die "the VM did not boot: $(tail -5 "$work/vm-uefi.sim.err")"
  vm_addr=$(cut -d' ' -f2 <<<"$line") vm_thumb=$(cut -d' ' -f3 <<<"$line")
  printf '  %-12s %-22s agent %s  %s\n' vm-uefi "Debian 12 signed chain" "$vm_addr" "$vm_thumb"
  echo "  guest console: $d/console.log"
  nhosts=4
fi

step "3. Adding the hosts (the operator confirms each agent's thumbprint)"
"$bin/attestctl" host add "$trusted_addr" --name trusted --thumbprint "$trusted_thumb" >/dev/null || die "host add trusted failed"
"$bin/attestctl" host add "$sb_off_addr" --name sb-off --thumbprint "$sb_off_thumb" >/dev/null || die "host add sb-off failed"
"$bin/attestctl" host add "$uncertified_addr" --name uncertified --thumbprint "$uncertified_thumb" >/dev/null || die "host add uncertified failed"
if [ "$nhosts" = 4 ]; then
  "$bin/attestctl" host add "$vm_addr" --name vm-uefi --thumbprint "$vm_thumb" >/dev/null || die "host add vm-uefi failed"
fi
for _ in $(seq 150); do
  n=$("$bin/attestctl" host list --json 2>/dev/null | jq '[.hosts[]? // .[]? | select(.trust != "unknown")] | length' 2>/dev/null)
  [ "${n:-0}" -ge "$nhosts" ] && break
  sleep 0.2
done
"$bin/attestctl" host list

cat <<EOF2

$(printf '\033[1m== The fleet is up\033[0m')
  Dashboard:    $url/
                (self-signed certificate $vthumb)
  Admin token:  $(cat "$work/verifier/admin.token")
                (file $work/verifier/admin.token)

Try, in another shell:
  export ATTEST_SERVER=$url ATTEST_SERVER_THUMBPRINT=$vthumb ATTEST_TOKEN_FILE=$work/verifier/admin.token
  $bin/attestctl host list
  $bin/attestctl host show sb-off
  $bin/attestctl alarm list
  $bin/attest-sim extend $work/trusted 4 $(printf rootkit | sha256sum | cut -c1-64)
  $bin/attestctl host attest trusted && $bin/attestctl host show trusted     # now red, PCR 4
  $bin/attest-sim reboot $work/trusted && $bin/attestctl host attest trusted  # re-enrolled, green

Hosts are attested every ${interval}s. Ctrl-C stops the verifier, the agents and the emulators
(and the VM, with DEMO_VM=1: attest-sim reboot $work/vm-uefi reboots it for real).
EOF2
if [ -n "${DEMO_EXIT_AFTER_START:-}" ]; then exit 0; fi
while kill -0 "$vpid" 2>/dev/null; do sleep 1; done
echo "demo: the verifier exited; see $work/verifier.log"
