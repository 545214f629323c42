"""Datasets read from local files: the data spec, the in-memory dataset and ``load_dataset``.

Every loader reads the standard files of its dataset from a local folder (no network unless
``download=True``), checks them before it trusts them, and scales pixels to [0, 1] as the
paper does (``x / 255``; scikit-learn's digits ``x / 16``). Images are (C, H, W).

The folder is ``DataSpec.root`` when given, else the environment variable ``ACTCODE_DATA``,
else ``~/.cache/actcode/data``.
"""

from __future__ import annotations

from actcode.data.dataset import Dataset, check_labels, download_with_torchvision
from actcode.data.load import load_dataset
from actcode.data.spec import DATASETS, DataSpec, default_root

__all__ = [
    "DATASETS",
    "DataSpec",
    "Dataset",
    "check_labels",
    "default_root",
    "download_with_torchvision",
    "load_dataset",
]
