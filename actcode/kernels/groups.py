"""Exact groups of equal rows: a 64-bit hash per row, then an exact check of every candidate group."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from numba import njit, prange

from actcode.kernels._words import check_words as _check_words

__all__ = [
    "BlockedGrouper",
    "group_ids_from_representatives",
    "group_rows",
    "group_rows_blocked",
    "row_hashes",
]


@njit(inline="always", cache=True)
def _mix64(x):  # type: ignore[no-untyped-def]
    # splitmix64 finaliser
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(inline="always", cache=True)
def _hash_row(words, i):  # type: ignore[no-untyped-def]
    nw = words.shape[1]
    h = np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(nw)
    for c in range(nw):
        h = _mix64(h ^ words[i, c]) + np.uint64(c + 1)
    return h


@njit(parallel=True, cache=True)
def _row_hashes(words, out):  # type: ignore[no-untyped-def]
    for i in prange(words.shape[0]):
        out[i] = _hash_row(words, i)


@njit(cache=True)
def _row_hashes_serial(words, out):  # type: ignore[no-untyped-def]
    for i in range(words.shape[0]):
        out[i] = _hash_row(words, i)


#: Below this many words, one thread hashes: a parallel region costs more than it saves, and on
#: a shared machine it waits for every thread to be scheduled (10x slower under load).
_SERIAL_WORDS = 1 << 22


def row_hashes(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash of every row (equal rows have equal hashes; the converse is not assumed).

    Parameters
    ----------
    words : ndarray of shape (n_samples, n_words), dtype=np.uint64

    Returns
    -------
    hashes : ndarray of shape (n_samples,), dtype=np.uint64
    """
    words = _check_words(words, "words")
    out = np.empty(words.shape[0], np.uint64)
    with np.errstate(over="ignore"):
        (_row_hashes_serial if words.size < _SERIAL_WORDS else _row_hashes)(words, out)
    return out


def _runs(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(hashes, kind="stable")
    hs = hashes[order]
    change = np.flatnonzero(hs[1:] != hs[:-1]) + 1
    starts = np.concatenate(([0], change)).astype(np.int64)
    ends = np.concatenate((change, [len(hs)])).astype(np.int64)
    multi = (ends - starts) > 1
    return order.astype(np.int64), starts[multi], ends[multi]


def group_ids_from_representatives(rep_of: np.ndarray) -> np.ndarray:
    """Turn "representative row of each row" into group ids numbered in first-occurrence order."""
    n = rep_of.shape[0]
    is_rep = rep_of == np.arange(n)
    ids_of_rep = np.cumsum(is_rep) - 1
    out: np.ndarray = ids_of_rep[rep_of].astype(np.int64)
    return out


@njit(cache=True)
def _group_table(words, hashes, bits, ids):  # type: ignore[no-untyped-def]
    # Open addressing on the 64-bit row hash (top ``bits`` bits pick the slot, linear probing).
    # A row joins the group of an earlier row only when the hashes are equal *and* the words
    # are: the groups are exact. Rows are visited in order, so ids are first-occurrence ids.
    n, nw = words.shape
    size = 1 << bits
    slot_row = np.full(size, -1, np.int64)
    mask = size - 1
    shift = np.uint64(64 - bits)
    n_groups = 0
    for i in range(n):
        h = hashes[i]
        p = np.int64(h >> shift)
        while True:
            r = slot_row[p]
            if r < 0:
                slot_row[p] = i
                ids[i] = n_groups
                n_groups += 1
                break
            if hashes[r] == h:
                same = True
                for c in range(nw):
                    if words[i, c] != words[r, c]:
                        same = False
                        break
                if same:
                    ids[i] = ids[r]
                    break
            p = (p + 1) & mask
    return n_groups


def group_rows(words: np.ndarray) -> np.ndarray:
    """Exact groups of equal rows: a hash table on a 64-bit row hash, with an exact comparison.

    Rows whose hashes collide but whose words differ get different groups; the cost is one
    hash per row plus one row comparison per repeated row.

    Parameters
    ----------
    words : ndarray of shape (n_samples, n_words), dtype=np.uint64

    Returns
    -------
    group_ids : ndarray of shape (n_samples,), dtype=np.int64
        Rows ``i`` and ``j`` have the same id if and only if they are equal. Ids are numbered
        in order of first occurrence, so the number of distinct rows is ``max + 1``.

    Examples
    --------
    >>> from actcode.kernels import to_words
    >>> w = to_words(np.array([[3], [1], [3], [7]], np.uint8))
    >>> group_rows(w).tolist()
    [0, 1, 0, 2]
    """
    words = _check_words(words, "words")
    n = words.shape[0]
    ids = np.empty(n, np.int64)
    if n == 0:
        return ids
    bits = max(4, int(2 * n - 1).bit_length())  # load factor at most 1/2
    _group_table(words, row_hashes(words), bits, ids)
    return ids


class BlockedGrouper:
    """Exact groups of equal rows over a row set that is read block by block.

    Use: feed every block to :meth:`add_hashes` (pass 1); if :meth:`prepare` returns True,
    feed every block again to :meth:`verify` (pass 2); if :meth:`conflict_rows` is not
    empty (two different rows with equal 64-bit hashes), pass the words of those rows to
    :meth:`resolve` (pass 3). Then :meth:`group_ids` gives the same ids as
    :func:`group_rows` on the concatenated rows. Pass 2 keeps the words of the first row of
    every run of equal hashes and compares each later row of the run with it, so memory is 8
    bytes per row plus one row per run of equal hashes.

    Parameters
    ----------
    n_rows : int
        Total rows; blocks carry the global index of their first row.
    """

    def __init__(self, n_rows: int) -> None:
        self.n_rows = int(n_rows)
        self.hashes = np.zeros(self.n_rows, np.uint64)
        self.rep_of = np.arange(self.n_rows, dtype=np.int64)
        self._runs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._run_of = np.zeros(0, np.int64)
        self._rep_words: np.ndarray | None = None
        self._conflict = np.zeros(0, bool)

    def add_hashes(self, start: int, words: np.ndarray) -> None:
        """Pass 1: hash the rows of a block (``(b, n_words)`` uint64, first row ``start``)."""
        self.hashes[start : start + words.shape[0]] = row_hashes(words)

    def prepare(self) -> bool:
        """Find runs of equal hashes; True if a verification pass is needed."""
        order, starts, ends = _runs(self.hashes) if self.n_rows else (np.zeros(0, np.int64),) * 3
        self._runs = (order, starts, ends)
        self._conflict = np.zeros(starts.size, bool)
        if not starts.size:
            return False
        self._run_of = np.full(self.n_rows, -1, np.int64)
        lengths = ends - starts
        members = order[np.repeat(starts, lengths) + _ragged_arange(lengths)]
        self._run_of[members] = np.repeat(np.arange(starts.size), lengths)
        return True

    def verify(self, start: int, words: np.ndarray) -> None:
        """Pass 2: compare each row of a run with the run's first row."""
        assert self._runs is not None
        order, starts, _ = self._runs
        if not starts.size:
            return
        first = order[starts]
        if self._rep_words is None:
            self._rep_words = np.zeros((starts.size, words.shape[1]), np.uint64)
        idx = np.arange(start, start + words.shape[0])
        runs = self._run_of[idx]
        member = runs >= 0
        is_first = member & (first[np.maximum(runs, 0)] == idx)
        self._rep_words[runs[is_first]] = words[is_first]
        later = member & ~is_first
        if later.any():
            rr = runs[later]
            same = (words[later] == self._rep_words[rr]).all(axis=1)
            self.rep_of[idx[later][same]] = first[rr[same]]
            self._conflict[rr[~same]] = True

    def conflict_rows(self) -> np.ndarray:
        """Rows of runs whose hash is shared by different rows (needing :meth:`resolve`)."""
        assert self._runs is not None
        order, starts, ends = self._runs
        if not self._conflict.any():
            return np.zeros(0, np.int64)
        return np.sort(
            np.concatenate(
                [order[s:e] for s, e in zip(starts[self._conflict], ends[self._conflict], strict=True)]
            )
        )

    def resolve(self, words: np.ndarray) -> None:
        """Pass 3: exact groups among :meth:`conflict_rows`, given their words in that order."""
        rows = self.conflict_rows()
        if not rows.size:
            return
        local = group_rows(_check_words(words, "words"))
        first_local = np.zeros(local.max() + 1, np.int64)
        first_local[local[::-1]] = np.arange(rows.size)[::-1]
        self.rep_of[rows] = rows[first_local[local]]

    def group_ids(self) -> np.ndarray:
        """Group id of every row, numbered in order of first occurrence."""
        return group_ids_from_representatives(self.rep_of)


def _ragged_arange(lengths: np.ndarray) -> np.ndarray:
    total = int(lengths.sum())
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    out: np.ndarray = np.arange(total) - offsets
    return out


def group_rows_blocked(blocks: Callable[[], Iterable[tuple[int, np.ndarray]]], n_rows: int) -> np.ndarray:
    """:func:`group_rows` over a row set read block by block (see :class:`BlockedGrouper`).

    Parameters
    ----------
    blocks : callable returning an iterable of (start, words)
        Each call starts a new pass over all rows, in blocks of ``uint64`` words
        (``(b, n_words)``) with the global index of their first row.
    n_rows : int

    Returns
    -------
    group_ids : ndarray of shape (n_rows,), dtype=np.int64
    """
    g = BlockedGrouper(n_rows)
    for start, words in blocks():
        g.add_hashes(start, words)
    if g.prepare():
        for start, words in blocks():
            g.verify(start, words)
        rows = g.conflict_rows()
        if rows.size:
            picked = []
            for start, words in blocks():
                sel = rows[(rows >= start) & (rows < start + words.shape[0])]
                picked.append(words[sel - start])
            g.resolve(np.concatenate(picked))
    return g.group_ids()
