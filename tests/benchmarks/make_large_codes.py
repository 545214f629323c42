"""Write a large synthetic code file (default 10 000 rows x 2.3M bits) for the scale run of issue 15.

Run: ``python tests/benchmarks/make_large_codes.py OUT.h5 [--rows 10000 --test 2000 --bits 2300000]``.

Each row is its class prototype (10 classes, random bits with p = 1/2) with every bit flipped
with probability 1/8 (the AND of three random bytes), so the classes are well apart in Hamming
distance; 1 % of the rows repeat an earlier row of their split, so uniqueness has groups to
find. Rows are generated and written block by block through :class:`actcode.io.CodeWriter`
(memory stays at a few blocks). The file is one site of ``--bits`` units.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from actcode.codes import LayerInfo, layout_layers, pad_mask
from actcode.io import CodeWriter, make_provenance


def _rows(rng: np.random.Generator, protos: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    n, nb = labels.size, protos.shape[1]
    noise = np.frombuffer(rng.bytes(n * nb), np.uint8).reshape(n, nb).copy()
    noise &= np.frombuffer(rng.bytes(n * nb), np.uint8).reshape(n, nb)
    noise &= np.frombuffer(rng.bytes(n * nb), np.uint8).reshape(n, nb)
    out: np.ndarray = (protos[labels] ^ noise) & mask
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--test", type=int, default=2000, help="rows of the test split (the rest are train)")
    ap.add_argument("--bits", type=int, default=2_300_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--block", type=int, default=256, help="rows generated and written at a time")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    layers = layout_layers([LayerInfo("features.relu", "ReLU", (args.bits,))])
    mask = ~pad_mask(layers)  # keeps the unit bits, clears the pad bits
    nb = mask.size
    protos = np.frombuffer(rng.bytes(args.classes * nb), np.uint8).reshape(args.classes, nb) & mask
    prov = make_provenance(command="make_large_codes", extract={"synthetic": vars(args)})
    t0 = time.perf_counter()
    with CodeWriter(args.out, layers, prov) as w:
        for split, n in (("train", args.rows - args.test), ("test", args.test)):
            for start in range(0, n, args.block):
                m = min(args.block, n - start)
                labels = rng.integers(0, args.classes, m)
                codes = _rows(rng, protos, labels, mask)
                dup = rng.random(m) < 0.01  # repeat the block's first row
                codes[dup] = codes[0]
                labels[dup] = labels[0]
                w.append(split, codes, labels=labels)
                print(f"{split}: {start + m}/{n} rows ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    print(args.out)


if __name__ == "__main__":
    main()
