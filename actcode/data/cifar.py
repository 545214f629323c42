"""CIFAR-10 and CIFAR-100 from their python batches, read with an unpickler that only builds arrays."""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from actcode.data.dataset import Dataset, check_labels, download_with_torchvision
from actcode.data.spec import DataSpec
from actcode.errors import DataNotFoundError, ForeignFileError, RefusedGlobalError, ShapeError

#: Per dataset: the folder name in the data root, the train and test batch files, the label key
#: and the number of classes.
LAYOUT: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str, int]] = {
    "cifar10": (
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "labels",
        10,
    ),
    "cifar100": ("cifar-100-python", ("train",), ("test",), "fine_labels", 100),
}

_N_PIXELS = 3 * 32 * 32


def _numpy_attr(*paths: str) -> Any:
    import importlib

    for path in paths:
        mod, _, attr = path.rpartition(".")
        try:
            return getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError):
            continue
    msg = f"none of {paths} exists in this numpy"
    raise ImportError(msg)


def _latin1_encode(obj: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3's protocol-2 pickles use it for bytes, latin-1 only."""
    if codecs.lookup(encoding).name != "iso8859-1" or not isinstance(obj, str):
        msg = f"refusing _codecs.encode with encoding {encoding!r}"
        raise RefusedGlobalError(msg)
    return obj.encode("latin1", errors)


_RECONSTRUCT = _numpy_attr("numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct")
_FROMBUFFER = _numpy_attr("numpy._core.numeric._frombuffer", "numpy.core.numeric._frombuffer")

#: The only globals a batch may name: numpy array reconstruction (as numpy 1.x and 2.x
#: spell it, and as Python 2 wrote it) and latin-1 bytes.
ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, str, bytes, numbers and numpy arrays.

    Any other global (``os.system``, ``builtins.eval``, a class with ``__reduce__`` ...) and
    any persistent id is refused with :class:`RefusedGlobalError` before it is called.
    """

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            msg = f"global {module}.{name} is not allowed"
            raise RefusedGlobalError(msg) from None

    def persistent_load(self, pid: Any) -> Any:
        msg = "persistent ids are not allowed"
        raise RefusedGlobalError(msg)


def read_batch(path: str | Path) -> dict[str, Any]:
    """Read one CIFAR python batch (a pickled dict) without running any code in it.

    The whole file is read into memory first (its real size bounds every allocation), then
    unpickled with :class:`RestrictedUnpickler` and ``encoding="latin1"`` (the batches were
    written by Python 2). Keys are returned as ``str``.

    Raises
    ------
    ForeignFileError
        The file is not a pickle, names a forbidden global, or is not a dict.
    """
    path = Path(path)
    blob = path.read_bytes()
    try:
        obj = RestrictedUnpickler(io.BytesIO(blob), encoding="latin1").load()
    except RefusedGlobalError as exc:
        msg = (
            f"{path} is not a CIFAR python batch that can be read safely: {exc}. CIFAR batches hold only "
            "dicts, lists and numpy arrays; actcode never runs code from a data file."
        )
        raise ForeignFileError(msg) from exc
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
        MemoryError,
    ) as exc:
        msg = (
            f"{path} is not a valid CIFAR python batch (truncated or "
            f"damaged pickle: {exc}). Download it again."
        )
        raise ForeignFileError(msg) from exc
    if not isinstance(obj, dict):
        msg = f"{path} is not a CIFAR python batch: it holds a {type(obj).__name__}, expected a dict."
        raise ForeignFileError(msg)
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _batch_arrays(path: Path, label_key: str, n_classes: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    d = read_batch(path)
    if "data" not in d or label_key not in d:
        msg = f"{path} lacks the key(s) {[k for k in ('data', label_key) if k not in d]}; found {sorted(d)}."
        raise ForeignFileError(msg)
    data = d["data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != _N_PIXELS
    ):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        msg = f"{path}: 'data' must be a uint8 array of shape (n, {_N_PIXELS}), got {got}."
        raise ShapeError(msg)
    labels = np.asarray(d[label_key])
    if labels.shape != (data.shape[0],):
        msg = f"{path}: {data.shape[0]} images but {label_key!r} has shape {labels.shape}."
        raise ShapeError(msg)
    y = check_labels(name, labels, n_classes, str(path))
    return data, y


def batch_folder(name: str, root: Path) -> Path | None:
    """The folder holding ``name``'s batches: ``<root>/<standard folder>`` or ``<root>`` itself."""
    folder, train_files, test_files, _, _ = LAYOUT[name]
    for cand in (root / folder, root):
        if all((cand / f).is_file() for f in train_files + test_files):
            return cand
    return None


def load_cifar(spec: DataSpec) -> Dataset:
    """CIFAR-10 (10 classes) or CIFAR-100 (the 100 fine labels) as (3, 32, 32) images / 255."""
    name = spec.canonical_name()
    root = spec.resolved_root()
    folder_name, train_files, test_files, label_key, n_classes = LAYOUT[name]
    folder = batch_folder(name, root)
    if folder is None and spec.download:
        _download(name, root)
        folder = batch_folder(name, root)
    if folder is None:
        std = root / folder_name
        missing = [f for f in train_files + test_files if not (std / f).is_file()]
        msg = (
            f"{name}: the python batches {', '.join(train_files + test_files)} are not in {std} "
            f"(missing: {', '.join(missing)}; also looked in {root}). Extract the official "
            f"'{folder_name}' archive into {root}, pass --data-root, or add --download."
        )
        raise DataNotFoundError(msg)
    splits = []
    for files in (train_files, test_files):
        parts = [_batch_arrays(folder / f, label_key, n_classes, name) for f in files]
        x = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(
            255.0
        )
        y = np.concatenate([p[1] for p in parts])
        splits.append((x, y))
    return Dataset(
        name=name,
        x_train=splits[0][0],
        y_train=splits[0][1],
        x_test=splits[1][0],
        y_test=splits[1][1],
        n_classes=n_classes,
        input_shape=(3, 32, 32),
        value_range=(0.0, 1.0),
        source=str(folder),
    )


def _download(name: str, root: Path) -> None:
    def fetch() -> None:
        from torchvision import datasets

        cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
        cls(str(root), train=True, download=True)

    download_with_torchvision(name, root, fetch)
