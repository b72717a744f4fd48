#!/usr/bin/env bash
# Issue 12 item 3 (docs/security.md, attack matrix): a log copied from a
# compromised host cannot drive the operator's terminal. The boot
# applications' UTF-16 device paths of a real log are rewritten to carry
# ESC (a "clear screen" sequence), BEL, CR, U+202E RIGHT-TO-LEFT OVERRIDE, a
# C1 CSI and an isolate; `attestctl eventlog show` and `eventlog facts` in
# text mode must print none of them raw, and show each one escaped.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
ctl=$bin/attestctl
data=../shared/testdata/eventlogs
[ -x "$ctl" ] || { echo "SKIP: $ctl not built"; exit 77; }
[ -d "$data" ] || { echo "SKIP: $data not found (shared test data absent)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# Same length in UTF-16 code units, so no length field of the log changes:
# "shimx64" (7 units) -> ESC [ 2 J BEL CR U+202E; "grubx64" (7) -> U+009B
# U+2066 x U+2069 DEL, 2 more. The event digests are of the images, so the
# log still parses and replays.
python3 - "$data/qemu-ovmf-ubuntu-secureboot.bin" "$tmp/evil.bin" <<'EOF' || fail "could not build the log"
import sys
buf = open(sys.argv[1], "rb").read()
u = lambda s: s.encode("utf-16-le")
n1 = buf.count(u("shimx64"))
n2 = buf.count(u("grubx64"))
buf = buf.replace(u("shimx64"), u("\x1b[2J\x07\r\u202e"))
buf = buf.replace(u("grubx64"), u("\u009b\u2066x\u2069\x7fab"))
assert n1 >= 1 and n2 >= 1, (n1, n2)
open(sys.argv[2], "wb").write(buf)
EOF

# raw_controls FILE: exit 0 if FILE holds a control (C0 but \n, DEL, C1) or
# a bidi formatting character, printing where.
raw_controls() {
  python3 - "$1" <<'EOF'
import re, sys
b = open(sys.argv[1], "rb").read()
bad = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae\x8e\x8f\xa8\xa9]|\xe2\x81[\xa6-\xa9]|\xd8\x9c")
m = bad.search(b)
if m:
    print("raw byte(s) %r at offset %d: %r" % (m.group(0), m.start(), b[max(0, m.start() - 40):m.start() + 10]))
    sys.exit(0)
sys.exit(1)
EOF
}

for sub in show facts; do
  "$ctl" eventlog $sub "$tmp/evil.bin" >"$tmp/$sub.out" 2>"$tmp/$sub.err" || fail "eventlog $sub: $(cat "$tmp/$sub.err")"
  if where=$(raw_controls "$tmp/$sub.out"); then fail "eventlog $sub printed $where"; fi
  if where=$(raw_controls "$tmp/$sub.err"); then fail "eventlog $sub (stderr) printed $where"; fi
  grep -qF '\x1b[2J\x07\x0d\u202E' "$tmp/$sub.out" || fail "eventlog $sub: the ESC/BEL/CR/U+202E path is not shown escaped"
  grep -qF '\u009B\u2066x\u2069\x7fab' "$tmp/$sub.out" || fail "eventlog $sub: the C1/isolate/DEL path is not shown escaped"
  ok "eventlog $sub: ESC, BEL, CR, U+202E, U+009B, U+2066/U+2069, DEL from UTF-16 device paths printed escaped, none raw"
done
# The same log with --json: valid JSON, and no C0 control raw (JSON
# escapes them); --json is for programs, not terminals.
for sub in show facts; do
  "$ctl" eventlog $sub "$tmp/evil.bin" --json >"$tmp/$sub.json" || fail "eventlog $sub --json"
  jq -e . "$tmp/$sub.json" >/dev/null || fail "eventlog $sub --json is not JSON"
  ! LC_ALL=C grep -qP '[\x00-\x09\x0b-\x1f]' "$tmp/$sub.json" || fail "eventlog $sub --json has a raw C0 control"
done
ok "eventlog show/facts --json: valid JSON without raw C0 controls"
echo PASS
