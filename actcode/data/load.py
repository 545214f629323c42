"""``load_dataset``: a data spec to its dataset, through the registry of :mod:`actcode.data.sources`."""

from __future__ import annotations

from actcode.data.dataset import Dataset
from actcode.data.sources import resolve_dataset
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
        The name is not a known dataset (built-in or plugin) and not a ``.npz`` file.
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
    _, source, argument = resolve_dataset(spec)
    return source.load(spec, argument)


__all__ = ["load_dataset"]
