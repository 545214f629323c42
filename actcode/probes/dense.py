"""The columns the K-Means and logistic-regression probes see, and their dense 0/1 matrices."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from actcode import kernels as K
from actcode.probes.span import span_fits

__all__ = ["ColumnPlan", "dense_blocks", "dense_matrix", "plan_columns"]


@dataclass(frozen=True)
class ColumnPlan:
    """Which bit columns the dense probes see.

    Attributes
    ----------
    columns : ndarray of shape (n_used,), dtype=np.int64
        Bit positions in the packed row (``8 * byte + bit``), sorted.
    n_units : int
        Units of the scope.
    n_constant : int
        Units that are 0 in every row, or 1 in every row, of the probed splits (dropped, as
        the study did; this cannot change a redundancy ratio).
    approximate : bool
        True when the non-constant columns did not fit the budget and a seeded random subset
        of them is used.
    seed : int
    span : bool
        True when the probes run in the span of the rows (:mod:`actcode.probes.span`): the
        largest probed split has fewer rows than there are kept columns, and its Gram matrix
        fits the budget. Then every non-constant column is kept (no dense matrix is built).
    """

    columns: np.ndarray
    n_units: int
    n_constant: int
    approximate: bool
    seed: int
    span: bool = False

    def as_params(self) -> dict[str, object]:
        return {
            "n_units": self.n_units,
            "n_constant_dropped": self.n_constant,
            "n_columns_used": int(self.columns.size),
            "approximate": self.approximate,
            "column_seed": self.seed,
            "path": "span" if self.span else "dense",
        }


def plan_columns(
    units: np.ndarray,
    counts: np.ndarray,
    n_rows: int,
    max_rows: int,
    max_memory: int,
    seed: int,
    itemsize: int = 8,
) -> ColumnPlan:
    """Drop constant units; then the span path, or as many columns as fit ``max_rows x n x itemsize``.

    The span path is chosen when ``max_rows`` is smaller than the number of non-constant
    columns (N < D) and the Gram matrix of ``max_rows`` rows fits ``max_memory``
    (:func:`actcode.probes.span.span_fits`); it keeps every non-constant column. Otherwise
    (the dense path) the columns of a ``max_rows``-row dense matrix must fit ``max_memory``.

    Parameters
    ----------
    units : ndarray of shape (n_units,), dtype=np.int64
        Bit positions of the scope's units.
    counts : ndarray of shape (8 * n_bytes,), dtype=np.int64
        Rows with each bit on, over all probed rows (see :func:`actcode.kernels.bit_counts`).
    n_rows : int
        Number of probed rows (train and test together).
    max_rows : int
        Rows of the largest dense matrix that will be built.
    max_memory : int
        Bytes allowed for that matrix.
    seed : int
        Seed of the column subset.
    itemsize : int
        Bytes per value of the dense matrix (8 for the float64 that K-Means gets: scikit-learn's
        k-means++ is several times slower on float32, which it upcasts chunk by chunk).
    """
    c = counts[units]
    keep = units[(c > 0) & (c < n_rows)]
    n_constant = int(((c == 0) | (c == n_rows)).sum())
    if max_rows < keep.size and span_fits(max_rows, max_memory):
        return ColumnPlan(keep.astype(np.int64), int(units.size), n_constant, False, int(seed), span=True)
    budget = max(1, int(max_memory // (itemsize * max(1, max_rows))))
    approximate = keep.size > budget
    if approximate:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(keep, budget, replace=False))
    return ColumnPlan(keep.astype(np.int64), int(units.size), n_constant, bool(approximate), int(seed))


def dense_matrix(codes: np.ndarray, plan: ColumnPlan, dtype: type = np.float32) -> np.ndarray:
    """The planned columns of packed rows as a 0/1 matrix of shape (n_samples, n_used)."""
    return K.unpack_columns(codes, plan.columns, np.empty((codes.shape[0], plan.columns.size), dtype))


def dense_blocks(
    codes: np.ndarray, plan: ColumnPlan, block_rows: int, dtype: type = np.float32
) -> Iterator[np.ndarray]:
    """:func:`dense_matrix` in row blocks (for predicting without the whole matrix)."""
    for s in range(0, codes.shape[0], block_rows):
        yield dense_matrix(codes[s : s + block_rows], plan, dtype)
