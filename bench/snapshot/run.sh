#!/bin/bash
# Snapshot write overhead: fio with an active snapshot (first writes, and
# rewrites of copied chunks) vs the bare disk, bksnap beside an LVM
# snapshot, ratios taken in the same guest boot (QEMU TCG).  Prints a
# markdown table for docs/bench.md.
# usage: bench/snapshot/run.sh [BUILD_DIR]   env: BENCH_RUNTIME (s), BENCH_ROUNDS
set -euo pipefail
BENCH_SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BUILD=${1:-$BENCH_SRC/build}
. "$BENCH_SRC/bench/lib/host.sh"
bench_vm snapshot "$BENCH_SRC/bench/snapshot/guest.sh" "3G 4G 2G" $((600 + 900 * ${BENCH_ROUNDS:-2})) >/dev/null
/usr/bin/python3 - "$BENCH_BUILD/bench/snapshot/results.txt" <<'PY'
import sys
runs = {}
for s, t, i, m in (l.split() for l in open(sys.argv[1])):
    runs.setdefault((s, t), []).append((float(i), float(m)))
r = {k: tuple(sum(x[u] for x in v) / len(v) for u in (0, 1)) for k, v in runs.items()}
print(f'Means of {len(runs[("bksnap", "seq1m_first")])} rounds.\n')
print('| run | bksnap | ratio | LVM snapshot | ratio | target (bksnap) |')
print('|---|---|---|---|---|---|')
for test, base, unit, target in (('rand4k_first', 'rand4k_bare', 0, '>= 0.5'),
                                  ('rand4k_copied', 'rand4k_bare', 0, '>= 0.95'),
                                  ('seq1m_first', 'seq1m_bare', 1, '>= 0.25'),
                                  ('seq1m_copied', 'seq1m_bare', 1, '>= 0.95')):
    cells = []
    for sysname in ('bksnap', 'lvm'):
        v, b = r[(sysname, test)][unit], r[(sysname, base)][unit]
        cells += [f'{v:.0f} {"IOPS" if unit == 0 else "MB/s"} (bare {b:.0f})', f'**{v / b:.2f}**']
    print(f'| {test} | ' + ' | '.join(cells) + f' | {target} |')
PY
