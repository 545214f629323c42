"""``load_dataset``: the loader registry, from a data spec's canonical name to the loader that reads it."""

from __future__ import annotations

from collections.abc import Callable

from actcode.data.dataset import Dataset
from actcode.data.spec import DataSpec


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


__all__ = ["load_dataset"]
