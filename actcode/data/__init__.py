"""Datasets read from local files: the data spec, the in-memory dataset and ``load_dataset``.

Every loader reads the standard files of its dataset from a local folder (no network unless
``download=True``), checks them before it trusts them, and scales pixels to [0, 1] as the
paper does (``x / 255``; scikit-learn's digits ``x / 16``). Images are (C, H, W).

The folder is ``DataSpec.root`` when given, else the environment variable ``ACTCODE_DATA``,
else ``~/.cache/actcode/data``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actcode.errors import DataNotFoundError, InvalidParameterError, ShapeError

#: Canonical names of the bundled loaders, in the order the help lists them.
DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn")

_ALIASES: dict[str, str] = {
    "digits": "digits",
    "mnist": "mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "svhn": "svhn",
}

#: Fraction of the official training split used for training; the rest is validation.
TRAIN_FRACTION_NUM, TRAIN_FRACTION_DEN = 4, 5


@dataclass(frozen=True)
class DataSpec:
    """Which dataset to load and where its files are.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (``fashion_mnist``, ``cifar-10`` and similar spellings are
        accepted) or the path of a ``.npz`` file holding ``x_train, y_train, x_test, y_test``.
    root : str or None
        Folder holding the dataset's files. ``None`` means ``$ACTCODE_DATA`` or
        ``~/.cache/actcode/data``, resolved when the data is loaded.
    download : bool
        Fetch missing files with torchvision's downloaders (needs the network).

    Examples
    --------
    >>> DataSpec("MNIST").canonical_name()
    'mnist'
    >>> DataSpec("fashion_mnist").canonical_name()
    'fashion-mnist'
    """

    name: str = "digits"
    root: str | None = None
    download: bool = False

    def is_npz(self) -> bool:
        """Whether ``name`` names a ``.npz`` file rather than a bundled loader."""
        return self.name.lower().endswith(".npz") or (
            _norm(self.name) not in _ALIASES and Path(self.name).is_file()
        )

    def canonical_name(self) -> str:
        """The loader's canonical name, or ``"npz"`` for a file; raises for an unknown name."""
        if self.is_npz():
            return "npz"
        key = _norm(self.name)
        if key not in _ALIASES:
            msg = (
                f"unknown dataset {self.name!r}: expected one of {', '.join(DATASETS)}, "
                "or the path of a .npz file holding x_train, y_train, x_test and y_test."
            )
            raise InvalidParameterError(msg)
        return _ALIASES[key]

    def resolved_root(self) -> Path:
        """The data folder: ``root``, else ``$ACTCODE_DATA``, else ``~/.cache/actcode/data``."""
        if self.root:
            return Path(self.root).expanduser()
        return default_root()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=str(d.get("name", "digits")), root=d.get("root"), download=bool(d.get("download", False))
        )


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


def default_root() -> Path:
    """``$ACTCODE_DATA`` when set, else ``~/.cache/actcode/data``."""
    env = os.environ.get("ACTCODE_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "actcode" / "data"


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


def load_dataset(spec: DataSpec) -> Dataset:
    """Load the dataset a spec names.

    Parameters
    ----------
    spec : DataSpec

    Returns
    -------
    Dataset

    Raises
    ------
    InvalidParameterError
        The name is not a known dataset and not a ``.npz`` file.
    DataNotFoundError
        The files are not in the folder (the message names the files and the folder).
    FormatError
        A file is truncated, has the wrong magic number or the wrong content.

    Examples
    --------
    >>> ds = load_dataset(DataSpec("digits"))
    >>> ds.input_shape, ds.n_classes, ds.x_train.shape[0] + ds.x_test.shape[0]
    ((1, 8, 8), 10, 1797)
    """
    name = spec.canonical_name()
    loader = _loader(name)
    return loader(spec)


def _loader(name: str) -> Callable[[DataSpec], Dataset]:
    if name == "digits":
        from actcode.data.digits import load_digits

        return load_digits
    if name in ("mnist", "fashion-mnist"):
        from actcode.data.idx import load_idx_dataset

        return load_idx_dataset
    if name in ("cifar10", "cifar100"):
        from actcode.data.cifar import load_cifar

        return load_cifar
    if name == "svhn":
        from actcode.data.svhn import load_svhn

        return load_svhn
    from actcode.data.npz import load_npz

    return load_npz


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


__all__ = ["DATASETS", "DataSpec", "Dataset", "check_labels", "default_root", "load_dataset"]
