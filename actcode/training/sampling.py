"""Which training examples a run uses: the 80 % split, the sample subset, tiling and label noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actcode.config import TrainConfig
from actcode.data import Dataset
from actcode.errors import InvalidParameterError

#: Second words of the numpy seed sequences, so the subset and the noise draw independent streams.
SUBSET_STREAM, NOISE_STREAM = 0x5A, 0x4E


@dataclass(frozen=True, eq=False)
class Selection:
    """The examples and labels of a run.

    Attributes
    ----------
    train_indices : ndarray of shape (n,), dtype=np.int64
        Distinct indices into the official train split, increasing.
    train_labels : ndarray of shape (n,), dtype=np.int64
        The labels used in training for them (noisy where label noise changed them).
    noisy_indices : ndarray of shape (n_changed,), dtype=np.int64
        Indices into the official train split whose label was changed, increasing.
    val_indices : ndarray of shape (n_val,), dtype=np.int64
        The validation part: the last 20 % of the official train split.
    repeats : int
        How many times the subset is repeated per epoch (1 without ``tile``).
    """

    train_indices: np.ndarray
    train_labels: np.ndarray
    noisy_indices: np.ndarray
    val_indices: np.ndarray
    repeats: int

    @property
    def n(self) -> int:
        """Number of distinct training examples."""
        return int(self.train_indices.shape[0])

    @property
    def epoch_length(self) -> int:
        """Examples seen per epoch: ``n * repeats``."""
        return self.n * self.repeats


def select_subset(labels: np.ndarray, n: int, order: str, rng: np.random.Generator) -> np.ndarray:
    """Positions (increasing) of ``n`` examples among ``labels``.

    ``first``: the first ``n`` (the paper's). ``random``: ``n`` drawn without replacement.
    ``stratified``: per class, its share of ``n`` by largest remainder, drawn at random within
    the class, so class proportions are kept as closely as integers allow.

    Examples
    --------
    >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> select_subset(y, 3, "first", np.random.default_rng(0)).tolist()
    [0, 1, 2]
    >>> np.bincount(y[select_subset(y, 4, "stratified", np.random.default_rng(0))]).tolist()
    [2, 2]
    """
    total = labels.shape[0]
    if order == "first":
        return np.arange(n, dtype=np.int64)
    if order == "random":
        return np.sort(rng.choice(total, size=n, replace=False)).astype(np.int64)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n / total
    take = np.floor(quota).astype(np.int64)
    short = n - int(take.sum())
    if short > 0:
        order_idx = np.lexsort((np.arange(len(classes)), -(quota - take)))
        take[order_idx[:short]] += 1
    picks = [
        rng.choice(np.flatnonzero(labels == c), size=int(k), replace=False)
        for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def apply_label_noise(
    labels: np.ndarray, p: float, mode: str, n_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Corrupt a fraction ``p`` of ``labels``.

    Exactly ``k = floor(p * n + 0.5)`` positions are drawn without replacement. ``permute``
    (the paper's ``create_noise_samples``) shuffles the labels of those ``k`` among themselves,
    so the class counts are unchanged; a position may by chance get its own label back, so
    fewer than ``k`` labels may change. ``uniform`` gives each of the ``k`` a uniformly drawn
    OTHER class, so exactly ``k`` labels change.

    Returns
    -------
    new_labels : ndarray of shape (n,), dtype=np.int64
    changed : ndarray of shape (n_changed,), dtype=np.int64
        Positions whose label differs from ``labels``, increasing.

    Examples
    --------
    >>> y = np.arange(10) % 2
    >>> new, changed = apply_label_noise(y, 0.3, "uniform", 2, np.random.default_rng(0))
    >>> len(changed), int((new != y).sum())
    (3, 3)
    """
    n = labels.shape[0]
    k = int(np.floor(p * n + 0.5))
    new = labels.astype(np.int64, copy=True)
    if k == 0:
        return new, np.zeros(0, dtype=np.int64)
    sel = np.sort(rng.choice(n, size=k, replace=False))
    if mode == "permute":
        new[sel] = labels[sel][rng.permutation(k)]
    else:
        if n_classes < 2:
            msg = "--noise-mode uniform needs at least 2 classes to move a label to another class."
            raise InvalidParameterError(msg)
        new[sel] = (labels[sel] + rng.integers(1, n_classes, size=k)) % n_classes
    return new, np.flatnonzero(new != labels).astype(np.int64)


def make_selection(dataset: Dataset, config: TrainConfig) -> Selection:
    """Apply the 80/20 split, ``sample_size``/``sample_order``, ``label_noise`` and ``tile``.

    The subset is drawn from the first 80 % of the official train split with the numpy
    generator ``default_rng([seed, 0x5A])``; the noise uses ``default_rng([seed, 0x4E])``. With
    ``tile``, the subset is repeated ``n_fit // n`` times per epoch (the paper's way of keeping
    the epoch length).

    Raises
    ------
    InvalidParameterError
        ``sample_size`` is larger than the training part, or the training part is empty.
    """
    n_fit = dataset.n_fit
    if n_fit < 1:
        msg = f"{dataset.name}: the training split has {dataset.n_train} examples; its first 80 % is empty."
        raise InvalidParameterError(msg)
    n = n_fit if config.sample_size is None else config.sample_size
    if n > n_fit:
        msg = (
            f"--sample-size must be in [1, {n_fit}] for {dataset.name} "
            f"(the first 80 % of its {dataset.n_train} "
            f"training examples). Got {n} instead."
        )
        raise InvalidParameterError(msg)
    y_fit = dataset.y_train[:n_fit]
    pos = select_subset(y_fit, n, config.sample_order, np.random.default_rng([config.seed, SUBSET_STREAM]))
    labels, changed = apply_label_noise(
        y_fit[pos],
        config.label_noise,
        config.noise_mode,
        dataset.n_classes,
        np.random.default_rng([config.seed, NOISE_STREAM]),
    )
    return Selection(
        train_indices=pos,
        train_labels=labels,
        noisy_indices=pos[changed],
        val_indices=np.arange(n_fit, dataset.n_train, dtype=np.int64),
        repeats=max(1, n_fit // n) if config.tile else 1,
    )
