"""A user's own data: a ``.npz`` holding ``x_train, y_train, x_test, y_test``, read without pickle."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from actcode.codes import LABEL_MAX
from actcode.data.dataset import Dataset, check_labels
from actcode.data.spec import DataSpec
from actcode.errors import DataNotFoundError, DtypeError, ForeignFileError, ShapeError, StorageError
from actcode.sizes import check_allocation

NPZ_KEYS: tuple[str, ...] = ("x_train", "y_train", "x_test", "y_test")


def npz_path(spec: DataSpec) -> Path:
    """The file a spec names: the path as given, else relative to the data root."""
    p = Path(spec.name).expanduser()
    if p.is_file() or p.is_absolute():
        return p
    alt = spec.resolved_root() / p
    return alt if alt.is_file() else p


def _check_members(path: Path) -> None:
    """Check each array's ``.npy`` header against the bytes the archive really holds."""
    if not zipfile.is_zipfile(path):
        msg = f"{path} is not a .npz file (not a zip archive). Save the arrays with numpy.savez."
        raise ForeignFileError(msg)
    claimed = 0
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist()}
            missing = [k for k in NPZ_KEYS if f"{k}.npy" not in infos]
            if missing:
                found = sorted(n[:-4] for n in infos if n.endswith(".npy"))
                msg = (
                    f"{path} lacks the array(s) {', '.join(missing)}; a data .npz must hold "
                    f"{', '.join(NPZ_KEYS)} (found: {', '.join(found) or 'none'})."
                )
                raise ForeignFileError(msg)
            for key in NPZ_KEYS:
                info = infos[f"{key}.npy"]
                with zf.open(info) as fh:
                    try:
                        version = np.lib.format.read_magic(fh)
                        read_header = (
                            np.lib.format.read_array_header_1_0
                            if version == (1, 0)
                            else np.lib.format.read_array_header_2_0
                        )
                        shape, _fortran, dtype = read_header(fh)
                    except ValueError as exc:
                        msg = f"{path}: the array {key} has a damaged .npy header ({exc})."
                        raise ForeignFileError(msg) from exc
                    header_len = fh.tell()
                if dtype.hasobject:
                    msg = (
                        f"{path}: the array {key} holds Python objects (dtype {dtype}), which would need "
                        "pickle; store numbers only."
                    )
                    raise DtypeError(msg)
                if not shape or shape[0] == 0:
                    msg = f"{path}: the array {key} has no rows (shape {shape}); every split needs examples."
                    raise ShapeError(msg)
                expected = header_len + math.prod(shape) * dtype.itemsize
                # decompressed, plus the float32 (inputs) or int64 (labels) copy made on load
                claimed += math.prod(shape) * (dtype.itemsize + (4 if key.startswith("x") else 8))
                if info.file_size != expected:
                    msg = (
                        f"{path}: the array {key} claims shape {shape} of {dtype} ({expected} bytes with its "
                        f"header) but the archive member holds {info.file_size} bytes; the file is damaged."
                    )
                    raise StorageError(msg)
    except zipfile.BadZipFile as exc:
        msg = f"{path} is a damaged zip archive ({exc})."
        raise StorageError(msg) from exc
    check_allocation(claimed, "its arrays, decompressed and converted", from_file=str(path))


def load_npz(spec: DataSpec) -> Dataset:
    """Load ``x_train, y_train, x_test, y_test`` from a ``.npz`` (``np.load(allow_pickle=False)``).

    Inputs are cast to float32 and used as they are (no scaling); ``input_shape`` is
    ``x_train.shape[1:]``; labels must be non-negative integers and ``n_classes`` is the
    largest label + 1. The dataset's name is the file stem.
    """
    path = npz_path(spec)
    if not path.is_file():
        msg = (
            f"the data file {path.name} is not in {path.parent.resolve()} (also looked in "
            f"{spec.resolved_root()}). Pass the path of a .npz holding {', '.join(NPZ_KEYS)}."
        )
        raise DataNotFoundError(msg)
    _check_members(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: np.asarray(z[k]) for k in NPZ_KEYS}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        msg = f"{path} could not be read as a .npz ({exc})."
        raise StorageError(msg) from exc
    for k in ("x_train", "x_test"):
        a = arrays[k]
        if a.dtype.kind not in "biuf" or a.ndim < 2:
            msg = f"{path}: {k} must be a numeric array of shape (n, ...features), got {a.dtype} {a.shape}."
            raise DtypeError(msg)
        if not np.isfinite(a).all():
            msg = f"{path}: {k} holds NaN or infinite values."
            raise DtypeError(msg)
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        msg = (
            f"{path}: x_train rows have shape {arrays['x_train'].shape[1:]} but x_test rows "
            f"{arrays['x_test'].shape[1:]}; they must match."
        )
        raise ShapeError(msg)
    ys = {}
    for k in ("y_train", "y_test"):
        y = arrays[k]
        if y.dtype.kind == "f" and y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        if y.dtype.kind not in "iu":
            msg = f"{path}: {k} must hold integer class labels, got dtype {y.dtype}."
            raise DtypeError(msg)
        ys[k] = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    for k, y in ys.items():  # the spec's class range, before n_classes sizes anything
        if y.size and int(y.max()) > LABEL_MAX:
            msg = f"{path}: {k} holds the class {int(y.max())}; classes must be integers in 0..{LABEL_MAX}."
            raise ShapeError(msg)
    n_classes = int(max(ys["y_train"].max(initial=0), ys["y_test"].max(initial=0))) + 1
    y_train = check_labels(path.stem, ys["y_train"], n_classes, f"{path}:y_train")
    y_test = check_labels(path.stem, ys["y_test"], n_classes, f"{path}:y_test")
    x_train = np.ascontiguousarray(arrays["x_train"], dtype=np.float32)
    x_test = np.ascontiguousarray(arrays["x_test"], dtype=np.float32)
    for k, x in (("x_train", x_train), ("x_test", x_test)):
        if not np.isfinite(x).all():  # finite as float64 but beyond float32's range
            msg = (
                f"{path}: {k} holds values beyond the float32 range (|x| > 3.4e38) that become infinite "
                "when cast to float32 for training. Rescale the inputs."
            )
            raise DtypeError(msg)
    lo = float(min(x_train.min(), x_test.min()))
    hi = float(max(x_train.max(), x_test.max()))
    return Dataset(
        name=path.stem,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        n_classes=n_classes,
        input_shape=tuple(int(s) for s in x_train.shape[1:]),
        value_range=(lo, hi),
        source=str(path),
    )
