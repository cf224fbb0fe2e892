#!/bin/bash
# Issue 6 acceptance: `bkagent backup` of a busy ext4 and a busy xfs device
# (one group snapshot per run: a full, then 3 incrementals with writes in
# between) with the real module and bkagentd; every point restored to the
# same spare disk equals the image device of the snapshot it was read from
# (sha256), mounts, holds the markers written before its backup and none
# written after, and passes e2fsck -fn / xfs_repair -n.
#
# `bkagent backup` takes and releases its own snapshot, so the test stops the
# CLI (SIGSTOP) as soon as the snapshot's image devices exist, hashes the
# images while the CLI cannot release them, and lets it continue.
. "$(dirname "$0")/../lib/guest.sh"
. "$(dirname "$0")/../lib/bksnap.sh" # bk_fsck

BIN=$BK_BUILD_DIR/agent
SOCK=/run/bkagent/bkagentd.sock
ROUNDS=4
bk_load_module
ext4=$(bk_disk 1)
xfs=$(bk_disk 2)
store=$(bk_disk 3)
spare=$(bk_disk 4)
cli() { "$BIN/bkagent" --socket $SOCK "$@"; }
fail() {
	tail -n 30 /tmp/bkagentd.log
	bk_fail "$@"
}
# sha256 DEV BYTES: hash of the first BYTES (whole MiBs) of DEV, read in large
# direct reads (4 KiB buffered reads are slow under TCG).
sha256() {
	dd if="$1" bs=1M count=$(($2 >> 20)) iflag=direct status=none | sha256sum | cut -d' ' -f1
}

mkfs.ext4 -q "$ext4"
mkfs.xfs -q "$xfs"
mkfs.ext4 -q "$store"
mkdir -p /tmp/mnt/ext4 /tmp/mnt/xfs /tmp/backup /tmp/restored /tmp/bkagent
mount "$ext4" /tmp/mnt/ext4
mount "$xfs" /tmp/mnt/xfs
mount "$store" /tmp/backup
mkdir -p /tmp/backup/state /tmp/backup/diff /run/bkagent
cat >/tmp/bkagent/bkagentd.conf <<CONF
{ "unix_socket": "$SOCK", "state_dir": "/tmp/backup/state", "diff_dir": "/tmp/backup/diff",
  "log_level": "info" }
CONF
"$BIN/bkagentd" -c /tmp/bkagent/bkagentd.conf >/tmp/bkagentd.log 2>&1 &
daemon=$!
for _ in $(seq 1 100); do cli status >/dev/null 2>&1 && break; sleep 0.1; done
cli status >/dev/null 2>&1 || fail "bkagentd did not start"

for fs in ext4 xfs; do
	for i in $(seq 1 20); do head -c $((RANDOM * 8)) /dev/urandom >/tmp/mnt/$fs/file$i; done
done
sync
cli track add "$ext4" >/dev/null || fail "track add $ext4"
cli track add "$xfs" >/dev/null || fail "track add $xfs"

# Both filesystems are written during every backup, paced so TCG keeps up.
busy=()
for fs in ext4 xfs; do
	fio --name=busy --directory=/tmp/mnt/$fs --size=16m --rw=randwrite --bs=4k \
		--ioengine=psync --fsync=16 --rate_iops=100 --runtime=900 --time_based \
		--output=/dev/null &
	busy+=($!)
done

export BKAGENT_REPO=/tmp/backup/repo BKAGENT_PASSPHRASE="repo_backup passphrase"
cli init >/dev/null || fail "init"

# backup_round N: marker files, then a backup whose snapshot images are hashed
# into /tmp/image.N.<device, / as _>; the CLI's answer goes to /tmp/backup.N.json.
backup_round() {
	local n=$1 pid dev img
	for fs in ext4 xfs; do
		echo "round $n" >/tmp/mnt/$fs/marker$n
		for i in $(seq 1 4); do head -c 65536 /dev/urandom >>/tmp/mnt/$fs/file$((RANDOM % 20 + 1)); done
	done
	sync
	[ ! -e /sys/block/bksnap-img0 ] || fail "a snapshot image is left from an earlier backup"
	# Not through cli(): $! must be bkagent itself, not a subshell.
	"$BIN/bkagent" --socket $SOCK --json backup "$ext4" "$xfs" --label "round $n" >/tmp/backup.$n.json &
	pid=$!
	# Not a busy loop: it would take a vCPU from the snapshot it waits for.
	# The CLI cannot get through an image and release it in 50 ms.
	until [ -e /sys/block/bksnap-img1 ]; do
		kill -0 $pid 2>/dev/null || fail "backup $n ended before its images were seen: $(cat /tmp/backup.$n.json)"
		sleep 0.05
	done
	kill -STOP $pid
	# The daemon finishes the snapshot; the stopped CLI cannot release it.
	for _ in $(seq 1 300); do
		cli --json snapshots >/tmp/snaps.json 2>/dev/null &&
			[ "$(bk_json "[.[] | select(.label == \"round $n\")] | length" </tmp/snaps.json)" = 1 ] && break
		sleep 0.1
	done
	bk_json ".[] | select(.label == \"round $n\") | .devices[] | \"\\(.device) \\(.image)\"" \
		</tmp/snaps.json >/tmp/images.$n || fail "snapshot of round $n not listed: $(cat /tmp/snaps.json)"
	[ "$(wc -l </tmp/images.$n)" = 2 ] || fail "snapshot of round $n not listed: $(cat /tmp/snaps.json)"
	while read -r dev img; do
		sha256 "$img" "$(blockdev --getsize64 "$img")" >"/tmp/image.$n.${dev//\//_}" ||
			fail "hashing $img of round $n"
	done </tmp/images.$n
	kill -CONT $pid
	wait $pid || fail "backup $n: $(cat /tmp/backup.$n.json)"
	bk_log "round $n: $(bk_json '[.points[] | "\(.device) \(.mode) read \(.stats.bytes_read)"] | join(", ")' </tmp/backup.$n.json)"
}

for n in $(seq 1 $ROUNDS); do backup_round $n; done
echo "after the last backup" >/tmp/mnt/ext4/marker$((ROUNDS + 1))
echo "after the last backup" >/tmp/mnt/xfs/marker$((ROUNDS + 1))
kill "${busy[@]}"
wait "${busy[@]}" 2>/dev/null || true

for n in $(seq 1 $ROUNDS); do
	want=full
	[ $n = 1 ] || want=incremental
	modes=$(bk_json '[.points[].mode] | join(" ")' </tmp/backup.$n.json)
	[ "$modes" = "$want $want" ] || fail "round $n modes: $modes, want $want"
done
cli verify >/tmp/verify.log || { cat /tmp/verify.log; fail "verify"; }

# check_point N I DEV FS: restore point I (device DEV, given I-th to backup) of
# round N onto the spare disk.
check_point() {
	local n=$1 i=$2 dev=$3 fs=$4 point name size got opts
	read -r point name size <<<"$(bk_json ".points[$i] | \"\\(.id) \\(.device) \\(.size)\"" \
		</tmp/backup.$n.json)"
	[ "$size" = "$(blockdev --getsize64 "$dev")" ] || fail "point $point of $name: size $size, $dev has another"
	cli restore "$point" "$spare" >/dev/null || fail "restore $point"
	got=$(sha256 "$spare" "$size")
	[ "$got" = "$(cat "/tmp/image.$n.${name//\//_}")" ] ||
		fail "$fs point $point (round $n) restored differs from its snapshot image"
	# xfs: the copy carries the frozen fs's dirty log; the mount replays it.
	opts=-t$fs
	if [ "$fs" = xfs ]; then opts="$opts -onouuid"; fi
	mount $opts "$spare" /tmp/restored || fail "$fs point $point does not mount"
	for m in $(seq 1 $((ROUNDS + 1))); do
		if [ $m -le $n ]; then
			[ "$(cat /tmp/restored/marker$m)" = "round $m" ] || fail "$fs point of round $n lacks marker $m"
		else
			[ ! -e /tmp/restored/marker$m ] || fail "$fs point of round $n has marker $m written after it"
		fi
	done
	umount /tmp/restored
	bk_fsck "$spare" "$fs"
	bk_log "$fs round $n: point $point == image (sha256 $got), mounts, markers 1..$n, fsck clean"
}

for n in $(seq 1 $ROUNDS); do
	check_point $n 0 "$ext4" ext4
	check_point $n 1 "$xfs" xfs
done

cli track remove "$ext4" >/dev/null
cli track remove "$xfs" >/dev/null
kill "$daemon"
wait "$daemon" || true
umount /tmp/mnt/ext4 /tmp/mnt/xfs /tmp/backup
bk_unload_module
bk_log "done: $ROUNDS points each of busy ext4 and xfs, restored == snapshot image, mounted, fsck clean"
