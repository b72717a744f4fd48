#!/usr/bin/env bash
# make demo: the main job, as far as the project goes today.
#  1. analyse a real measured-boot event log (what the firmware measured);
#  2. boot a simulated host (swtpm) from that log, take evidence from its TPM
#     through the agent's code path and verify it;
#  3. tamper with the host (an extra measurement) and watch verification fail.
# Everything it starts is stopped on exit or Ctrl-C.
set -uo pipefail
build=${1:-build}
bin="$(cd "$build/bin" && pwd)"
logs="../shared/testdata/eventlogs"
log="$logs/qemu-ovmf-ubuntu-secureboot.bin"

if [ ! -f "$log" ]; then
  echo "demo: $log not found; the demo needs ../shared/testdata beside the project" >&2
  exit 1
fi

work=$(mktemp -d /tmp/attest-demo.XXXXXX)
cleanup() {
  [ -x "$bin/attest-sim" ] && [ -d "$work/host1" ] && "$bin/attest-sim" stop "$work/host1" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. What the firmware of a QEMU/OVMF Ubuntu VM measured (attestctl eventlog facts)"
"$bin/attestctl" eventlog facts "$log" || exit 1

step "   The PCR values that log replays to (attestctl eventlog replay)"
"$bin/attestctl" eventlog replay "$log" || exit 1

if [ ! -x "$bin/attest-sim" ] || [ ! -x "$bin/attest-agent" ]; then
  echo "demo: attest-sim/attest-agent not built; stopping after the event log analysis"
  exit 0
fi

step "2. A simulated host: a real TPM emulator (swtpm) that boots this log"
"$bin/attest-sim" create "$work/host1" --eventlog "$log" --ek-ca "$work/ca" || exit 1
tcti=$("$bin/attest-sim" boot "$work/host1") || exit 1
echo "TPM reachable at TCTI $tcti"

nonce=$(openssl rand -hex 32)
step "   Evidence from its TPM (attest-agent evidence --nonce $nonce)"
"$bin/attest-agent" evidence --tcti "$tcti" --eventlog "$log" --nonce "$nonce" >"$work/bundle.json" || exit 1
echo "bundle: $(wc -c <"$work/bundle.json") bytes (AK public, quote, signature, PCRs, metadata, event log)"

step "   The verifier's checks (attestctl verify --nonce $nonce)"
"$bin/attestctl" verify "$work/bundle.json" --nonce "$nonce"
echo "exit status $? (0 = the quote is genuine, fresh, and the log explains the PCRs)"

step "3. Tamper: the host measures something its log does not show (PCR 4)"
"$bin/attest-sim" extend "$work/host1" 4 "$(printf 'rootkit' | sha256sum | cut -c1-64)" || exit 1
nonce=$(openssl rand -hex 32)
"$bin/attest-agent" evidence --tcti "$tcti" --eventlog "$log" --nonce "$nonce" >"$work/bundle2.json" || exit 1
"$bin/attestctl" verify "$work/bundle2.json" --nonce "$nonce"
echo "exit status $? (non-zero: the log no longer explains the quoted PCRs)"

step "4. Replay: the first bundle presented again against a fresh nonce"
"$bin/attestctl" verify "$work/bundle.json" --nonce "$nonce"
echo "exit status $? (non-zero: the quote was made for another nonce)"
