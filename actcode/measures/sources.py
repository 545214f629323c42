"""Where measure reads rows from: arrays in memory, or an open code file, in row blocks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

import numpy as np

from actcode.errors import InvalidParameterError

if TYPE_CHECKING:
    from actcode.io.codes import CodeFile

__all__ = ["ArraySource", "FileSource", "RowSource"]


class RowSource(Protocol):
    """What measure reads its rows from: splits, their sizes and labels, and their codes in row blocks.

    Implementations: :class:`ArraySource` (arrays in memory) and :class:`FileSource` (an open
    code file, streamed).
    """

    @property
    def splits(self) -> list[str]:
        """The splits it serves."""

    @property
    def block_rows(self) -> int:
        """Rows per block of :meth:`blocks`."""

    def n_rows(self, split: str) -> int:
        """Rows of ``split``."""

    def labels(self, split: str) -> np.ndarray:
        """Labels of ``split``, shape (n_rows,), int64 (-1: none)."""

    def blocks(self, split: str) -> Iterator[tuple[int, np.ndarray]]:
        """(first row, packed rows) of ``split``, in order, each at most ``block_rows`` rows."""


class ArraySource:
    """Packed codes and labels per split held in memory, served in row blocks.

    Parameters
    ----------
    codes : mapping of str to ndarray of shape (n_samples, n_bytes), dtype=np.uint8
    labels : mapping of str to ndarray of shape (n_samples,)
    block_rows : int, optional
        Rows per block (default: about 64 MiB of codes).
    """

    def __init__(
        self, codes: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], block_rows: int | None = None
    ):
        self._codes = {s: np.ascontiguousarray(c, dtype=np.uint8) for s, c in codes.items()}
        self._labels = {s: np.asarray(labels[s], np.int64) for s in codes}
        n_bytes = {c.shape[1] for c in self._codes.values()}
        if len(n_bytes) > 1:
            msg = f"every split must have the same row width; got {sorted(n_bytes)} bytes."
            raise InvalidParameterError(msg)
        row_bytes = n_bytes.pop() if n_bytes else 1
        self.block_rows = block_rows or max(1, (64 << 20) // max(1, row_bytes))
        for s, c in self._codes.items():
            if self._labels[s].shape != (c.shape[0],):
                msg = f"labels of split {s!r} must have shape ({c.shape[0]},); got {self._labels[s].shape}."
                raise InvalidParameterError(msg)

    @property
    def splits(self) -> list[str]:
        return list(self._codes)

    def n_rows(self, split: str) -> int:
        return int(self._codes[split].shape[0])

    def labels(self, split: str) -> np.ndarray:
        return self._labels[split]

    def blocks(self, split: str) -> Iterator[tuple[int, np.ndarray]]:
        c = self._codes[split]
        for start in range(0, c.shape[0], self.block_rows):
            yield start, c[start : start + self.block_rows]


class FileSource:
    """Rows of an open CodeFile, streamed block by block."""

    def __init__(self, cf: CodeFile, splits: list[str], block_rows: int) -> None:
        self._cf = cf
        self.block_rows = block_rows
        self._labels = {s: cf.labels(s) for s in splits}
        self.splits = list(splits)

    def n_rows(self, split: str) -> int:
        return int(self._cf.n_rows(split))

    def labels(self, split: str) -> np.ndarray:
        out: np.ndarray = self._labels[split]
        return out

    def blocks(self, split: str) -> Iterator[tuple[int, np.ndarray]]:
        yield from self._cf.iter_codes(split, block_rows=self.block_rows)
