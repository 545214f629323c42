"""SVHN (cropped digits) from ``train_32x32.mat`` and ``test_32x32.mat``; label 10 means digit 0."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from actcode.data.dataset import Dataset, check_labels, download_with_torchvision
from actcode.data.spec import DataSpec
from actcode.errors import DataNotFoundError, ForeignFileError, ShapeError, StorageError

SVHN_FILES: dict[str, str] = {"train": "train_32x32.mat", "test": "test_32x32.mat"}

#: deflate cannot expand data by more than about 1032x; a larger claim is a lie.
_MAX_EXPANSION = 1100


def svhn_folder(root: Path) -> Path | None:
    """``<root>/svhn``, ``<root>/SVHN`` or ``<root>``: the first that holds both files."""
    for cand in (root / "svhn", root / "SVHN", root):
        if all((cand / f).is_file() for f in SVHN_FILES.values()):
            return cand
    return None


def read_svhn_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one SVHN ``.mat`` file.

    Returns
    -------
    x : ndarray of shape (n, 3, 32, 32), dtype=np.uint8
    y : ndarray of shape (n,), dtype=np.int64
        Digits 0-9 (the file's label 10 becomes 0).

    Raises
    ------
    ForeignFileError
        Not a MATLAB file, or without the variables ``X`` and ``y``.
    StorageError
        The variable sizes claimed by the file cannot fit in it.
    ShapeError
        ``X`` is not (32, 32, 3, n) uint8 or ``y`` does not hold n labels in 1-10.
    """
    from scipy.io import loadmat, whosmat

    path = Path(path)
    try:
        info = {name: (shape, cls) for name, shape, cls in whosmat(str(path))}
    except Exception as exc:  # scipy raises ValueError, MatReadError, TypeError ... on foreign files
        msg = f"{path} is not a MATLAB .mat file that scipy can read ({exc}). Download it again."
        raise ForeignFileError(msg) from exc
    if "X" not in info or "y" not in info:
        msg = (
            f"{path} does not hold the SVHN variables 'X' and 'y' "
            f"(found: {', '.join(sorted(info)) or 'none'})."
        )
        raise ForeignFileError(msg)
    claimed = math.prod(info["X"][0]) + math.prod(info["y"][0])
    if claimed > _MAX_EXPANSION * max(path.stat().st_size, 1):
        msg = (
            f"{path} claims {claimed} elements but holds only {path.stat().st_size} bytes; it is damaged "
            "or not an SVHN file."
        )
        raise StorageError(msg)
    try:
        mat = loadmat(str(path), variable_names=["X", "y"])
    except Exception as exc:
        msg = f"{path} could not be read as a MATLAB file ({exc}); it is truncated or damaged."
        raise StorageError(msg) from exc
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"])
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        msg = f"{path}: 'X' must be a uint8 array of shape (32, 32, 3, n), got {x.dtype} {x.shape}."
        raise ShapeError(msg)
    y = y.reshape(-1)
    if y.shape[0] != x.shape[3]:
        msg = f"{path}: 'X' holds {x.shape[3]} images but 'y' holds {y.shape[0]} labels."
        raise ShapeError(msg)
    if y.size and (y.min() < 0 or y.max() > 10):
        msg = f"{path}: SVHN labels must lie in 1-10 (10 = digit 0), found {y.min()} to {y.max()}."
        raise ShapeError(msg)
    y = np.where(y == 10, 0, y).astype(np.int64)
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y


def load_svhn(spec: DataSpec) -> Dataset:
    """SVHN train (73,257) and test (26,032) splits as (3, 32, 32) images / 255; the extra split is unused."""
    root = spec.resolved_root()
    folder = svhn_folder(root)
    if folder is None and spec.download:
        _download(root)
        folder = svhn_folder(root)
    if folder is None:
        missing = [f for f in SVHN_FILES.values() if not (root / f).is_file()]
        msg = (
            f"svhn: the files {', '.join(SVHN_FILES.values())} are not in "
            f"{root} (missing: {', '.join(missing)}; "
            f"also looked in {root / 'svhn'} and {root / 'SVHN'}). Put them there, pass --data-root, "
            "or add --download."
        )
        raise DataNotFoundError(msg)
    out = {}
    for split, fname in SVHN_FILES.items():
        x, y = read_svhn_mat(folder / fname)
        out[split] = (
            x.astype(np.float32) / np.float32(255.0),
            check_labels("svhn", y, 10, str(folder / fname)),
        )
    return Dataset(
        name="svhn",
        x_train=out["train"][0],
        y_train=out["train"][1],
        x_test=out["test"][0],
        y_test=out["test"][1],
        n_classes=10,
        input_shape=(3, 32, 32),
        value_range=(0.0, 1.0),
        source=str(folder),
    )


def _download(root: Path) -> None:
    def fetch() -> None:
        from torchvision import datasets

        datasets.SVHN(str(root), split="train", download=True)
        datasets.SVHN(str(root), split="test", download=True)

    download_with_torchvision("svhn", root, fetch)
