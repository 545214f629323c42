"""The ``lines`` analysis: exact region counts along chords and random segments (walks on affine pieces)."""

from __future__ import annotations

from typing import Any

from actcode.regions.config import RegionsConfig
from actcode.regions.lines import lines_rows
from actcode.regions.registry import SplitContext, SplitResult, register_analysis
from actcode.regions.sources import FileModel


class LinesAnalysis:
    """:func:`actcode.regions.lines.lines_rows` on the split's inputs."""

    order: int = 10
    prefixes: tuple[str, ...] = ("lines_",)
    needs_pieces: bool = True
    max_pool: bool = True

    def run(self, ctx: SplitContext) -> SplitResult:
        assert ctx.run is not None  # needs_pieces
        cfg = ctx.cfg
        sites = [ctx.fm.file_sites[k] for k in ctx.selected]
        shown = ctx.walk_progress
        report = (lambda rel, p: shown(f"{ctx.split} {rel}", p)) if shown is not None else None
        rows, arrays, info = lines_rows(
            ctx.run, ctx.x, ctx.labels, n=cfg.segments, radius=ctx.radius, seed=cfg.seed, selected=sites,
            tau=cfg.tau, progress=report,
        )  # fmt: skip
        return SplitResult(rows, {f"{ctx.split}/{k}": v for k, v in arrays.items()}, info)

    def params(self, cfg: RegionsConfig, radius: float, scale: float, fm: FileModel) -> dict[str, Any]:
        return {
            "seed": cfg.seed,
            "segments_per_relation": cfg.segments,
            "random_segment_length": radius,
            "tau": cfg.tau,
            "data_scale": scale,
            "dtype": "float64",
            "method": "exact walk on affine pieces (stacked pass), bisection on unpredicted flips",
            "max_pool": "argmax switches are walk steps, not breakpoints; regions are counted by the code",
        }


register_analysis("lines", LinesAnalysis())
