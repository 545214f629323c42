"""Synthetic neural codes with class structure and exact duplicates, for tests and benchmarks."""

from __future__ import annotations

import numpy as np


def synthetic_bits(
    n_rows: int,
    n_bits: int,
    *,
    n_classes: int = 10,
    flip: float = 0.3,
    duplicates: float = 0.05,
    seed: int = 0,
    prototypes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random 0/1 codes with class structure and exact duplicate rows.

    Each class has a random prototype; a row is its class prototype with every bit flipped
    independently with probability ``flip``. Then a fraction ``duplicates`` of the rows is
    replaced by copies of other rows (of the same class), so that collisions exist.

    Parameters
    ----------
    n_rows, n_bits : int
    n_classes : int
    flip : float
        Per-bit flip probability (0.5 removes all class structure).
    duplicates : float
        Fraction of rows that copy another row.
    seed : int
    prototypes : ndarray of shape (n_classes, n_bits), dtype=bool, optional
        Reuse the prototypes of another call (for a train and a test set of one task).

    Returns
    -------
    bits : ndarray of shape (n_rows, n_bits), dtype=bool
    labels : ndarray of shape (n_rows,), dtype=np.int64
    prototypes : ndarray of shape (n_classes, n_bits), dtype=bool

    Examples
    --------
    >>> bits, labels, protos = synthetic_bits(100, 13, n_classes=3, seed=1)
    >>> bits.shape, bool(labels.max() < 3), np.unique(bits, axis=0).shape[0] < 100
    ((100, 13), True, True)
    """
    rng = np.random.default_rng(seed)
    if prototypes is None:
        prototypes = rng.random((n_classes, n_bits)) < 0.5
    labels = rng.integers(0, prototypes.shape[0], n_rows).astype(np.int64)
    bits = prototypes[labels] ^ (rng.random((n_rows, n_bits), dtype=np.float32) < flip)
    n_dup = int(round(duplicates * n_rows))
    if n_dup and n_rows > 1:
        targets = rng.choice(n_rows, n_dup, replace=False)
        for t in targets:
            same = np.flatnonzero(labels == labels[t])
            bits[t] = bits[same[rng.integers(0, same.size)]]
    return bits, labels, prototypes


__all__ = ["synthetic_bits"]
