"""An array of inputs in a ``.npy`` file (``--dataset npy:PATH``), with an optional ``.npy`` of labels.

The inputs are memory-mapped (``allow_pickle=False``), so a large file is read block by block,
and fed to the model as they are (float32, no scaling). Rows without labels get -1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actcode.errors import DataNotFoundError, FormatError

#: Label of a row without one.
NO_LABEL = -1


def _open(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        msg = f"npy: the {what} file {path.name} is not in {path.parent.resolve()}."
        raise DataNotFoundError(msg)
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # bad magic, truncated data, object arrays
        msg = f"{path} is not a readable .npy array ({' '.join(str(exc).split())[:160]})."
        raise FormatError(msg) from None
    if not isinstance(arr, np.ndarray):
        msg = f"{path} holds {type(arr).__name__}, not one array; save it with np.save."
        raise FormatError(msg)
    return arr


def load_npy(x_path: str | Path, labels_path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The inputs (memory-mapped) and the labels of an ``npy`` dataset.

    Returns
    -------
    x : ndarray of shape (n, *input_shape)
        Numeric, memory-mapped.
    labels : ndarray of shape (n,), dtype=np.int64
        From ``labels_path``, else -1.

    Raises
    ------
    DataNotFoundError
        A file is missing.
    FormatError
        Not a numeric array of at least two dimensions, no rows, or labels of another length.
    """
    xp = Path(x_path).expanduser()
    x = _open(xp, "inputs")
    if x.ndim < 2 or x.shape[0] == 0 or not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        msg = (
            f"{xp} must hold a numeric array of shape (n, *input_shape) with n >= 1. "
            f"Got {x.dtype} of shape {x.shape} instead."
        )
        raise FormatError(msg)
    if labels_path is None:
        return x, np.full(x.shape[0], NO_LABEL, np.int64)
    lp = Path(labels_path).expanduser()
    y = _open(lp, "labels")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        msg = (
            f"{lp} must hold {x.shape[0]} integer labels, one per input row. "
            f"Got {y.dtype} of shape {y.shape} instead."
        )
        raise FormatError(msg)
    return x, np.asarray(y, dtype=np.int64)


__all__ = ["NO_LABEL", "load_npy"]
