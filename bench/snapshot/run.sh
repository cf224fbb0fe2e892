#!/bin/bash
# Snapshot write overhead: fio with a tracker only and with an active
# snapshot (first writes, and rewrites of copied chunks) vs the bare disk,
# for bksnap, an LVM snapshot and Veeam's blksnap (at its default 256 KiB
# chunks and at bksnap's 32 KiB), ratios taken in the same guest boot (QEMU
# TCG), interleaved by rounds.  Prints markdown tables for docs/bench.md.
# usage: bench/snapshot/run.sh [BUILD_DIR]   env: BENCH_RUNTIME (s), BENCH_ROUNDS,
#        BENCH_RUN_ROOT (/dev/shm: disks in host RAM), BENCH_BLKSNAP_SRC (blksnap's
#        source tree, default ../shared/peers/blksnap-VAL-7.0 beside the checkout;
#        empty: no blksnap), BENCH_BASE_REV (a git revision: its module runs as
#        "base" beside the tree's, an A/B), BENCH_SYSTEMS (which, in what order:
#        default "bksnap lvm blksnap blksnap32k", plus "base" with BENCH_BASE_REV)
set -euo pipefail
BENCH_SRC=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_BUILD=${1:-$BENCH_SRC/build}
. "$BENCH_SRC/bench/lib/host.sh"
# The peers' modules are built for the kernel the tree's module is built for.
cmake --build "$BENCH_BUILD" --target kmod >/dev/null
kver=$(modinfo -F vermagic "$BENCH_BUILD/kernel/kmod/bksnap.ko" | cut -d' ' -f1)
peer=${BENCH_BLKSNAP_SRC-$BENCH_SRC/../shared/peers/blksnap-VAL-7.0}
BENCH_BLKSNAP=
if [ -z "$peer" ]; then
	echo "blksnap: BENCH_BLKSNAP_SRC is empty: measuring without it" >&2
elif [ ! -d "$peer" ]; then
	echo "blksnap: no source tree at $peer (set BENCH_BLKSNAP_SRC): measuring without it" >&2
else
	BENCH_BLKSNAP=$("$BENCH_SRC/bench/snapshot/blksnap-build.sh" "$peer" "$BENCH_BUILD/bench/blksnap" "$kver")
fi
BENCH_BASE=
if [ -n "${BENCH_BASE_REV:-}" ]; then
	BENCH_BASE=$("$BENCH_SRC/bench/snapshot/bksnap-base.sh" "$BENCH_SRC" "$BENCH_BASE_REV" \
		"$BENCH_BUILD/bench/bksnap-base" "$kver")
	BENCH_SYSTEMS=${BENCH_SYSTEMS:-base bksnap lvm blksnap blksnap32k}
fi
export BENCH_BLKSNAP BENCH_BASE BENCH_SYSTEMS
bench_vm snapshot "$BENCH_SRC/bench/snapshot/guest.sh" "3G 4G 2G" $((600 + 1800 * ${BENCH_ROUNDS:-2})) >/dev/null
/usr/bin/python3 - "$BENCH_BUILD/bench/snapshot/results.txt" "${BENCH_BASE_REV:-}" <<'PY'
import collections, statistics, sys
runs, storage = collections.defaultdict(list), collections.defaultdict(list)
for f in (l.split() for l in open(sys.argv[1])):
    if f[0] == 'BENCH-STORAGE':
        storage[(f[1], f[2])].append(int(f[3]) * 512 / 2**20)
    else:
        runs[(f[0], f[1])].append((float(f[2]), float(f[3])))
names = {'bksnap': 'bksnap (32 KiB)', 'blksnap': 'blksnap (256 KiB)',
         'blksnap32k': 'blksnap (32 KiB)', 'lvm': 'LVM snapshot (32 KiB)',
         'base': f'bksnap at {sys.argv[2]} (32 KiB)'}
systems = [s for s in names if (s, 'seq1m_first') in runs]
print(f'Ratio to the same system\'s bare run in the same round: mean (min-max) of '
      f'{max(len(v) for v in runs.values())} rounds. LVM has no tracker: its "tracker only" '
      'rows are a second bare run, the method\'s A/A.\n')
print('| run | ' + ' | '.join(names[s] for s in systems) + ' |')
print('|---|' + '---|' * len(systems))
for w, unit in (('rand4k', 0), ('seq1m', 1)):
    for phase, label in (('tracked', 'tracker only'), ('first', 'first writes'), ('copied', 'rewrites')):
        cells = []
        for s in systems:
            r = [v[unit] / b[unit] for v, b in zip(runs[(s, f'{w}_{phase}')], runs[(s, f'{w}_bare')])]
            cells.append(f'**{statistics.mean(r):.2f}** ({min(r):.2f}-{max(r):.2f})')
        print(f'| {w} {label} | ' + ' | '.join(cells) + ' |')
print('\nBare runs (means): ' + '; '.join(
    f'{names[s]} {statistics.mean(x[0] for x in runs[(s, "rand4k_bare")]):.0f} IOPS, '
    f'{statistics.mean(x[1] for x in runs[(s, "seq1m_bare")]):.0f} MB/s' for s in systems) + '.')
if storage:
    print('Difference storage used after each phase (MiB, mean): ' + '; '.join(
        f'{names[s]} {p} {statistics.mean(v):.0f}' for (s, p), v in sorted(storage.items())) +
        '; blksnap reports no such counter.')
PY
