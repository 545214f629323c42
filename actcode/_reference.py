"""Slow, obviously-correct NumPy versions of the kernels in :mod:`actcode.kernels` (for tests)."""

from __future__ import annotations

import numpy as np

from actcode.kernels import NO_DISTANCE, NO_INDEX


def unpack(codes: np.ndarray) -> np.ndarray:
    """All bits of packed rows (pad bits included) as a 0/1 ``uint8`` matrix."""
    return np.unpackbits(np.asarray(codes, np.uint8), axis=1, bitorder="big")


def hamming_block(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between packed rows ``a`` (n_a, n_bytes) and ``b`` (n_b, n_bytes)."""
    ua, ub = unpack(a).astype(np.int64), unpack(b).astype(np.int64)
    out: np.ndarray = (ua[:, None, :] != ub[None, :, :]).sum(axis=2)
    return out


def topk_hamming(
    q: np.ndarray, t: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest train rows per query by (distance, index), as :func:`actcode.kernels.topk_hamming`."""
    d = hamming_block(q, t)
    nq, nt = d.shape
    out_d = np.full((nq, k), NO_DISTANCE, np.int64)
    out_i = np.full((nq, k), NO_INDEX, np.int64)
    for i in range(nq):
        idx = np.arange(nt)
        if exclude is not None and exclude[i] >= 0:
            idx = idx[idx != exclude[i]]
        order = idx[np.lexsort((idx, d[i, idx]))][:k]
        out_d[i, : order.size] = d[i, order]
        out_i[i, : order.size] = order
    return out_d, out_i


def group_ids(codes: np.ndarray) -> np.ndarray:
    """Group id of each row (equal rows share it), numbered in first-occurrence order."""
    codes = np.asarray(codes)
    if codes.shape[0] == 0:
        return np.zeros(0, np.int64)
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


def bit_counts(codes: np.ndarray) -> np.ndarray:
    """Number of rows with each bit on, pad bits included."""
    out: np.ndarray = unpack(codes).sum(axis=0).astype(np.int64)
    return out


def nearest_class_distances(
    codes: np.ndarray, labels: np.ndarray, query_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest other same-label row and nearest other-label row, for the given query rows."""
    d = hamming_block(codes[query_ids], codes)
    same = labels[query_ids][:, None] == labels[None, :]
    d_within = np.where(same, d, NO_DISTANCE)
    d_within[np.arange(query_ids.size), query_ids] = NO_DISTANCE
    d_between = np.where(~same, d, NO_DISTANCE)
    return d_within.min(axis=1, initial=NO_DISTANCE), d_between.min(axis=1, initial=NO_DISTANCE)


def average_precision(q: np.ndarray, ql: np.ndarray, t: np.ndarray, tl: np.ndarray) -> np.ndarray:
    """Average precision of the Hamming ranking of ``t`` for each query, stable by index."""
    d = hamming_block(q, t)
    out = np.empty(q.shape[0])
    for i in range(q.shape[0]):
        rel = (tl == ql[i])[np.argsort(d[i], kind="stable")]
        if not rel.any():
            out[i] = np.nan
            continue
        hits = np.cumsum(rel)
        ranks = np.arange(1, rel.size + 1)
        out[i] = (hits[rel] / ranks[rel]).mean()
    return out


def redundancy(bits: np.ndarray) -> float:
    """The study's redundancy ratio: ``(N - #distinct rows) / N`` with ``np.unique(axis=0)``."""
    n = bits.shape[0]
    out: float = (n - np.unique(bits, axis=0).shape[0]) / n
    return out
