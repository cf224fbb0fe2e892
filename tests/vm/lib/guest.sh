# Helpers for guest test cases (tests/vm/cases/*.sh). Source it first:
#   . "$(dirname "$0")/../lib/guest.sh"
# It turns on `set -euo pipefail`. A case passes if it exits 0 and the guest
# kernel log stays clean; the harness records the status and powers off.
set -euo pipefail
# BK_TRACE=1 (vmrun.py --env): every command traced with the guest's clock,
# to find where a case's time goes.
if [ -n "${BK_TRACE:-}" ]; then
	PS4='+ ${EPOCHREALTIME} '
	set -x
fi

BK_WORK=/tmp/work

# bk_log MSG...: a line of case output, stamped with the guest's uptime.
bk_log() {
	echo "[$(cut -d' ' -f1 /proc/uptime)] $*"
}

# bk_fail MSG...: report why the case fails and exit non-zero.
bk_fail() {
	bk_log "FAIL: $*" >&2
	exit 1
}

# bk_json FILTER: what the jq FILTER selects from the JSON document on
# stdin, strings unquoted; fails if that is null, false or nothing. jq, not
# python3, whose start takes over a second under TCG.
bk_json() {
	jq -er "$1"
}

# bk_mark_module_load WHAT: tell the kernel log that a module under test is
# about to load. The harness calls a kernel report before the first mark the
# guest kernel's own failure (README.md, "Guest kernel failures").
bk_mark_module_load() {
	echo "bkvm: loading module $*" >/dev/kmsg
}

# bk_load_module [PARAM=VALUE...]: insmod the module under test ($BK_KMOD).
bk_load_module() {
	[ -n "${BK_KMOD:-}" ] || bk_fail "BK_KMOD is not set (vmrun.py --kmod)"
	bk_mark_module_load "$BK_KMOD"
	insmod "$BK_KMOD" "$@" || bk_fail "insmod $BK_KMOD failed"
	bk_log "loaded $(basename "$BK_KMOD")"
}

# bk_unload_module: rmmod the module under test.
bk_unload_module() {
	local name
	name=$(basename "$BK_KMOD" .ko)
	rmmod "$name" || bk_fail "rmmod $name failed"
	bk_log "unloaded $name"
}

# bk_disk N: print the device node of scratch disk N (1-based, in the order
# of vmrun.py --disks), found by its virtio serial "diskN".
bk_disk() {
	local d
	for d in /sys/block/vd*; do
		if [ "$(cat "$d/serial" 2>/dev/null)" = "disk$1" ]; then
			echo "/dev/${d##*/}"
			return 0
		fi
	done
	bk_fail "no scratch disk $1"
}

# bk_disks: print "diskN /dev/vdX" for every scratch disk present.
bk_disks() {
	local d
	for d in /sys/block/vd*; do
		[ -e "$d" ] && echo "$(cat "$d/serial") /dev/${d##*/}"
	done
	return 0
}

# bk_unplug N: hot-unplug scratch disk N, as if it were pulled out. The host
# harness performs QMP device_del; this returns once the disk has left the guest.
bk_unplug() {
	local dev req i=0
	dev=$(bk_disk "$1")
	req=$BK_WORK/requests/$(date +%s%N)
	echo "unplug disk$1" >"$req.tmp"
	mv "$req.tmp" "$req.req"
	until [ -e "$req.ack" ]; do
		i=$((i + 1))
		[ $i -le 600 ] || bk_fail "host did not answer unplug disk$1"
		sleep 0.1
	done
	[ "$(cat "$req.ack")" = ok ] || bk_fail "unplug disk$1: $(cat "$req.ack")"
	i=0
	while [ -e "/sys/block/${dev#/dev/}" ]; do
		i=$((i + 1))
		[ $i -le 300 ] || bk_fail "$dev still present after unplug"
		sleep 0.1
	done
	bk_log "unplugged disk$1 ($dev)"
}
