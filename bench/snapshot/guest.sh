#!/bin/bash
# Guest side of bench/snapshot/run.sh: fio with an active snapshot vs the
# bare disk, for bksnap and for an LVM snapshot (dm-snapshot, the in-tree
# peer) in the same boot.  Chunk size 32 KiB for both (bksnap's for devices
# up to 32 GiB; lvcreate -c 32k).
. "$BK_SRC_DIR/tests/vm/lib/guest.sh"
. "$BK_SRC_DIR/tests/vm/lib/bksnap.sh"
. "$BK_SRC_DIR/bench/lib/guest.sh"

RT=${BENCH_RUNTIME:-20}
ROUNDS=${BENCH_ROUNDS:-2}
export LVM_SYSTEM_DIR=$BK_SRC_DIR/tests/vm/lib
bk_load_module
modprobe dm_snapshot

# The six runs of the LVM baseline recipe, on DEV; SNAP/UNSNAP are commands.
six_runs() {
	local sys=$1 dev=$2 snap=$3 unsnap=$4
	local rand=(--filename="$dev" --rw=randwrite --bs=4k --offset=0 --size=512m)
	local seq=(--filename="$dev" --rw=write --bs=1m --offset=1g --size=1g)
	echo "BENCH $sys rand4k_bare $(bench_fio a "${rand[@]}" --runtime="$RT" --time_based)"
	$snap
	echo "BENCH $sys rand4k_first $(bench_fio b "${rand[@]}" --runtime="$RT")"
	dd if=/dev/zero of="$dev" bs=1M count=512 oflag=direct status=none
	echo "BENCH $sys rand4k_copied $(bench_fio c "${rand[@]}" --runtime="$RT" --time_based)"
	$unsnap
	echo "BENCH $sys seq1m_bare $(bench_fio d "${seq[@]}" --runtime="$RT" --time_based)"
	$snap
	echo "BENCH $sys seq1m_first $(bench_fio e "${seq[@]}")"
	echo "BENCH $sys seq1m_copied $(bench_fio f "${seq[@]}" --runtime="$RT" --time_based)"
	$unsnap
}

origin=$(bk_disk 1)
diff=$(bk_disk 3)
# The scratch images are sparse: write every block once, so that no run
# pays for the host allocating its file.
for d in "$origin" "$(bk_disk 2)" "$diff"; do
	dd if=/dev/zero of="$d" bs=4M oflag=direct status=none || true
done
bk_snap() {
	"$BKSNAPCTL" attach "$origin"
	"$BKSNAPCTL" snapshot "$diff" "$origin" >/tmp/snap
}
bk_unsnap() {
	"$BKSNAPCTL" release "$(sed -n 's/^id=//p' /tmp/snap)"
	"$BKSNAPCTL" detach "$origin"
}
pv=$(bk_disk 2)
pvcreate -qy "$pv" >/dev/null 2>&1
vgcreate -q bench "$pv" >/dev/null 2>&1
lvcreate -qy -L 2560m -n lv bench >/dev/null 2>&1
lvm_snap() { lvcreate -qy -s -c 32k -L 1300m -n snap bench/lv >/dev/null 2>&1; }
lvm_unsnap() { lvremove -qy bench/snap >/dev/null 2>&1; }
# A first-write pass is short (1 GiB): rounds, interleaved, average it out.
for r in $(seq 1 "$ROUNDS"); do
	six_runs bksnap "$origin" bk_snap bk_unsnap
	six_runs lvm /dev/bench/lv lvm_snap lvm_unsnap
done
bk_unload_module
