#!/usr/bin/env bash
# attest-sim's helper for VM hosts (docs/simulator.md, "VM hosts"): fetches
# Debian's signed boot chain into a cache outside the repository and builds
# the disk images a VM host boots from. attest-sim runs it; it can be run by
# hand too:
#
#   vm-image.sh kernels              signed kernel versions the archive has,
#                                    newest first (6.1.0-NN-amd64)
#   vm-image.sh esp DIR VERSION AGENT on|off
#                                    DIR/esp.img (for Secure Boot on|off): shim as EFI/BOOT/BOOTX64.EFI,
#                                    grub as EFI/BOOT/grubx64.efi, grub.cfg in
#                                    EFI/debian/, the kernel VERSION and an
#                                    initramfs holding busybox and AGENT
#   vm-image.sh data DIR             DIR/data.img: the guest's persistent disk
#   vm-image.sh unpacked PKG         the directory PKG is unpacked in (fetched
#                                    if needed): tests read the files from it
#   vm-image.sh deb PKG              the cached .deb of PKG (fetched if needed)
#   vm-image.sh cached               kernel versions whose .deb is cached
#
# Cache: ${ATTEST_VM_CACHE:-/var/cache/attest-vm} (falls back to
# ~/.cache/attest-vm when that is not writable); reused across runs.
# Exit status: 0 done, 1 failure, 3 the packages cannot be fetched.
set -euo pipefail

die() { echo "vm-image: $*" >&2; exit 1; }
unavailable() { echo "vm-image: cannot fetch $*" >&2; exit 3; }

cache=${ATTEST_VM_CACHE:-/var/cache/attest-vm}
if ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/attest-vm
  mkdir -p "$cache" || die "no writable cache directory"
fi

ESP_MB=64 # fixed: a kernel update rewrites the image in place

# Modules the guest's /init loads, in this order. Each one's own
# dependencies (read from its .modinfo) are put before it.
GUEST_MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
failover net_failover virtio_net virtio_blk nls_cp437 nls_ascii fat vfat efivarfs"

kernels() {
  apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
    sed -n 's/^linux-image-\(6\.1\.0-[0-9]*-amd64\)$/\1/p' | sort -t- -k2,2nr
}

# fetch PKG: the package extracted under $cache/x/PKG (downloaded once, under
# a lock so parallel creates share one download); prints that directory.
fetch() {
  local pkg=$1 x="$cache/x/$1"
  mkdir -p "$cache/debs" "$cache/x"
  (
    flock 9
    if [ ! -f "$x/.done" ]; then
      local deb
      deb=$(ls "$cache/debs/${pkg}_"*.deb 2>/dev/null | head -1 || true)
      if [ -z "$deb" ]; then
        (cd "$cache/debs" && apt-get download "$pkg" >"$cache/debs/$pkg.log" 2>&1) ||
          { cat "$cache/debs/$pkg.log" >&2; exit 3; }
        deb=$(ls "$cache/debs/${pkg}_"*.deb 2>/dev/null | head -1 || true)
        [ -n "$deb" ] || exit 3
      fi
      rm -rf "$x" && mkdir -p "$x"
      dpkg-deb -x "$deb" "$x" || exit 1
      touch "$x/.done"
    fi
  ) 9>"$cache/.lock" || {
    local rc=$?
    [ $rc -eq 3 ] && unavailable "$pkg with apt-get download (no archive reachable?)"
    die "cannot unpack $pkg"
  }
  echo "$x"
}

moddeps() { # the depends= line of a module (uncompressed .ko)
  strings -a "$1" | sed -n 's/^depends=//p' | head -1 | tr ',' ' '
}

# copy_libs ROOT FILE...: the files' shared libraries (ldd), and the loader,
# at the same paths under ROOT.
copy_libs() {
  local root=$1; shift
  local f lib
  for f in "$@"; do
    for lib in $(ldd "$f" | awk '/=> \//{print $3} /^\t\//{print $1}'); do
      [ -e "$root$lib" ] && continue
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done
  done
}

build_initrd() { # build_initrd OUT KDIR VERSION AGENT
  local out=$1 kdir=$2 ver=$3 agent=$4 r
  r=$(mktemp -d)
  mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,data,run,lib/modules,etc}
  local bb
  bb=$(command -v busybox) || die "busybox not installed (busybox-static)"
  ldd "$bb" >/dev/null 2>&1 && die "$bb is not static (install busybox-static)"
  cp "$bb" "$r/bin/busybox"
  cp "$agent" "$r/usr/bin/attest-agent"
  local tcti
  tcti=$(ls /usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0 /lib/x86_64-linux-gnu/libtss2-tcti-device.so.0 2>/dev/null | head -1) ||
    true
  [ -n "$tcti" ] || die "libtss2-tcti-device.so.0 not found (libtss2-tcti-device0)"
  mkdir -p "$r/usr/lib/x86_64-linux-gnu"
  cp -L "$tcti" "$r/usr/lib/x86_64-linux-gnu/libtss2-tcti-device.so.0"
  copy_libs "$r" "$agent" "$tcti"

  # Modules, dependencies first, in the order /init loads them.
  local mdir="$kdir/lib/modules/$ver" order=() m
  add_mod() {
    local name=$1 f d
    for d in "${order[@]}"; do [ "$d" = "$name" ] && return 0; done
    f=$(find "$mdir/kernel" -name "$name.ko" | head -1)
    [ -n "$f" ] || f=$(find "$mdir/kernel" -name "$(echo "$name" | tr _ -).ko" | head -1)
    [ -n "$f" ] || die "module $name not in linux-image-$ver"
    for d in $(moddeps "$f"); do add_mod "$d"; done
    cp "$f" "$r/lib/modules/$name.ko"
    order+=("$name")
  }
  for m in $GUEST_MODULES; do add_mod "$m"; done
  printf '%s\n' "${order[@]}" >"$r/lib/modules/order"
  cp "$(dirname "$0")/vm-init.sh" "$r/init"
  chmod 0755 "$r/init"
  (cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp"
  rm -rf "$r"
  mv "$out.tmp" "$out"
}

esp() { # esp DIR VERSION AGENT SB
  local dir=$1 ver=$2 agent=$3 sb=$4
  [ -x "$agent" ] || die "agent $agent not found"
  local shim grub kdir
  shim=$(fetch shim-signed)
  grub=$(fetch grub-efi-amd64-signed)
  kdir=$(fetch "linux-image-$ver")
  [ -f "$kdir/boot/vmlinuz-$ver" ] || die "linux-image-$ver has no /boot/vmlinuz-$ver"
  local initrd="$dir/initrd.img-$ver"
  build_initrd "$initrd" "$kdir" "$ver" "$agent"
  # grub.cfg: what a Debian install writes, reduced to one entry. The
  # command line is measured into PCR 8: nothing host-specific goes there.
  # With Secure Boot off, Debian's grub runs `linux` through the legacy
  # boot protocol, which skips the kernel's EFI stub: the kernel then never
  # gets the firmware's event log (no binary_bios_measurements). Such a
  # host boots with linuxefi (the EFI handover) so that the verifier sees
  # its log and says why it is not trusted.
  local lcmd=linux icmd=initrd
  [ "$sb" = off ] && lcmd=linuxefi icmd=initrdefi
  cat >"$dir/grub.cfg" <<EOF
set timeout=0
set default=0
menuentry 'Debian GNU/Linux, with Linux $ver' {
	$lcmd /vmlinuz-$ver console=ttyS0 quiet
	$icmd /initrd.img-$ver
}
EOF
  local kb ib img="$dir/esp.img.tmp"
  kb=$(stat -c %s "$kdir/boot/vmlinuz-$ver")
  ib=$(stat -c %s "$initrd")
  [ $((kb + ib)) -lt $((ESP_MB - 8))000000 ] || die "kernel + initramfs too big for the ESP"
  rm -f "$img"
  mkfs.vfat -C -n ESP "$img" $((ESP_MB * 1024)) >/dev/null
  mmd -i "$img" ::EFI ::EFI/BOOT ::EFI/debian
  mcopy -i "$img" "$shim/usr/lib/shim/shimx64.efi.signed" ::EFI/BOOT/BOOTX64.EFI
  mcopy -i "$img" "$grub/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed" ::EFI/BOOT/grubx64.efi
  mcopy -i "$img" "$dir/grub.cfg" ::EFI/debian/grub.cfg
  mcopy -i "$img" "$kdir/boot/vmlinuz-$ver" "::vmlinuz-$ver"
  mcopy -i "$img" "$initrd" "::initrd.img-$ver"
  # A running QEMU has esp.img open: rewrite it in place (same size), so
  # the next reset reads the new ESP.
  if [ -f "$dir/esp.img" ]; then
    cat "$img" >"$dir/esp.img" && rm -f "$img"
  else
    mv "$img" "$dir/esp.img"
  fi
  rm -f "$initrd"
}

data() {
  local img="$1/data.img"
  [ -e "$img" ] && die "$img exists"
  mkfs.vfat -C -n ATTESTDATA "$img.tmp" 16384 >/dev/null
  mv "$img.tmp" "$img"
}

case "${1:-}" in
kernels) kernels ;;
unpacked) [ $# -eq 2 ] || die "usage: unpacked PKG"; fetch "$2" ;;
deb)
  [ $# -eq 2 ] || die "usage: deb PKG"
  fetch "$2" >/dev/null
  ls "$cache/debs/${2}_"*.deb | head -1 ;;
cached)
  ls "$cache/debs" 2>/dev/null |
    sed -n 's/^linux-image-\(6\.1\.0-[0-9]*-amd64\)_.*\.deb$/\1/p' | sort -t- -k2,2nr ;;
kernels-to) [ $# -eq 2 ] || die "usage: kernels-to FILE"; kernels >"$2" ;;
esp) [ $# -eq 5 ] || die "usage: esp DIR VERSION AGENT on|off"; esp "$2" "$3" "$4" "$5" ;;
data) [ $# -eq 2 ] || die "usage: data DIR"; data "$2" ;;
*) die "usage: vm-image.sh kernels | cached | unpacked PKG | deb PKG | esp DIR VERSION AGENT on|off | data DIR" ;;
esac
