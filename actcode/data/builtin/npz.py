"""The ``npz`` source: a ``.npz`` file holding ``x_train, y_train, x_test, y_test``."""

from __future__ import annotations

from actcode.data.dataset import Dataset
from actcode.data.npz import load_npz
from actcode.data.sources import register_dataset
from actcode.data.spec import DataSpec


class NpzDataset:
    """:func:`actcode.data.npz.load_npz` on the spec's file."""

    order: int = 100

    def load(self, spec: DataSpec, argument: str) -> Dataset:
        return load_npz(spec)


register_dataset("npz", NpzDataset())
