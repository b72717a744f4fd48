#!/usr/bin/env bash
# Install every Debian package that attest's build, tests and demo need.
# Idempotent: installs only what is missing, so a second run is quick and quiet.
# Needs root (or sudo) on Debian 12.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config clang libclang-rt-14-dev llvm
  # libraries
  libssl-dev libtss2-dev libevent-dev libjansson-dev libsqlite3-dev libpq-dev libcmocka-dev
  # TPM peers: emulator and reference tools
  swtpm swtpm-tools tpm2-tools openssl
  # services and tools the tests start
  postgresql sqlite3 chromium valgrind jq curl
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
if [ -f "$here/tests/browser/package.json" ] && [ ! -d "$here/tests/browser/node_modules/playwright-core" ]; then
  echo "install-deps: npm install in tests/browser"
  (cd "$here/tests/browser" && npm install --no-audit --no-fund --silent)
fi
exit 0
