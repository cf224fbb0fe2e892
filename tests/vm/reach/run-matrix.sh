#!/bin/bash
# Builds bksnap.ko for every kernel of the support matrix and runs the VM
# suites on each; writes docs/support-matrix.md. See README.md.
#   tests/vm/reach/run-matrix.sh [BUILD_DIR] [matrix.py options]
# BUILD_DIR (default build-reach) is configured with the module and VM tests
# and its test tools are built first. Needs root.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$src/build-reach}
[ $# -eq 0 ] || shift
cmake -S "$src" -B "$build" -G Ninja -DBK_KERNEL_MODULE=ON -DBK_VM_TESTS=ON >/dev/null
cmake --build "$build" -j "${BK_JOBS:-2}"
exec /usr/bin/python3 "$src/tests/vm/reach/matrix.py" "$build" "$@"
