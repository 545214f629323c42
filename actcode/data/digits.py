"""scikit-learn's bundled 8x8 digits with a fixed interleaved 80/20 train/test split (no files needed)."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from actcode.data.dataset import Dataset
from actcode.data.spec import DataSpec

#: Every 5th digit (index 4, 9, 14, ...) is in the test split; the rest is the train split.
TEST_EVERY = 5


def _bundled_csv() -> Path | None:
    """scikit-learn's ``datasets/data/digits.csv.gz``, found without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "datasets" / "data" / "digits.csv.gz"
        if p.is_file():
            return p
    return None


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as (images of shape (1797, 8, 8) with values 0-16, labels), in file order.

    Reads the CSV that scikit-learn bundles directly (importing scikit-learn takes about a
    second), falling back to ``sklearn.datasets.load_digits``.
    """
    csv = _bundled_csv()
    if csv is not None:
        with gzip.open(csv, "rt") as fh:
            data = np.loadtxt(fh, delimiter=",", dtype=np.float32)
        if data.shape == (1797, 65):
            return data[:, :64].reshape(-1, 8, 8), data[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    return np.asarray(bunch.images, dtype=np.float32), np.asarray(bunch.target, dtype=np.int64)


def load_digits(spec: DataSpec) -> Dataset:
    """The digits as images of shape (1, 8, 8), scaled by 1/16 to [0, 1].

    scikit-learn ships the digits without a train/test split, so actcode fixes one that needs
    no random numbers: example ``i`` is a test example when ``i % 5 == 4`` (359 examples), a
    train example otherwise (1,438, in file order). The file is ordered by writer, so
    interleaving keeps both splits from the same writers, unlike a first/last cut. As for
    every dataset, training then uses the first 80 % of the train split (1,150 examples) and
    keeps the rest (288) for validation.

    Parameters
    ----------
    spec : DataSpec
        Only ``name`` matters; ``root`` and ``download`` are ignored.

    Returns
    -------
    Dataset
    """
    images, y = digits_arrays()
    x = (images / np.float32(16.0)).astype(np.float32).reshape(-1, 1, 8, 8)
    test = np.arange(y.shape[0]) % TEST_EVERY == TEST_EVERY - 1
    return Dataset(
        name="digits",
        x_train=np.ascontiguousarray(x[~test]),
        y_train=y[~test],
        x_test=np.ascontiguousarray(x[test]),
        y_test=y[test],
        n_classes=10,
        input_shape=(1, 8, 8),
        value_range=(0.0, 1.0),
        source="scikit-learn's bundled digits",
    )
