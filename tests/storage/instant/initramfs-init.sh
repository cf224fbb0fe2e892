#!/bin/busybox sh
# /init of the instant recovery test's initramfs (ServeTest.InstantRecovery...): what a
# distribution's initramfs does, in short. It loads the block and ext4 modules, mounts
# root= of the kernel command line read-write and hands over to that root's /sbin/init.
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin

die() {
	echo "BK_INSTANT_FAIL $*"
	poweroff -f
}

for m in $(cat /mods/order); do
	insmod "/mods/$m.ko" || die "insmod $m"
done
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	root=*) ROOT=${arg#*=} ;;
	esac
done
[ -n "$ROOT" ] || die "no root= on the kernel command line"
i=0
until [ -b "$ROOT" ]; do
	i=$((i + 1))
	[ $i -le 100 ] || die "no $ROOT"
	sleep 0.1
done
mount -t ext4 "$ROOT" /newroot || die "mount $ROOT"
umount /proc /sys /dev
exec switch_root /newroot /sbin/init
