"""Numba kernels over packed neural codes: Hamming distances, top-k search, exact row groups, bit counts.

Every kernel works on a block of rows held as ``uint64`` words (see :func:`to_words`), so that a
caller can stream a code matrix larger than memory block by block. Pad bits are zero in every
row (the format guarantees it for each layer segment, and :func:`to_words` pads with zero
bytes), so ``popcount(a XOR b)`` summed over words is the Hamming distance without any mask.

Notes
-----
The popcount is LLVM's ``ctpop`` intrinsic. On this project's CPUs (x86-64 with POPCNT, and
AVX-512 VPOPCNTDQ where present) LLVM vectorises it; the classic SWAR bit-twiddling popcount
compiles to the same instructions and runs at the same speed (measured; see
``tests/benchmarks/bench_kernels.py``). ``np.bitwise_count`` does not compile in numba 0.68
nopython mode. With ``NUMBA_DISABLE_JIT=1`` the kernels run as plain Python (slowly), using
``int.bit_count``.
"""

from __future__ import annotations

from actcode.kernels._words import NO_DISTANCE, NO_INDEX, popcount64, to_words
from actcode.kernels.bits import bit_counts, unpack_columns
from actcode.kernels.groups import (
    BlockedGrouper,
    group_ids_from_representatives,
    group_rows,
    group_rows_blocked,
    row_hashes,
)
from actcode.kernels.hamming import average_precision, hamming_block, nearest_class_distances, topk_hamming

__all__ = [
    "NO_DISTANCE",
    "NO_INDEX",
    "BlockedGrouper",
    "average_precision",
    "bit_counts",
    "group_ids_from_representatives",
    "group_rows",
    "group_rows_blocked",
    "hamming_block",
    "nearest_class_distances",
    "popcount64",
    "row_hashes",
    "to_words",
    "topk_hamming",
    "unpack_columns",
]
