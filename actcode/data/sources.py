"""The dataset-source registry: which loader reads a data spec's name, built-in or plugin.

A dataset source is an object with an ``order`` and ``load(spec, argument)``, which returns
the :class:`~actcode.data.dataset.Dataset` (official train and test splits). A data spec's
name is resolved in this order:

1. a ``.npz`` file (source ``npz``);
2. a study dataset, under any accepted spelling (``MNIST``, ``fashion_mnist``);
3. ``NAME`` or ``NAME:ARGUMENT`` where ``NAME`` is a registered source (``blobs:4`` for the
   example plugin); the argument is the text after the first ``:``.

The built-ins live in :mod:`actcode.data.builtin`; plugins come from the entry-point group
``actcode.datasets``.

Examples
--------
>>> from actcode.data.spec import DataSpec
>>> dataset_name(DataSpec("Fashion_MNIST")), dataset_names()[:2]
('fashion-mnist', ('digits', 'mnist'))
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from actcode.data.dataset import Dataset
from actcode.data.spec import DataSpec, builtin_alias
from actcode.errors import InvalidParameterError
from actcode.registry import Registry


@runtime_checkable
class DatasetSource(Protocol):
    """What a dataset source provides (see docs/extending.md)."""

    @property
    def order(self) -> int:
        """Built-ins are listed in this order; plugins after them."""

    def load(self, spec: DataSpec, argument: str) -> Dataset:
        """The dataset ``spec`` names; ``argument`` is the text after ``NAME:`` ('' without one).

        Raises InvalidParameterError for a bad argument, DataNotFoundError for missing files.
        """


def _accept(name: str, obj: object) -> DatasetSource:
    item = obj() if isinstance(obj, type) else obj
    if not isinstance(item, DatasetSource):
        msg = f"the entry point {name!r} is not a dataset source: it needs 'order' and 'load(spec, argument)'"
        raise TypeError(msg)
    return item


#: Dataset sources by name: :mod:`actcode.data.builtin` and the ``actcode.datasets`` plugins.
DATASET_SOURCES: Registry[DatasetSource] = Registry(
    "dataset", "actcode.datasets", builtins="actcode.data.builtin", accept=_accept, order=lambda s: s.order
)


def register_dataset(name: str, source: DatasetSource) -> DatasetSource:
    """Register a dataset source under ``name`` (a built-in module calls this when imported)."""
    return DATASET_SOURCES.register(name, source)


def dataset_names() -> tuple[str, ...]:
    """Every dataset source: the study datasets, ``npz``, then the installed plugins."""
    return DATASET_SOURCES.names()


def resolve_dataset(spec: DataSpec) -> tuple[str, DatasetSource, str]:
    """(canonical name, source, argument) of a data spec.

    Raises
    ------
    InvalidParameterError
        No source has that name (the message lists them).
    PluginError
        The plugin of that name failed to load.
    """
    if spec.is_npz():
        return "npz", DATASET_SOURCES.get("npz"), spec.name
    alias = builtin_alias(spec.name)
    if alias is not None:
        return alias, DATASET_SOURCES.get(alias), ""
    head, sep, argument = spec.name.strip().partition(":")
    if head and head not in ("npz",) and head in DATASET_SOURCES:
        return (f"{head}:{argument}" if sep else head), DATASET_SOURCES.get(head), argument
    DATASET_SOURCES.check_loaded(head)
    names = [n for n in dataset_names() if n != "npz"]
    msg = (
        f"unknown dataset {spec.name!r}: expected one of {', '.join(names)} (NAME or NAME:ARGUMENT for a "
        "plugin), or the path of a .npz file holding x_train, y_train, x_test and y_test."
    )
    raise InvalidParameterError(msg)


def dataset_name(spec: DataSpec) -> str:
    """The canonical name of a data spec (``"npz"`` for a file); raises for an unknown name."""
    return resolve_dataset(spec)[0]


__all__ = [
    "DATASET_SOURCES",
    "DatasetSource",
    "dataset_name",
    "dataset_names",
    "register_dataset",
    "resolve_dataset",
]
