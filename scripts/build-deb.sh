#!/usr/bin/env bash
# Build attest's Debian packages (make deb): dpkg-buildpackage on a copy of
# the source tree, so that nothing is written outside OUT (default build/deb):
# dpkg-buildpackage puts its results in the parent directory of the tree it
# builds, and debhelper writes into debian/ and obj-*/.
#   OUT/src/attest-VERSION/   the copy that is built (the files git knows,
#                             committed or not, without build directories)
#   OUT/*.deb, *.buildinfo, *.changes, lintian.txt
# Then lintian checks the packages: exit status 1 on any lintian error.
# DEB_BUILD_OPTIONS is passed on (e.g. "nocheck parallel=2").
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/build/deb}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
version=$(dpkg-parsechangelog -l "$here/debian/changelog" -S Version)
src="$out/src/attest-$version"

rm -rf "$out/src"
mkdir -p "$src"
if git -C "$here" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# tracked and untracked-but-not-ignored files that exist (not deleted ones)
	(cd "$here" && git ls-files -z -co --exclude-standard |
		xargs -0 -I{} sh -c '[ -e "$1" ] && printf "%s\0" "$1"' _ {} |
		tar --null -T - -cf -) | tar -xf - -C "$src"
else
	(cd "$here" && tar --exclude='./build*' --exclude='./node_modules' --exclude='./.git' -cf - .) |
		tar -xf - -C "$src"
fi
rm -f "$out"/attest*.deb "$out"/attest*.ddeb "$out"/attest*_*.buildinfo "$out"/attest*_*.changes

jobs=$(nproc 2>/dev/null || echo 2)
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$jobs}"
echo "build-deb: dpkg-buildpackage in $src (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)"
start=$(date +%s)
(cd "$src" && dpkg-buildpackage -b -us -uc) >"$out/build.log" 2>&1 || {
	tail -40 "$out/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
}
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/
ls "$out"/src/*.ddeb >/dev/null 2>&1 && mv "$out"/src/*.ddeb "$out"/
echo "build-deb: built in $(($(date +%s) - start)) s:"
ls -1 "$out"/*.deb

if [ "${ATTEST_DEB_LINTIAN:-1}" = 1 ]; then
	changes=$(ls "$out"/attest_*.changes)
	# --fail-on error: warnings are explained in debian/*.lintian-overrides
	# or docs/operations.md ("Installing from Debian packages").
	if lintian --fail-on error --info --display-info "$changes" >"$out/lintian.txt" 2>&1; then
		echo "build-deb: lintian: no errors ($(grep -c '^W:' "$out/lintian.txt" || true) warnings, see $out/lintian.txt)"
	else
		cat "$out/lintian.txt" >&2
		echo "build-deb: lintian reports errors" >&2
		exit 1
	fi
fi
