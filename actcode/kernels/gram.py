"""Exact inner products of 0/1 rows held as packed words: Gram and cross matrices by popcount of ANDs."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from actcode.kernels._words import check_words as _check_words
from actcode.kernels._words import popcount64

__all__ = ["column_mask", "cross_gram", "gram"]

#: Rows per tile and words per pass: a pair of tiles (``2 x 64 x 256 x 8`` bytes) stays in a
#: core's L2 cache while its pairs are counted (measured on the 2-core AMD EPYC of this project:
#: 1.4 ns of CPU per word and pair, against 1.8 ns untiled).
_TILE_ROWS = 64
_WORD_BLOCK = 256


@njit(parallel=True, cache=True)
def _and_counts(a, b, mask, out, lower, tr, wb):  # type: ignore[no-untyped-def]
    # out[i, j] += popcount(a[i] & b[j] & mask), by pairs of row tiles in parallel; with
    # ``lower``, only j <= i (a is b: the lower triangle of a Gram matrix).
    na, nw = a.shape
    nb = b.shape[0]
    ti = (na + tr - 1) // tr
    tj = (nb + tr - 1) // tr
    for t in prange(ti * tj):
        bi = t // tj
        bj = t % tj
        if lower and bj > bi:
            continue
        i0 = bi * tr
        j0 = bj * tr
        for w0 in range(0, nw, wb):
            w1 = min(nw, w0 + wb)
            for i in range(i0, min(na, i0 + tr)):
                j1 = min(nb, j0 + tr, i + 1) if lower else min(nb, j0 + tr)
                for j in range(j0, j1):
                    s = 0
                    for c in range(w0, w1):
                        s += popcount64(a[i, c] & b[j, c] & mask[c])
                    out[i, j] += s


def _check_mask(mask: np.ndarray, n_words: int) -> np.ndarray:
    mask = np.ascontiguousarray(mask)
    if mask.dtype != np.uint64 or mask.shape != (n_words,):
        msg = f"mask must be a uint64 word vector of shape ({n_words},). Got {mask.dtype} {mask.shape}."
        raise ValueError(msg)
    return mask


def gram(words: np.ndarray, mask: np.ndarray) -> np.ndarray:
    r"""Inner products of every pair of 0/1 rows, over the bits set in ``mask``.

    .. math:: G_{ij} = \sum_w \operatorname{popcount}(a_{iw} \wedge a_{jw} \wedge m_w)
              = \langle x_i \odot m, x_j \odot m \rangle

    Parameters
    ----------
    words : ndarray of shape (n_samples, n_words), dtype=np.uint64
        Packed rows (see :func:`actcode.kernels.to_words`).
    mask : ndarray of shape (n_words,), dtype=np.uint64
        The columns that count (see :func:`column_mask`).

    Returns
    -------
    gram : ndarray of shape (n_samples, n_samples), dtype=np.int64
        Symmetric; exact (integer counts).

    Examples
    --------
    >>> from actcode.kernels import to_words
    >>> w = to_words(np.packbits(np.array([[1, 1, 0], [0, 1, 1]], bool), axis=1))
    >>> gram(w, column_mask(np.array([0, 1, 2]), 1)).tolist()
    [[2, 1], [1, 2]]
    """
    words = _check_words(words, "words")
    mask = _check_mask(mask, words.shape[1])
    out = np.zeros((words.shape[0], words.shape[0]), np.int64)
    _and_counts(words, words, mask, out, True, _TILE_ROWS, _WORD_BLOCK)
    lower = np.tril(out, -1)
    out += lower.T
    return out


def cross_gram(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    r"""Inner products of every row of ``a`` with every row of ``b``, over the bits set in ``mask``.

    .. math:: C_{ij} = \sum_w \operatorname{popcount}(a_{iw} \wedge b_{jw} \wedge m_w)

    Parameters
    ----------
    a : ndarray of shape (n_a, n_words), dtype=np.uint64
    b : ndarray of shape (n_b, n_words), dtype=np.uint64
    mask : ndarray of shape (n_words,), dtype=np.uint64

    Returns
    -------
    cross : ndarray of shape (n_a, n_b), dtype=np.int64
    """
    a, b = _check_words(a, "a"), _check_words(b, "b")
    if a.shape[1] != b.shape[1]:
        msg = f"row blocks must have the same number of words; got {a.shape[1]} and {b.shape[1]}."
        raise ValueError(msg)
    mask = _check_mask(mask, a.shape[1])
    out = np.zeros((a.shape[0], b.shape[0]), np.int64)
    _and_counts(a, b, mask, out, False, _TILE_ROWS, _WORD_BLOCK)
    return out


def column_mask(columns: np.ndarray, n_bytes: int) -> np.ndarray:
    """The word mask of bit columns, laid out as :func:`actcode.kernels.to_words` lays out a row.

    Parameters
    ----------
    columns : ndarray of shape (n_columns,), dtype=np.int64
        Bit positions (``8 * byte + bit``, big bit order), each below ``8 * n_bytes``.
    n_bytes : int
        Bytes per packed row.

    Returns
    -------
    mask : ndarray of shape (ceil(n_bytes / 8),), dtype=np.uint64

    Examples
    --------
    >>> column_mask(np.array([0, 7, 9]), 2).view(np.uint8)[:2].tolist()
    [129, 64]
    """
    cols = np.asarray(columns, np.int64)
    if cols.size and (cols.min() < 0 or cols.max() >= 8 * n_bytes):
        msg = f"columns must lie in [0, {8 * n_bytes}). Got {cols.min()}..{cols.max()}."
        raise ValueError(msg)
    n_words = (n_bytes + 7) // 8
    bits = np.zeros(64 * n_words, bool)
    bits[cols] = True
    return np.packbits(bits).view(np.uint64).copy()
