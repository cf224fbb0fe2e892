#!/bin/bash
# Build bksnap's module and bksnapctl as they were at git revision REV, for
# an A/B run of the module against the working tree in the same boot.
# Prints the directory holding bksnap.ko and bksnapctl.
# usage: bksnap-base.sh SOURCE_TREE REV OUT_DIR KERNEL_RELEASE
set -euo pipefail
src=$1 rev=$2 out=$3 kver=$4
headers=/lib/modules/$kver/build
[ -d "$headers" ] || headers=/usr/src/linux-headers-$kver
mkdir -p "$out"
out=$(cd "$out" && pwd) # kbuild's M= must be absolute
rm -rf "$out/tree"
mkdir "$out/tree"
paths=(kernel tests/tools/bksnapctl.c)
git -C "$src" cat-file -e "$rev:VERSION" 2>/dev/null && paths+=(VERSION)
git -C "$src" archive "$rev" "${paths[@]}" | tar -x -C "$out/tree"
make -s -C "$headers" M="$out/tree/kernel" modules >"$out/build.log" 2>&1 ||
	{ tail -n 20 "$out/build.log" >&2; exit 1; }
gcc -O2 -I"$out/tree/kernel/include/uapi" -o "$out/bksnapctl" "$out/tree/tests/tools/bksnapctl.c"
cp "$out/tree/kernel/bksnap.ko" "$out/"
echo "$out"
