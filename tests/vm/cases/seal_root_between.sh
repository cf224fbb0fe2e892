#!/bin/bash
# Host side of vm_seal_root. Before boot 1 (BK_BOOT=0): the root disk (disk 1,
# ext4 "bkroot" with just what guest/rootdisk-init.sh needs: the rest of the
# system is the host's /usr over 9p), the seal device (disk 2, ext4
# "bkseal") and an initramfs made by initramfs-tools' mkinitramfs with the
# package's hook, local-premount script and configuration (deploy/). After
# boot 2 (sealed by the shutdown hook): another system writes the root.
set -euo pipefail
R=$BK_RUN_DIR
V=$(dirname "$0")/..
case $BK_BOOT in
0)
	stage=$R/rootfs
	mkdir -p "$stage"/{bkvm/host,usr,dev,proc,sys,run,tmp,etc/initramfs-tools/conf.d,var/lib/bkagent,srv}
	# The top directories of the source and build trees (/work here,
	# wherever CI cloned them): bound from the host root by rootdisk-init.sh.
	for p in "$BK_SRC_DIR" "$BK_BUILD_DIR"; do
		echo "/$(cut -d/ -f2 <<<"$p")"
	done | sort -u >"$stage/bkvm/binds"
	while read -r top; do mkdir -p "$stage$top"; done <"$stage/bkvm/binds"
	for d in bin sbin lib lib64; do ln -s usr/$d "$stage/$d"; done
	cp /bin/busybox "$stage/bkvm/busybox"
	cp "$V/guest/rootdisk-init.sh" "$stage/bkvm/init"
	cp /etc/{passwd,group,nsswitch.conf,ld.so.cache,mke2fs.conf} "$stage/etc/"
	ln -s ../proc/self/mounts "$stage/etc/mtab"
	conf=$R/initramfs-tools
	mkdir -p "$conf"/{conf.d,hooks,scripts/local-premount}
	cp "$V/root/initramfs.conf" "$V/root/modules" "$conf/"
	cp "$V/root/bkvm-module" "$BK_SRC_DIR/deploy/initramfs-tools/hooks/bkagent-seal" "$conf/hooks/"
	cp "$BK_SRC_DIR/deploy/initramfs-tools/scripts/local-premount/bkagent-seal" "$conf/scripts/local-premount/"
	sed 's/^#BKAGENT_SEAL_DEVICE=/BKAGENT_SEAL_DEVICE=/' "$BK_SRC_DIR/deploy/initramfs-tools/conf.d/bkagent-seal" |
		tee "$conf/conf.d/bkagent-seal" >"$stage/etc/initramfs-tools/conf.d/bkagent-seal"
	grep -q '^BKAGENT_SEAL_DEVICE=LABEL=bkseal$' "$conf/conf.d/bkagent-seal"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 -L bkroot -d "$stage" "$R/disk1.img"
	mkfs.ext4 -q -F -L bkseal "$R/disk2.img"
	t0=$SECONDS
	kver=$(modinfo -F vermagic "$BK_KMOD" | cut -d' ' -f1)
	BKAGENT_SEAL_PROGRAM=$BK_BUILD_DIR/agent/bkagent-seal mkinitramfs -d "$conf" -o "$R/initrd.img" "$kver"
	lsinitramfs "$R/initrd.img" >"$R/initrd.list"
	grep -q 'usr/sbin/bkagent-seal$' "$R/initrd.list"
	grep -q 'bksnap.ko$' "$R/initrd.list"
	echo "bkvm: root disk, seal device and initramfs-tools image made ($((SECONDS - t0)) s for mkinitramfs)"
	;;
2)
	debugfs -w -R 'mkdir written-by-the-host' "$R/disk1.img" >/dev/null 2>&1
	echo "bkvm: host wrote the root filesystem after boot $BK_BOOT"
	;;
esac
