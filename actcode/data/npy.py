"""An array of inputs in a ``.npy`` file (``--dataset npy:PATH``), with an optional ``.npy`` of labels.

The header is read first and checked against the file: a real dtype (booleans, integers or
floats; complex, object and structured arrays are refused), a size that the file really holds,
and a size that fits the memory limit (:func:`actcode.sizes.check_allocation`). The data are then
read into memory, never memory-mapped: a file truncated or rewritten while ``extract`` runs
cannot kill it with SIGBUS. The inputs are fed to the model as they are (float32, no scaling).
Rows without labels get -1; labels are checked against the format's class range before
anything is sized by them.
"""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np

from actcode.errors import DataNotFoundError, DtypeError, FormatError, LabelRangeError
from actcode.sizes import check_allocation

#: Label of a row without one.
NO_LABEL = -1
#: dtype kinds accepted for inputs (bool, signed, unsigned, float) and for labels.
INPUT_KINDS = "biuf"
LABEL_KINDS = "iu"
#: The most classes labels may imply (max label + 1): they size the model's output before any
#: row runs, so a label of 10**9 must not build a billion-output layer.
MAX_CLASSES = 1 << 20


def _header(f: object, path: Path) -> tuple[tuple[int, ...], bool, np.dtype[np.generic]]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)  # type: ignore[arg-type]
        if version == (1, 0):
            return fmt.read_array_header_1_0(f, max_header_size=10000)  # type: ignore[arg-type]
        if version in ((2, 0), (3, 0)):
            return fmt.read_array_header_2_0(f, max_header_size=10000)  # type: ignore[arg-type]
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        msg = f"{path} is not a readable .npy array ({' '.join(str(exc).split())[:160]})."
        raise FormatError(msg) from None
    msg = f"{path} is not a readable .npy array (format version {version}; 1.0 to 3.0 are known)."
    raise FormatError(msg)


def _read(path: Path, what: str, kinds: str) -> np.ndarray:
    """The array of ``path``, read (not mapped) after checking its header against the file."""
    try:
        st = path.stat()
    except OSError:
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        where = "is not a regular file" if st is not None else f"is not in {path.parent.resolve()}"
        msg = f"npy: the {what} file {path.name} {where}."
        raise DataNotFoundError(msg)
    with open(path, "rb") as f:
        shape, fortran, dtype = _header(f, path)
        if dtype.kind not in kinds or dtype.hasobject or dtype.fields is not None:
            real = {"biuf": "booleans, integers or floats", "iu": "integers"}[kinds]
            msg = f"{path}: the {what} must be {real}. Got the dtype {dtype} instead."
            raise DtypeError(msg)
        count = int(np.prod(shape, dtype=np.float64))
        nbytes = count * dtype.itemsize
        offset = f.tell()
        if st.st_size - offset < nbytes:
            msg = (
                f"{path}: the header promises {nbytes} bytes of {what} ({dtype} of shape {shape}); "
                f"the file holds {max(0, st.st_size - offset)}. It is truncated."
            )
            raise FormatError(msg)
        check_allocation(nbytes, f"the {what} ({dtype} of shape {shape})", from_file=str(path))
        data = np.fromfile(f, dtype=dtype, count=count)
    if data.size != count:  # the file shrank after the check
        msg = f"{path}: the file ended after {data.size} of {count} values of {what}. It is truncated."
        raise FormatError(msg)
    return data.reshape(shape, order="F" if fortran else "C")


def load_npy(x_path: str | Path, labels_path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The inputs and the labels of an ``npy`` dataset.

    Returns
    -------
    x : ndarray of shape (n, *input_shape)
        Booleans, integers or floats, in memory.
    labels : ndarray of shape (n,), dtype=np.int64
        From ``labels_path``, else -1.

    Raises
    ------
    DataNotFoundError
        A file is missing, or is not a regular file.
    FormatError
        Not a real array of at least two dimensions, no rows, a size the file does not hold or
        memory cannot, labels of another length, or classes out of the format's range.
    """
    xp = Path(x_path).expanduser()
    x = _read(xp, "inputs", INPUT_KINDS)
    if x.ndim < 2 or x.shape[0] == 0:
        msg = (
            f"{xp} must hold a numeric array of shape (n, *input_shape) with n >= 1. "
            f"Got {x.dtype} of shape {x.shape} instead."
        )
        raise FormatError(msg)
    if labels_path is None:
        return x, np.full(x.shape[0], NO_LABEL, np.int64)
    lp = Path(labels_path).expanduser()
    y = _read(lp, "labels", LABEL_KINDS)
    if y.shape != (x.shape[0],):
        msg = (
            f"{lp} must hold {x.shape[0]} integer labels, one per input row. "
            f"Got {y.dtype} of shape {y.shape} instead."
        )
        raise FormatError(msg)
    if y.dtype.kind == "u" and y.size and int(y.max()) > np.iinfo(np.int64).max:
        msg = f"{lp} holds the class {int(y.max())}; classes must be integers from 0 to {MAX_CLASSES - 1}."
        raise LabelRangeError(msg)
    labels = y.astype(np.int64)
    # the class range before the labels size the model (n_classes = max label + 1)
    bad = labels[(labels < NO_LABEL) | (labels >= MAX_CLASSES)]
    if bad.size:
        msg = (
            f"{lp} holds the class {int(bad[0])}; classes must be integers from 0 to {MAX_CLASSES - 1} "
            f"(the model gets max label + 1 outputs), or {NO_LABEL} for no label. Renumber them from 0."
        )
        raise LabelRangeError(msg)
    return x, labels


__all__ = ["MAX_CLASSES", "NO_LABEL", "load_npy"]
