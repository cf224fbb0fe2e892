#!/bin/sh
# usage: pkg-debs.sh OUTDIR
# Builds the packages twice for vm_pkg_install's upgrade: OUTDIR/old at the
# tree's VERSION, OUTDIR/new at the next patch release; and a signing key
# pair for DKMS in OUTDIR/mok. Both builds run in
# OUTDIR/build (one path: the second finds the first's objects in ccache).
# Each build's wall and CPU seconds go to the log (CI time, tests/README.md).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
next=$(awk -F. '{ printf "%s.%s.%d\n", $1, $2, $3 + 1 }' "$top/VERSION")
mkdir -p "$out/build"
# A cache of its own unless the caller shares one (tests/run-all.sh shares the
# main build's: with its flags the first build then compiles next to nothing).
export CCACHE_DIR="${CCACHE_DIR:-$out/ccache}"
# The guest installs bkagent and bksnap-dkms only: no -dbgsym packages (their
# debug info is most of a build's packing time).
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc) noautodbgsym}"
for v in old new; do
	t0=$(date +%s)
	ccache -z >/dev/null
	if [ $v = old ]; then
		"$top/deploy/build-debs.sh" "$out/build"
	else
		"$top/deploy/build-debs.sh" --version "$next" "$out/build"
	fi
	# `times` in this shell (in a pipeline it would see a subshell's children).
	times >"$out/times"
	echo "pkg-debs: $v build $(($(date +%s) - t0)) s wall; CPU of both builds so far (user, sys): $(tail -n 1 "$out/times")"
	echo "pkg-debs: $v build, ccache in $CCACHE_DIR: $(ccache -s | grep -E '^ *(Hits|Misses):' | tr -s ' \n' ' ')"
	rm -rf "${out:?}/$v"
	mkdir "$out/$v"
	mv "$out"/build/*.deb "$out/$v/"
done
# A machine owner's module signing key (Secure Boot MOK) for the guest's DKMS.
rm -rf "$out/mok" && mkdir "$out/mok"
openssl req -new -x509 -nodes -days 36500 -subj "/CN=bkagent test MOK/" -newkey rsa:2048 \
	-keyout "$out/mok/mok.key" -outform DER -out "$out/mok/mok.der" 2>/dev/null
ls "$out"/old "$out"/new "$out"/mok
