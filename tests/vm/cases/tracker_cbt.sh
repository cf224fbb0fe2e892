#!/bin/bash
# CBT never misses a write: busy ext4 and xfs (buffered+fsync, O_DIRECT,
# discard), a partition next to an untracked one, and write-zeroes/discard on
# a raw whole disk.  The ground truth is the block_rq_issue trace.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

bk_load_module
modprobe xfs
ext4_dev=$(bk_disk 1)
xfs_dev=$(bk_disk 2)
part_disk=$(bk_disk 3)
raw_dev=$(bk_disk 4)

# Random writes through a mounted filesystem while the tracker is attached.
fs_workload() {
	local mnt=$1
	fio --name=buffered --directory=$mnt --size=24m --rw=randwrite --bs=4k \
		--fsync=8 --ioengine=psync --runtime=4 --time_based --randseed=$RANDOM \
		--output=/dev/null
	fio --name=direct --directory=$mnt --size=24m --rw=randwrite --bs=4k,64k \
		--bsrange=4k-64k --direct=1 --ioengine=libaio --iodepth=8 --runtime=4 \
		--time_based --randseed=$RANDOM --output=/dev/null
	sync
}

check_fs() {
	local dev=$1 fs=$2 mnt=/tmp/mnt-$2
	mkdir -p $mnt
	mkfs -t "$fs" -q "$dev" >/dev/null
	mount "$dev" $mnt
	"$BKSNAPCTL" attach "$dev" || bk_fail "attach $dev"
	bk_trace_start "$dev"
	fs_workload $mnt
	bk_trace_stop /tmp/trace-$fs
	bk_cbt_check "$dev" /tmp/trace-$fs
	# Discards of freed space (they mark most of the disk: checked apart).
	bk_trace_start "$dev"
	rm -f $mnt/buffered.0.0
	fstrim $mnt
	bk_trace_stop /tmp/trace-$fs-trim
	bk_cbt_check "$dev" /tmp/trace-$fs-trim
	umount $mnt
	"$BKSNAPCTL" detach "$dev" || bk_fail "detach $dev"
	bk_fsck "$dev" "$fs"
}

check_fs "$ext4_dev" ext4
check_fs "$xfs_dev" xfs

# A tracked partition beside an untracked one on the same disk.
printf 'label: gpt\n,64M\n,\n' | sfdisk -q "$part_disk"
p1=${part_disk}1
p2=${part_disk}2
"$BKSNAPCTL" attach "$p1" || bk_fail "attach $p1"
bk_trace_start "$part_disk"
fio --name=p --filename=$p1:$p2 --rw=randwrite --bs=4k --direct=1 \
	--ioengine=libaio --iodepth=8 --size=32m --runtime=3 --time_based \
	--output=/dev/null
blkdiscard -o 1M -l 4M "$p1"
bk_trace_stop /tmp/trace-part
bk_cbt_check "$p1" /tmp/trace-part
"$BKSNAPCTL" detach "$p1"

# The checker can fail: a write made before the tracker existed is missed.
bk_trace_start "$raw_dev"
dd if=/dev/urandom of="$raw_dev" bs=4k seek=1000 count=1 oflag=direct status=none
"$BKSNAPCTL" attach "$raw_dev" || bk_fail "attach $raw_dev"
bk_trace_stop /tmp/trace-before
(bk_cbt_check "$raw_dev" /tmp/trace-before) && bk_fail "checker missed an untracked write"
"$BKSNAPCTL" detach "$raw_dev"

# Whole disk: plain writes, discard and write-zeroes.
"$BKSNAPCTL" attach "$raw_dev" || bk_fail "attach $raw_dev"
bk_trace_start "$raw_dev"
fio --name=raw --filename=$raw_dev --rw=randwrite --bs=4k --direct=1 \
	--ioengine=libaio --iodepth=8 --size=64m --runtime=3 --time_based \
	--output=/dev/null
blkdiscard -o 8M -l 8M "$raw_dev"
blkdiscard -z -o 32M -l 2M "$raw_dev"
dd if=/dev/urandom of="$raw_dev" bs=1k seek=77777 count=3 conv=fsync status=none
bk_trace_stop /tmp/trace-raw
bk_cbt_check "$raw_dev" /tmp/trace-raw
"$BKSNAPCTL" detach "$raw_dev"

bk_unload_module
