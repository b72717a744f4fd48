# Helpers for the VM host tests (test_vm_*.sh): real UEFI Secure Boot guests
# in QEMU (TCG) booting Debian's signed shim, grub and kernel, swtpm as their
# TPM, the build's attest-agent inside (attest-sim create --vm). Source after
# setting bin and work; it sources lib.sh. The tests skip (77) in the
# sanitizer build (a boot takes 20-30 s of TCG: they run once, in build/),
# when a tool is missing, or when Debian's packages cannot be fetched.
#
#   vm_create NAME ARGS...   attest-sim create $work/NAME --vm ARGS (CA $work/ca)
#   vm_boot NAME ARGS...     attest-sim boot ... --trust-verifier $vthumb ARGS;
#                            sets NAME_addr, NAME_thumb; boot seconds in vm_secs
#   vm_reboot NAME ARGS...   attest-sim reboot; same variables
#   add_host NAME            POST /hosts?wait=1 with NAME_addr and NAME_thumb
#   attest NAME              POST /hosts/NAME/attest?wait=1 (200)
#   wait_host NAME JQ [S]    poll GET /hosts/NAME until JQ holds (default 90 s)
#   reasons                  the codes of $body's reasons, space-separated
skip() { echo "SKIP: $*"; exit 77; }

[ "${ATTEST_SANITIZE:-0}" = 1 ] &&
  skip "VM tests run in the normal build only (a TCG boot takes 20-30 s; the agent inside is the same code the ASan build tests against swtpm)"
for t in qemu-system-x86_64 swtpm swtpm_setup mcopy mkfs.vfat cpio gzip jq curl apt-get dpkg-deb; do
  command -v $t >/dev/null || skip "$t not installed (scripts/install-deps.sh)"
done
for f in /usr/share/OVMF/OVMF_CODE_4M.ms.fd /usr/share/OVMF/OVMF_VARS_4M.ms.fd /usr/share/OVMF/OVMF_VARS_4M.fd; do
  [ -r "$f" ] || skip "$f not found (ovmf)"
done
command -v busybox >/dev/null && ! ldd "$(command -v busybox)" >/dev/null 2>&1 ||
  skip "no static busybox (busybox-static)"
for b in attest-sim attest-agent attest-verifier; do [ -x "$bin/$b" ] || skip "$bin/$b not built"; done

. "$(dirname "$0")/lib.sh"
vms=()

vm_cleanup() {
  local v
  for v in "${vms[@]}"; do "$bin/attest-sim" stop "$v" >/dev/null 2>&1; done
  lib_cleanup
}

vm_create() {
  local n=$1; shift
  local rc=0
  "$bin/attest-sim" create "$work/$n" --vm --ek-ca "$work/ca" "$@" >/dev/null 2>"$work/$n.create.err" || rc=$?
  if [ $rc = 3 ]; then
    skip "Debian's packages cannot be fetched: $(tail -3 "$work/$n.create.err" | tr '\n' ' ')"
  fi
  [ $rc = 0 ] || fail "attest-sim create $n --vm $*: $(tail -5 "$work/$n.create.err")"
  mkdir -p "$work/cas" && cp "$work/ca/ca.pem" "$work/cas/"
}

_vm_up() {
  local n=$1 line t0
  shift
  t0=$(date +%s.%N)
  vms+=("$work/$n")
  "$bin/attest-sim" "$@" >"$work/$n.boot.out" 2>"$work/$n.boot.err" ||
    fail "attest-sim $1 $n: $(tail -12 "$work/$n.boot.err")"
  vm_secs=$(echo "$(date +%s.%N) - $t0" | bc)
  line=$(tail -n1 "$work/$n.boot.out")
  [[ "$line" =~ ^agent\ (127\.0\.0\.1:[0-9]+)\ (SHA256:[0-9a-f]{64})$ ]] ||
    fail "attest-sim $1 $n: last line is \"$line\", not agent 127.0.0.1:PORT SHA256:<hex>"
  eval "${n}_addr=${BASH_REMATCH[1]}"
  eval "${n}_thumb=${BASH_REMATCH[2]}"
}
vm_boot() { local n=$1; shift; _vm_up "$n" boot "$work/$n" --trust-verifier "$vthumb" "$@"; }
vm_reboot() { local n=$1; shift; _vm_up "$n" reboot "$work/$n" "$@"; }

add_host() {
  local a t
  a=$(eval echo "\$${1}_addr")
  t=$(eval echo "\$${1}_thumb")
  call "$admin" POST "/api/v1/hosts?wait=1" "{\"address\":\"$a\",\"name\":\"$1\",\"thumbprint\":\"$t\"}" 201
}

attest() { call "$admin" POST "/api/v1/hosts/$1/attest?wait=1" '{}' 200; }

wait_host() {
  local n=$1 cond=$2 secs=${3:-90} end
  end=$(($(date +%s) + secs))
  while [ "$(date +%s)" -lt "$end" ]; do
    call "$admin" GET "/api/v1/hosts/$n" 200
    jq -e "$cond" <<<"$body" >/dev/null && return 0
    sleep 0.5
  done
  fail "$n never reached $cond in ${secs}s: $(jq -c '{trust, connection, reasons: [.reasons[]?.code]}' <<<"$body")"
}

reasons() { jq -r '[.reasons[]?.code] | join(" ")' <<<"$body"; }

# The verifier for VM hosts: a TCG guest answers an enrollment in a few
# seconds, so a longer per-request timeout than lib.sh's 5 s.
start_vm_verifier() {
  start_verifier --timeout-ms 30000 "$@"
  admin=$(tr -d '\n' <"$work/vd/admin.token")
}

# check_boot_apps NAME KERNEL: the boot applications the firmware measured
# (EV_EFI_BOOT_SERVICES_APPLICATION digests in the verified evidence) are
# exactly Debian's signed shim, then grub, then linux-image-KERNEL: their
# Authenticode hashes computed here from the packages' files.
check_boot_apps() {
  local shim grub kdir want got
  shim=$(bash sim/vm-image.sh unpacked shim-signed) || fail "shim-signed not in the cache"
  grub=$(bash sim/vm-image.sh unpacked grub-efi-amd64-signed) || fail "grub not in the cache"
  kdir=$(bash sim/vm-image.sh unpacked "linux-image-$2") || fail "linux-image-$2 not in the cache"
  want=$(python3 "$(dirname "$0")/pe_hash.py" "$shim/usr/lib/shim/shimx64.efi.signed" \
    "$grub/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed" "$kdir/boot/vmlinuz-$2" | paste -sd' ')
  call "$admin" GET "/api/v1/hosts/$1/evidence" 200
  [ "$(field .verified)" = true ] || fail "$1's evidence is not verified"
  got=$(jq -r '[.events[] | select(.type_name == "EV_EFI_BOOT_SERVICES_APPLICATION") | .digests.sha256] | reduce .[] as $d ([]; if index([$d]) then . else . + [$d] end) | join(" ")' <<<"$body")
  [ "$got" = "$want" ] || fail "boot applications measured: $got; Debian's shim grub kernel: $want"
}
