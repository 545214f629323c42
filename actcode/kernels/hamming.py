"""Hamming distances between row blocks, exact top-k search, class-nearest distances and ranking AP."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numba import njit, prange

from actcode.kernels._words import NO_DISTANCE, NO_INDEX, popcount64, to_words
from actcode.kernels._words import check_words as _check_words

__all__ = ["NumbaHamming", "average_precision", "hamming_block", "nearest_class_distances", "topk_hamming"]


@njit(parallel=True, cache=True)
def _hamming_block(a, b, out):  # type: ignore[no-untyped-def]
    na, nw = a.shape
    nb = b.shape[0]
    for i in prange(na):
        for j in range(nb):
            d = 0
            for c in range(nw):
                d += popcount64(a[i, c] ^ b[j, c])
            out[i, j] = d


def hamming_block(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""All Hamming distances between two row blocks.

    .. math:: D_{ij} = \sum_w \operatorname{popcount}(a_{iw} \oplus b_{jw})

    Parameters
    ----------
    a : ndarray of shape (n_a, n_words), dtype=np.uint64
    b : ndarray of shape (n_b, n_words), dtype=np.uint64

    Returns
    -------
    distances : ndarray of shape (n_a, n_b), dtype=np.int32
    """
    a, b = _check_words(a, "a"), _check_words(b, "b")
    if a.shape[1] != b.shape[1]:
        msg = f"row blocks must have the same number of words; got {a.shape[1]} and {b.shape[1]}."
        raise ValueError(msg)
    out = np.empty((a.shape[0], b.shape[0]), np.int32)
    _hamming_block(a, b, out)
    return out


@njit(inline="always", cache=True)
def _insert(best_d, best_i, i, k, d, g):  # type: ignore[no-untyped-def]
    p = k - 1
    while p > 0 and (best_d[i, p - 1] > d or (best_d[i, p - 1] == d and best_i[i, p - 1] > g)):
        best_d[i, p] = best_d[i, p - 1]
        best_i[i, p] = best_i[i, p - 1]
        p -= 1
    best_d[i, p] = d
    best_i[i, p] = g


@njit(inline="always", cache=True)
def _offer(best_d, best_i, exclude, i, k, d, g):  # type: ignore[no-untyped-def]
    if (d < best_d[i, k - 1] or (d == best_d[i, k - 1] and g < best_i[i, k - 1])) and exclude[i] != g:
        _insert(best_d, best_i, i, k, d, g)


@njit(parallel=True, cache=True)
def _topk_update(q, t, t_offset, exclude, best_d, best_i, tb_rows):  # type: ignore[no-untyped-def]
    # Four queries share each train word load (register tiling); train rows are scanned in
    # blocks of tb_rows so that a block stays in cache while the four queries use it.
    nq, nw = q.shape
    nt = t.shape[0]
    k = best_d.shape[1]
    for qb in prange((nq + 3) // 4):
        i0 = qb * 4
        if i0 + 4 <= nq:
            for t0 in range(0, nt, tb_rows):
                for j in range(t0, min(t0 + tb_rows, nt)):
                    d0 = 0
                    d1 = 0
                    d2 = 0
                    d3 = 0
                    for c in range(nw):
                        x = t[j, c]
                        d0 += popcount64(q[i0, c] ^ x)
                        d1 += popcount64(q[i0 + 1, c] ^ x)
                        d2 += popcount64(q[i0 + 2, c] ^ x)
                        d3 += popcount64(q[i0 + 3, c] ^ x)
                    g = t_offset + j
                    _offer(best_d, best_i, exclude, i0, k, d0, g)
                    _offer(best_d, best_i, exclude, i0 + 1, k, d1, g)
                    _offer(best_d, best_i, exclude, i0 + 2, k, d2, g)
                    _offer(best_d, best_i, exclude, i0 + 3, k, d3, g)
        else:
            for i in range(i0, nq):
                for j in range(nt):
                    d = 0
                    for c in range(nw):
                        d += popcount64(q[i, c] ^ t[j, c])
                    _offer(best_d, best_i, exclude, i, k, d, t_offset + j)


@njit(parallel=True, cache=True)
def _topk_update_wide(q, t, t_offset, exclude, best_d, best_i, tb_rows):  # type: ignore[no-untyped-def]
    # One query at a time against a cached train block; faster than 4-query tiling for long rows.
    nq, nw = q.shape
    nt = t.shape[0]
    k = best_d.shape[1]
    for qb in prange((nq + 31) // 32):
        for t0 in range(0, nt, tb_rows):
            for i in range(qb * 32, min(qb * 32 + 32, nq)):
                for j in range(t0, min(t0 + tb_rows, nt)):
                    d = 0
                    for c in range(nw):
                        d += popcount64(q[i, c] ^ t[j, c])
                    _offer(best_d, best_i, exclude, i, k, d, t_offset + j)


def topk_hamming(
    queries: np.ndarray,
    train: np.ndarray | Iterable[tuple[int, np.ndarray]],
    k: int,
    *,
    exclude: np.ndarray | None = None,
    state: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows by Hamming distance, ties broken by the smaller row index.

    The result is the first ``k`` rows of the train set in the order ``(distance, index)``,
    so it does not depend on block sizes, block order or thread count.

    Parameters
    ----------
    queries : ndarray of shape (n_queries, n_words), dtype=np.uint64
    train : ndarray of shape (n_train, n_words), dtype=np.uint64, or iterable of (start, block)
        Either the whole train set, or its row blocks with their first global row index, so
        that a train set larger than memory can be searched.
    k : int
        Number of neighbours.
    exclude : ndarray of shape (n_queries,), dtype=np.int64, optional
        Global train index that each query must not return (its own row); -1 for none.
    state : (distances, indices), optional
        Arrays from a previous call to merge into (updated in place).

    Returns
    -------
    distances : ndarray of shape (n_queries, k), dtype=np.int64
        ``NO_DISTANCE`` where fewer than ``k`` rows qualified.
    indices : ndarray of shape (n_queries, k), dtype=np.int64
        Global train row indices; ``NO_INDEX`` where fewer than ``k`` rows qualified.
    """
    queries = _check_words(queries, "queries")
    nq = queries.shape[0]
    if k < 1:
        msg = f"k must be at least 1; got {k}."
        raise ValueError(msg)
    if state is None:
        best_d = np.full((nq, k), NO_DISTANCE, np.int64)
        best_i = np.full((nq, k), NO_INDEX, np.int64)
    else:
        best_d, best_i = state
    excl = np.full(nq, -1, np.int64) if exclude is None else np.ascontiguousarray(exclude, dtype=np.int64)
    blocks = [(0, train)] if isinstance(train, np.ndarray) else train
    nw = queries.shape[1]
    narrow, tb_rows = _tile(nw)
    kernel = _topk_update if narrow else _topk_update_wide
    for start, block in blocks:
        block = _check_words(block, "train block")
        if block.shape[1] != nw:
            msg = f"train rows have {block.shape[1]} words but queries have {nw}."
            raise ValueError(msg)
        for s, e in _query_chunks(nq, block.shape[0], nw):
            kernel(queries[s:e], block, np.int64(start), excl[s:e], best_d[s:e], best_i[s:e], tb_rows)
    return best_d, best_i


@njit(inline="always", cache=True)
def _class_min(within, between, q_labels, q_ids, t_labels, i, j, g, d):  # type: ignore[no-untyped-def]
    if g != q_ids[i]:
        if t_labels[j] == q_labels[i]:
            if d < within[i]:
                within[i] = d
        elif d < between[i]:
            between[i] = d


@njit(parallel=True, cache=True)
def _nearest_class(q, q_labels, q_ids, t, t_labels, t_offset, within, between, tb_rows):  # type: ignore[no-untyped-def]
    # Same tiling as _topk_update: four queries share each train word load.
    nq, nw = q.shape
    nt = t.shape[0]
    for qb in prange((nq + 3) // 4):
        i0 = qb * 4
        if i0 + 4 <= nq:
            for t0 in range(0, nt, tb_rows):
                for j in range(t0, min(t0 + tb_rows, nt)):
                    d0 = 0
                    d1 = 0
                    d2 = 0
                    d3 = 0
                    for c in range(nw):
                        x = t[j, c]
                        d0 += popcount64(q[i0, c] ^ x)
                        d1 += popcount64(q[i0 + 1, c] ^ x)
                        d2 += popcount64(q[i0 + 2, c] ^ x)
                        d3 += popcount64(q[i0 + 3, c] ^ x)
                    g = t_offset + j
                    _class_min(within, between, q_labels, q_ids, t_labels, i0, j, g, d0)
                    _class_min(within, between, q_labels, q_ids, t_labels, i0 + 1, j, g, d1)
                    _class_min(within, between, q_labels, q_ids, t_labels, i0 + 2, j, g, d2)
                    _class_min(within, between, q_labels, q_ids, t_labels, i0 + 3, j, g, d3)
        else:
            for i in range(i0, nq):
                for j in range(nt):
                    d = 0
                    for c in range(nw):
                        d += popcount64(q[i, c] ^ t[j, c])
                    _class_min(within, between, q_labels, q_ids, t_labels, i, j, t_offset + j, d)


@njit(parallel=True, cache=True)
def _nearest_class_wide(q, q_labels, q_ids, t, t_labels, t_offset, within, between, tb_rows):  # type: ignore[no-untyped-def]
    nq, nw = q.shape
    nt = t.shape[0]
    for qb in prange((nq + 31) // 32):
        for t0 in range(0, nt, tb_rows):
            for i in range(qb * 32, min(qb * 32 + 32, nq)):
                for j in range(t0, min(t0 + tb_rows, nt)):
                    d = 0
                    for c in range(nw):
                        d += popcount64(q[i, c] ^ t[j, c])
                    _class_min(within, between, q_labels, q_ids, t_labels, i, j, t_offset + j, d)


def _query_chunks(nq: int, nt: int, nw: int) -> list[tuple[int, int]]:
    """Query ranges of about 2e10 word operations each, so that a long search returns to
    Python (and sees Ctrl-C or SIGTERM) every few seconds."""
    step = max(64, int(2e10 // max(1, nt * nw)))
    return [(s, min(s + step, nq)) for s in range(0, nq, step)] or [(0, 0)]


def _tile(nw: int) -> tuple[bool, int]:
    """Whether to use the four-query kernels, and train rows per cache block, for rows of nw words."""
    return nw <= 24, int(max(16, min(4096, (256 * 1024) // max(8 * nw, 1))))


def nearest_class_distances(
    queries: np.ndarray,
    query_labels: np.ndarray,
    query_ids: np.ndarray,
    rows: Iterable[tuple[int, np.ndarray, np.ndarray]],
    *,
    state: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Distance from each query to the nearest other row of its class, and of another class.

    .. math::
        w_i = \min_{j \ne i,\ y_j = y_i} d(x_i, x_j), \qquad b_i = \min_{j:\ y_j \ne y_i} d(x_i, x_j)

    Parameters
    ----------
    queries : ndarray of shape (n_queries, n_words), dtype=np.uint64
    query_labels : ndarray of shape (n_queries,), dtype=np.int64
    query_ids : ndarray of shape (n_queries,), dtype=np.int64
        Global index of each query among ``rows`` (that row is skipped); -1 if none.
    rows : iterable of (start, words, labels)
        Row blocks of the reference set with their first global index.
    state : (within, between), optional
        Arrays from a previous call to merge into (updated in place).

    Returns
    -------
    within, between : ndarray of shape (n_queries,), dtype=np.int64
        ``NO_DISTANCE`` where no row qualifies.
    """
    queries = _check_words(queries, "queries")
    nq = queries.shape[0]
    if state is None:
        within = np.full(nq, NO_DISTANCE, np.int64)
        between = np.full(nq, NO_DISTANCE, np.int64)
    else:
        within, between = state
    ql = np.ascontiguousarray(query_labels, dtype=np.int64)
    qi = np.ascontiguousarray(query_ids, dtype=np.int64)
    for start, block, labels in rows:
        block = _check_words(block, "row block")
        tl = np.ascontiguousarray(labels, dtype=np.int64)
        narrow, tb_rows = _tile(queries.shape[1])
        kernel = _nearest_class if narrow else _nearest_class_wide
        for s, e in _query_chunks(nq, block.shape[0], queries.shape[1]):
            kernel(
                queries[s:e], ql[s:e], qi[s:e], block, tl, np.int64(start), within[s:e], between[s:e], tb_rows
            )
    return within, between


@njit(parallel=True, cache=True)
def _average_precision(q, q_labels, t, t_labels, max_d, out, tb_rows):  # type: ignore[no-untyped-def]
    # Distances of a block of 16 queries to a cached train block at a time (as in the top-k
    # kernels), then a counting sort by distance per query, stable by train index.
    nq, nw = q.shape
    nt = t.shape[0]
    for qb in prange((nq + 15) // 16):
        q0 = qb * 16
        q1 = min(q0 + 16, nq)
        dist = np.empty((q1 - q0, nt), np.int32)
        for t0 in range(0, nt, tb_rows):
            t1 = min(t0 + tb_rows, nt)
            i = q0
            while i + 4 <= q1 and nw <= 24:  # four queries share each train word load
                for j in range(t0, t1):
                    d0 = 0
                    d1 = 0
                    d2 = 0
                    d3 = 0
                    for c in range(nw):
                        x = t[j, c]
                        d0 += popcount64(q[i, c] ^ x)
                        d1 += popcount64(q[i + 1, c] ^ x)
                        d2 += popcount64(q[i + 2, c] ^ x)
                        d3 += popcount64(q[i + 3, c] ^ x)
                    dist[i - q0, j] = d0
                    dist[i - q0 + 1, j] = d1
                    dist[i - q0 + 2, j] = d2
                    dist[i - q0 + 3, j] = d3
                i += 4
            for i2 in range(i, q1):
                for j in range(t0, t1):
                    d = 0
                    for c in range(nw):
                        d += popcount64(q[i2, c] ^ t[j, c])
                    dist[i2 - q0, j] = d
        counts = np.zeros(max_d + 2, np.int64)
        ranked = np.empty(nt, np.bool_)
        for i in range(q0, q1):
            row = dist[i - q0]
            li = q_labels[i]
            n_rel = 0
            top = 0
            for j in range(nt):
                counts[row[j] + 1] += 1
                if row[j] > top:
                    top = row[j]
                if t_labels[j] == li:
                    n_rel += 1
            for d in range(1, top + 2):
                counts[d] += counts[d - 1]
            for j in range(nt):  # counting sort: relevance flags in ranked order
                ranked[counts[row[j]]] = t_labels[j] == li
                counts[row[j]] += 1
            for d in range(top + 2):
                counts[d] = 0
            if n_rel == 0:
                out[i] = np.nan
                continue
            hits = 0
            s = 0.0
            for r in range(nt):
                if ranked[r]:
                    hits += 1
                    s += hits / (r + 1.0)
            out[i] = s / n_rel


def average_precision(
    queries: np.ndarray, query_labels: np.ndarray, train: np.ndarray, train_labels: np.ndarray, n_bits: int
) -> np.ndarray:
    r"""Average precision of ranking all train rows by Hamming distance, per query.

    Relevant rows share the query's label. Rows at equal distance are ranked by index
    (stable), so the value is deterministic.

    .. math:: AP_i = \frac{1}{R_i} \sum_{r:\ \mathrm{rel}(r)} \frac{\#\{\mathrm{relevant\ in\ top\ } r\}}{r}

    Parameters
    ----------
    queries : ndarray of shape (n_queries, n_words), dtype=np.uint64
    query_labels : ndarray of shape (n_queries,)
    train : ndarray of shape (n_train, n_words), dtype=np.uint64
    train_labels : ndarray of shape (n_train,)
    n_bits : int
        Upper bound on any distance (the code length).

    Returns
    -------
    ap : ndarray of shape (n_queries,), dtype=np.float64
        NaN for a query whose label no train row has.
    """
    queries, train = _check_words(queries, "queries"), _check_words(train, "train")
    out = np.empty(queries.shape[0], np.float64)
    ql = np.ascontiguousarray(query_labels, dtype=np.int64)
    tl = np.ascontiguousarray(train_labels, dtype=np.int64)
    max_d = max(int(n_bits), 64 * queries.shape[1])
    _, tb_rows = _tile(queries.shape[1])
    for s, e in _query_chunks(queries.shape[0], train.shape[0], queries.shape[1]):
        _average_precision(queries[s:e], ql[s:e], train, tl, np.int64(max_d), out[s:e], tb_rows)
    return out


class NumbaHamming:
    """The Numba kernels as a :class:`~actcode.devices.HammingSearch` (packed rows in, words inside)."""

    def describe(self) -> str:
        """``"numba popcount"``."""
        return "numba popcount"

    def topk(self, queries: np.ndarray, train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """:func:`topk_hamming` on packed ``uint8`` rows."""
        return topk_hamming(to_words(queries), to_words(train), k)

    def average_precision(
        self, queries: np.ndarray, query_labels: np.ndarray, train: np.ndarray, train_labels: np.ndarray
    ) -> np.ndarray:
        """:func:`average_precision` on packed ``uint8`` rows (every bit of the rows counts)."""
        return average_precision(
            to_words(queries), query_labels, to_words(train), train_labels, 8 * queries.shape[1]
        )
