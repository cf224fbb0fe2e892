#!/bin/busybox sh
# /init of the initramfs check (initramfs_check.py), for kernels the 9p
# harness cannot boot: busybox and bksnapctl only. The CBT of a tracked disk
# marks every block written at random places, and a snapshot image keeps the
# data of the instant it was taken while the origin is overwritten.
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
dmesg -n 8
CTL=/bin/bksnapctl

fail() {
	echo "BKREACH_FAIL $*"
	poweroff -f
}

# disk SERIAL: the device node of the virtio disk with that serial.
disk() {
	for d in /sys/block/vd*; do
		[ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && echo "/dev/${d##*/}"
	done
}

md5() {
	dd if="$1" bs=1M count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
}

for m in $(cat /mods/order); do
	insmod "/mods/$m.ko" || fail "insmod $m"
done
insmod /bksnap.ko || fail "insmod bksnap"
i=0
while [ -z "$(disk disk2)" ]; do
	i=$((i + 1))
	[ $i -le 50 ] || fail "no scratch disks"
	sleep 0.1
done
origin=$(disk disk1)
diff=$(disk disk2)

$CTL attach "$origin" || fail "attach $origin"
shift=$($CTL info "$origin" | sed -n 's/^block_shift=//p')
nblocks=$(($(cat "/sys/block/${origin#/dev/}/size") * 512 >> shift))
written=$(awk -v n="$nblocks" -v seed="$$" \
	'BEGIN { srand(seed); for (i = 0; i < 64; i++) print int(rand() * n) }' | sort -un)
for b in $written; do
	dd if=/dev/urandom of="$origin" bs=$((1 << shift)) seek="$b" count=1 \
		oflag=direct conv=notrunc 2>/dev/null || fail "write block $b"
done
$CTL cbt-read "$origin" /tmp/map || fail "cbt-read"
marked=$(od -An -v -tu1 -w1 /tmp/map | awk '$1 != 0 { print NR - 1 }')
for b in $written; do
	echo "$marked" | grep -qx "$b" || fail "block $b written, not marked"
done
echo "BKREACH_INFO $(echo "$written" | wc -l) blocks written, $(echo "$marked" | wc -l) marked"

dd if=/dev/urandom of="$origin" bs=1M count=8 oflag=direct 2>/dev/null
before=$(md5 "$origin")
$CTL snapshot "$diff" "$origin" >/tmp/snap || fail "snapshot"
id=$(sed -n 's/^id=//p' /tmp/snap)
image=$(sed -n 's/.* image=\([^ ]*\) .*/\1/p' /tmp/snap)
dd if=/dev/urandom of="$origin" bs=1M count=8 oflag=direct 2>/dev/null
[ "$(md5 "$origin")" != "$before" ] || fail "the origin did not change"
[ "$(md5 "$image")" = "$before" ] || fail "image $image differs from the origin at the take"
$CTL release "$id" || fail "release"
$CTL detach "$origin" || fail "detach"
rmmod bksnap || fail "rmmod"
echo "BKREACH_PASS"
poweroff -f
