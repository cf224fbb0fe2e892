#!/bin/bash
# The root filesystem's change map across clean reboots (docs/cbt.md, "The
# root filesystem"): the guest boots an initramfs made by initramfs-tools
# with the package's hook and local-premount script (seal_root_between.sh),
# whose root is disk 1, an ext4 that stays mounted from the initramfs to
# the end (guest/rootdisk-init.sh). At boot the script attaches the root's
# tracker and checks its seal before the root is checked or mounted; at the
# end of a boot this case does what systemd-shutdown does last (remount the
# root read-only, run the system-shutdown hooks: the package's seals the
# root onto the seal device, disk 2) and what bkagent-seal.service does
# (its restore after the root is read-write, its seal at shutdown).
#   boot 1: track the root, full backup (copy == image), writes, sealed.
#   boot 2: carried by the initramfs; writes; the incremental since boot 1
#           reads only what changed, copy == image; sealed. The host then
#           writes the root filesystem.
#   boot 3: the initramfs rejects the seal: CBT_RESET, full backup correct;
#           then the guest is reset while the root is written (sysrq b).
#   boot 4: no seal: UNCLEAN_SHUTDOWN, full backup correct.
# Disks: 1 the root (tracked), 2 the seal device, 3 difference storage, 4 the copy.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/seal.sh"
export PATH=$BK_BUILD_DIR/agent:$PATH

root=$(bk_disk 1)
copy=$(bk_disk 4)
S=/var/lib/bkagent # on the root, as installed
T=$S-test
conf=/tmp/bkagentd.conf

fail() {
	tail -n 30 /tmp/agent.log 2>/dev/null || true
	bk_fail "$@"
}

[ "$(findmnt -n -o SOURCE /)" = "$root" ] || fail "the root is not $root: $(findmnt -n -o SOURCE,FSTYPE /)"
grep -q '^bksnap ' /proc/modules || fail "the initramfs did not load bksnap"
bk_mark_module_load "bksnap, loaded by the initramfs"
[ "$BK_BOOT" = 1 ] && mkfs.ext4 -q "$(bk_disk 3)"
mkdir -p /srv/bkdiff $T /run/bkagent
mount "$(bk_disk 3)" /srv/bkdiff
sed -e 's|"diff_dir": "[^"]*"|"diff_dir": "/srv/bkdiff"|' "$BK_SRC_DIR/deploy/bkagentd.conf" >$conf

# bkagent-seal.service's start, after the root is read-write: it takes
# over the record the initramfs left in /run.
bkagent-seal restore >/tmp/restore.txt || fail "restore: $(cat /tmp/restore.txt)"
bk_log "unit restore: $(tr '\n' ';' </tmp/restore.txt)"
bkagentd --config $conf 2>/tmp/agent.log &
agent=$!
bk_seal_agent_up

writes() { # files on the root
	mkdir -p /srv/rootdata
	for f in $(seq "$1" "$2"); do head -c 60000 /dev/urandom >>/srv/rootdata/f$f; done
	sync
}
# The end of a clean shutdown, in systemd's order.
shutdown() {
	kill -TERM $agent
	wait $agent || fail "bkagentd exit status $?"
	bkagent-seal seal >/tmp/seal.txt || fail "unit seal: $(cat /tmp/seal.txt)"
	grep -q "^$root: not sealed: .* mounted read-write on /$" /tmp/seal.txt ||
		fail "the unit must leave the read-write root alone: $(cat /tmp/seal.txt)"
	umount /srv/bkdiff
	mount -o remount,ro / || fail "remount / read-only"
	"$BK_SRC_DIR/deploy/systemd/system-shutdown/bkagent-seal" poweroff >/tmp/hook.txt 2>&1 ||
		fail "shutdown hook: $(cat /tmp/hook.txt)"
	bk_log "shutdown hook: $(tr '\n' ';' </tmp/hook.txt)"
	grep -q "^$root: sealed at " /tmp/hook.txt || fail "the hook did not seal the root"
}

case $BK_BOOT in
1)
	bkagent track add "$root" >/dev/null || fail "track add"
	writes 1 20
	full=$(bk_seal_backup "$root" "$copy" $T/token)
	bk_log "root: full backup $full bytes, copy == image"
	writes 1 5
	shutdown
	;;
2)
	grep -q "^$root: record of the initramfs's restore taken over (carried)" /tmp/restore.txt ||
		fail "the initramfs did not carry the root's map"
	mkdir -p /tmp/seals && mount -o ro "$(bk_disk 2)" /tmp/seals
	[ -z "$(ls /tmp/seals/seal/)" ] || fail "the root's seal outlived its boot: $(ls /tmp/seals/seal)"
	umount /tmp/seals
	bk_seal_carried "$root" "$copy" $T/token "root: incremental across the reboot"
	shutdown
	;;
3)
	grep -q "^$root: record of the initramfs's restore taken over (rejected: the ext filesystem was written since the seal" \
		/tmp/restore.txt || fail "the initramfs must reject the root's seal after the host wrote it"
	bk_seal_refused "$root" $T/token CBT_RESET
	full=$(bk_seal_backup "$root" "$copy" $T/token)
	bk_log "host wrote the root while down: CBT_RESET; full backup $full bytes, copy == image"
	sync # the token above survives the reset
	for f in $(seq 1 20); do head -c 60000 /dev/urandom >>/srv/rootdata/f$f; done &
	sleep 1
	bk_log "resetting the guest while the root is written"
	touch "$BK_WORK/expect-reset"
	echo b >/proc/sysrq-trigger
	sleep 30
	fail "sysrq b did not reset the guest"
	;;
4)
	grep -q "^$root: record of the initramfs's restore taken over" /tmp/restore.txt &&
		fail "no seal of the root may survive a reset: $(cat /tmp/restore.txt)"
	bkagent track add "$root" >/dev/null || fail "track add"
	bk_seal_refused "$root" $T/token UNCLEAN_SHUTDOWN
	bkagent track status "$root" | grep -q UNCLEAN_SHUTDOWN ||
		fail "track status does not say UNCLEAN_SHUTDOWN: $(bkagent track status "$root")"
	full=$(bk_seal_backup "$root" "$copy" $T/token)
	bk_log "root reset while written: UNCLEAN_SHUTDOWN; full backup $full bytes, copy == image"
	kill -TERM $agent
	wait $agent || fail "bkagentd exit status $?"
	;;
esac
