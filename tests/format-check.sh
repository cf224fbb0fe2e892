#!/bin/bash
# One C++ style (.clang-format) across agent/, cbt/, storage/, util/, bench/ and
# the C++ tests; kernel/ follows the kernel's style (checkpatch, ctest
# kernel_checkpatch). Prints the files that differ and exits non-zero.
# Usage: tests/format-check.sh [--fix]
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'agent/*' 'cbt/*' 'storage/*' 'util/*' 'bench/*' 'tests/*' |
	grep -E '\.(cpp|cc|h|hpp)$')
if [ "${1:-}" = "--fix" ]; then
	clang-format -i "${files[@]}"
	exit 0
fi
bad=()
for f in "${files[@]}"; do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
[ ${#bad[@]} -eq 0 ] || { printf 'not in .clang-format style (tests/format-check.sh --fix):\n'; printf '  %s\n' "${bad[@]}"; exit 1; }
echo "format: ${#files[@]} files in style"
