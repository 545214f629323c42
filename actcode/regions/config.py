"""``RegionsConfig``: the options of the region analyses (the CLI's, the library's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actcode.regions.walk import DEFAULT_TAU


@dataclass
class RegionsConfig:
    """Parameters of :func:`~actcode.regions.api.regions_file` (the CLI's options).

    ``analyses=None`` is the default list: every built-in analysis, except that those without
    max-pool support (``plane``) are skipped (and the skip recorded) for a network with
    max-pools; an explicit ``plane`` on such a network is refused before any analysis runs.
    """

    analyses: tuple[str, ...] | None = None
    splits: list[str] | None = None
    layers: list[str] | str | None = None
    segments: int = 64
    radius: float | None = None
    directions: int = 8
    batch: int = 128
    max_rows: int = 1000
    plane: tuple[int, int, int] | None = None
    window: str = "triangle"
    seed: int = 0
    device: str = "auto"
    model: str | None = None
    weights: str | None = None
    data_root: str | None = None
    trust_model_code: bool = False
    tau: float = DEFAULT_TAU
    extra: dict[str, Any] = field(default_factory=dict)


__all__ = ["RegionsConfig"]
