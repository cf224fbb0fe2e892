#!/bin/bash
# Guest side of bench/snapshot/run.sh: fio with a tracker only, then with an
# active snapshot, vs the bare disk, in the same boot for bksnap, for an LVM
# snapshot (dm-snapshot, the in-tree peer) and, when the host built it
# (BENCH_BLKSNAP), for Veeam's blksnap at its default chunk size and at ours;
# with BENCH_BASE (bksnap.ko and bksnapctl of another revision), "base" is
# that module, for an A/B run. BENCH_SYSTEMS picks and orders the systems.
# bksnap's chunk size is 32 KiB for devices up to 32 GiB; lvcreate -c 32k.
. "$BK_SRC_DIR/tests/vm/lib/guest.sh"
. "$BK_SRC_DIR/tests/vm/lib/bksnap.sh"
. "$BK_SRC_DIR/bench/lib/guest.sh"

RT=${BENCH_RUNTIME:-20}
ROUNDS=${BENCH_ROUNDS:-2}
export LVM_SYSTEM_DIR=$BK_SRC_DIR/tests/vm/lib
modprobe dm_snapshot

# The runs of the LVM baseline recipe on DEV, plus the same writes with only
# a tracker attached; TRACK, UNTRACK, SNAP, UNSNAP are commands (LVM has no
# tracker: its "tracked" runs are a second bare run, the method's A/A).
runs() {
	local sys=$1 dev=$2 track=$3 untrack=$4 snap=$5 unsnap=$6
	local rand=(--filename="$dev" --rw=randwrite --bs=4k --offset=0 --size=512m)
	local seq=(--filename="$dev" --rw=write --bs=1m --offset=1g --size=1g)
	echo "BENCH $sys rand4k_bare $(bench_fio a "${rand[@]}" --runtime="$RT" --time_based)"
	$track
	echo "BENCH $sys rand4k_tracked $(bench_fio t "${rand[@]}" --runtime="$RT" --time_based)"
	$snap
	echo "BENCH $sys rand4k_first $(bench_fio b "${rand[@]}" --runtime="$RT")"
	dd if=/dev/zero of="$dev" bs=1M count=512 oflag=direct status=none
	echo "BENCH $sys rand4k_copied $(bench_fio c "${rand[@]}" --runtime="$RT" --time_based)"
	phase=rand4k $unsnap
	$untrack
	echo "BENCH $sys seq1m_bare $(bench_fio d "${seq[@]}" --runtime="$RT" --time_based)"
	$track
	echo "BENCH $sys seq1m_tracked $(bench_fio u "${seq[@]}" --runtime="$RT" --time_based)"
	$snap
	echo "BENCH $sys seq1m_first $(bench_fio e "${seq[@]}")"
	echo "BENCH $sys seq1m_copied $(bench_fio f "${seq[@]}" --runtime="$RT" --time_based)"
	phase=seq1m $unsnap
	$untrack
}

origin=$(bk_disk 1)
diff=$(bk_disk 3)
# The scratch images are sparse: write every block once, so that no run
# pays for the host allocating its file.
for d in "$origin" "$(bk_disk 2)" "$diff"; do
	dd if=/dev/zero of="$d" bs=4M oflag=direct status=none || true
done

CTL=$BKSNAPCTL
bk_track() { "$CTL" attach "$origin"; }
bk_untrack() { "$CTL" detach "$origin"; }
bk_snap() { "$CTL" snapshot "$diff" "$origin" >/tmp/snap; }
bk_unsnap() {
	local id
	id=$(sed -n 's/^id=//p' /tmp/snap)
	# Difference storage in use after the phase's first writes.
	echo "BENCH-STORAGE $sys $phase $("$CTL" snapshot-info "$id" | sed -n "s/^used_sectors=//p")"
	"$CTL" release "$id"
}

pv=$(bk_disk 2)
pvcreate -qy "$pv" >/dev/null 2>&1
vgcreate -q bench "$pv" >/dev/null 2>&1
lvcreate -qy -L 2560m -n lv bench >/dev/null 2>&1
lvm_snap() { lvcreate -qy -s -c 32k -L 1300m -n snap bench/lv >/dev/null 2>&1; }
lvm_unsnap() {
	echo "BENCH-STORAGE lvm $phase $(lvs --noheadings --units s --nosuffix -o snap_percent,lv_size bench/snap |
		awk '{printf "%.0f", $1 * $2 / 100}')"
	lvremove -qy bench/snap >/dev/null 2>&1
}

# blksnap (VAL-7.0): bdevfilter hooks submit_bio_noacct by ftrace, as bksnap
# does, so only one of the two modules is loaded at a time.
B=${BENCH_BLKSNAP:-}
blk() { "$B/blksnap" "$@" || bk_fail "blksnap $*"; }
blk_load() { # CHUNK_SHIFT
	bk_mark_module_load "blksnap (bdevfilter, veeamblksnap chunk_minimum_shift=$1)"
	insmod "$B/bdevfilter.ko" && insmod "$B/veeamblksnap.ko" chunk_minimum_shift="$1" ||
		bk_fail "insmod blksnap"
}
blk_unload() {
	rmmod veeamblksnap && rmmod bdevfilter || bk_fail "rmmod blksnap"
	! grep -qE '^(veeamblksnap|bdevfilter) ' /proc/modules || bk_fail "blksnap still loaded"
}
blk_track() { blk attach --device "$origin"; }
blk_untrack() { blk detach --device "$origin"; }
blk_snap() {
	blk snapshot_create --device "$origin" --file "$diff" >/tmp/blkid
	blk snapshot_take --id "$(cat /tmp/blkid)"
}
blk_unsnap() { blk snapshot_destroy --id "$(cat /tmp/blkid)"; } # no storage counter in its API

bksnap_runs() { # NAME MODULE BKSNAPCTL
	CTL=$3
	bk_mark_module_load "$2"
	insmod "$2" || bk_fail "insmod $2"
	runs "$1" "$origin" bk_track bk_untrack bk_snap bk_unsnap
	rmmod bksnap || bk_fail "rmmod bksnap ($1)"
}
blksnap_runs() { # NAME CHUNK_SHIFT
	[ -n "$B" ] || return 0
	blk_load "$2"
	runs "$1" "$origin" blk_track blk_untrack blk_snap blk_unsnap
	blk_unload
}
# A first-write pass is short (1 GiB): rounds, interleaved, average it out.
for r in $(seq 1 "$ROUNDS"); do
	for s in ${BENCH_SYSTEMS:-bksnap lvm blksnap blksnap32k}; do
		case $s in
		bksnap) bksnap_runs bksnap "$BK_KMOD" "$BKSNAPCTL" ;;
		base)
			[ -n "${BENCH_BASE:-}" ] || bk_fail "BENCH_SYSTEMS has base: set BENCH_BASE_REV"
			bksnap_runs base "$BENCH_BASE/bksnap.ko" "$BENCH_BASE/bksnapctl" ;;
		lvm) runs lvm /dev/bench/lv : : lvm_snap lvm_unsnap ;;
		blksnap) blksnap_runs blksnap 18 ;;  # its default: 256 KiB chunks
		blksnap32k) blksnap_runs blksnap32k 15 ;; # 32 KiB, as bksnap's
		*) bk_fail "BENCH_SYSTEMS: unknown system $s" ;;
		esac
	done
done
