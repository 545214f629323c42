"""The in-memory dataset (official train and test splits, scaled) and the checks every loader shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actcode.data.spec import TRAIN_FRACTION_DEN, TRAIN_FRACTION_NUM
from actcode.errors import DataNotFoundError, ShapeError


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset held in memory, with the official train and test splits.

    Attributes
    ----------
    name : str
        Canonical name (the file stem for a ``.npz``).
    x_train : ndarray of shape (n_train, *input_shape), dtype=np.float32
        The full official training split, scaled.
    y_train : ndarray of shape (n_train,), dtype=np.int64
    x_test : ndarray of shape (n_test, *input_shape), dtype=np.float32
    y_test : ndarray of shape (n_test,), dtype=np.int64
    n_classes : int
    input_shape : tuple of int
        ``(C, H, W)`` for images, ``(F,)`` for tabular data.
    value_range : tuple of (float, float)
        Range of the scaled inputs, ``(0.0, 1.0)`` for images.
    source : str
        Where the data was read from.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    input_shape: tuple[int, ...]
    value_range: tuple[float, float]
    source: str = ""

    def __post_init__(self) -> None:
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            if x.dtype != np.float32 or y.dtype != np.int64:
                msg = (
                    f"{self.name}: x_{split} must be float32 and y_{split} "
                    f"int64, got {x.dtype} and {y.dtype}."
                )
                raise ShapeError(msg)
            if x.shape[0] != y.shape[0] or y.ndim != 1 or tuple(x.shape[1:]) != tuple(self.input_shape):
                msg = (
                    f"{self.name}: x_{split} must have shape (n, "
                    f"{', '.join(map(str, self.input_shape))}) and "
                    f"y_{split} shape (n,), got {x.shape} and {y.shape}."
                )
                raise ShapeError(msg)
            if x.shape[0] == 0:
                msg = f"{self.name}: the {split} split holds no examples (read from {self.source})."
                raise ShapeError(msg)

    @property
    def n_train(self) -> int:
        """Size of the official training split."""
        return int(self.x_train.shape[0])

    @property
    def n_fit(self) -> int:
        """Size of the part used for training: the first 80 % of the training split."""
        return self.n_train * TRAIN_FRACTION_NUM // TRAIN_FRACTION_DEN


def check_labels(name: str, y: np.ndarray, n_classes: int, where: str) -> np.ndarray:
    """Return ``y`` as int64 after checking that every label lies in ``[0, n_classes)``."""
    y = np.asarray(y)
    if y.ndim != 1:
        msg = f"{name}: labels in {where} must be a 1-D array, got shape {y.shape}."
        raise ShapeError(msg)
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes):
        lo, hi = (y.min(), y.max()) if y.size else (0, 0)
        msg = (
            f"{name}: labels in {where} must be integers in [0, "
            f"{n_classes - 1}], found values from {lo} to {hi}."
        )
        raise ShapeError(msg)
    return y.astype(np.int64, copy=False)


def download_with_torchvision(name: str, root: Path, fetch: Callable[[], object]) -> None:
    """Run a torchvision download call; any failure becomes :class:`DataNotFoundError`."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fetch()
    except Exception as exc:  # network, checksum, disk: all mean "the files are not here"
        reason = " ".join(str(exc).split()) or type(exc).__name__
        msg = (
            f"{name}: could not download the files into {root}: {reason}. Put the files there by hand "
            "or run where the network is reachable."
        )
        raise DataNotFoundError(msg) from exc


__all__ = ["Dataset", "check_labels", "download_with_torchvision"]
