#!/usr/bin/env bash
# The software catalog's reading of Debian's own signed packages (issue 15),
# checked against independent tools: for every EFI binary of shim-signed,
# grub-efi-amd64-signed and two signed linux-image-6.1.0-*-amd64 packages,
# `attestctl catalog inspect` must give pesign's Authenticode SHA-256,
# sha256sum's file SHA-256 and sbverify's signer; reading the .deb itself
# must give the same entries with the package's own name and version. Then
# broken or hostile packages: refused with a sentence, nothing found.
# The packages are fetched with apt-get download into the VM cache
# (sim/vm-image.sh; never into the repository). Skips (77) without pesign,
# sbverify or the packages.
set -uo pipefail
bin=${ATTEST_BIN:-build/bin}
ctl="$bin/attestctl"
for t in pesign sbverify dpkg-deb jq python3; do
  command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (scripts/install-deps.sh)"; exit 77; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

mapfile -t cached < <(bash sim/vm-image.sh cached 2>/dev/null)
mapfile -t avail < <(bash sim/vm-image.sh kernels 2>/dev/null)
kernels=("${cached[@]:0:2}")
[ ${#kernels[@]} -ge 2 ] || kernels=("${avail[@]:0:2}")
[ ${#kernels[@]} -ge 2 ] || { echo "SKIP: the archive lists fewer than two signed kernels"; exit 77; }
pkgs=(shim-signed grub-efi-amd64-signed "linux-image-${kernels[0]}" "linux-image-${kernels[1]}")
debs=()
for p in "${pkgs[@]}"; do
  d=$(bash sim/vm-image.sh deb "$p" 2>"$work/fetch.err"); rc=$?
  [ $rc -eq 3 ] && { echo "SKIP: cannot fetch $p: $(tail -1 "$work/fetch.err")"; exit 77; }
  [ $rc -eq 0 ] && [ -f "$d" ] || fail "vm-image.sh deb $p: $(cat "$work/fetch.err")"
  debs+=("$d")
done

# 1. every EFI binary, one by one, against pesign, sha256sum and sbverify
n=0
for i in "${!pkgs[@]}"; do
  x=$(bash sim/vm-image.sh unpacked "${pkgs[$i]}") || fail "unpack ${pkgs[$i]}"
  while IFS= read -r f; do
    "$ctl" --json catalog inspect "$f" --package p --version 1 >"$work/one.json" ||
      fail "inspect $f"
    [ "$(jq length "$work/one.json")" = 1 ] || fail "$f: not exactly one entry"
    ours=$(jq -r '.[0].authenticode_sha256' "$work/one.json")
    theirs=$(pesign -h -i "$f" | sed -n 's/^hash: //p')
    [ -n "$theirs" ] && [ "$ours" = "$theirs" ] || fail "$f: authenticode $ours, pesign says $theirs"
    [ "$(jq -r '.[0].file_sha256' "$work/one.json")" = "$(sha256sum "$f" | cut -d' ' -f1)" ] ||
      fail "$f: file SHA-256 differs from sha256sum"
    # sbverify prints "/CN=A/O=B" (slash-separated); ours is "CN=A, O=B"
    sbsub=$(sbverify --list "$f" | sed -n 's/^ *- subject: //p' | head -1)
    oursub=$(jq -r '.[0].signer.subject' "$work/one.json" | sed 's/, /\//g; s/^/\//')
    [ "$sbsub" = "$oursub" ] || fail "$f: signer '$oursub', sbverify says '$sbsub'"
    printf '%s %s %s\n' "$(basename "$f")" "$ours" "$(jq -r '.[0].kind' "$work/one.json")" >>"$work/files.txt"
    n=$((n + 1))
  done < <(find "$x" -type f \( -name '*.efi.signed' -o -name 'vmlinuz-*' \) | sort)
done
[ "$n" -ge 7 ] || fail "only $n EFI binaries found in the packages"
ok "$n binaries: Authenticode SHA-256 = pesign, file SHA-256 = sha256sum, signer = sbverify"

# 2. the .deb files themselves: same digests, named by the package
for i in "${!pkgs[@]}"; do
  "$ctl" --json catalog inspect "${debs[$i]}" >"$work/deb.json" 2>"$work/deb.err" ||
    fail "inspect ${debs[$i]}: $(cat "$work/deb.err")"
  pkg=$(dpkg-deb -f "${debs[$i]}" Package); ver=$(dpkg-deb -f "${debs[$i]}" Version)
  [ "$(jq -r '[.[].package] | unique | .[]' "$work/deb.json")" = "$pkg" ] || fail "${pkgs[$i]}: package name"
  [ "$(jq -r '[.[].version] | unique | .[]' "$work/deb.json")" = "$ver" ] || fail "${pkgs[$i]}: version"
  [ "$(jq -r '[.[].vendor] | unique | .[]' "$work/deb.json")" = "Debian" ] || fail "${pkgs[$i]}: vendor"
  while read -r path dig kind; do
    base=$(basename "$path")
    grep -qx "$base $dig $kind" "$work/files.txt" || fail "${pkgs[$i]}: $path $dig $kind not as unpacked"
  done < <(jq -r '.[] | "\(.path) \(.authenticode_sha256) \(.kind)"' "$work/deb.json")
done
jq -e 'map(select(.kind == "kernel")) | length == 1' "$work/deb.json" >/dev/null || fail "kernel kind"
ok "the .deb files give the same entries, named by their Package/Version fields, vendor Debian"

# 2b. a directory of boot binaries (an unpacked ESP, say): walked without following links
mkdir -p "$work/esp/EFI/BOOT" "$work/esp/EFI/debian"
x=$(bash sim/vm-image.sh unpacked shim-signed)
cp "$x/usr/lib/shim/shimx64.efi.signed" "$work/esp/EFI/BOOT/BOOTX64.EFI"
echo "not a binary" >"$work/esp/EFI/debian/grub.cfg"
ln -s "$x/usr/lib/shim/shimx64.efi.signed" "$work/esp/EFI/debian/link.efi"
"$ctl" --json catalog inspect "$work/esp" --package shim-signed --version 1.0 --vendor Debian >"$work/dir.json" ||
  fail "inspect a directory"
[ "$(jq -r '[.[] | "\(.path) \(.kind) \(.version) \(.vendor)"] | join(",")' "$work/dir.json")" = "/EFI/BOOT/BOOTX64.EFI efi_application 1.0 Debian" ] ||
  fail "directory: $(cat "$work/dir.json")"
grep -q "$(jq -r '.[0].authenticode_sha256' "$work/dir.json")" <(pesign -h -i "$work/esp/EFI/BOOT/BOOTX64.EFI") ||
  fail "directory: digest differs from pesign"
ok "a directory: one entry per EFI binary, path inside it, symbolic links not followed"

# 3. hostile and broken input: refused with a sentence
head -c 100000 "${debs[0]}" >"$work/short.deb"
"$ctl" catalog inspect "$work/short.deb" >/dev/null 2>"$work/err" && fail "a truncated .deb was read"
grep -q "short.deb: " "$work/err" || fail "no sentence for a truncated .deb: $(cat "$work/err")"
ok "truncated .deb: $(head -1 "$work/err")"

# a .deb whose data member escapes with "..", built by hand (dpkg-deb -b refuses to)
python3 - "$work" "$(bash sim/vm-image.sh unpacked shim-signed)/usr/lib/shim/shimx64.efi.signed" <<'PY'
import io, os, sys, tarfile, subprocess
w, shim = sys.argv[1], sys.argv[2]
def tarxz(members):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:xz", format=tarfile.GNU_FORMAT) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
    return b.getvalue()
control = tarxz([("./control", b"Package: evil\nVersion: 1.0\nArchitecture: amd64\nMaintainer: x <x@example.org>\nDescription: x\n")])
for name, members in (("traversal", [("./../../etc/shimx64.efi", open(shim, "rb").read())]),
                      ("notefi", [("./usr/share/doc/readme", b"hello")])):
    os.makedirs(f"{w}/{name}", exist_ok=True)
    open(f"{w}/{name}/debian-binary", "wb").write(b"2.0\n")
    open(f"{w}/{name}/control.tar.xz", "wb").write(control)
    open(f"{w}/{name}/data.tar.xz", "wb").write(tarxz(members))
    subprocess.run(["ar", "rc", f"{w}/{name}.deb", f"{w}/{name}/debian-binary",
                    f"{w}/{name}/control.tar.xz", f"{w}/{name}/data.tar.xz"], check=True)
PY
"$ctl" catalog inspect "$work/traversal.deb" >"$work/out" 2>"$work/err" && fail "a member named ../ was read"
grep -q '".." component' "$work/err" || fail "traversal: $(cat "$work/err")"
[ ! -s "$work/out" ] || fail "traversal: entries printed"
ok "member with .. refused: $(cat "$work/err")"
"$ctl" catalog inspect "$work/notefi.deb" >/dev/null 2>"$work/err" && fail "a package without EFI images gave entries"
grep -q "no EFI image" "$work/err" || fail "notefi: $(cat "$work/err")"
ok "package without EFI images: $(cat "$work/err")"
# a signed kernel with one byte changed: its signature no longer covers it
k=$(bash sim/vm-image.sh unpacked "${pkgs[2]}")/boot/vmlinuz-${kernels[0]}
cp "$k" "$work/vmlinuz-edited"
printf '\x5a' | dd of="$work/vmlinuz-edited" bs=1 seek=4096 conv=notrunc status=none
"$ctl" --json catalog inspect "$work/vmlinuz-edited" --package x --version 1 >"$work/ed.json" 2>"$work/err" ||
  fail "inspect edited kernel"
jq -e '.[0].signer == null' "$work/ed.json" >/dev/null || fail "edited kernel still has a signer: $(cat "$work/ed.json")"
grep -q "signature over another digest" "$work/err" || fail "no warning: $(cat "$work/err")"
[ "$(jq -r '.[0].authenticode_sha256' "$work/ed.json")" = "$(pesign -h -i "$work/vmlinuz-edited" | sed -n 's/^hash: //p')" ] ||
  fail "edited kernel: digest differs from pesign"
ok "edited signed kernel: recorded unsigned with a warning, digest = pesign"
"$ctl" catalog inspect "$work" >/dev/null 2>"$work/err"; [ $? -eq 2 ] || fail "a directory without --package is a usage error"
ok "directory without --package/--version: usage error"
echo "PASS"
