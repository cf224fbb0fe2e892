#!/bin/bash
# The long fuzz campaign: every fuzz target (repository decoders, the agent's inputs) for SECONDS each (default 600),
# corpus kept under BUILD/tests/fuzz/long/ between runs, then line coverage of what the
# corpus reaches (llvm-cov over a coverage build of the same targets).
#   tests/fuzz/run-long.sh [SECONDS]        env: BK_BUILD_DIR (default build-asan/), BK_FUZZ_TARGETS
# Needs a built clang ASan tree, as tests/run-all.sh makes it (BK_BUILD_DIR; docs/reliability.md).
# A crash leaves its input as BUILD/tests/fuzz/long/crash-* and makes the script exit non-zero.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BK_BUILD_DIR:-$src/build-asan}
secs=${1:-600}
fuzz=$build/tests/fuzz
[ -x "$fuzz/bk_fuzz_seeds" ] || {
	echo "no fuzz targets in $fuzz: build a clang ASan tree first (docs/reliability.md)" >&2
	exit 2
}
# Default: every target the tree built (tests/fuzz/CMakeLists.txt lists them).
targets=${BK_FUZZ_TARGETS:-$(cd "$fuzz" && ls fuzz_* | sed 's/^fuzz_//')}
long=$fuzz/long
cov=$fuzz/coverage
mkdir -p "$long"
"$fuzz/bk_fuzz_seeds" "$fuzz/seeds" "$src/deploy/bkagentd.conf" "$src/deploy/jobs/nightly.conf"

cmake -S "$src" -B "$cov" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	-DBK_FUZZ_COVERAGE=ON -DBK_KERNEL_MODULE=OFF -DBK_VM_TESTS=OFF >/dev/null
cmake --build "$cov" --target $(printf 'fuzz_%s ' $targets) >/dev/null

failed=0
printf '%-13s %10s %8s %8s %s\n' target execs corpus edges "lines covered (non-test sources linked, llvm-cov)"
for t in $targets; do
	mkdir -p "$long/$t"
	log=$long/$t.log
	(cd "$long" && "$fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
		"$long/$t" "$fuzz/seeds/$t") >"$log" 2>&1 || failed=1
	execs=$(sed -n 's/^#\([0-9]*\).*DONE.*/\1/p' "$log" | tail -1)
	edges=$(sed -n 's/.*DONE *cov: \([0-9]*\).*/\1/p' "$log" | tail -1)
	rm -f "$long/$t.profraw"
	LLVM_PROFILE_FILE=$long/$t.profraw "$cov/tests/fuzz/fuzz_$t" -runs=0 "$long/$t" "$fuzz/seeds/$t" >/dev/null 2>&1 || true
	llvm-profdata-14 merge -o "$long/$t.profdata" "$long/$t.profraw"
	lines=$(llvm-cov-14 report "$cov/tests/fuzz/fuzz_$t" -instr-profile="$long/$t.profdata" \
		-ignore-filename-regex='(^/usr/|/tests/)' | awk '$1 == "TOTAL" { print $10 " of " $8 " lines" }')
	printf '%-13s %10s %8s %8s %s\n' "$t" "${execs:-crash}" "$(ls "$long/$t" | wc -l)" "${edges:--}" "$lines"
done
exit $failed
