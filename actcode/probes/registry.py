"""The probe registry: the :class:`Probe` protocol, what a probe is given, and the name → probe table.

A probe is an object with a ``title``, an ``order``, the ``metrics`` it writes, the dense
matrix it needs (``dense_itemsize``: 0 for packed codes, 4 for float32, 8 for float64) and
three methods: ``check`` (refuse codes it cannot run on, before any probe runs), ``params``
(what is recorded with the results) and ``run`` (append rows for one scope). The built-ins
live one per module in :mod:`actcode.probes.builtin`; plugins come from the entry-point
group ``actcode.probes``. Registering a probe registers its metrics (:func:`actcode.metrics.register`),
so ``table`` and ``chart`` label them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from actcode import metrics
from actcode.metrics import Metric
from actcode.probes.dense import ColumnPlan
from actcode.probes.span import SpanBasis
from actcode.registry import Registry

if TYPE_CHECKING:
    from actcode.devices import HammingSearch

#: One result row: (split, scope, metric, value).
Row = tuple[str, str, str, float]


@dataclass
class ProbeTask:
    """One probing run: the probed splits (training split first), the settings, and what is collected.

    ``k``, ``ovo``, ``n_init``, ``knn_map`` and ``knn_ties`` are the built-in probes' options; ``engine``
    is the Hamming search chosen for the device (None: the Numba kernels). Probes append to
    ``rows`` and may add keys under their own name in ``params``.
    """

    splits: list[str]
    classes: np.ndarray
    k: int
    ovo: bool
    seed: int
    n_init: int | str
    knn_map: bool
    max_memory: int
    say: Callable[[str], None]
    params: dict[str, Any]
    where: str = "the codes"
    engine: HammingSearch | None = None
    knn_ties: str = "distance"
    rows: list[Row] = field(default_factory=list)

    @property
    def train(self) -> str:
        """The split the probes are fitted on."""
        return self.splits[0]


@dataclass(frozen=True)
class ScopeCodes:
    """One scope's codes, as a probe's ``run`` gets them.

    ``codes`` are packed rows per probed split (only this scope's bytes), ``labels`` their
    int64 labels, ``n_bits`` the scope's units, and ``plan`` the dense columns (None when no
    chosen probe needs a dense matrix). ``span_bases`` is this scope's cache of span bases
    (:class:`~actcode.probes.span.SpanBasis` of a split's rows on ``plan.columns``, by split),
    filled by the probe that computes one and reused by the next: K-Means stores the training
    split's and logistic regression fits on it instead of recounting the same Gram matrix.
    """

    name: str
    codes: Mapping[str, np.ndarray]
    labels: Mapping[str, np.ndarray]
    n_bits: int
    plan: ColumnPlan | None
    span_bases: dict[str, SpanBasis] = field(default_factory=dict)


@runtime_checkable
class Probe(Protocol):
    """What a probe provides (see the module docstring and docs/extending.md)."""

    @property
    def title(self) -> str:
        """Name in messages ("K-NN")."""

    @property
    def order(self) -> int:
        """Built-ins run in this order; plugins run after them."""

    @property
    def metrics(self) -> tuple[Metric, ...]:
        """The metrics its rows hold (registered with the probe)."""

    @property
    def dense_itemsize(self) -> int:
        """Bytes per value of the dense matrix it needs (0: packed codes only)."""

    @property
    def uses_search(self) -> bool:
        """Whether it searches Hamming neighbours (then ``task.engine`` is the device's search)."""

    def check(self, task: ProbeTask, codes: Mapping[str, np.ndarray]) -> None:
        """Raise ProbeError or InvalidParameterError if it cannot run on these codes."""

    def params(self, task: ProbeTask) -> dict[str, Any]:
        """The parameters recorded with the results, under the probe's name."""

    def run(self, task: ProbeTask, scope: ScopeCodes) -> None:
        """Append the rows of one scope to ``task.rows``."""


def _accept(name: str, obj: object) -> Probe:
    item = obj() if isinstance(obj, type) else obj
    if not isinstance(item, Probe):
        msg = f"the entry point {name!r} is not a probe: it lacks {', '.join(_missing(item))}"
        raise TypeError(msg)
    return item


def _missing(item: object) -> list[str]:
    wanted = ("title", "order", "metrics", "dense_itemsize", "uses_search", "check", "params", "run")
    return [a for a in wanted if not hasattr(item, a)]


def _register_metrics(probe: Probe) -> None:
    for m in probe.metrics:
        metrics.register(m)


#: Probes by name: the built-ins of :mod:`actcode.probes.builtin` and the ``actcode.probes`` plugins.
PROBES: Registry[Probe] = Registry(
    "probe",
    "actcode.probes",
    builtins="actcode.probes.builtin",
    accept=_accept,
    on_register=_register_metrics,
    order=lambda p: p.order,
)


def register_probe(name: str, probe: Probe) -> Probe:
    """Register a probe under ``name`` (a built-in module calls this when imported)."""
    return PROBES.register(name, probe)


def get_probe(name: str) -> Probe:
    """The probe ``name`` (a built-in, else the plugin of that name)."""
    return PROBES.get(name, option="--probes")


def probe_names() -> tuple[str, ...]:
    """Every probe name: the built-ins in run order, then the installed plugins."""
    return PROBES.names()


def builtin_probe_names() -> tuple[str, ...]:
    """The built-in probes, in run order (the default of ``--probes``)."""
    return PROBES.builtin_names()


__all__ = [
    "PROBES",
    "Probe",
    "ProbeTask",
    "Row",
    "ScopeCodes",
    "builtin_probe_names",
    "get_probe",
    "probe_names",
    "register_probe",
]
