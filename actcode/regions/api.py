"""``regions_file``: run the region analyses on a code file and store them as its ``regions`` results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from actcode import __version__
from actcode.codes import layout_layers
from actcode.errors import InvalidParameterError
from actcode.lists import comma_list
from actcode.regions.affine import PieceRunner
from actcode.regions.kernel import kernel_rows
from actcode.regions.lines import lines_rows
from actcode.regions.local import data_scale, local_complexity, local_rows
from actcode.regions.plane import PlanePartition, partition_plane, plane_from_points, polygon_area
from actcode.regions.sources import FileModel, load_file_model, split_inputs
from actcode.regions.walk import DEFAULT_TAU
from actcode.results import SCOPE_ALL, ResultTable

__all__ = ["ANALYSES", "RegionsConfig", "analysis_names", "parse_analyses", "plane_arrays", "regions_file"]

#: The analyses, in the order they run.
ANALYSES = ("lines", "local", "kernel", "plane")


def analysis_names() -> tuple[str, ...]:
    """The analyses' names, in the order they run: the one place the CLI and the sweep spec ask."""
    return ANALYSES


#: Max-pool modules: the plane analysis cuts the plane at unit zeros only, so it refuses them.
MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
             nn.AdaptiveMaxPool3d)  # fmt: skip
#: Metric-name prefix of each analysis (rows of other analyses are kept when only some are rerun).
PREFIX = {"lines": "lines_", "local": "local_", "kernel": ("naswot", "tenas_", "kernel_"), "plane": "plane_"}


@dataclass
class RegionsConfig:
    """Parameters of :func:`regions_file` (the CLI's options).

    ``analyses=None`` is the default list, all of :data:`ANALYSES` except that ``plane`` is
    skipped (and the skip recorded) for a network with max-pools; an explicit ``plane`` on
    such a network is refused before any analysis runs.
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


def parse_analyses(text: str | Sequence[str]) -> tuple[str, ...]:
    """Check a comma list of analyses.

    Examples
    --------
    >>> parse_analyses("kernel,lines")
    ('lines', 'kernel')
    """
    items = comma_list(text)
    bad = [s for s in items if s not in ANALYSES]
    if bad or not items:
        got = ",".join(items) or "(none)"
        msg = f"--analyses must be a comma list of {', '.join(ANALYSES)}. Got {got!r} instead."
        raise InvalidParameterError(msg)
    return tuple(a for a in ANALYSES if a in items)


def _check(cfg: RegionsConfig) -> None:
    checks = [
        (cfg.segments >= 1, f"--segments must be at least 1. Got {cfg.segments} instead."),
        (cfg.radius is None or cfg.radius > 0, f"--radius must be positive. Got {cfg.radius} instead."),
        (cfg.directions >= 1, f"--directions must be at least 1. Got {cfg.directions} instead."),
        (cfg.batch >= 2, f"--batch must be at least 2. Got {cfg.batch} instead."),
        (cfg.max_rows >= 1, f"--max-rows must be at least 1. Got {cfg.max_rows} instead."),
        (cfg.window in ("triangle", "box"), f"--window must be triangle or box. Got {cfg.window!r} instead."),
    ]
    for ok, msg in checks:
        if not ok:
            raise InvalidParameterError(msg)


def _resolve_analyses(
    cfg: RegionsConfig, fm: FileModel, path: Path, note: Callable[[str], None] | None
) -> tuple[RegionsConfig, dict[str, str]]:
    """The analyses to run, and those skipped (with why): the default list drops ``plane`` for a
    network with max-pools; an explicit ``plane`` on one is refused here, before any analysis runs."""
    wanted = cfg.analyses if cfg.analyses is not None else ANALYSES
    pools = [name for name, m in fm.model.named_modules() if isinstance(m, MAX_POOLS)]
    if not pools or "plane" not in wanted:
        return replace(cfg, analyses=wanted), {}
    why = f"the network has max-pools ({pools[0]!r}) and the plane analysis does not support them"
    if cfg.analyses is not None:
        msg = f"{path}: --analyses plane: {why}; choose lines, local or kernel for this network."
        raise InvalidParameterError(msg)
    if note is not None:
        note(f"regions {path}: skipping plane: {why} (ask for the others with --analyses).")
    return replace(cfg, analyses=tuple(a for a in wanted if a != "plane")), {"plane": why}


def _rows_of(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, limit, replace=False))


def _three_rows(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Three seeded rows, of three different classes when the split has them."""
    order = rng.permutation(labels.size)
    _, first = np.unique(labels[order], return_index=True)
    picked = order[np.sort(first)][:3] if first.size >= 3 and (labels >= 0).any() else order[:3]
    return np.asarray(picked, np.int64)


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
        f"{prefix}/window": part.window,
        f"{prefix}/points": part.points,
        f"{prefix}/cell_vertices": cv,
        f"{prefix}/cell_offsets": co,
        f"{prefix}/cell_class": part.cell_class,
        f"{prefix}/boundary": part.boundary,
        f"{prefix}/origin": part.origin,
        f"{prefix}/basis": part.basis,
    }


def _plane(
    run: PieceRunner, x: torch.Tensor, rows: np.ndarray, window: str
) -> tuple[list[tuple[str, str, float]], PlanePartition]:
    origin, basis, q = plane_from_points(x[torch.as_tensor(rows)].double().reshape(3, -1).numpy())
    part = partition_plane(run, origin, basis, _window(q, window), points=q)
    areas = part.areas
    total = abs(polygon_area(part.window))
    stats = {
        "plane_regions": float(len(part.polygons)),
        "plane_window_area": total,
        "plane_area_mean": float(areas.mean()),
        "plane_area_median": float(np.median(areas)),
        "plane_area_min": float(areas.min()),
        "plane_area_max": float(areas.max()),
        "plane_regions_per_area": len(part.polygons) / total,
        "plane_boundary_length": float(
            np.linalg.norm(part.boundary[:, 1] - part.boundary[:, 0], axis=1).sum()
        ),
    }
    return [(SCOPE_ALL, k, v) for k, v in stats.items()], part


def _run_split(
    cf: Any,
    fm: FileModel,
    run: PieceRunner | None,
    split: str,
    cfg: RegionsConfig,
    radius: float,
    selected: list[int],
) -> tuple[list[tuple[str, str, str, float]], dict[str, np.ndarray], dict[str, Any]]:
    rng = np.random.default_rng(cfg.seed)
    x = split_inputs(cf, split, fm.dataset)
    labels = cf.labels(split)
    rows: list[tuple[str, str, float]] = []
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    names = [layer.name for layer in cf.layers]
    analyses = cfg.analyses or ()
    if "lines" in analyses:
        assert run is not None  # built for lines and plane
        sel_sites = [fm.file_sites[k] for k in selected]
        r, a, info["lines"] = lines_rows(
            run, x, labels, n=cfg.segments, radius=radius, seed=cfg.seed, selected=sel_sites, tau=cfg.tau
        )
        rows += r
        arrays.update({f"{split}/{k}": v for k, v in a.items()})
    if "local" in analyses:
        pick = _rows_of(x.shape[0], cfg.max_rows, rng)
        sites = [fm.sites[i] for i in fm.file_sites]
        counts = local_complexity(
            fm.model, sites, layout_layers([s.layer_info() for s in sites]), x[torch.as_tensor(pick)],
            radius=radius, directions=cfg.directions, seed=cfg.seed, census=fm.sites,
        )  # fmt: skip
        rows += local_rows(counts, names, selected)
        arrays[f"{split}/local/counts"] = counts
        arrays[f"{split}/local/rows"] = pick
    if "kernel" in analyses:
        pick = _rows_of(cf.n_rows(split), cfg.batch, rng)
        rows += kernel_rows(cf.codes_at(split, pick), cf.layers, selected)  # only the batch's rows
        arrays[f"{split}/kernel/rows"] = pick
    if "plane" in analyses:
        assert run is not None
        prow = np.asarray(cfg.plane) if cfg.plane is not None else _three_rows(labels, rng)
        if prow.min() < 0 or prow.max() >= x.shape[0]:
            last = x.shape[0] - 1
            msg = f"--plane rows must lie in 0..{last} for split {split!r}. Got {prow.tolist()} instead."
            raise InvalidParameterError(msg)
        r, part = _plane(run, x, prow, cfg.window)
        rows += r
        arrays.update(plane_arrays(part, f"{split}/plane"))
        arrays[f"{split}/plane/rows"] = prow.astype(np.int64)
    return [(split, s, m, v) for s, m, v in rows], arrays, info


def _keep_old(
    cf: Any, analyses: Sequence[str]
) -> tuple[list[tuple[str, str, str, float]], dict[str, np.ndarray], dict[str, Any]]:
    """Rows, arrays and parameters of earlier ``regions`` results of the analyses not rerun now."""
    old = cf.results("regions")
    if old is None:
        return [], {}, {}
    rerun = [PREFIX[a] for a in analyses]
    prefixes = tuple(p for item in rerun for p in ((item,) if isinstance(item, str) else item))
    rows = [r for r in old.rows() if not r[2].startswith(prefixes)]
    keys = {a for a in ANALYSES if a not in analyses}
    arrays = {k: v for k, v in cf.result_arrays("regions").items() if k.split("/")[1] in keys}
    params = {k: v for k, v in (cf.result_params("regions").get("analyses") or {}).items() if k in keys}
    return rows, arrays, params


def regions_file(
    path: str | Path,
    config: RegionsConfig | None = None,
    *,
    output: str | Path | None = None,
    note: Callable[[str], None] | None = None,
) -> tuple[Path, ResultTable]:
    """Run the region analyses on a code file and store them under ``/results/regions`` (copy-on-write).

    The network and data come from the file's provenance (or ``config.model``/``weights``),
    and are checked against the file's codes. Rows of analyses not rerun are kept. ``note``
    receives one line when the default list skips an analysis (recorded as ``skipped``).

    Returns
    -------
    path : Path
        The file holding the results.
    table : ResultTable
        This run's rows.
    """
    from actcode.devices import resolve_device
    from actcode.io import add_results, open_codes

    cfg = config or RegionsConfig()
    _check(cfg)
    dev = resolve_device(cfg.device)
    if dev.type == "mps":  # MPS has no float64 and the walk and plane are float64: the CPU does them
        dev = torch.device("cpu")
    with open_codes(path) as cf:
        splits = cfg.splits or list(cf.splits)
        unknown = [s for s in splits if s not in cf.splits]
        if unknown:
            msg = f"{cf.path}: has no split {unknown[0]!r}; it has {cf.splits}."
            raise InvalidParameterError(msg)
        selected_layers = cf.select_layers(cfg.layers)
        selected = [[la.name for la in cf.layers].index(la.name) for la in selected_layers]
        fm = load_file_model(
            cf, model=cfg.model, weights=cfg.weights, data_root=cfg.data_root,
            trust_model_code=cfg.trust_model_code,
        )  # fmt: skip
        cfg, skipped = _resolve_analyses(cfg, fm, cf.path, note)
        analyses = cfg.analyses or ()
        base = split_inputs(cf, "train" if "train" in cf.splits else cf.splits[0], fm.dataset)
        scale = data_scale(base)
        radius = cfg.radius if cfg.radius is not None else 0.01 * scale
        rows, arrays, per = _keep_old(cf, analyses)
        new_rows: list[tuple[str, str, str, float]] = []
        info: dict[str, Any] = {}
        # only lines and plane walk affine pieces; the runner refuses networks (padded or adaptive
        # max-pools) that local and kernel handle, so it is built only for them
        needs_run = any(a in analyses for a in ("lines", "plane"))
        runner: AbstractContextManager[PieceRunner | None] = (
            PieceRunner(fm.model, base[:2], device=dev, mode=fm.mode) if needs_run else nullcontext(None)
        )
        with runner as run:
            if run is not None:
                probe = base[: min(8, base.shape[0])].double()
                run.check_affine(probe, torch.roll(probe, 1, 0) - probe)
            for split in splits:
                r, a, i = _run_split(cf, fm, run, split, cfg, radius, selected)
                new_rows += r
                arrays.update(a)
                info[split] = i
        per.update({a: _params_of(a, cfg, radius, scale, fm) for a in analyses})
    params = {"actcode_version": __version__, "source": fm.source, "site_mode": fm.mode, "analyses": per,
              "walk": info, "splits": splits, "layers": [la.name for la in selected_layers]}  # fmt: skip
    if skipped:
        params["skipped"] = skipped
    table = ResultTable.from_rows(new_rows)
    out = add_results(
        path, "regions", ResultTable.from_rows(rows + new_rows), params=params, arrays=arrays, output=output
    )
    return out, table


def _params_of(
    analysis: str, cfg: RegionsConfig, radius: float, scale: float, fm: FileModel
) -> dict[str, Any]:
    common: dict[str, Any] = {"seed": cfg.seed}
    if analysis == "lines":
        return {
            **common,
            "segments_per_relation": cfg.segments,
            "random_segment_length": radius,
            "tau": cfg.tau,
            "data_scale": scale,
            "dtype": "float64",
            "method": "exact walk on affine pieces (stacked pass), bisection on unpredicted flips",
            "max_pool": "argmax switches are walk steps, not breakpoints; regions are counted by the code",
        }
    if analysis == "local":
        return {
            **common,
            "radius": radius,
            "data_scale": scale,
            "data_scale_definition": "RMS distance to the mean of the train rows",
            "directions": cfg.directions,
            "max_rows": cfg.max_rows,
        }
    if analysis == "kernel":
        return {
            **common,
            "batch": cfg.batch,
            "naswot": "log det K, K_ij = D - Hamming(c_i, c_j); -inf if K is singular (equal codes...)",
        }
    return {
        **common,
        "rows": None if cfg.plane is None else list(cfg.plane),
        "window": cfg.window,
        "sites": [s.name for s in fm.sites],
    }
