#!/bin/bash
# Trackers on a device-mapper stack: an LVM logical volume (bio-based dm) with
# ext4, and at the same time the physical disk under it.  Both maps cover
# every write that reached the disk.  Then hot-unplug of a tracked, mounted,
# busy disk: the tracker is released, an event says so, no oops.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh"

export LVM_SYSTEM_DIR=$(dirname "$0")/../lib
bk_load_module
modprobe dm_mod
pv=$(bk_disk 1)
pvcreate -qy "$pv" >/dev/null 2>&1
vgcreate -q bkvg "$pv" >/dev/null 2>&1
lvcreate -qy -L 96m -n lv bkvg >/dev/null 2>&1
lv=/dev/bkvg/lv
mkfs.ext4 -q "$lv"
mkdir -p /tmp/lv
mount "$lv" /tmp/lv
"$BKSNAPCTL" attach "$lv" || bk_fail "attach the logical volume"
"$BKSNAPCTL" attach "$pv" || bk_fail "attach the physical volume under it"

bk_trace_start "$pv"
fio --name=lv --directory=/tmp/lv --size=32m --rw=randwrite --bs=4k \
	--bsrange=4k-32k --direct=1 --ioengine=libaio --iodepth=8 --runtime=4 \
	--time_based --output=/dev/null
fio --name=lvb --directory=/tmp/lv --size=8m --rw=write --bs=64k --fsync=4 \
	--output=/dev/null
sync
bk_trace_stop /tmp/trace-lv

# The LV maps linearly onto the PV: "0 SIZE linear MAJ:MIN OFFSET".
read -r _ lv_size _ _ lv_offset <<<"$(dmsetup table bkvg-lv)"
read -r pv_devt _ _ <<<"$(bk_disk_geometry "$pv")"
"$BKSNAPCTL" cbt-read "$lv" /tmp/cbt-lv
/usr/bin/python3 "$CBT_CHECK" /tmp/trace-lv /tmp/cbt-lv "$(bk_info "$lv" block_shift)" \
	"$pv_devt" "$lv_offset" "$lv_size" || bk_fail "CBT of the LV misses writes"
bk_cbt_check "$pv" /tmp/trace-lv

umount /tmp/lv
"$BKSNAPCTL" detach "$lv"
"$BKSNAPCTL" detach "$pv"
bk_fsck "$lv" ext4
vgchange -qan bkvg >/dev/null

# Hot-unplug of a tracked disk with a mounted filesystem and a writer.
gone=$(bk_disk 2)
IFS=: read -r gmaj gmin </sys/class/block/${gone#/dev/}/dev
mkfs.ext4 -q "$gone"
mkdir -p /tmp/gone
mount "$gone" /tmp/gone
"$BKSNAPCTL" attach "$gone" || bk_fail "attach $gone"
"$BKSNAPCTL" events >/dev/null	# start with an empty queue
fio --name=gone --directory=/tmp/gone --size=16m --rw=randwrite --bs=4k \
	--direct=1 --ioengine=libaio --iodepth=8 --runtime=30 --time_based \
	--output=/dev/null &
writer=$!
sleep 2
bk_unplug 2
wait $writer && bk_fail "the writer kept writing to a removed disk"
i=0
while "$BKSNAPCTL" list | grep -qx "$gmaj:$gmin"; do
	i=$((i + 1))
	[ $i -le 100 ] || bk_fail "tracker of the removed disk still attached"
	sleep 0.1
done
"$BKSNAPCTL" events | grep -q "type=4 dev=$gmaj:$gmin" ||
	bk_fail "no DEVICE_GONE event for $gmaj:$gmin"
umount /tmp/gone || umount -l /tmp/gone
bk_log "removed disk released its tracker"
bk_unload_module
