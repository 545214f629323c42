"""``RegionsConfig``: the options of the region analyses (the CLI's, the library's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actcode.regions.walk import DEFAULT_TAU


@dataclass
class RegionsConfig:
    """Parameters of :func:`~actcode.regions.api.regions_file` (the CLI's options).

    ``analyses=None`` is the default list: every built-in analysis (all support ``MaxPool2d``).
    An analysis without max-pool support (a plugin's ``max_pool = False``) is skipped, and the
    skip recorded, when a default list has one; named on a network with max-pools, it is
    refused before any analysis runs.
    """

    analyses: tuple[str, ...] | None = None
    splits: list[str] | None = None
    layers: list[str] | str | None = None
    segments: int = 64
    radius: float | None = None
    directions: int = 8
    batch: int | None = None  # kernel: min(128, D + 1) when None
    max_rows: int = 1000
    plane: tuple[int, int, int] | None = None
    window: str = "triangle"
    seed: int = 0
    device: str = "auto"
    model: str | None = None
    weights: str | None = None
    dataset: str | None = None
    data_root: str | None = None
    trust_model_code: bool = False
    tau: float = DEFAULT_TAU
    extra: dict[str, Any] = field(default_factory=dict)


__all__ = ["RegionsConfig"]
