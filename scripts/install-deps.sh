#!/usr/bin/env bash
# Install every Debian package that attest's build, tests and demo need.
# Idempotent: installs only what is missing, so a second run is quick and quiet.
# Needs root (or sudo) on Debian 12.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config clang libclang-rt-14-dev llvm clang-format
  # libraries
  libssl-dev libtss2-dev libevent-dev libjansson-dev libsqlite3-dev libpq-dev libcmocka-dev
  # TPM peers: emulator and reference tools
  swtpm swtpm-tools tpm2-tools openssl
  # services and tools the tests start
  postgresql sqlite3 chromium valgrind heaptrack jq curl python3 python3-cryptography
  # VM hosts (attest-sim create --vm, tests/integration/test_vm_*.sh): QEMU
  # and OVMF, and what builds the guest's disks from Debian's packages
  qemu-system-x86 ovmf dosfstools mtools cpio busybox-static binutils bc
  # Debian packages (make deb, tests/integration/test_deb.sh): Debian's own
  # build tooling and its checker; man-db reads the generated manual pages;
  # systemd brings systemd-analyze and systemd-sysusers (the packages' users)
  debhelper dpkg-dev fakeroot lintian man-db systemd
  # the software catalog's tests check PE Authenticode digests against
  # independent tools (pesign prints the digest, sbverify lists signatures)
  pesign sbsigntool
)
# Node.js for the browser tests: use the machine's own if it has one (it may
# come from another packager whose nodejs conflicts with Debian's npm).
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Browser tests drive Debian's chromium through playwright-core (no browser download).
here="$(cd "$(dirname "$0")/.." && pwd)"
# Idempotent: nothing is fetched when the pinned version is already installed;
# npm ci installs exactly what package-lock.json says (from the cache if it can).
# A failure only warns: the dashboard test then says what is missing.
if [ -f "$here/tests/browser/package-lock.json" ] && command -v npm >/dev/null 2>&1; then
  want=$(sed -n 's/^ *"playwright-core": *"\([0-9][0-9.]*\)".*/\1/p' "$here/tests/browser/package.json" | head -1)
  have=$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' \
    "$here/tests/browser/node_modules/playwright-core/package.json" 2>/dev/null | head -1 || true)
  if [ -z "$want" ] || [ "$want" != "$have" ]; then
    echo "install-deps: npm ci in tests/browser (playwright-core $want)"
    (cd "$here/tests/browser" && npm ci --prefer-offline --no-audit --no-fund --silent) ||
      echo "install-deps: warning: npm ci failed in tests/browser; the dashboard test will fail until it succeeds" >&2
  fi
fi
exit 0
