#!/bkvm/busybox sh
# /bkvm/init of a root disk (vmrun.py --initrd, e.g. vm_seal_root): an
# initramfs (initramfs-tools) mounted this disk read-only as the root and
# handed over /dev, /proc, /sys and /run. Like guest/init.sh after its
# switch_root: remount the root read-write (systemd-remount-fs's job), lay
# the host's /usr and the trees /bkvm/binds names (the source and build
# trees' top directories) over 9p on it, mount the work share, then run
# stage 2. The root stays this disk: every write to it reaches the device.
B=/bkvm/busybox
die() {
	echo "BKVM_INIT_FAIL $*"
	$B poweroff -f
}
for arg in $($B cat /proc/cmdline); do
	case "$arg" in bkvm_stage2=*) STAGE2=${arg#*=} ;; esac
done
$B mount -o remount,rw / || die "remount / rw"
$B mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /bkvm/host ||
	die "mount hostroot"
$B mount --bind /bkvm/host/usr /usr || die "bind /usr"
while read -r top; do
	$B mount --bind "/bkvm/host$top" "$top" || die "bind $top"
done </bkvm/binds
$B mount -t tmpfs -o mode=1777 tmpfs /tmp
$B mkdir -p /tmp/work
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none work /tmp/work || die "mount work"
n=0
while read -r path; do
	n=$((n + 1))
	$B mkdir -p "$path"
	$B mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose share$n "$path" ||
		die "mount share$n at $path"
done </tmp/work/shares
$B mkdir -p /dev/pts /dev/shm
$B mount -t devpts devpts /dev/pts
exec /usr/bin/bash "$STAGE2"
