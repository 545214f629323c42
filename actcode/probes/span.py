"""Coordinates of 0/1 code rows in the span of the fitted rows, from exact inner products.

Euclidean K-Means and L2-regularised logistic regression see the rows only through inner
products: K-Means centroids are means of rows, and by the representer theorem the weights of
the logistic regression are a combination of the training rows (L-BFGS from zero only moves
along gradients, which lie in the rows' span). So when a split has fewer rows N than kept
columns D, the same scikit-learn estimators can run on N-dimensional coordinates instead of D.

The Gram matrix ``G = X Xᵀ`` of the fitted rows (over the planned columns) is computed
exactly by popcounts of ANDed packed words (:func:`actcode.kernels.gram.gram`), and factored
as ``G = U Λ Uᵀ`` (``numpy.linalg.eigh``). With ``X = U Λ^½ Vᵀ``, the coordinates
``Z = U Λ^½`` satisfy ``Z Zᵀ = G``: distances, norms and inner products of the rows are those
of ``X``. Another row ``x`` maps to ``Λ^-½ Uᵀ X x``, its projection on the span, from its inner
products with the fitted rows (:func:`actcode.kernels.gram.cross_gram`), in row tiles within
the memory budget.

Rank rule: an eigenvalue ``λ ≤ N · ε · λ_max`` (``ε`` the float64 machine epsilon) is below
the accuracy of ``eigh`` on ``G`` and its direction is dropped; such directions carry at most
``N · ε · λ_max`` of any row's squared norm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actcode import kernels as K
from actcode.kernels.gram import column_mask, cross_gram, gram

__all__ = ["SPAN_BYTES_PER_PAIR", "SpanBasis", "span_fits"]

#: Bytes per pair of fitted rows that the span path holds at its peak: the integer and float
#: Gram matrices, the eigenvectors, LAPACK's ``syevd`` workspace (about 2 N² doubles) and the
#: coordinates.
SPAN_BYTES_PER_PAIR = 64


def span_fits(n_rows: int, max_memory: int) -> bool:
    """Whether the span path of ``n_rows`` fitted rows fits ``max_memory`` bytes."""
    return SPAN_BYTES_PER_PAIR * n_rows * n_rows <= max_memory


@dataclass(frozen=True)
class SpanBasis:
    """An orthonormal basis of the span of the fitted rows, given by their Gram matrix.

    Attributes
    ----------
    coords : ndarray of shape (n_rows, rank), dtype=np.float64
        The fitted rows' coordinates ``U Λ^½``.
    rank : int
        Kept directions (at least 1: all-zero rows get one zero coordinate).
    words : ndarray of shape (n_rows, n_words), dtype=np.uint64
        The fitted rows as words.
    mask : ndarray of shape (n_words,), dtype=np.uint64
        The planned columns.
    """

    coords: np.ndarray
    rank: int
    words: np.ndarray
    mask: np.ndarray
    _inverse: np.ndarray  # (n_rows, rank): U Λ^-½, maps inner products with the rows to coordinates

    @classmethod
    def fit(cls, codes: np.ndarray, columns: np.ndarray) -> SpanBasis:
        """The basis of the rows of ``codes`` (n_rows, n_bytes) restricted to bit ``columns``."""
        words = K.to_words(codes)
        mask = column_mask(columns, codes.shape[1])
        g = gram(words, mask).astype(np.float64)
        lam, u = np.linalg.eigh(g)
        del g
        lam, u = lam[::-1], u[:, ::-1]
        top = float(lam[0]) if lam.size else 0.0
        keep = lam > max(top, 0.0) * lam.size * np.finfo(np.float64).eps
        if top <= 0 or not keep.any():  # every row is zero on the planned columns
            zeros = np.zeros((codes.shape[0], 1))
            return cls(zeros, 1, words, mask, zeros.copy())
        root = np.sqrt(lam[keep])
        u = np.ascontiguousarray(u[:, keep])
        return cls(u * root, int(keep.sum()), words, mask, u / root)

    def transform(self, codes: np.ndarray, max_memory: int) -> np.ndarray:
        """Coordinates of other rows (n, n_bytes): their projections on the span.

        The inner products with the fitted rows are computed in row tiles of at most
        ``max_memory`` bytes (an int64 and a float64 row of products, and the row's words).
        """
        n_fit, n_words = self.words.shape
        per_row = 16 * n_fit + 8 * n_words + 8 * self.rank
        tile = max(1, int(max_memory // per_row))
        out = np.empty((codes.shape[0], self.rank))
        for s in range(0, codes.shape[0], tile):
            products = cross_gram(K.to_words(codes[s : s + tile]), self.words, self.mask)
            out[s : s + tile] = products.astype(np.float64) @ self._inverse
        return out
