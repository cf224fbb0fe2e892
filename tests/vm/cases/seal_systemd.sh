#!/bin/bash
# bkagent-seal.service under systemd (vmrun.py --systemd --root-disk 4
# --boots 3): the unit as deploy/systemd installs it, bkagentd as its unit,
# an ext4 data disk in fstab; each boot but the last ends with systemd's own
# poweroff, which stops bkagentd, unmounts the disk and then runs the unit's
# ExecStop (seal). The root keeps its changes on disk 4 (state, seals, units).
#   boot 1: install, full backup (copy == image), writes, clean poweroff.
#   boot 2: the unit's restore carried the chain; writes; the incremental
#           since boot 1's token reads only what changed, copy == image
#           (sha256); clean poweroff. The host then writes the filesystem
#           (seal_systemd_between.sh).
#   boot 3: the seal is rejected: CBT_RESET, full backup, copy == image.
# Disks: 1 data (tracked), 2 its copy, 3 difference storage, 4 the root.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/seal.sh"

data=$(bk_disk 1)
copy=$(bk_disk 2)
T=/var/lib/bkagent-test # survives the reboots, as /var/lib/bkagent does
conf=/etc/bkagent/bkagentd.conf

fail() {
	journalctl -b -q --no-pager -u bkagent-seal -u bkagentd | tail -n 30
	bk_fail "$@"
}

# The installed layout, with the build's programs and module: what the
# bkagent package and bksnap-dkms put in place (vm_pkg_install tests those).
install_tree() {
	local b=$BK_BUILD_DIR/agent
	ln -sf "$b/bkagentd" /usr/sbin/bkagentd
	ln -sf "$b/bkagent-seal" /usr/sbin/bkagent-seal
	ln -sf "$b/bkagent" /usr/bin/bkagent
	cp "$BK_SRC_DIR"/deploy/systemd/{bkagent-seal,bkagentd}.service /lib/systemd/system/
	mkdir -p /etc/bkagent /srv/data /srv/bkdiff $T
	sed 's|"diff_dir": "[^"]*"|"diff_dir": "/srv/bkdiff"|' "$BK_SRC_DIR/deploy/bkagentd.conf" >$conf
	mkdir -p /etc/systemd/system/bkagentd.service.d
	printf '[Service]\nReadWritePaths=/srv/bkdiff\n' >/etc/systemd/system/bkagentd.service.d/diff.conf
	# modprobe bksnap (both units' ExecStartPre) loads the build's module,
	# telling the harness first (README.md, "Guest kernel failures").
	echo "install bksnap echo 'bkvm: loading module bksnap' >/dev/kmsg; /sbin/insmod $BK_KMOD" \
		>/etc/modprobe.d/bksnap.conf
	mkfs.ext4 -q "$data"
	mkfs.ext4 -q "$(bk_disk 3)"
	cat >>/etc/fstab <<-EOF
		/dev/disk/by-id/virtio-disk1 /srv/data ext4 defaults 0 2
		/dev/disk/by-id/virtio-disk3 /srv/bkdiff ext4 defaults 0 2
	EOF
	systemctl daemon-reload
	systemctl enable -q bkagent-seal.service
	# Started now so that this boot's poweroff stops it (seals).
	systemctl start bkagent-seal.service srv-data.mount srv-bkdiff.mount || fail "start units"
}

agent_up() {
	systemctl start bkagentd || fail "bkagentd did not start"
}


writes() { # appends to files of the data filesystem
	for f in $(seq "$1" "$2"); do head -c 60000 /dev/urandom >>/srv/data/f$f; done
	sync
}

# What the unit's restore said at this boot.
restored() {
	journalctl -b -q -o cat -u bkagent-seal.service | grep "^$data: " || true
}

case $BK_BOOT in
1)
	install_tree
	writes 1 20
	agent_up
	bkagent track add "$data" >/dev/null || fail "track add"
	full=$(bk_seal_backup "$data" "$copy" $T/token)
	bk_log "full backup $full bytes, copy == image"
	writes 1 5
	;;
2)
	r=$(restored)
	bk_log "restore at boot: $r"
	[[ $r == *": carried "* ]] || fail "the seal of $data was not carried: '$r'"
	mountpoint -q /srv/data || fail "/srv/data is not mounted"
	agent_up
	bk_seal_carried "$data" "$copy" $T/token "incremental across a systemd reboot"
	;;
3)
	r=$(restored)
	bk_log "restore at boot: $r"
	[[ $r == *"seal rejected: the ext filesystem was written since the seal"* ]] ||
		fail "the seal of $data must be rejected after the host wrote it: '$r'"
	agent_up
	bk_seal_refused "$data" $T/token CBT_RESET
	full=$(bk_seal_backup "$data" "$copy" $T/token)
	bk_log "host wrote the disk while down: CBT_RESET; full backup $full bytes, copy == image"
	exit 0
	;;
esac
# Ends this boot with systemd's poweroff: bkagentd stops, /srv/data is
# unmounted, then bkagent-seal.service's ExecStop seals the disk.
touch "$BK_WORK/clean-shutdown"
