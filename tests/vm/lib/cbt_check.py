#!/usr/bin/python3
"""Check a bksnap CBT map against what really reached the disk.

The ground truth is the kernel's block_rq_issue trace of the disk (every
request handed to the driver, seen below the tracker's hook): every sector a
write, discard or write-zeroes request touched must lie in a block the map
marks changed (value > SINCE).  Blocks marked without any such request are
over-reporting beyond block rounding; they are counted and reported.

usage: cbt_check.py TRACE MAP BLOCK_SHIFT DISK_DEV START LENGTH [--since S]
  TRACE      text of /sys/kernel/tracing/trace with block_rq_issue events
  MAP        the map bytes (bksnapctl cbt-read)
  DISK_DEV   "major,minor" of the whole disk, as the trace prints it
  START, LENGTH  the tracked device's first sector on the disk and its size
Exit 0 when nothing is missed, 1 otherwise; prints a one-line summary.
"""
import argparse
import re
import sys

EVENT = re.compile(r'block_rq_issue: (\d+,\d+) (\S+) \d+ \(.*?\) (\d+) \+ (\d+)')


def changing(rwbs):
    """True for requests that change data: write, discard, write-zeroes."""
    op = rwbs[1] if rwbs[0] == 'F' and len(rwbs) > 1 and rwbs[1] in 'WDRN' else rwbs[0]
    return op in 'WDN'


def written_ranges(trace, disk, start, length):
    for line in trace:
        m = EVENT.search(line)
        if not m or m.group(1) != disk or not changing(m.group(2)):
            continue
        sector, count = int(m.group(3)), int(m.group(4))
        lo, hi = max(sector, start), min(sector + count, start + length)
        if count and lo < hi:
            yield lo - start, hi - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument('trace')
    p.add_argument('map')
    p.add_argument('block_shift', type=int)
    p.add_argument('disk')
    p.add_argument('start', type=int)
    p.add_argument('length', type=int)
    p.add_argument('--since', type=int, default=0)
    a = p.parse_args()

    cbt = open(a.map, 'rb').read()
    shift = a.block_shift - 9
    touched = set()
    requests = 0
    with open(a.trace) as trace:
        for lo, hi in written_ranges(trace, a.disk, a.start, a.length):
            requests += 1
            touched.update(range(lo >> shift, ((hi - 1) >> shift) + 1))
    missed = sorted(b for b in touched if cbt[b] <= a.since)
    marked = sum(1 for v in cbt if v > a.since)
    extra = marked - (len(touched) - len(missed))
    print(f'cbt_check: {requests} write requests, {len(touched)} blocks written, '
          f'{marked} marked, {len(missed)} missed, {extra} over-reported '
          f'({100.0 * extra / max(marked, 1):.1f}% of marked), block {1 << a.block_shift} B')
    if not requests:
        print('cbt_check: no write requests in the trace: nothing was checked')
        return 1
    if missed:
        print(f'cbt_check: MISSED blocks (first 20): {missed[:20]}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
