# Host-side helpers for bench scripts: run a guest script in the test VM and
# collect its "BENCH ..." lines.

# bench_vm NAME GUEST_SCRIPT DISKS TIMEOUT: prints the BENCH lines (prefix
# removed); the run's logs stay in $BENCH_BUILD/bench/NAME/run.
# BENCH_RUN_ROOT=/dev/shm puts the scratch disks in host RAM: the host then
# never throttles the guest's writes for its own write-back (which falls on
# whatever dirties new pages, e.g. difference storage, and not on rewrites).
# The guest reads the build by path: make it absolute.
BENCH_BUILD=$(cd "$BENCH_BUILD" && pwd)

bench_vm() {
	local name=$1 script=$2 disks=$3 timeout=$4 out run
	out=$BENCH_BUILD/bench/$name
	run=${BENCH_RUN_ROOT:+$BENCH_RUN_ROOT/bkbench-$name}
	run=${run:-$out/run}
	mkdir -p "$out"
	cmake --build "$BENCH_BUILD" --target kmod bksnapctl >/dev/null
	/usr/bin/python3 "$BENCH_SRC/tests/vm/vmrun.py" "$script" \
		--run-dir "$run" --cache-dir "$BENCH_BUILD/tests/vm/cache" \
		--kmod "$BENCH_BUILD/kernel/kmod/bksnap.ko" --disks "$disks" \
		--timeout "$timeout" --env BK_SRC_DIR="$BENCH_SRC" \
		--env BK_BUILD_DIR="$BENCH_BUILD" \
		--env BENCH_RUNTIME="${BENCH_RUNTIME:-20}" \
		--env BENCH_ROUNDS="${BENCH_ROUNDS:-2}" \
		--env BENCH_CONTROL="${BENCH_CONTROL:-}" \
		--env BENCH_BLKSNAP="${BENCH_BLKSNAP:-}" --env BENCH_BASE="${BENCH_BASE:-}" \
		--env BENCH_SYSTEMS="${BENCH_SYSTEMS:-}" --quiet >/dev/null || true
	if [ "$run" != "$out/run" ]; then
		rm -rf "$out/run"
		mv "$run" "$out/run"	# logs only: vmrun deleted the disks
	fi
	grep -h '^BENCH' "$out/run/work/output.txt" 2>/dev/null | sed 's/^BENCH //' |
		tee "$out/results.txt" | grep -q . ||
		{ echo "no results: see $out/run" >&2; return 1; }
}
