# Helpers for the bksnap module's own VM cases; source after guest.sh.

BKSNAPCTL=$BK_BUILD_DIR/tests/tools/bksnapctl
CBT_CHECK=$(dirname "${BASH_SOURCE[0]}")/cbt_check.py
TRACING=/sys/kernel/tracing

# bk_info DEV KEY: one field of `bksnapctl info DEV`.
bk_info() {
	"$BKSNAPCTL" info "$1" | sed -n "s/^$2=//p"
}

# bk_whole_disk DEV: "major,minor start_sector size_sectors" of DEV within
# its whole disk, as block tracepoints print the disk.
bk_disk_geometry() {
	local name=${1#/dev/} sys whole start=0
	sys=$(readlink -f /sys/class/block/$name)
	if [ -e "$sys/partition" ]; then
		start=$(cat "$sys/start")
		whole=$(basename "$(dirname "$sys")")
	else
		whole=$name
	fi
	echo "$(tr : , </sys/class/block/$whole/dev) $start $(cat "$sys/size")"
}

# bk_trace_start DISK: record every request issued to whole disk DISK.
# The event is enabled once and then only filtered and switched with
# tracing_on, and cmdline recording (a sched_switch probe) stays off: every
# enable or disable live-patches kernel text, and under TCG a vCPU could run
# stale code across such a patch (seen once on 7.2 as an int3 Oops in
# __schedule, at the sched_switch tracepoint's static branch).
bk_trace_start() {
	local devt ev=$TRACING/events/block/block_rq_issue
	mountpoint -q $TRACING || mount -t tracefs nodev $TRACING
	IFS=: read -r maj min </sys/class/block/${1#/dev/}/dev
	devt=$(((maj << 20) | min))
	echo 0 >$TRACING/tracing_on
	echo 0 >$TRACING/options/record-cmd
	echo 65536 >$TRACING/buffer_size_kb
	echo "dev == $devt" >$ev/filter
	[ "$(cat $ev/enable)" = 1 ] || echo 1 >$ev/enable
	: >$TRACING/trace
	echo 1 >$TRACING/tracing_on
}

# bk_trace_stop OUT: stop recording, save the trace; fail if events were lost.
bk_trace_stop() {
	echo 0 >$TRACING/tracing_on
	cat $TRACING/trace >"$1"
	if grep -h '^overrun:' $TRACING/per_cpu/cpu*/stats | grep -qv ': 0$'; then
		bk_fail "trace buffer overran: the write log is incomplete"
	fi
}

# bk_cbt_check DEV TRACE [SINCE]: the CBT map of tracked DEV covers every
# sector written to it in TRACE.
bk_cbt_check() {
	local dev=$1 trace=$2 map=/tmp/cbt.$$ geo
	"$BKSNAPCTL" cbt-read "$dev" $map || bk_fail "cbt-read $dev"
	read -r -a geo <<<"$(bk_disk_geometry "$dev")"
	/usr/bin/python3 "$CBT_CHECK" "$trace" $map "$(bk_info "$dev" block_shift)" \
		"${geo[0]}" "${geo[1]}" "${geo[2]}" --since "${3:-0}" ||
		bk_fail "CBT of $dev misses writes"
}

# bk_fsck DEV FSTYPE: the filesystem on DEV is clean (read-only check).
bk_fsck() {
	local out=/tmp/fsck.$$
	case $2 in
	ext4) e2fsck -fn "$1" >$out 2>&1 ;;
	xfs) xfs_repair -n "$1" >$out 2>&1 ;;
	*) bk_fail "bk_fsck: unknown filesystem $2" ;;
	esac || { cat $out; bk_fail "$2 on $1: fsck found errors"; }
}

# bk_fsck_image IMAGE FSTYPE SCRATCH: the filesystem in a snapshot image is
# consistent.  An image of a live filesystem carries its log as the freeze
# left it: ext4's freeze empties the journal, so e2fsck -fn checks the image
# itself; xfs keeps a covered but dirty log, so the image is copied to
# SCRATCH, the log replayed by a mount there, and the copy checked.
bk_fsck_image() {
	local image=$1 fs=$2 scratch=$3
	if [ "$fs" = xfs ]; then
		dd if="$image" of="$scratch" bs=4M iflag=direct oflag=direct status=none
		mkdir -p /tmp/replay
		mount -o nouuid "$scratch" /tmp/replay || bk_fail "xfs image copy does not mount"
		umount /tmp/replay
		image=$scratch
	fi
	bk_fsck "$image" "$fs"
}
