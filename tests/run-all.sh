#!/bin/bash
# All tests (README command 2 runs this after deploy/install-deps.sh):
#   build/       module + userspace, then two tracks side by side (CI time,
#                docs/hacking.md "CI"):
#     host       the packages (vm_build_debs), `ctest -L unit`, then `ctest -L
#                s3` (the repository tests on S3: a Ceph radosgw the fixture
#                starts from ../shared/ceph/ceph-s3.sh) and `ctest -L reach`
#                (the module on sid's kernel) in the background, clang-tidy,
#                format, the two sanitizer builds below, then VM cases from
#                the queue beside the other track's
#     guests     VM cases from the queue, one guest at a time (2 vCPUs each)
#   the queue    the cases of labels vm and pkg, costliest first (their COST);
#                vm_pkg_install (the packages installed, upgraded and purged
#                under systemd) once the host track has built the packages
#   build-asan/  userspace under ASan+UBSan (clang): `ctest -L unit`, the
#                libFuzzer targets' short runs included
#   build-tsan/  under TSan: the unit tests of the repository pipeline, the COW
#                model and the CBT store on RocksDB (only their binaries are
#                built, so `ctest -L unit` runs just them). gRPC and Abseil come
#                uninstrumented from Debian: TSan cannot see their locks and
#                reports false races in every gRPC test, so those run under
#                ASan only.
# Every group runs even if an earlier one failed; exits non-zero on any failure.
# Each group's line says its wall and CPU seconds (user+sys of the processes
# it waited for: not the Ceph daemons, which detach).
# Env: BK_BUILD_DIR, BK_ASAN_BUILD_DIR, BK_TSAN_BUILD_DIR (build dirs),
#      BK_JOBS (default 2), CCACHE_DIR (default build/ccache: the main build
#      and the package builds share it).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BK_BUILD_DIR:-$src/build}
asan=${BK_ASAN_BUILD_DIR:-$src/build-asan}
tsan=${BK_TSAN_BUILD_DIR:-$src/build-tsan}
jobs=${BK_JOBS:-2}
logs=$build/ci
summary=$logs/summary-main

# cpu_seconds: REPLY = user+sys seconds of this shell's finished children
# (`times` in this shell, not in a $(...) subshell).
cpu_seconds() {
	local f=$logs/times.$BASHPID
	times >"$f"
	REPLY=$(awk 'NR == 2 { gsub(/[ms]/, " "); print int($1 * 60 + $2 + $3 * 60 + $4) }' "$f")
}

# group NAME COMMAND...: runs one group, adds "NAME: RESULT (W s, C s CPU)" to
# the summary; RESULT is COMMAND's last output line starting with "=> ".
group() {
	local name=$1 t0=$SECONDS c0 rc=0 log
	shift
	log=$logs/$name.log
	cpu_seconds
	c0=$REPLY
	echo "=== $name: $*"
	"$@" 2>&1 | tee "$log" || rc=$?
	local result
	result=$(grep '^=> ' "$log" | tail -n 1 | cut -c4-) || true
	[ -n "$result" ] || result=$([ $rc -eq 0 ] && echo ok || echo "failed (status $rc)")
	[ $rc -eq 0 ] || echo failed >>"$logs/failed"
	cpu_seconds
	echo "$name: $result ($((SECONDS - t0)) s, $((REPLY - c0)) s CPU)" | tee -a "$summary"
}

# tests DIR CTEST_ARGS...: one ctest group; its result is ctest's summary.
tests() {
	local dir=$1 out=$logs/ctest.$BASHPID rc=0
	shift
	ctest --test-dir "$dir" --output-on-failure "$@" 2>&1 | tee "$out" || rc=$?
	echo "=> $(grep -E 'tests passed|No tests were found' "$out" || echo "ctest failed (status $rc)")"
	return $rc
}

clang_tidy() {
	"$src/tests/clang-tidy.sh" "$build" >"$logs/clang-tidy.out" 2>&1 && echo "=> clean" && return
	cat "$logs/clang-tidy.out"
	echo "=> findings, see above"
	return 1
}

format() {
	"$src/tests/format-check.sh" && echo "=> clean" && return
	echo "=> files out of style, see above"
	return 1
}

# sanitized DIR SANITIZERS COMPILER CFLAGS [BUILD_ARGS...]: configure and build
# userspace with COMPILER (gcc or clang) and CFLAGS.
sanitized() {
	local dir=$1 san=$2 cc=$3 cflags=$4 cxx=g++
	shift 4
	[ "$cc" = gcc ] || cxx=clang++
	CC=$cc CXX=$cxx cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		"-DCMAKE_C_FLAGS_RELWITHDEBINFO=$cflags" "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$cflags" \
		-DBK_SANITIZE="$san" -DBK_KERNEL_MODULE=OFF -DBK_VM_TESTS=OFF &&
		cmake --build "$dir" -j "$jobs" "$@"
}

host_track() {
	if [ "$pkg" = 1 ]; then
		group debs tests "$build" -R '^vm_build_debs$'
	fi
	touch "$logs/debs.done"
	group unit tests "$build" -L unit -j "$jobs"
	# s3 mostly waits on its radosgw (nice 19), reach first on Debian's mirror
	# (the module on sid's 7.2 kernel, tests/vm/reach/README.md): both in the
	# background, waited for at the end.
	group s3 tests "$build" -L s3 -j "$jobs" &
	local s3_pid=$!
	group reach tests "$build" -L reach &
	local reach_pid=$!
	group clang-tidy clang_tidy
	group format format
	# clang: its ASan tree builds the fuzz targets too, from the same objects.
	group build-asan sanitized "$asan" address,undefined clang "$asan_cflags"
	group unit-asan tests "$asan" -L unit -j "$jobs"
	group build-tsan sanitized "$tsan" thread gcc "$tsan_cflags" --target bk_storage_tests bk_kernel_logic_test cbt_store_test
	group unit-tsan tests "$tsan" -L unit -j "$jobs"
	group vm-host vm_cases
	wait "$s3_pid" "$reach_pid"
}

guest_track() {
	group vm vm_cases
}

# make_queue: $logs/queue, the names of the VM cases (labels vm, and pkg unless
# BK_PKG=0), costliest first by their COST (tests/vm/CMakeLists.txt); not the
# module builds (fixture setups: the main build made their targets).
make_queue() {
	local labels='^vm$'
	[ "$pkg" = 0 ] || labels='^(vm|pkg)$'
	ctest --test-dir "$build" --show-only=json-v1 -L "$labels" | python3 -c '
import json, sys
def prop(test, name, default):
    return next((p["value"] for p in test.get("properties", []) if p["name"] == name), default)
cases = [t for t in json.load(sys.stdin)["tests"] if not prop(t, "FIXTURES_SETUP", None)]
for t in sorted(cases, key=lambda t: -float(prop(t, "COST", 0))):
    print(t["name"])' >"$logs/queue"
}

# next_case: REPLY = the next case off the queue, "" when it is empty;
# vm_pkg_install only once the packages are built (or their track is gone).
next_case() {
	local skip
	while :; do
		skip='^vm_pkg_install$'
		[ ! -e "$logs/debs.done" ] && kill -0 "${host_pid:-}" 2>/dev/null || skip='^$'
		REPLY=$({
			flock 9
			name=$(grep -m 1 -v -E "$skip" "$logs/queue") || true
			if [ -n "$name" ]; then
				grep -v -x -F "$name" "$logs/queue" >"$logs/queue.new" || true
				mv "$logs/queue.new" "$logs/queue"
			fi
			echo "$name"
		} 9>>"$logs/queue.lock")
		[ -z "$REPLY" ] && [ -s "$logs/queue" ] || return 0
		sleep 10
	done
}

# vm_cases: runs cases off the queue until it is empty, one at a time; the
# result counts them and names the failed ones.
vm_cases() {
	local n=0 failed=""
	while next_case && [ -n "$REPLY" ]; do
		n=$((n + 1))
		ctest --test-dir "$build" --output-on-failure -R "^$REPLY\$" -FA '.*' || failed="$failed $REPLY"
	done
	echo "=> $((n - $(wc -w <<<"$failed"))) of $n cases passed${failed:+, failed:$failed}"
	[ -z "$failed" ]
}

# track NAME FUNCTION: runs FUNCTION in the background, its lines prefixed
# with NAME, its summary in its own file.
track() {
	(
		summary=$logs/summary-$1
		"$2" 2>&1 | sed -u "s/^/[$1] /"
	) &
}

# The packages and their guest (label pkg); BK_PKG=0 leaves them out (a quick
# local run).
pkg=${BK_PKG:-1}
start=$SECONDS
rm -rf "$logs"
mkdir -p "$logs"
# The sanitizer builds: line tables are all a test failure needs (backtraces,
# sanitizer reports); full debug info costs a fifth of the compile time. ASan
# at -O1 (the level its documentation names) with assertions on; TSan at -O2.
asan_cflags="-O1 -gline-tables-only"
tsan_cflags="-O2 -g1 -DNDEBUG"
# The main build compiles with the packages' flags and install paths (what
# dpkg-buildpackage gives deploy/debian/rules and its dh_auto_configure) into a
# ccache that the package builds of vm_build_debs share: they then compile
# nothing the main build did (vm_build_debs prints ccache's hits per build). -g1 in both: the
# test packages' debug info is stripped and dropped anyway (noautodbgsym). The
# package tree (build/tests/vm/debs/build/src/bkagent, its build directory
# obj-*) gives the same paths relative to the base directory; the objects'
# working directory (DWARF only) is not hashed; ccache hashes LC_ALL, which
# debhelper's build step sets to C.UTF-8.
export CCACHE_DIR=${CCACHE_DIR:-$build/ccache} CCACHE_BASEDIR=${CCACHE_BASEDIR:-$src} CCACHE_NOHASHDIR=1
DEB_BUILD_MAINT_OPTIONS=$(sed -n 's/^export DEB_BUILD_MAINT_OPTIONS = //p' "$src/deploy/debian/rules")
export DEB_BUILD_MAINT_OPTIONS
export DEB_CFLAGS_APPEND=-g1 DEB_CXXFLAGS_APPEND=-g1
build_main() {
	local cppflags
	cppflags=$(cd "$src" && dpkg-buildflags --get CPPFLAGS)
	(cd "$src" && CFLAGS="$(dpkg-buildflags --get CFLAGS) $cppflags" \
		CXXFLAGS="$(dpkg-buildflags --get CXXFLAGS) $cppflags" LDFLAGS=$(dpkg-buildflags --get LDFLAGS) \
		cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr \
		-DCMAKE_INSTALL_LIBDIR="lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)" \
		-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
		-DBK_KERNEL_MODULE=ON -DBK_VM_TESTS=ON) &&
		ccache -z >/dev/null && LC_ALL=C.UTF-8 cmake --build "$build" -j "$jobs" && ccache -s
}
group build build_main
make_queue
track host host_track
host_pid=$!
track guests guest_track
wait

echo "=== summary ($((SECONDS - start)) s)"
cat "$logs"/summary-main "$logs"/summary-host "$logs"/summary-guests | sed 's/^/  /'
[ ! -e "$logs/failed" ]
