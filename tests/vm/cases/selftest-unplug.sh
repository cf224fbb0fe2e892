#!/bin/bash
# Harness self-test: scratch disks are found by serial, and bk_unplug removes
# one from the guest (the host performs QMP device_del) without touching the other.
. "$(dirname "$0")/../lib/guest.sh"
[ "$(bk_disks | wc -l)" -eq 2 ] || bk_fail "expected 2 scratch disks, got: $(bk_disks)"
d1=$(bk_disk 1)
d2=$(bk_disk 2)
[ "$(blockdev --getsize64 "$d1")" -eq $((64 << 20)) ] || bk_fail "$d1 is not 64 MiB"
[ "$(blockdev --getsize64 "$d2")" -eq $((32 << 20)) ] || bk_fail "$d2 is not 32 MiB"
echo data | dd of="$d2" oflag=direct bs=512 conv=sync status=none
bk_unplug 2
[ ! -e "$d2" ] || bk_fail "$d2 still exists after unplug"
[ "$(bk_disks)" = "disk1 $d1" ] || bk_fail "disk1 should remain alone, got: $(bk_disks)"
dd if="$d1" of=/dev/null bs=1M count=1 iflag=direct status=none || bk_fail "disk1 unreadable"
