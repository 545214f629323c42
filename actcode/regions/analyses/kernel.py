"""The ``kernel`` analysis: the NAS code kernels (NASWOT, TE-NAS) on a seeded batch of codes."""

from __future__ import annotations

from typing import Any

from actcode.regions.config import RegionsConfig
from actcode.regions.kernel import kernel_rows
from actcode.regions.registry import SplitContext, SplitResult, register_analysis
from actcode.regions.sources import FileModel
from actcode.regions.subsample import rows_of


class KernelAnalysis:
    """:func:`actcode.regions.kernel.kernel_rows` on at most ``batch`` rows (only those are read)."""

    order: int = 30
    prefixes: tuple[str, ...] = ("naswot", "tenas_", "kernel_")
    needs_pieces: bool = False
    max_pool: bool = True

    def run(self, ctx: SplitContext) -> SplitResult:
        pick = rows_of(ctx.cf.n_rows(ctx.split), ctx.cfg.batch, ctx.rng)
        rows = kernel_rows(ctx.cf.codes_at(ctx.split, pick), ctx.cf.layers, ctx.selected)
        return SplitResult(rows, {f"{ctx.split}/kernel/rows": pick})

    def params(self, cfg: RegionsConfig, radius: float, scale: float, fm: FileModel) -> dict[str, Any]:
        return {
            "seed": cfg.seed,
            "batch": cfg.batch,
            "naswot": "log det K, K_ij = D - Hamming(c_i, c_j); -inf if K is singular (equal codes...)",
        }


register_analysis("kernel", KernelAnalysis())
