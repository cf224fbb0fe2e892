#!/bin/bash
# Guest side of bench/tracker/run.sh: fio on a raw virtio disk, bare and with
# a bksnap tracker attached, alternating in one boot so drift cancels out.
. "$BK_SRC_DIR/tests/vm/lib/guest.sh"
. "$BK_SRC_DIR/tests/vm/lib/bksnap.sh"
. "$BK_SRC_DIR/bench/lib/guest.sh"

RT=${BENCH_RUNTIME:-20}
ROUNDS=${BENCH_ROUNDS:-2}
bk_load_module
dev=$(bk_disk 1)
big=$(bk_disk 2)

run_fio() {	# NAME ARGS...: time-based random 4 KiB unless ARGS say else
	bench_fio "$1" --filename="$dev" --rw=randwrite --bs=4k --size=512m \
		--runtime="$RT" --time_based "${@:2}"
}

echo "BENCH workload state round iops MBps"
for r in $(seq 1 "$ROUNDS"); do
	for state in bare tracked; do
		[ $state = tracked ] && "$BKSNAPCTL" attach "$dev"
		echo "BENCH rand4k $state $r $(run_fio rand4k)"
		echo "BENCH seq1m $state $r $(run_fio seq1m --rw=write --bs=1m --offset=512m)"
		[ $state = tracked ] && "$BKSNAPCTL" detach "$dev"
	done
done

# CBT memory: the map is one byte per block (kvzalloc'd), measured on a
# sparse 1 TiB disk.
"$BKSNAPCTL" attach "$big"
echo "BENCH cbtmem $(bk_info "$big" capacity_sectors) $(bk_info "$big" block_count) $(bk_info "$big" block_shift)"
"$BKSNAPCTL" detach "$big"
bk_unload_module
