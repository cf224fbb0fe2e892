#!/bin/bash
# clang-tidy (checks in .clang-tidy) over the C++ sources of agent/, cbt/, util/ and
# storage/, with the compile commands of BUILD_DIR (default build/).
# Exits non-zero on any finding. Takes a few minutes: the gRPC headers are heavy.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json: configure first" >&2; exit 2; }
cd "$src"
find agent cbt storage util -name '*.cpp' -print0 |
	xargs -0 -P "${BK_JOBS:-2}" -n 4 clang-tidy -p "$build" --quiet
