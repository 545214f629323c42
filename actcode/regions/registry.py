"""The region-analysis registry: the :class:`Analysis` protocol, what an analysis gets, and the name table.

An analysis runs on one split of a code file at a time and returns rows, arrays and the
walk information of that split (:class:`SplitResult`); ``params`` says what is recorded with
the results. ``prefixes`` are the metric-name prefixes of its rows (the rows of analyses not
rerun are kept). ``needs_pieces`` asks for the affine-piece runner (exact walks), and
``max_pool`` says whether it supports networks with max-pools (the default list skips the
others on such a network; naming one explicitly is refused). The built-ins live one per module
in :mod:`actcode.regions.analyses`; plugins come from the entry-point group ``actcode.analyses``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch

from actcode.registry import Registry

if TYPE_CHECKING:
    from actcode.io.codes import CodeFile
    from actcode.regions.affine import PieceRunner
    from actcode.regions.config import RegionsConfig
    from actcode.regions.sources import FileModel
    from actcode.regions.walk import WalkProgress

#: One row of an analysis: (scope, metric, value); the split is added by the caller.
Row = tuple[str, str, float]


@dataclass
class SplitContext:
    """What an analysis gets for one split.

    ``x`` are the split's inputs (as the network reads them), ``labels`` its labels, ``rng``
    the split's generator (seeded with ``cfg.seed`` and shared by the analyses in their
    order), ``radius`` the segment and neighbourhood radius, ``selected`` the indices of the
    selected sites in the file's layer table, ``run`` the piece runner (None unless an analysis
    of the run ``needs_pieces``). ``walk_progress``, when set, is for an analysis that walks:
    it calls it as ``walk_progress(label, WalkProgress)`` during each walk, ``label`` naming
    the walk (``"train same"``: the split and what is walked).
    """

    cf: CodeFile
    fm: FileModel
    run: PieceRunner | None
    split: str
    cfg: RegionsConfig
    radius: float
    selected: list[int]
    x: torch.Tensor
    labels: np.ndarray
    rng: np.random.Generator
    walk_progress: Callable[[str, WalkProgress], None] | None = None


@dataclass
class SplitResult:
    """An analysis's output for one split: rows, arrays (keys ``SPLIT/...``) and walk information."""

    rows: list[Row] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] | None = None


@runtime_checkable
class Analysis(Protocol):
    """What a region analysis provides (see the module docstring and docs/extending.md)."""

    @property
    def order(self) -> int:
        """Built-ins run in this order; plugins after them."""

    @property
    def prefixes(self) -> tuple[str, ...]:
        """Metric-name prefixes of its rows."""

    @property
    def needs_pieces(self) -> bool:
        """Whether it walks affine pieces (it then gets ``ctx.run``)."""

    @property
    def max_pool(self) -> bool:
        """Whether it supports networks with max-pools."""

    def run(self, ctx: SplitContext) -> SplitResult:
        """The rows, arrays and information of one split."""

    def params(self, cfg: RegionsConfig, radius: float, scale: float, fm: FileModel) -> dict[str, Any]:
        """The parameters recorded with the results, under the analysis's name."""


def _accept(name: str, obj: object) -> Analysis:
    item = obj() if isinstance(obj, type) else obj
    if not isinstance(item, Analysis):
        msg = f"the entry point {name!r} is not a region analysis (see docs/extending.md)"
        raise TypeError(msg)
    return item


#: Analyses by name: the built-ins of :mod:`actcode.regions.analyses` and the ``actcode.analyses`` plugins.
ANALYSIS_REGISTRY: Registry[Analysis] = Registry(
    "analysis",
    "actcode.analyses",
    builtins="actcode.regions.analyses",
    accept=_accept,
    order=lambda a: a.order,
)


def register_analysis(name: str, analysis: Analysis) -> Analysis:
    """Register a region analysis under ``name`` (a built-in module calls this when imported)."""
    return ANALYSIS_REGISTRY.register(name, analysis)


def get_analysis(name: str) -> Analysis:
    """The analysis ``name`` (a built-in, else the plugin of that name)."""
    return ANALYSIS_REGISTRY.get(name, option="--analyses")


def analysis_names() -> tuple[str, ...]:
    """Every analysis: the built-ins in run order, then the installed plugins."""
    return ANALYSIS_REGISTRY.names()


def builtin_analysis_names() -> tuple[str, ...]:
    """The built-in analyses in run order (the default list)."""
    return ANALYSIS_REGISTRY.builtin_names()


__all__ = [
    "ANALYSIS_REGISTRY",
    "Analysis",
    "Row",
    "SplitContext",
    "SplitResult",
    "analysis_names",
    "builtin_analysis_names",
    "get_analysis",
    "register_analysis",
]
