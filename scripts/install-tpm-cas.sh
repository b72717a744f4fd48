#!/usr/bin/env bash
# Install TPM vendors' EK CA certificates into the certified TPM list
# directory that attest-verifier imports on its database's first start
# (default /usr/local/share/attest/tpm-cas; attestctl ca add does the same
# on a running verifier).
#
#   scripts/install-tpm-cas.sh [--dest DIR] FILE_OR_DIR...
#
# Every file must hold X.509 CA certificates (PEM or DER): each is checked
# with openssl (parses, is a CA: basicConstraints CA:TRUE, or self-signed)
# and written as PEM named after its SHA-256 fingerprint prefix and subject.
# Nothing is written for a file that fails; the script says which and why.
set -euo pipefail
dest=/usr/local/share/attest/tpm-cas
if [ "${1:-}" = "--dest" ]; then dest=$2; shift 2; fi
if [ $# -eq 0 ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -eq 0 ] && exit 2 || exit 0
fi
install -d -m 0755 "$dest"
added=0 failed=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

one() { # FILE
  local f=$1 form=PEM
  if ! openssl x509 -in "$f" -noout 2>/dev/null; then
    if openssl x509 -inform DER -in "$f" -noout 2>/dev/null; then form=DER; else
      echo "skip $f: not an X.509 certificate (PEM or DER)" >&2; failed=$((failed + 1)); return
    fi
  fi
  openssl x509 -inform "$form" -in "$f" -out "$tmp" 2>/dev/null
  local text subject issuer fp
  text=$(openssl x509 -in "$tmp" -noout -text)
  subject=$(openssl x509 -in "$tmp" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
  issuer=$(openssl x509 -in "$tmp" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
  if ! grep -q 'CA:TRUE' <<<"$text" && [ "$subject" != "$issuer" ]; then
    echo "skip $f: not a CA certificate ($subject)" >&2; failed=$((failed + 1)); return
  fi
  fp=$(openssl x509 -in "$tmp" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr 'A-F' 'a-f')
  local name
  name=$(sed 's/.*CN=\([^,]*\).*/\1/; s/[^A-Za-z0-9._-]/-/g' <<<"$subject" | cut -c1-60)
  install -m 0644 "$tmp" "$dest/${fp:0:16}-${name}.pem"
  echo "added $subject -> $dest/${fp:0:16}-${name}.pem"
  added=$((added + 1))
}

for arg in "$@"; do
  if [ -d "$arg" ]; then
    for f in "$arg"/*; do [ -f "$f" ] && one "$f"; done
  else
    one "$arg"
  fi
done
echo "install-tpm-cas: $added added, $failed skipped, in $dest"
[ "$failed" -eq 0 ]
