#!/usr/bin/env bash
# Attack matrix (docs/security.md), issue 12 items 3 and 6, against a real
# verifier and attestctl:
#   bidi_names       host, policy and token names with ESC, BEL, CR, C1,
#                    U+202E, U+2066 or invalid UTF-8: API 400 INVALID_FIELD
#                    naming the character; attestctl refuses them too (exit 2)
#   agent_strings    an agent (through mitm_agent) reports a TPM interface
#                    carrying ESC, BEL and U+202E: attestctl host show prints
#                    it escaped, no raw control byte
#   policy_show      attestctl policy show prints the document indented, one
#                    line per key, strings escaped
. "$(dirname "$0")/attacklib.sh"
attack_init attacks-names
command -v python3 >/dev/null || skip "python3 not installed"
ctl() { "$bin/attestctl" --server "$url" --server-thumbprint "$vthumb" \
  --token-file "$work/vd/admin.token" "$@" >"$work/ctl.out" 2>"$work/ctl.err" </dev/null; rc=$?; }

# raw_controls FILE: exit 0 (and say where) if FILE holds a C0 control other
# than \n, DEL, a C1 control or a bidi formatting character.
raw_controls() {
  python3 - "$1" <<'EOF'
import re, sys
b = open(sys.argv[1], "rb").read()
m = re.search(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]", b)
if m:
    print("%r at offset %d" % (m.group(0), m.start()))
    sys.exit(0)
sys.exit(1)
EOF
}

bidi_names() {
  local bad names=() what
  # JSON spellings: ESC, BEL, CR, C1 NEL, U+202E, U+2066, U+200F, DEL
  names=('web\u001b[2J' 'a\u0007b' 'a\rb' 'a\u0085b' 'evil\u202etxt.exe' 'x\u2066y' 'x\u200fy' 'a\u007fb')
  for bad in "${names[@]}"; do
    call "$admin" POST /api/v1/hosts "{\"address\":\"127.0.0.1:9\",\"name\":\"$bad\"}" 400
    [ "$(field .error.code)" = INVALID_FIELD ] || fail "host $bad: $body"
    field .error.message | grep -qE 'host name contains U\+[0-9A-F]{4} at offset [0-9]+' || fail "host $bad: message: $body"
    call "$admin" POST /api/v1/policies "{\"name\":\"$bad\",\"body\":{\"version\":1}}" 400
    field .error.message | grep -qE 'policy name contains U\+' || fail "policy $bad: $body"
    call "$admin" POST /api/v1/tokens "{\"name\":\"$bad\",\"role\":\"viewer\"}" 400
    field .error.message | grep -qE 'token name contains U\+' || fail "token $bad: $body"
  done
  call "$admin" POST /api/v1/hosts '{"address":"127.0.0.1:9","name":"evil\u202etxt"}' 400
  field .error.message | grep -q 'contains U+202E at offset 4' || fail "not precise: $body"
  # In a path: PUT /policies/NAME, percent-encoded; invalid UTF-8 too.
  call "$admin" PUT /api/v1/policies/a%E2%80%AEb '{"version":1}' 400
  field .error.message | grep -q 'policy name contains U+202E at offset 1' || fail "PUT: $body"
  call "$admin" PUT /api/v1/policies/a%FFb '{"version":1}' 400
  field .error.message | grep -q 'not valid UTF-8 (byte 0xFF at offset 1)' || fail "PUT: $body"
  # The address becomes the name when none is given: checked the same way.
  call "$admin" POST /api/v1/hosts '{"address":"h\u202e:9"}' 400
  field .error.message | grep -q 'U+202E' || fail "address as name: $body"
  call "$admin" GET /api/v1/hosts 200
  [ "$(field '.hosts|length')" = 0 ] || fail "a host was added: $body"
  # Ordinary non-ASCII names stay allowed.
  call "$admin" POST /api/v1/tokens '{"name":"équipe-nuit","role":"viewer"}' 201
  ok "bidi_names: API refuses host/policy/token names with ESC, BEL, CR, U+0085, U+202E, U+2066, U+200F, DEL, invalid UTF-8 (400 INVALID_FIELD, code point and offset)"

  for what in "host add 127.0.0.1:9 --name" "policy create" "token create"; do
    local extra=()
    case $what in
      policy*) extra=(--file /dev/null) ;;
      token*) extra=(--role viewer) ;;
    esac
    # shellcheck disable=SC2086
    ctl $what "$(printf 'evil\xe2\x80\xaetxt')" "${extra[@]}"
    [ "$rc" = 2 ] || fail "attestctl $what: exit $rc, wanted 2: $(cat "$work/ctl.err")"
    grep -q 'contains U+202E at offset 4' "$work/ctl.err" || fail "attestctl $what: $(cat "$work/ctl.err")"
    ! raw_controls "$work/ctl.err" >/dev/null || fail "attestctl $what echoed the raw name"
    ctl $what "$(printf 'a\x1bb')" "${extra[@]}"
    [ "$rc" = 2 ] && grep -q 'U+001B' "$work/ctl.err" || fail "attestctl $what ESC: $rc $(cat "$work/ctl.err")"
  done
  ok "bidi_names: attestctl host add / policy create / token create refuse them first (exit 2, the code point named, nothing raw echoed)"
}

agent_strings() {
  # The adversary's agent reports a TPM interface with ESC ] 0 ; (set the
  # window title), BEL, U+202E and a C1 CSI.
  printf 'interface \033]0;pwned\007\342\200\256sit\302\233' >"$work/qx.mode"
  add x "127.0.0.1:$qx_mport" "$qx_mthumb"
  field .tpm.interface | grep -q pwned || fail "the interface did not reach the verifier: $(field -c .tpm)"
  ctl host show x
  [ "$rc" = 0 ] || fail "host show: $(cat "$work/ctl.err")"
  if where=$(raw_controls "$work/ctl.out"); then fail "host show printed a raw $where"; fi
  grep -qF 'TPM interface' "$work/ctl.out" && grep -qF '\x1b]0;pwned\x07\u202Esit\u009B' "$work/ctl.out" ||
    fail "the interface is not shown escaped: $(grep -a interface "$work/ctl.out")"
  ctl host list
  if where=$(raw_controls "$work/ctl.out"); then fail "host list printed a raw $where"; fi
  ok "agent_strings: an agent's TPM interface with ESC/BEL/U+202E/CSI -> attestctl host show prints it escaped"
}

policy_show() {
  call "$admin" POST /api/v1/policies \
    '{"name":"readable","body":{"version":1,"description":"line one\nline two \u202e end","requirements":{"quote_pcrs":{"sha256":"0-9"},"tpm_interfaces":["tis"]}}}' 201
  ctl policy show readable
  [ "$rc" = 0 ] || fail "policy show: $(cat "$work/ctl.err")"
  if where=$(raw_controls "$work/ctl.out"); then fail "policy show printed a raw $where"; fi
  [ "$(wc -l <"$work/ctl.out")" -ge 10 ] || fail "policy show is not multi-line: $(cat "$work/ctl.out")"
  grep -qE '^ +"quote_pcrs": \{$' "$work/ctl.out" || fail "no indented quote_pcrs line: $(cat "$work/ctl.out")"
  grep -qF '"description": "line one\nline two \u202E end"' "$work/ctl.out" ||
    fail "description not shown escaped: $(grep -a description "$work/ctl.out")"
  ! grep -q '?' "$work/ctl.out" || fail "a '?' in policy show: $(cat "$work/ctl.out")"
  # The document shown is the document stored.
  sed -n '/^Document:$/,$p' "$work/ctl.out" | sed 1d | jq -e '.version==1' >/dev/null ||
    fail "the document shown does not parse as JSON"
  ok "policy_show: the document indented one key per line, its strings escaped, no '?'"
}

mitm_init qx
sim_boot_x() {
  local d="$work/x"
  "$bin/attest-sim" create "$d" --eventlog "$logs/qemu-ovmf-ubuntu-secureboot.bin" --ek-ca "$work/ca" \
    >/dev/null 2>"$work/x.sim.err" || fail "attest-sim create: $(tail -3 "$work/x.sim.err")"
  sims+=("$d")
  x_dir=$d
  x_tcti=$("$bin/attest-sim" boot "$d") || fail "attest-sim boot"
}
sim_boot_x
verifier_up
start_agent_on x 127.0.0.1:0 --trust-verifier "$qx_mthumb"
mitm qx x

bidi_names
agent_strings
policy_show
verifier_down
echo PASS
