#!/bin/bash
# The change-map chain across reboots (docs/cbt.md, "Clean reboots"), one
# boot per run of this script (vmrun.py --boots 4, BK_BOOT=1..4), on kept
# disks: 1 ext4 and 2 xfs data disks, busy while tracked; 3 and 4 their
# backup copies; 5 the agent's state and difference storage (untracked, it
# stands in for the root filesystem). bkagent-seal's seal and restore run as
# bkagent-seal.service runs them: seal after the data filesystems are
# unmounted, restore before they are mounted (driven by this script: the
# plain guest has no systemd).
#   boot 1: full backup of both, writes, clean stop, seal.
#   boot 2: restore carries both on; writes; incremental since boot 1's
#           token reads only what changed, copy == image (sha256); clean
#           stop, seal. The host then writes both filesystems (seal_between.sh).
#   boot 3: both seals rejected: CBT_RESET, full backup, copy == image; then
#           the guest is reset while writing (sysrq b): no seal.
#   boot 4: UNCLEAN_SHUTDOWN, full backup correct.
. "$(dirname "$0")/../lib/guest.sh"

AGENT=$BK_BUILD_DIR/agent/bkagentd
CLI=$BK_BUILD_DIR/agent/bkagent
SEAL=$BK_BUILD_DIR/agent/bkagent-seal
SOCK=/run/bkagent-test.sock
S=/tmp/state
devs=("$(bk_disk 1)" "$(bk_disk 2)")
copies=("$(bk_disk 3)" "$(bk_disk 4)")
fstype=(ext4 xfs)
statedisk=$(bk_disk 5)
bk_load_module

start_agent() {
	"$AGENT" --config /tmp/bkagentd.conf 2>>$S/agent.log &
	agent_pid=$!
	for _ in $(seq 1 300); do
		"$CLI" --socket $SOCK status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	bk_fail "bkagentd did not start: $(tail -n 20 $S/agent.log)"
}
stop_agent() {
	kill -TERM "$agent_pid"
	wait "$agent_pid" || bk_fail "bkagentd exit status $?"
}
cli() { "$CLI" --socket $SOCK "$@"; }
fail() {
	tail -n 30 $S/agent.log
	bk_fail "$@"
}
mount_data() {
	for i in 0 1; do
		mkdir -p /tmp/mnt$i
		mount "${devs[$i]}" /tmp/mnt$i || fail "mount ${devs[$i]}"
	done
}
writers=()
busy() { # writes on both data filesystems for $1 seconds, in the background
	for i in 0 1; do
		fio --name=busy$i --directory=/tmp/mnt$i --size=8m --rw=randwrite --bs=4k --bsrange=4k-64k \
			--ioengine=libaio --iodepth=8 --direct=1 --runtime="$1" --time_based --output=/dev/null &
		writers+=($!)
	done
}
quiet() { # waits for the writers
	wait "${writers[@]}" || fail "fio failed"
	writers=()
}
# snap_token I: a snapshot of data disk I whose token later boots ask about.
snap_token() {
	cli --json snapshot "${devs[$1]}" --lease 10m >/tmp/s.json || fail "snapshot ${devs[$1]}: $(cat /tmp/s.json)"
	bk_json '.devices[0].token' </tmp/s.json >$S/token$1
	cli release "$(bk_json '.id' </tmp/s.json)" >/dev/null
}
# backup I [SINCE]: snapshot data disk I, pull it (all, or the changes since
# SINCE) onto its copy, check copy == image, commit; prints the bytes copied.
backup() {
	local i=$1 since=${2:-} dev=${devs[$1]} size
	size=$(blockdev --getsize64 "$dev")
	cli --json snapshot "$dev" --lease 10m >/tmp/s.json || fail "snapshot $dev: $(cat /tmp/s.json)"
	local id img
	id=$(bk_json '.id' </tmp/s.json)
	img=$(bk_json '.devices[0].image' </tmp/s.json)
	bk_json '.devices[0].token' </tmp/s.json >$S/token$i
	if [ -n "$since" ]; then
		cli --json image pull "$id" "$dev" "${copies[$i]}" --since "$since" --streams 2 >/tmp/pull.json ||
			fail "pull $dev since $since: $(cat /tmp/pull.json)"
	else # the full copy: the image read locally (a gRPC pull of it, vm_agent_incremental, is slow under TCG)
		dd if="$img" of="${copies[$i]}" bs=1M conv=fsync status=none || fail "copy of $img"
		echo "{\"bytes\": $size}" >/tmp/pull.json
	fi
	[ "$(head -c "$size" "${copies[$i]}" | sha256sum)" = "$(sha256sum <"$img")" ] ||
		fail "copy of $dev differs from its image"
	cli cbt commit "$dev" --snapshot "$id" >/dev/null || fail "commit $dev"
	cli release "$id" >/dev/null
	bk_json '.bytes' </tmp/pull.json
}
# must_be_full I REASON: the changes since the last token are refused with REASON.
must_be_full() {
	local rc=0 dev=${devs[$1]}
	cli --json cbt changes "$dev" --since "$(cat $S/token$1)" >/tmp/full.json || rc=$?
	[ $rc -eq 5 ] || fail "$dev: changes since the old token: exit $rc, want 5: $(cat /tmp/full.json)"
	[ "$(bk_json '.error.reason' </tmp/full.json)" = "$2" ] || fail "$dev: reason: $(cat /tmp/full.json)"
	cli track status "$dev" | grep -q "$2" || fail "$dev: track status does not say $2: $(cli track status "$dev")"
}
clean_stop() {
	stop_agent
	for i in 0 1; do umount /tmp/mnt$i; done
	"$SEAL" --state-dir $S seal >/tmp/seal.txt || fail "seal: $(cat /tmp/seal.txt)"
	bk_log "seal: $(tr '\n' ';' </tmp/seal.txt)"
	[ "$(grep -c ': sealed at' /tmp/seal.txt)" = 2 ] || fail "both data disks must be sealed"
	umount /tmp/state
}
restore() { # before the data filesystems are mounted, as the unit does
	"$SEAL" --state-dir $S restore --wait 1 >/tmp/restore.txt || fail "restore: $(cat /tmp/restore.txt)"
	bk_log "restore: $(tr '\n' ';' </tmp/restore.txt)"
}

if [ "$BK_BOOT" = 1 ]; then
	mkfs.ext4 -q "$statedisk"
	mkfs.ext4 -q "${devs[0]}"
	mkfs.xfs -q -f "${devs[1]}"
fi
mkdir -p $S
mount "$statedisk" $S
cat >/tmp/bkagentd.conf <<CONF
{ "unix_socket": "$SOCK", "state_dir": "$S", "diff_dir": "$S",
  "diff_storage_min_bytes": 134217728, "log_level": "debug" }
CONF
[ "$BK_BOOT" = 1 ] || restore

case $BK_BOOT in
1)
	mount_data
	for i in 0 1; do for f in $(seq 1 20); do head -c $((RANDOM * 8)) /dev/urandom >/tmp/mnt$i/f$f; done; done
	sync
	start_agent
	for i in 0 1; do cli track add "${devs[$i]}" >/dev/null || fail "track add"; done
	busy 8
	sleep 2
	for i in 0 1; do bk_log "${fstype[$i]}: full backup $(backup $i) bytes"; done
	quiet
	for i in 0 1; do for f in $(seq 1 5); do head -c 50000 /dev/urandom >>/tmp/mnt$i/f$f; done; done
	clean_stop
	;;
2)
	[ "$(grep -c ': carried ' /tmp/restore.txt)" = 2 ] || fail "both seals must carry on"
	mount_data
	start_agent
	for i in 0 1; do
		cli track status "${devs[$i]}" | grep -q "carried over a clean reboot" ||
			fail "track status: $(cli track status "${devs[$i]}")"
	done
	busy 4
	for i in 0 1; do for f in $(seq 6 10); do head -c 50000 /dev/urandom >>/tmp/mnt$i/f$f; done; done
	quiet
	for i in 0 1; do
		size=$(blockdev --getsize64 "${devs[$i]}")
		inc=$(backup $i "$(cat $S/token$i)")
		[ "$inc" -lt $((size / 2)) ] || fail "${fstype[$i]}: incremental across the reboot read $inc of $size bytes"
		bk_log "${fstype[$i]}: incremental across the reboot: $inc of $size bytes, copy == image"
	done
	clean_stop
	;;
3)
	[ "$(grep -c 'seal rejected: the .* filesystem was written since the seal' /tmp/restore.txt)" = 2 ] ||
		fail "both seals must be rejected after the host wrote the filesystems"
	mount_data
	start_agent
	for i in 0 1; do must_be_full $i CBT_RESET; done
	bk_log "host writes while down: CBT_RESET on ext4 and xfs"
	bk_log "ext4: full backup $(backup 0) bytes, copy == image"
	snap_token 1
	busy 30
	sleep 3
	bk_log "resetting the guest while writing"
	touch "$BK_WORK/expect-reset"
	echo b >/proc/sysrq-trigger
	sleep 30
	fail "sysrq b did not reset the guest"
	;;
4)
	grep -q ': carried \|seal rejected' /tmp/restore.txt && fail "no seal may survive a reset"
	mount_data # xfs and ext4 replay their journals
	start_agent
	for i in 0 1; do cli track add "${devs[$i]}" >/dev/null || fail "track add"; done
	for i in 0 1; do must_be_full $i UNCLEAN_SHUTDOWN; done
	bk_log "after the reset: UNCLEAN_SHUTDOWN on ext4 and xfs"
	bk_log "ext4: full backup $(backup 0) bytes, copy == image"
	stop_agent
	for i in 0 1; do umount /tmp/mnt$i; done
	umount $S
	;;
esac
