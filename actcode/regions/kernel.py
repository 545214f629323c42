"""``kernel``: the NAS-without-training scores of a batch of codes (NASWOT's log|K|, TE-NAS's distinct count).

For a batch of n codes c_i of D bits, NASWOT (Mellor et al., ICML 2021) scores a network by
``log|K|`` with ``K_ij = D - Hamming(c_i, c_j)``, the number of units on which two examples
agree. TE-NAS (Chen, Gong, Wang, ICLR 2021) counts the distinct codes of the batch.

K is a Gram matrix, ``K = C Cᵀ + (1 - C)(1 - C)ᵀ`` for the 0/1 code matrix C, so it is
positive semi-definite, and singular exactly when the augmented rows (c_i, 1) are linearly
dependent. Two equal codes make it singular, always; so does any batch larger than D + 1.
The score is then ``-inf`` (reported as such, never as a large negative number): this is
where the NAS score meets the study's redundancy ratio, since a batch with a collision has
score -inf whatever the rest of the network does.

K is computed from the packed rows with the Hamming kernel
(:func:`actcode.kernels.hamming_block`); the distinct count uses the same exact grouping
kernel as ``measure`` (:func:`actcode.kernels.group_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from actcode import kernels as K
from actcode.codes import LayerInfo
from actcode.results import SCOPE_ALL, layer_scope

__all__ = ["code_kernel", "kernel_rows", "naswot_score"]


def code_kernel(codes: np.ndarray, n_units: int) -> np.ndarray:
    """NASWOT's K from packed rows: ``K_ij = n_units - Hamming(c_i, c_j)``.

    Parameters
    ----------
    codes : ndarray of shape (n, n_bytes), dtype=np.uint8
        Packed rows, pad bits zero.
    n_units : int
        D, the number of bits.

    Returns
    -------
    ndarray of shape (n, n), dtype=np.int64

    Examples
    --------
    >>> code_kernel(np.packbits(np.array([[1, 0, 1], [1, 1, 0]], np.uint8), axis=1), 3).tolist()
    [[3, 1], [1, 3]]
    """
    w = K.to_words(np.ascontiguousarray(codes))
    return n_units - K.hamming_block(w, w).astype(np.int64)


def naswot_score(kmat: np.ndarray) -> float:
    """``log|K|``, or ``-inf`` when K is singular (equal codes, or rank below n).

    K is symmetric positive semi-definite with integer entries of at most D; its eigenvalues
    (``eigvalsh``) decide the rank with NumPy's ``matrix_rank`` tolerance
    (``max eigenvalue * n * eps``), and the score is the sum of their logarithms.

    Examples
    --------
    >>> bool(abs(naswot_score(np.array([[2, 1], [1, 2]])) - np.log(3)) < 1e-12)
    True
    >>> naswot_score(np.array([[2, 2], [2, 2]]))
    -inf
    """
    n = kmat.shape[0]
    if n == 0:
        return 0.0
    eig = np.linalg.eigvalsh(kmat.astype(np.float64))
    tol = eig.max(initial=0.0) * n * np.finfo(np.float64).eps
    if (eig <= tol).any():
        return float("-inf")
    return float(np.log(eig).sum())


def kernel_rows(
    codes: np.ndarray, layers: Sequence[LayerInfo], selected: Sequence[int]
) -> list[tuple[str, str, float]]:
    """(scope, metric, value) rows of one batch: NASWOT score, duplicates and TE-NAS distinct count.

    Parameters
    ----------
    codes : ndarray of shape (n, n_bytes), dtype=np.uint8
        The batch's packed rows (the file's layout).
    layers : list of LayerInfo
        The file's layer table; ``selected`` indexes the sites that get ``layer:`` scopes.
    """
    rows: list[tuple[str, str, float]] = []
    n_all = sum(layer.n_units for layer in layers)
    scopes = [(SCOPE_ALL, codes, n_all)]
    for k in selected:
        layer = layers[k]
        scopes.append((layer_scope(layer.name), codes[:, layer.byte_offset : layer.byte_stop], layer.n_units))
    for scope, c, d in scopes:
        c = np.ascontiguousarray(c)
        ids = K.group_rows(K.to_words(c)) if c.shape[0] else np.zeros(0, np.int64)
        distinct = int(np.unique(ids).size)
        rows.append((scope, "kernel_batch", float(c.shape[0])))
        rows.append((scope, "naswot", naswot_score(code_kernel(c, d))))
        rows.append((scope, "naswot_duplicates", float(c.shape[0] - distinct)))
        rows.append((scope, "tenas_distinct", float(distinct)))
    return rows
