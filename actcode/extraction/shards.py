"""Sharded extraction: shard I of N codes the I-th contiguous row range of every split.

A shard is chosen at the level of the inputs: each split's rows (and labels, source indices,
training labels) are cut to the range ``[floor(I n / N), floor((I + 1) n / N))`` before the
network sees them, so the shard files of 0..N-1, stitched in order by ``actcode merge``
(:func:`actcode.io.merge_shards`), hold exactly the rows of one unsharded extraction. Random
inputs are drawn from the same seeded stream (the rows before the range are drawn and dropped),
so a random row does not depend on the shard that codes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from actcode.errors import InvalidParameterError
from actcode.extraction.inputs import ArrayInputs, RandomInputs, SplitInputs

__all__ = ["Shard", "parse_shard", "shard_record", "shard_splits"]


class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    def __init__(self, index: int, count: int) -> None:
        if count < 1 or not 0 <= index < count:
            msg = f"--shard I/N needs N >= 1 and 0 <= I < N. Got {index}/{count} instead."
            raise InvalidParameterError(msg)
        self.index = int(index)
        self.count = int(count)

    def bounds(self, n: int) -> tuple[int, int]:
        """The row range ``[lo, hi)`` of this shard in a split of ``n`` rows."""
        return n * self.index // self.count, n * (self.index + 1) // self.count

    def __repr__(self) -> str:
        return f"Shard({self.index}/{self.count})"


def parse_shard(text: str | None) -> Shard | None:
    """``"I/N"`` (0 <= I < N) as a :class:`Shard`; None for None."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        msg = f"--shard must be I/N with 0 <= I < N, for example 0/4. Got {text!r} instead."
        raise InvalidParameterError(msg)
    return Shard(int(m.group(1)), int(m.group(2)))


class _RandomRange(RandomInputs):
    """Rows ``[lo, hi)`` of a :class:`RandomInputs` stream (the rows before ``lo`` are drawn and dropped)."""

    def __init__(self, source: RandomInputs, lo: int, hi: int) -> None:
        super().__init__(source.n, source.input_shape, (source.low, source.high), source.seed)
        self.lo, self.hi = lo, hi

    def __len__(self) -> int:
        return self.hi - self.lo

    def blocks(self, batch_size: int) -> Iterator[torch.Tensor]:
        rng = np.random.default_rng(self.seed)
        step = max(1, batch_size)
        skip = self.lo
        while skip > 0:  # the stream's rows before the range, in blocks (memory stays bounded)
            n = min(step, skip)
            self._draw(rng, n)
            skip -= n
        for start in range(0, len(self), step):
            yield self._draw(rng, min(step, len(self) - start))

    def head(self, n: int) -> torch.Tensor:
        return next(self.blocks(max(1, min(n, len(self)))))


def _cut(split: SplitInputs, lo: int, hi: int) -> SplitInputs:
    x = split.x
    if isinstance(x, ArrayInputs):
        rows = np.arange(len(x), dtype=np.int64) if x.rows is None else x.rows
        cut: Any = ArrayInputs(x.x, rows[lo:hi])
    elif isinstance(x, RandomInputs) and not isinstance(x, _RandomRange):
        cut = _RandomRange(x, lo, hi)
    else:
        msg = "--shard needs inputs that can be cut by row (a dataset or random inputs), not a stream."
        raise InvalidParameterError(msg)
    fit = None if split.training_labels is None else split.training_labels[lo:hi]
    return SplitInputs(cut, split.labels[lo:hi], split.indices[lo:hi], fit, dict(split.info))


def shard_splits(by_split: dict[str, SplitInputs], shard: Shard) -> dict[str, SplitInputs]:
    """Every split cut to the shard's row range (a split may get no rows when N exceeds its size)."""
    out = {}
    for name, split in by_split.items():
        lo, hi = shard.bounds(len(split))
        if hi == lo:
            msg = (
                f"--shard {shard.index}/{shard.count}: split {name!r} has only {len(split)} rows, "
                f"so this shard would be empty; use at most {len(split)} shards."
            )
            raise InvalidParameterError(msg)
        out[name] = _cut(split, lo, hi)
    return out


def shard_record(by_split: dict[str, SplitInputs], shard: Shard) -> dict[str, Any]:
    """Provenance ``extract.shard``: index, count, and per split its total rows and this shard's range."""
    return {
        "index": shard.index,
        "count": shard.count,
        "rule": "contiguous: rows [floor(I*n/N), floor((I+1)*n/N)) of every split",
        "splits": {
            name: {"n_rows": len(split), "rows": list(shard.bounds(len(split)))}
            for name, split in by_split.items()
        },
    }
