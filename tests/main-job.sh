#!/bin/bash
# The main job (README command 1 runs this after deploy/install-deps.sh):
# build bkagent and the bksnap module, then run tests/vm/cases/mainjob.sh in a
# QEMU guest that boots Debian's kernel, the kernel the module is built for.
# Env: BK_BUILD_DIR (default build/), BK_JOBS (default 2),
#      BK_MAINJOB_DISKS (scratch disk sizes, default "256M 1G 256M":
#      the live filesystem, the repository, the restore target).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BK_BUILD_DIR:-$src/build}
case=$src/tests/vm/cases/mainjob.sh

if [ ! -e /proc/modules ]; then
	why="this host's kernel ($(uname -r)) cannot load modules"
else
	why="loading a snapshot module into the host kernel would put the host's own disks at stake"
fi
echo "main-job: $why,"
echo "main-job: so the job runs inside a QEMU VM that boots Debian's kernel (TCG, or KVM"
echo "main-job: where it works), on scratch disks attached to that VM. The VM runs this"
echo "main-job: host's build, shared read-only over 9p."
[ -e "$case" ] || { echo "main-job: $case does not exist yet: nothing to run" >&2; exit 1; }

cmake -S "$src" -B "$build" -G Ninja -DBK_KERNEL_MODULE=ON -DBK_VM_TESTS=ON
cmake --build "$build" -j "${BK_JOBS:-2}"
echo "main-job: booting the VM and running $case"
exec "$src/tests/vm/vmrun.py" "$case" \
	--run-dir "$build/tests/vm/runs/mainjob" --cache-dir "$build/tests/vm/cache" \
	--kmod "$build/kernel/kmod/bksnap.ko" --disks "${BK_MAINJOB_DISKS:-256M 1G 256M}" --timeout 600 \
	--env "BK_SRC_DIR=$src" --env "BK_BUILD_DIR=$build" --share "$src" --share "$build"
