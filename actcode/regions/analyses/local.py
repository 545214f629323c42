"""The ``local`` analysis: local complexity, the units whose sign varies near each example."""

from __future__ import annotations

from typing import Any

import torch

from actcode.codes import layout_layers
from actcode.regions.config import RegionsConfig
from actcode.regions.local import local_complexity, local_rows
from actcode.regions.registry import SplitContext, SplitResult, register_analysis
from actcode.regions.sources import FileModel
from actcode.regions.subsample import rows_of


class LocalAnalysis:
    """:func:`actcode.regions.local.local_complexity` on at most ``max_rows`` seeded rows."""

    order: int = 20
    prefixes: tuple[str, ...] = ("local_",)
    needs_pieces: bool = False
    max_pool: bool = True

    def run(self, ctx: SplitContext) -> SplitResult:
        cfg, fm = ctx.cfg, ctx.fm
        pick = rows_of(ctx.x.shape[0], cfg.max_rows, ctx.rng)
        sites = [fm.sites[i] for i in fm.file_sites]
        counts = local_complexity(
            fm.model, sites, layout_layers([s.layer_info() for s in sites]), ctx.x[torch.as_tensor(pick)],
            radius=ctx.radius, directions=cfg.directions, seed=cfg.seed, census=fm.sites,
        )  # fmt: skip
        names = [layer.name for layer in ctx.cf.layers]
        arrays = {f"{ctx.split}/local/counts": counts, f"{ctx.split}/local/rows": pick}
        return SplitResult(local_rows(counts, names, ctx.selected), arrays)

    def params(self, cfg: RegionsConfig, radius: float, scale: float, fm: FileModel) -> dict[str, Any]:
        return {
            "seed": cfg.seed,
            "radius": radius,
            "data_scale": scale,
            "data_scale_definition": "RMS distance to the mean of the train rows",
            "directions": cfg.directions,
            "max_rows": cfg.max_rows,
        }


register_analysis("local", LocalAnalysis())
