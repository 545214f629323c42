"""Hamming distances between row blocks, exact top-k search, class-nearest distances and ranking AP."""

from __future__ import annotations

from collections.abc import Iterable

import numba
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


@njit(inline="always", cache=True)
def _pair_min(within, between, c, i, li, p, lp, d):  # type: ignore[no-untyped-def]
    # One distance, both directions: query i, and block row j when it is query p (p >= 0).
    if li == lp:
        if d < within[c, i]:
            within[c, i] = d
        if p >= 0 and d < within[c, p]:
            within[c, p] = d
    else:
        if d < between[c, i]:
            between[c, i] = d
        if p >= 0 and d < between[c, p]:
            between[c, p] = d


@njit(inline="always", cache=True)
def _tile_stop(t_pos, j0, j1, nq):  # type: ignore[no-untyped-def]
    # Queries that tile j0:j1 meets: all of them if a row is not a query, else those before its last query.
    stop = 0
    for j in range(j0, j1):
        if t_pos[j] < 0:
            return nq
        stop = max(stop, t_pos[j])
    return stop


@njit(parallel=True, cache=True)
def _nearest_class_sym(q, q_labels, t, t_labels, t_pos, within, between, tb_rows):  # type: ignore[no-untyped-def]
    # Block row j is query t_pos[j] (-1: not a query). Query i meets row j only when t_pos[j] < 0 or
    # i < t_pos[j]: a pair of two queries is computed once, in the later row's block, for both rows.
    # Worker c keeps its own minima in within[c] and between[c] (a row's minimum is then race-free)
    # and takes every nc-th tile of block rows (the tiles' work grows with j, like a triangle).
    nq, nw = q.shape
    nt = t.shape[0]
    nc = within.shape[0]
    n_tiles = (nt + tb_rows - 1) // tb_rows
    for c in prange(nc):
        for tile in range(c, n_tiles, nc):
            j0 = tile * tb_rows
            j1 = min(j0 + tb_rows, nt)
            stop = _tile_stop(t_pos, j0, j1, nq)
            i0 = 0
            while nw <= 24 and i0 + 4 <= stop:  # four queries share each row's word loads
                for j in range(j0, j1):
                    p = t_pos[j]
                    lp = t_labels[j]
                    if 0 <= p < i0 + 4:
                        for i in range(i0, p):
                            d = 0
                            for w in range(nw):
                                d += popcount64(q[i, w] ^ t[j, w])
                            _pair_min(within, between, c, i, q_labels[i], p, lp, d)
                        continue
                    d0 = 0
                    d1 = 0
                    d2 = 0
                    d3 = 0
                    for w in range(nw):
                        x = t[j, w]
                        d0 += popcount64(q[i0, w] ^ x)
                        d1 += popcount64(q[i0 + 1, w] ^ x)
                        d2 += popcount64(q[i0 + 2, w] ^ x)
                        d3 += popcount64(q[i0 + 3, w] ^ x)
                    _pair_min(within, between, c, i0, q_labels[i0], p, lp, d0)
                    _pair_min(within, between, c, i0 + 1, q_labels[i0 + 1], p, lp, d1)
                    _pair_min(within, between, c, i0 + 2, q_labels[i0 + 2], p, lp, d2)
                    _pair_min(within, between, c, i0 + 3, q_labels[i0 + 3], p, lp, d3)
                i0 += 4
            for i in range(i0, stop):
                li = q_labels[i]
                j = j0
                while j + 2 <= j1:  # two rows share each query word load
                    p0 = t_pos[j]
                    p1 = t_pos[j + 1]
                    if (p0 < 0 or i < p0) and (p1 < 0 or i < p1):
                        d0 = 0
                        d1 = 0
                        for w in range(nw):
                            x = q[i, w]
                            d0 += popcount64(x ^ t[j, w])
                            d1 += popcount64(x ^ t[j + 1, w])
                        _pair_min(within, between, c, i, li, p0, t_labels[j], d0)
                        _pair_min(within, between, c, i, li, p1, t_labels[j + 1], d1)
                        j += 2
                        continue
                    break
                for j2 in range(j, j1):
                    p = t_pos[j2]
                    if 0 <= p <= i:
                        continue
                    d = 0
                    for w in range(nw):
                        d += popcount64(q[i, w] ^ t[j2, w])
                    _pair_min(within, between, c, i, li, p, t_labels[j2], d)


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
    symmetric: bool = False,
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
    symmetric : bool
        The queries are rows of the reference set itself: ``query_ids`` is strictly
        increasing, each query's words equal its row's, and the row blocks (over this call and
        the calls merged through ``state``) hold every row exactly once. A pair of two queries
        is then computed once, in the block of the later row, and updates both rows; about
        half the work when every row is a query. The final minima equal those of
        ``symmetric=False`` (a state between blocks may be lower-bounded differently).

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
    if symmetric:
        _nearest_symmetric(queries, ql, qi, rows, within, between)
        return within, between
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


def _nearest_symmetric(
    queries: np.ndarray,
    ql: np.ndarray,
    qi: np.ndarray,
    rows: Iterable[tuple[int, np.ndarray, np.ndarray]],
    within: np.ndarray,
    between: np.ndarray,
) -> None:
    """The ``symmetric=True`` path of :func:`nearest_class_distances` (updates the minima in place)."""
    nq, nw = queries.shape
    if qi.size > 1 and (np.diff(qi) <= 0).any():
        msg = "query_ids must be strictly increasing for a symmetric search."
        raise ValueError(msg)
    threads = numba.get_num_threads()
    _, tb_rows = _tile(nw)
    # per-worker minima: 4 workers a thread balance the triangle; at most ~256 MiB of them
    nc = int(max(1, min(4 * threads, (256 << 20) // max(1, 16 * nq))))
    w_c = np.full((nc, nq), NO_DISTANCE, np.int64)
    b_c = np.full((nc, nq), NO_DISTANCE, np.int64)
    for start, block, labels in rows:
        block = _check_words(block, "row block")
        if block.shape[1] != nw:
            msg = f"row blocks have {block.shape[1]} words but queries have {nw}."
            raise ValueError(msg)
        nt = block.shape[0]
        g = np.arange(start, start + nt, dtype=np.int64)
        pos = np.searchsorted(qi, g)
        hit = pos < nq
        hit[hit] = qi[pos[hit]] == g[hit]
        t_pos = np.where(hit, pos, -1).astype(np.int64)
        tl = np.ascontiguousarray(labels, dtype=np.int64)
        # tiles small enough that every worker gets several; chunks return to Python every few seconds
        tb = int(max(4, min(tb_rows, -(-nt // (8 * threads)))))
        step = max(tb, int(2e10 // max(1, nq * nw)))
        for s in range(0, nt, step):
            e = min(s + step, nt)
            _nearest_class_sym(queries, ql, block[s:e], tl[s:e], t_pos[s:e], w_c, b_c, tb)
    np.minimum(within, w_c.min(axis=0), out=within)
    np.minimum(between, b_c.min(axis=0), out=between)


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
