#!/usr/bin/env bash
# The peer's per-quote cost: tpm2_checkquote (tpm2-tools) verifying a real
# swtpm quote, one process per quote, as a script would use it. Compare with
# bench_quote's in-process rate printed just before.
set -uo pipefail
d=tests/unit/data/tpm
command -v tpm2_checkquote >/dev/null || { echo "tpm2_checkquote not installed"; exit 0; }
q=$(cat "$d/quote.qualifying.hex")
runs=50
t0=$(date +%s%N)
for ((i = 0; i < runs; i++)); do
  tpm2_checkquote -u "$d/ak-rsa.pub" -m "$d/quote-rsa.attest" -s "$d/quote-rsa.sig" -g sha256 -q "$q" >/dev/null 2>&1 \
    || { echo "tpm2_checkquote failed on the reference quote"; exit 0; }
done
t1=$(date +%s%N)
per_us=$(((t1 - t0) / runs / 1000))
echo "tpm2_checkquote (peer, one process per quote, RSA-2048): ${per_us} us per quote = $((1000000 / (per_us ? per_us : 1))) quotes/s"
