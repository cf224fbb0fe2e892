#!/bin/busybox sh
# initramfs /init: mount the host's root read-only over 9p (so the guest runs
# the host's binaries and sees the build tree at the same paths), add tmpfs
# where programs write, mount the run's read-write "work" share at /tmp/work,
# then run stage 2 (bkvm_stage2= on the kernel command line) on that root.
# bkvm_systemd=1: the root is an overlay (host root below, guest RAM above),
# so dpkg and systemctl work, and systemd is PID 1; it runs stage 2 as a unit.
# bkvm_upper=diskN: the overlay's upper layer is the ext4 on scratch disk N
# instead of RAM, so the guest's root keeps its changes across boots.
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
	bkvm_systemd=1) SYSTEMD=1 ;;
	bkvm_upper=*) UPPER=${arg#*=} ;;
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

# Up to here nothing wrote a scratch disk: a guest kernel that fails before
# this line may boot again on the same disks (vmrun.py, any boot).
echo "BKVM_ROOT uptime=$(cut -d' ' -f1 /proc/uptime)"
R=/newroot
mkdir -p $R
# cache=loose: the root is read-only for the guest's lifetime, and loose
# caching makes exec over 9p about twice as fast.
if [ -n "$SYSTEMD" ]; then
	mkdir -p /lower /upper
	mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /lower ||
		die "mount hostroot"
	if [ -n "$UPPER" ]; then
		i=0
		until dev=$(grep -lx "$UPPER" /sys/block/vd*/serial 2>/dev/null); do
			i=$((i + 1))
			[ $i -le 50 ] || die "no disk $UPPER for the upper layer"
			sleep 0.1
		done
		dev=${dev%/serial}
		mount -t ext4 "/dev/${dev##*/}" /upper || die "mount $UPPER on /upper"
	else
		mount -t tmpfs -o mode=755 tmpfs /upper
	fi
	mkdir -p /upper/u /upper/w
	mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay $R ||
		die "mount overlay root"
else
	mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot $R ||
		die "mount hostroot"
fi
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
# Host trees the tmpfs above would hide (a clone in /tmp): vmrun.py --share,
# read-only at the same paths. Line N of "shares" is the path of tag shareN.
n=0
while read -r path; do
	n=$((n + 1))
	wait_tag share$n
	mkdir -p "$R$path"
	mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose share$n "$R$path" ||
		die "mount share$n at $path"
done <$R/tmp/work/shares
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
umount /proc /sys /dev
if [ -n "$SYSTEMD" ]; then
	# bkvm.target: basic.target and the case, none of the host's services
	# (postgresql, ceph, ... are wanted by multi-user.target).
	U=$R/etc/systemd/system
	printf '%s\n' '[Unit]' 'Description=bkvm test case' 'Requires=basic.target bkvm-case.service' \
		'After=basic.target bkvm-case.service' 'AllowIsolate=yes' >$U/bkvm.target
	printf '%s\n' '[Unit]' 'Description=bkvm test case (stage 2)' 'After=basic.target' \
		'[Service]' 'Type=oneshot' "ExecStart=/bin/bash $STAGE2" \
		'StandardOutput=journal+console' 'StandardError=journal+console' >$U/bkvm-case.service
	# The host may be a container: a systemd that thinks so too ignores the
	# kernel command line (systemd.unit=bkvm.target), and a container
	# image's policy-rc.d (exit 101) keeps packages from starting services.
	rm -f $R/.dockerenv $R/usr/sbin/policy-rc.d
	# The kernel's module tree as a server without this hardware has it: the
	# driver directories of devices QEMU gives no guest here are hidden.
	# depmod reads every module (DKMS runs it at each install and removal:
	# under TCG, 135 s for the 4023 modules of 6.1 at load 4).
	K=$R/lib/modules/$(uname -r)/kernel
	for d in sound drivers/media drivers/iio drivers/usb drivers/net/wireless drivers/net/ethernet \
		drivers/gpu drivers/infiniband drivers/comedi drivers/hwmon drivers/staging drivers/isdn \
		drivers/bluetooth drivers/mtd drivers/nfc drivers/w1 net/bluetooth net/wireless net/mac80211; do
		[ -d "$K/$d" ] && mount -t tmpfs -o ro,size=4k tmpfs "$K/$d"
	done
	# systemd mounts its API filesystems itself.
	umount $R/dev/pts $R/dev/shm $R/dev $R/proc $R/sys
	exec switch_root $R /lib/systemd/systemd
fi
exec switch_root $R /bin/bash "$STAGE2"
