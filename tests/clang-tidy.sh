#!/bin/bash
# clang-tidy (checks in .clang-tidy) over the C++ sources of agent/, cbt/, util/ and
# storage/, with the compile commands of BUILD_DIR (default build/).
# Exits non-zero on any finding. clang-tidy 22, not 14: 14 and 19 match inside
# the system headers too (gRPC, protobuf), ~7x the time (docs/hacking.md).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json: configure first" >&2; exit 2; }
cd "$src"
find agent cbt storage util -name '*.cpp' -print0 |
	xargs -0 -P "${BK_JOBS:-2}" -n 4 "${CLANG_TIDY:-clang-tidy-22}" -p "$build" --quiet
