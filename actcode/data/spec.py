"""The data spec: which dataset a run uses (a bundled loader or a ``.npz`` file) and where its files are.

The folder is ``DataSpec.root`` when given, else the environment variable ``ACTCODE_DATA``,
else ``~/.cache/actcode/data``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from actcode.errors import InvalidParameterError

#: Canonical names of the bundled loaders, in the order the help lists them.
DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn")

_ALIASES: dict[str, str] = {
    "digits": "digits",
    "mnist": "mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "svhn": "svhn",
}

#: Fraction of the official training split used for training; the rest is validation.
TRAIN_FRACTION_NUM, TRAIN_FRACTION_DEN = 4, 5


@dataclass(frozen=True)
class DataSpec:
    """Which dataset to load and where its files are.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (``fashion_mnist``, ``cifar-10`` and similar spellings are
        accepted) or the path of a ``.npz`` file holding ``x_train, y_train, x_test, y_test``.
    root : str or None
        Folder holding the dataset's files. ``None`` means ``$ACTCODE_DATA`` or
        ``~/.cache/actcode/data``, resolved when the data is loaded.
    download : bool
        Fetch missing files with torchvision's downloaders (needs the network).

    Examples
    --------
    >>> DataSpec("MNIST").canonical_name()
    'mnist'
    >>> DataSpec("fashion_mnist").canonical_name()
    'fashion-mnist'
    """

    name: str = "digits"
    root: str | None = None
    download: bool = False

    def is_npz(self) -> bool:
        """Whether ``name`` names a ``.npz`` file rather than a bundled loader."""
        return self.name.lower().endswith(".npz") or (
            _norm(self.name) not in _ALIASES and Path(self.name).is_file()
        )

    def canonical_name(self) -> str:
        """The study loader's canonical name, or ``"npz"`` for a file; raises for any other name.

        Plugin datasets are resolved by :func:`actcode.data.sources.dataset_name`.
        """
        if self.is_npz():
            return "npz"
        key = _norm(self.name)
        if key not in _ALIASES:
            msg = (
                f"unknown dataset {self.name!r}: expected one of {', '.join(DATASETS)}, "
                "or the path of a .npz file holding x_train, y_train, x_test and y_test."
            )
            raise InvalidParameterError(msg)
        return _ALIASES[key]

    def resolved_root(self) -> Path:
        """The data folder: ``root``, else ``$ACTCODE_DATA``, else ``~/.cache/actcode/data``."""
        if self.root:
            return Path(self.root).expanduser()
        return default_root()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`InvalidParameterError`."""
        if not isinstance(d, dict):
            msg = f"a data spec must be a JSON object, got {type(d).__name__}."
            raise InvalidParameterError(msg)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            msg = (
                f"unknown data spec key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(names))}."
            )
            raise InvalidParameterError(msg)
        return cls(
            name=str(d.get("name", "digits")), root=d.get("root"), download=bool(d.get("download", False))
        )


def builtin_alias(name: str) -> str | None:
    """The canonical name of a study dataset under any accepted spelling, else None.

    >>> builtin_alias("Fashion_MNIST"), builtin_alias("blobs:4")
    ('fashion-mnist', None)
    """
    return _ALIASES.get(_norm(name))


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")


def default_root() -> Path:
    """``$ACTCODE_DATA`` when set, else ``~/.cache/actcode/data``."""
    env = os.environ.get("ACTCODE_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "actcode" / "data"


__all__ = [
    "DATASETS",
    "TRAIN_FRACTION_DEN",
    "TRAIN_FRACTION_NUM",
    "DataSpec",
    "builtin_alias",
    "default_root",
]
