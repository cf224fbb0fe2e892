#!/bin/bash
# Host side of vm_seal_cycles, between boots: when the boot that just ended
# asked for it (its plan said "hostwrite"), another system writes the data
# disk's filesystem while the guest is down, as the tracker cannot see.
# Before boot 1: the plan's seed, BK_SEED of the ctest run or the time.
set -euo pipefail
work=$BK_RUN_DIR/work
flag=$work/host-write
if [ "$BK_BOOT" = 0 ]; then
	mkdir -p "$work"
	echo "${BK_SEED:-$(date +%s)}" >"$work/seed"
	rm -f "$flag"
fi
[ "$BK_BOOT" -gt 0 ] && [ -e "$flag" ] || exit 0
rm "$flag"
debugfs -w -R "mkdir written-by-the-host-after-boot-$BK_BOOT" "$BK_RUN_DIR/disk1.img" >/dev/null 2>&1
echo "bkvm: host wrote the data disk's filesystem after boot $BK_BOOT"
