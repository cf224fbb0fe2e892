#!/usr/bin/env python3
"""Overwrite a fraction of an image's blocks with random data, in place, and write the
indexes of the repository chunks they touch (what CBT would report), one per line.
usage: change_blocks.py IMAGE FRACTION BLOCK_BYTES CHUNK_BYTES SEED CHANGED_LIST"""
import os
import random
import sys


def main():
    image, fraction, block, chunk, seed, out = sys.argv[1], float(sys.argv[2]), \
        int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    rng = random.Random(seed)
    nblocks = os.path.getsize(image) // block
    picked = rng.sample(range(nblocks), max(1, int(nblocks * fraction)))
    chunks = set()
    with open(image, "r+b") as f:
        for b in picked:
            f.seek(b * block)
            f.write(rng.randbytes(block))
            chunks.update(range(b * block // chunk, ((b + 1) * block - 1) // chunk + 1))
    with open(out, "w") as f:
        f.write("".join(f"{c}\n" for c in sorted(chunks)))


if __name__ == "__main__":
    main()
