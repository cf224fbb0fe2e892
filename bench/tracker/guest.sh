#!/bin/bash
# Guest side of bench/tracker/run.sh: fio on two identical raw virtio disks
# at the same time, one with a bksnap tracker attached and one bare, the roles
# swapped every round. Both runs see the same host conditions, so the ratio
# of the pair is not blurred by the host's drift between runs.  fio's first
# job runs ~2% slower than its second with no tracker at all (an A/A run,
# docs/bench.md), so the job order is swapped every round as well: over two
# rounds the tracked and the bare side have had the same disks and places.
# BENCH_CONTROL=1 attaches no tracker (an A/A run: the ratio shows what is
# left of the method's own bias).
. "$BK_SRC_DIR/tests/vm/lib/guest.sh"
. "$BK_SRC_DIR/tests/vm/lib/bksnap.sh"

RT=${BENCH_RUNTIME:-20}
ROUNDS=${BENCH_ROUNDS:-2}
bk_load_module
disks=("$(bk_disk 1)" "$(bk_disk 3)")
big=$(bk_disk 2)

# pair NAME TRACKED BARE ARGS...: fio on both disks at once; prints
# "NAME tracked ROUND iops MBps" and "NAME bare ROUND iops MBps".
pair() {
	local name=$1 tracked=$2 bare=$3
	shift 3
	local common=(--direct=1 --ioengine=libaio --iodepth=8 --runtime="$RT" --time_based "$@")
	local t=(--name=tracked --filename="$tracked" "${common[@]}") b=(--name=bare --filename="$bare" "${common[@]}")
	if ((r % 2)); then
		fio --output-format=json "${t[@]}" "${b[@]}" >/tmp/fio.json
	else
		fio --output-format=json "${b[@]}" "${t[@]}" >/tmp/fio.json
	fi
	/usr/bin/python3 - "$name" "$r" <<'PY'
import json, sys
for job in json.load(open('/tmp/fio.json'))['jobs']:
    w = job['write']
    print('BENCH %s %s %s %.0f %.1f' % (sys.argv[1], job['jobname'], sys.argv[2], w['iops'], w['bw_bytes'] / 1e6))
PY
}

echo "BENCH workload state round iops MBps"
for r in $(seq 1 "$ROUNDS"); do
	t=${disks[$((r % 2))]} b=${disks[$(((r + 1) % 2))]}
	[ -n "${BENCH_CONTROL:-}" ] || "$BKSNAPCTL" attach "$t"
	pair rand4k "$t" "$b" --rw=randwrite --bs=4k --size=512m
	pair seq1m "$t" "$b" --rw=write --bs=1m --offset=512m --size=512m
	[ -n "${BENCH_CONTROL:-}" ] || "$BKSNAPCTL" detach "$t"
done

# CBT memory: the map is one byte per block (kvzalloc'd), measured on a
# sparse 1 TiB disk.
"$BKSNAPCTL" attach "$big"
echo "BENCH cbtmem $(bk_info "$big" capacity_sectors) $(bk_info "$big" block_count) $(bk_info "$big" block_shift)"
"$BKSNAPCTL" detach "$big"
bk_unload_module
