#!/bin/bash
# Smoke test: with bksnap loaded, ext4 and xfs on two scratch disks keep what
# was written across unmount/remount, pass fsck, and the module unloads cleanly.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

bk_load_module
[ -d /sys/module/bksnap ] || bk_fail "bksnap is not in /sys/module"
[ -c /dev/bksnap-ctl ] || bk_fail "/dev/bksnap-ctl is not a character device"

modprobe xfs
declare -A fs_of=([1]=ext4 [2]=xfs)
for n in 1 2; do
	dev=$(bk_disk $n)
	fs=${fs_of[$n]}
	mnt=/tmp/mnt$n
	mkdir -p $mnt
	mkfs -t "$fs" -q "$dev" >/dev/null
	mount "$dev" $mnt
	# Random data in sizes from sub-page to multi-MiB, buffered and direct.
	head -c 1000 /dev/urandom >$mnt/small
	head -c $((4 << 20)) /dev/urandom >$mnt/buffered
	dd if=/dev/urandom of=$mnt/direct bs=1M count=4 oflag=direct status=none
	mkdir $mnt/tree
	for i in $(seq 1 50); do head -c $((i * 997)) /dev/urandom >$mnt/tree/f$i; done
	sync
	(cd $mnt && find . -type f -print0 | sort -z | xargs -0 sha256sum) >/tmp/sums$n
	umount $mnt
	mount "$dev" $mnt
	(cd $mnt && sha256sum --quiet -c /tmp/sums$n) || bk_fail "$fs: data changed across remount"
	umount $mnt
	bk_fsck "$dev" "$fs"
	bk_log "$fs on $dev: $(wc -l </tmp/sums$n) files verified after remount, fsck clean"
done

bk_unload_module
[ ! -e /dev/bksnap-ctl ] || bk_fail "/dev/bksnap-ctl remains after rmmod"
