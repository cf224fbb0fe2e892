#!/bin/bash
# Tracker overhead: fio IOPS/MB/s with a tracker attached vs the bare disk,
# ratios taken in the same guest boot (QEMU TCG, see tests/vm).  Prints a
# markdown table for docs/bench.md.
# usage: bench/tracker/run.sh [BUILD_DIR]   env: BENCH_RUNTIME (s), BENCH_ROUNDS,
#        BENCH_CONTROL=1 (no tracker attached: an A/A run of the method)
set -euo pipefail
BENCH_SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BUILD=${1:-$BENCH_SRC/build}
. "$BENCH_SRC/bench/lib/host.sh"
bench_vm tracker "$BENCH_SRC/bench/tracker/guest.sh" "1G 1024G 1G" 1200 >/dev/null
/usr/bin/python3 - "$BENCH_BUILD/bench/tracker/results.txt" <<'PY'
import collections, sys
rows = [l.split() for l in open(sys.argv[1]) if l[0] != 'w']
runs = collections.defaultdict(list)
for r in rows:
    if r[0] in ('rand4k', 'seq1m'):
        runs[(r[0], r[1])].append((float(r[3]), float(r[4])))
print('| workload | bare IOPS | tracked IOPS | ratio | bare MB/s | tracked MB/s | ratio |')
print('|---|---|---|---|---|---|---|')
for w in ('rand4k', 'seq1m'):
    b, t = runs[(w, 'bare')], runs[(w, 'tracked')]
    bi, ti = sum(x[0] for x in b) / len(b), sum(x[0] for x in t) / len(t)
    bb, tb = sum(x[1] for x in b) / len(b), sum(x[1] for x in t) / len(t)
    print(f'| {w} | {bi:.0f} | {ti:.0f} | {ti / bi:.3f} | {bb:.1f} | {tb:.1f} | {tb / bb:.3f} |')
for r in rows:
    if r[0] == 'cbtmem':
        sectors, blocks, shift = int(r[1]), int(r[2]), int(r[3])
        tib = sectors * 512 / 2**40
        print(f'\nCBT map on a {tib:.2f} TiB disk: {blocks} blocks of {1 << shift} B = '
              f'{blocks / 2**20:.1f} MiB, i.e. {blocks / tib / 2**20:.1f} MiB per TiB tracked')
PY
