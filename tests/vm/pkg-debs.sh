#!/bin/sh
# usage: pkg-debs.sh OUTDIR
# Builds the packages twice for vm_pkg_install's upgrade: OUTDIR/old at the
# tree's VERSION, OUTDIR/new at the next patch release. Both builds run in
# OUTDIR/build (one path: the second finds the first's objects in ccache).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
next=$(awk -F. '{ printf "%s.%s.%d\n", $1, $2, $3 + 1 }' "$top/VERSION")
mkdir -p "$out/build"
# A cache of its own unless the caller shares one (a fresh CI machine has none).
export CCACHE_DIR="${CCACHE_DIR:-$out/ccache}"
for v in old new; do
	if [ $v = old ]; then
		"$top/deploy/build-debs.sh" "$out/build"
	else
		"$top/deploy/build-debs.sh" --version "$next" "$out/build"
	fi
	rm -rf "${out:?}/$v"
	mkdir "$out/$v"
	mv "$out"/build/*.deb "$out/$v/"
done
ls "$out"/old "$out"/new
