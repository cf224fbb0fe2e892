#!/bin/bash
# Build Veeam's blksnap (the benchmark peer, ../shared/peers/README.md) in a
# copy: its two modules against the headers of KERNEL_RELEASE and its CLI.
# Prints the directory holding bdevfilter.ko, veeamblksnap.ko and blksnap.
# usage: blksnap-build.sh SOURCE_TREE OUT_DIR KERNEL_RELEASE
set -euo pipefail
src=$1 out=$2 kver=$3
headers=/lib/modules/$kver/build
[ -d "$headers" ] || headers=/usr/src/linux-headers-$kver
[ -f "$src/module/bdevfilter.c" ] || { echo "blksnap-build: $src is not a blksnap source tree" >&2; exit 1; }
[ -d "$headers" ] || { echo "blksnap-build: no headers for $kver" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd) # kbuild's M= must be absolute
rm -rf "$out/src"
cp -r "$src" "$out/src" # the peer's tree stays untouched (and may be read-only)
make -s -C "$headers" M="$out/src/module" modules >"$out/build.log" 2>&1 ||
	{ tail -n 20 "$out/build.log" >&2; exit 1; }
# Its CLI needs uuid-dev and Boost's program_options and filesystem.
cmake -S "$out/src" -B "$out/cli" -DCMAKE_BUILD_TYPE=Release >>"$out/build.log" 2>&1 &&
	cmake --build "$out/cli" --target blksnap-tools >>"$out/build.log" 2>&1 ||
	{ tail -n 20 "$out/build.log" >&2; echo "blksnap-build: its CLI needs uuid-dev," \
		"libboost-program-options-dev, libboost-filesystem-dev" >&2; exit 1; }
cp "$out/src/module/bdevfilter.ko" "$out/src/module/veeamblksnap.ko" "$out/cli/tools/blksnap/blksnap" "$out/"
echo "$out"
