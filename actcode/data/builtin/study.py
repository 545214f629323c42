"""The study datasets: scikit-learn's digits, MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100 and SVHN."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from actcode.data.cifar import load_cifar
from actcode.data.dataset import Dataset
from actcode.data.digits import load_digits
from actcode.data.idx import load_idx_dataset
from actcode.data.sources import register_dataset
from actcode.data.spec import DATASETS, DataSpec
from actcode.data.svhn import load_svhn


@dataclass(frozen=True)
class StudyDataset:
    """One of the study's loaders (it reads the spec's folder, or downloads on request)."""

    order: int
    loader: Callable[[DataSpec], Dataset]

    def load(self, spec: DataSpec, argument: str) -> Dataset:
        return self.loader(spec)


_LOADERS: dict[str, Callable[[DataSpec], Dataset]] = {
    "digits": load_digits,
    "mnist": load_idx_dataset,
    "fashion-mnist": load_idx_dataset,
    "cifar10": load_cifar,
    "cifar100": load_cifar,
    "svhn": load_svhn,
}
for _i, _name in enumerate(DATASETS):
    register_dataset(_name, StudyDataset(_i, _LOADERS[_name]))
