"""Seeded row choices that several region analyses share."""

from __future__ import annotations

import numpy as np


def rows_of(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Every row when ``n <= limit``, else ``limit`` sorted seeded rows."""
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, limit, replace=False))


def three_rows(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Three seeded rows, of three different classes when the split has them."""
    order = rng.permutation(labels.size)
    _, first = np.unique(labels[order], return_index=True)
    picked = order[np.sort(first)][:3] if first.size >= 3 and (labels >= 0).any() else order[:3]
    return np.asarray(picked, np.int64)


__all__ = ["rows_of", "three_rows"]
