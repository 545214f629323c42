"""The ``plane`` analysis: the exact partition of a 2-D slice through three examples into linear regions.

With max-pools, ``plane_pieces`` (affine pieces) can exceed ``plane_regions`` (connected sets of
one code); the areas are the regions'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from actcode.errors import InvalidParameterError
from actcode.regions.affine import PieceRunner
from actcode.regions.config import RegionsConfig
from actcode.regions.plane import PlanePartition, partition_plane, plane_from_points, polygon_area
from actcode.regions.registry import Row, SplitContext, SplitResult, register_analysis
from actcode.regions.sources import FileModel
from actcode.regions.subsample import three_rows
from actcode.results import SCOPE_ALL


def _window(q: np.ndarray, kind: str) -> np.ndarray:
    if kind == "triangle":
        return q.copy()
    lo, hi = q.min(axis=0), q.max(axis=0)
    pad = 0.25 * (hi - lo).max()
    lo, hi = lo - pad, hi + pad
    return np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])


def plane_arrays(part: PlanePartition, prefix: str) -> dict[str, np.ndarray]:
    """The arrays that store a partition (read back by ``chart regions``)."""

    def ragged(polys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        offs = np.concatenate([[0], np.cumsum([p.shape[0] for p in polys])]).astype(np.int64)
        verts = np.concatenate(polys) if polys else np.zeros((0, 2))
        return verts, offs

    v, o = ragged(part.polygons)
    cv, co = ragged(part.cells)
    return {
        f"{prefix}/vertices": v,
        f"{prefix}/offsets": o,
        f"{prefix}/codes": np.packbits(part.bits, axis=1),
        f"{prefix}/predicted": part.predicted,
        f"{prefix}/areas": part.areas,
        f"{prefix}/region": part.region,
        f"{prefix}/window": part.window,
        f"{prefix}/points": part.points,
        f"{prefix}/cell_vertices": cv,
        f"{prefix}/cell_offsets": co,
        f"{prefix}/cell_class": part.cell_class,
        f"{prefix}/boundary": part.boundary,
        f"{prefix}/origin": part.origin,
        f"{prefix}/basis": part.basis,
    }


def plane_stats(
    run: PieceRunner, x: torch.Tensor, rows: np.ndarray, window: str
) -> tuple[list[Row], PlanePartition]:
    """The partition of the plane through ``rows`` of ``x`` and its summary rows."""
    origin, basis, q = plane_from_points(x[torch.as_tensor(rows)].double().reshape(3, -1).numpy())
    part = partition_plane(run, origin, basis, _window(q, window), points=q)
    areas = part.region_areas
    total = abs(polygon_area(part.window))
    stats = {
        "plane_regions": float(part.n_regions),
        "plane_pieces": float(len(part.polygons)),
        "plane_window_area": total,
        "plane_area_mean": float(areas.mean()),
        "plane_area_median": float(np.median(areas)),
        "plane_area_min": float(areas.min()),
        "plane_area_max": float(areas.max()),
        "plane_regions_per_area": part.n_regions / total,
        "plane_boundary_length": float(
            np.linalg.norm(part.boundary[:, 1] - part.boundary[:, 0], axis=1).sum()
        ),
    }
    return [(SCOPE_ALL, k, v) for k, v in stats.items()], part


class PlaneAnalysis:
    """The slice through ``cfg.plane`` (three row indices) or three seeded rows of different classes."""

    order: int = 40
    prefixes: tuple[str, ...] = ("plane_",)
    needs_pieces: bool = True
    max_pool: bool = True  # pool switches cut pieces; regions join the pieces of one code

    def run(self, ctx: SplitContext) -> SplitResult:
        assert ctx.run is not None  # needs_pieces
        cfg, x = ctx.cfg, ctx.x
        prow = np.asarray(cfg.plane) if cfg.plane is not None else three_rows(ctx.labels, ctx.rng)
        if prow.min() < 0 or prow.max() >= x.shape[0]:
            last = x.shape[0] - 1
            msg = f"--plane rows must lie in 0..{last} for split {ctx.split!r}. Got {prow.tolist()} instead."
            raise InvalidParameterError(msg)
        rows, part = plane_stats(ctx.run, x, prow, cfg.window)
        arrays = plane_arrays(part, f"{ctx.split}/plane")
        arrays[f"{ctx.split}/plane/rows"] = prow.astype(np.int64)
        return SplitResult(rows, arrays)

    def params(self, cfg: RegionsConfig, radius: float, scale: float, fm: FileModel) -> dict[str, Any]:
        return {
            "seed": cfg.seed,
            "rows": None if cfg.plane is None else list(cfg.plane),
            "window": cfg.window,
            "sites": [s.name for s in fm.sites],
            "max_pool": "switches cut affine pieces; a region is the connected union of pieces of one code",
        }


register_analysis("plane", PlaneAnalysis())
