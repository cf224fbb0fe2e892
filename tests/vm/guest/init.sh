#!/bin/busybox sh
# initramfs /init: mount the host's root read-only over 9p (so the guest runs
# the host's binaries and sees the build tree at the same paths), add tmpfs
# where programs write, mount the run's read-write "work" share at /tmp/work,
# then run stage 2 (bkvm_stage2= on the kernel command line) on that root.
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin

die() {
	echo "BKVM_INIT_FAIL $*"
	poweroff -f
}

for arg in $(cat /proc/cmdline); do
	case "$arg" in
	bkvm_stage2=*) STAGE2=${arg#*=} ;;
	bkvm_probe=1) echo BKVM_PROBE_OK; poweroff -f ;;
	bkvm_kmods=1) KMODS=1 ;;
	esac
done
[ -n "$STAGE2" ] || die "no bkvm_stage2= on the kernel command line"

for m in $(cat /mods/order); do
	insmod "/mods/$m.ko" || die "insmod $m"
done
# virtio devices probe at insmod; give the 9p tags a moment all the same.
wait_tag() {
	i=0
	until grep -qs "$1" /sys/bus/virtio/drivers/9pnet_virtio/virtio*/mount_tag; do
		i=$((i + 1))
		[ $i -le 50 ] || die "no $1 9p tag"
		sleep 0.1
	done
}
wait_tag hostroot

R=/newroot
mkdir -p $R
# cache=loose: the root is read-only for the guest's lifetime, and loose
# caching makes exec over 9p about twice as fast.
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot $R ||
	die "mount hostroot"
# A kernel other than the host's (vmrun.py --kernel-root) brings its modules.
if [ -n "$KMODS" ]; then
	wait_tag kmods
	mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose kmods \
		$R/lib/modules || die "mount kmods"
fi
for d in tmp run var/tmp var/log var/cache var/lib/lvm; do
	[ -d $R/$d ] && mount -t tmpfs -o mode=1777 tmpfs $R/$d
done
mkdir -p $R/tmp/work $R/run/lock $R/run/lvm
# cache=none: host and guest must see each other's writes at once.
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none work $R/tmp/work ||
	die "mount work"
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
umount /proc /sys /dev
exec switch_root $R /bin/bash "$STAGE2"
