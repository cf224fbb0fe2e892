#!/bin/bash
# All tests (README command 2 runs this after deploy/install-deps.sh):
#   build/       module + userspace: `ctest -L unit`, clang-tidy, then
#                `ctest -L vm` (QEMU), then `ctest -L reach` (the module on
#                sid's kernel)
#                and `ctest -L s3` (the repository tests on S3: a Ceph radosgw the
#                fixture starts from ../shared/ceph/ceph-s3.sh)
#   build-asan/  userspace under ASan+UBSan: `ctest -L unit`
#   build-tsan/  under TSan: the unit tests of the repository pipeline, the COW
#                model and the CBT store on RocksDB (only their binaries are
#                built, so `ctest -L unit` runs just them). gRPC and Abseil come
#                uninstrumented from Debian: TSan cannot see their locks and
#                reports false races in every gRPC test, so those run under
#                ASan only.
# Every group runs even if an earlier one failed; exits non-zero on any failure.
# Env: BK_BUILD_DIR, BK_ASAN_BUILD_DIR, BK_TSAN_BUILD_DIR (build dirs),
#      BK_JOBS (default 2).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BK_BUILD_DIR:-$src/build}
asan=${BK_ASAN_BUILD_DIR:-$src/build-asan}
tsan=${BK_TSAN_BUILD_DIR:-$src/build-tsan}
jobs=${BK_JOBS:-2}
summary=()
failed=0

# run_ctest NAME BUILD_DIR CTEST_ARGS...: run one test group, keep its summary line.
run_ctest() {
	local name=$1 dir=$2 log rc=0
	shift 2
	log=$dir/ctest-$name.log
	echo "=== $name: ctest $*"
	ctest --test-dir "$dir" --output-on-failure "$@" 2>&1 | tee "$log" || rc=$?
	summary+=("$name: $(grep -E 'tests passed|No tests were found' "$log" || echo "ctest failed (status $rc)")")
	[ $rc -eq 0 ] || failed=1
}

start=$SECONDS
# Line tables are all a test failure needs (backtraces, sanitizer reports);
# full debug info costs a fifth of the compile time.
cflags="-O2 -g1 -DNDEBUG"
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$cflags"
	"-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$cflags")
echo "=== build: $build (module, userspace, VM tests)"
cmake -S "$src" -B "$build" -G Ninja "${flags[@]}" -DBK_KERNEL_MODULE=ON -DBK_VM_TESTS=ON
cmake --build "$build" -j "$jobs"
run_ctest unit "$build" -L unit -j "$jobs"
run_ctest s3 "$build" -L s3 -j "$jobs"
echo "=== clang-tidy: agent/ cbt/ storage/ (checks in .clang-tidy)"
if "$src/tests/clang-tidy.sh" "$build" >"$build/clang-tidy.log" 2>&1; then
	summary+=("clang-tidy: clean")
else
	cat "$build/clang-tidy.log"
	summary+=("clang-tidy: findings, see above")
	failed=1
fi
echo "=== format: .clang-format over the C++ tree"
if "$src/tests/format-check.sh"; then
	summary+=("format: clean")
else
	summary+=("format: files out of style, see above")
	failed=1
fi
run_ctest vm "$build" -L vm
# The module on sid's 7.2 kernel (tests/vm/reach/README.md); needs Debian's mirror.
run_ctest reach "$build" -L reach

echo "=== build: $asan (ASan+UBSan, userspace only)"
cmake -S "$src" -B "$asan" -G Ninja "${flags[@]}" -DBK_SANITIZE=address,undefined \
	-DBK_KERNEL_MODULE=OFF -DBK_VM_TESTS=OFF
cmake --build "$asan" -j "$jobs"
run_ctest unit-asan "$asan" -L unit -j "$jobs"

echo "=== build: $tsan (TSan: repository, COW model, CBT store)"
cmake -S "$src" -B "$tsan" -G Ninja "${flags[@]}" -DBK_SANITIZE=thread \
	-DBK_KERNEL_MODULE=OFF -DBK_VM_TESTS=OFF
cmake --build "$tsan" -j "$jobs" --target bk_storage_tests bk_kernel_logic_test cbt_store_test
run_ctest unit-tsan "$tsan" -L unit -E '^ctl_args_libfuzzer$' -j "$jobs"

echo "=== summary ($((SECONDS - start)) s)"
printf '  %s\n' "${summary[@]}"
exit $failed
