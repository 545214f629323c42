"""Per-bit counts and column unpacking of packed rows."""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

__all__ = ["bit_counts", "unpack_columns"]


@njit(parallel=True, cache=True)
def _byte_histograms(codes, hist):  # type: ignore[no-untyped-def]
    n, nb = codes.shape
    n_chunks = hist.shape[0]
    step = (n + n_chunks - 1) // n_chunks
    for ch in prange(n_chunks):
        for i in range(ch * step, min(n, ch * step + step)):
            for c in range(nb):
                hist[ch, c, codes[i, c]] += 1


@njit(parallel=True, cache=True)
def _bit_counts_wide(codes, out, step):  # type: ignore[no-untyped-def]
    # Long rows: each thread owns a range of byte columns and counts its bits over all rows,
    # so the counters stay in cache and no per-thread copy of them is needed.
    n, nb = codes.shape
    for blk in prange((nb + step - 1) // step):
        c0 = blk * step
        c1 = min(nb, c0 + step)
        for i in range(n):
            for c in range(c0, c1):
                x = codes[i, c]
                if x:
                    for b in range(8):
                        out[8 * c + b] += (x >> (7 - b)) & 1


#: Row widths (bytes) from which bit_counts counts bits column block by column block: the
#: byte histograms would take 2 KiB per byte column and thread (1.2 GB at 2.3M bits).
_WIDE_BYTES = 4096

_BIT_OF_VALUE = ((np.arange(256, dtype=np.uint8)[:, None] >> (7 - np.arange(8))) & 1).astype(np.int64)


def bit_counts(codes: np.ndarray) -> np.ndarray:
    """Number of rows in which each bit is on.

    Parameters
    ----------
    codes : ndarray of shape (n_samples, n_bytes), dtype=np.uint8

    Returns
    -------
    counts : ndarray of shape (8 * n_bytes,), dtype=np.int64
        ``counts[8 * c + b]`` counts bit ``b`` of byte ``c`` in "big" bit order (bit 0 is the
        most significant), the order of ``np.unpackbits``.

    Examples
    --------
    >>> bit_counts(np.array([[128], [129]], np.uint8)).tolist()
    [2, 0, 0, 0, 0, 0, 0, 1]
    """
    codes = np.ascontiguousarray(codes)
    if codes.dtype != np.uint8 or codes.ndim != 2:
        msg = f"packed codes must be a 2-D uint8 array; got {codes.dtype} of shape {codes.shape}."
        raise ValueError(msg)
    if codes.shape[1] >= _WIDE_BYTES:
        wide = np.zeros(8 * codes.shape[1], np.int64)
        _bit_counts_wide(codes, wide, 2048)
        return wide
    n_chunks = max(1, min(numba.get_num_threads(), codes.shape[0] // 256 or 1))
    hist = np.zeros((n_chunks, codes.shape[1], 256), np.int64)
    _byte_histograms(codes, hist)
    out: np.ndarray = (hist.sum(axis=0) @ _BIT_OF_VALUE).reshape(-1)
    return out


@njit(parallel=True, cache=True)
def _unpack_columns(codes, byte_idx, shift, out):  # type: ignore[no-untyped-def]
    n = codes.shape[0]
    m = byte_idx.shape[0]
    for i in prange(n):
        for j in range(m):
            out[i, j] = (codes[i, byte_idx[j]] >> shift[j]) & 1


def unpack_columns(codes: np.ndarray, columns: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Unpack selected bit columns of packed rows into a dense 0/1 matrix.

    Parameters
    ----------
    codes : ndarray of shape (n_samples, n_bytes), dtype=np.uint8
    columns : ndarray of shape (n_columns,), dtype=np.int64
        Bit positions (``8 * byte + bit``, big bit order).
    out : ndarray of shape (n_samples, n_columns), optional
        Float or integer destination (for example float32).

    Returns
    -------
    dense : ndarray of shape (n_samples, n_columns)

    Examples
    --------
    >>> unpack_columns(np.array([[0b10100000]], np.uint8), np.array([0, 1, 2])).tolist()
    [[1.0, 0.0, 1.0]]
    """
    codes = np.ascontiguousarray(codes)
    cols = np.ascontiguousarray(columns, dtype=np.int64)
    if out is None:
        out = np.empty((codes.shape[0], cols.size), np.float32)
    _unpack_columns(codes, cols >> 3, (7 - (cols & 7)).astype(np.uint8), out)
    return out
