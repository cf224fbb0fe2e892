#!/usr/bin/env python3
"""Write a deterministic mixed test image: 8 MiB segments of random data, word text and
zeros in equal shares, in a shuffled order. usage: make_image.py SIZE_MIB SEED OUT"""
import random
import sys

SEG = 8 << 20


def main():
    size_mib, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(5000)]
    corpus = " ".join(rng.choice(words) for _ in range(4 << 20)).encode()[: 16 << 20]
    nseg = size_mib * (1 << 20) // SEG
    kinds = [i % 3 for i in range(nseg)]
    rng.shuffle(kinds)
    with open(out, "wb") as f:
        for kind in kinds:
            if kind == 0:
                f.write(rng.randbytes(SEG))
            elif kind == 1:  # text from a random offset: no two segments share chunks
                start = rng.randrange(len(corpus) - SEG)
                f.write(corpus[start:start + SEG])
            else:
                f.write(bytes(SEG))


if __name__ == "__main__":
    main()
