"""``regions_file``: run the region analyses on a code file and store them as its ``regions`` results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from actcode import __version__
from actcode.errors import InvalidParameterError
from actcode.lists import comma_list
from actcode.regions.affine import PieceRunner
from actcode.regions.config import RegionsConfig
from actcode.regions.local import data_scale
from actcode.regions.registry import (
    ANALYSIS_REGISTRY,
    SplitContext,
    analysis_names,
    builtin_analysis_names,
    get_analysis,
)
from actcode.regions.sources import FileModel, load_file_model, split_inputs
from actcode.results import ResultTable

if TYPE_CHECKING:
    from actcode.io.codes import CodeFile

__all__ = ["ANALYSES", "RegionsConfig", "parse_analyses", "regions_file"]

#: The built-in analyses, in the order they run (plugins: :func:`~actcode.regions.registry.analysis_names`).
ANALYSES = builtin_analysis_names()
#: Max-pool modules: analyses without ``max_pool`` support (plane) refuse networks that have them.
MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
             nn.AdaptiveMaxPool3d)  # fmt: skip


def _ordered(names: Sequence[str]) -> tuple[str, ...]:
    """Built-ins in run order, then plugins in the order given."""
    return tuple(a for a in ANALYSES if a in names) + tuple(a for a in names if a not in ANALYSES)


def parse_analyses(text: str | Sequence[str]) -> tuple[str, ...]:
    """Check a comma list of analyses (built-in or plugin); return them in run order.

    Examples
    --------
    >>> parse_analyses("kernel,lines")
    ('lines', 'kernel')
    """
    items = list(dict.fromkeys(comma_list(text)))
    bad = [s for s in items if s not in ANALYSIS_REGISTRY]
    if bad or not items:
        for name in bad:
            ANALYSIS_REGISTRY.check_loaded(name)  # a plugin that failed to load says so
        got = ",".join(items) or "(none)"
        msg = f"--analyses must be a comma list of {', '.join(analysis_names())}. Got {got!r} instead."
        raise InvalidParameterError(msg)
    return _ordered(items)


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
    wanted = parse_analyses(cfg.analyses) if cfg.analyses is not None else ANALYSES
    pools = [name for name, m in fm.model.named_modules() if isinstance(m, MAX_POOLS)]
    unsupported = [a for a in wanted if not get_analysis(a).max_pool]
    if not pools or not unsupported:
        return replace(cfg, analyses=wanted), {}
    why = {a: f"the network has max-pools ({pools[0]!r}) and the {a} analysis does not support them"
           for a in unsupported}  # fmt: skip
    if cfg.analyses is not None:
        fit = [a for a in analysis_names() if get_analysis(a).max_pool]
        ok = ", ".join(fit[:-1]) + f" or {fit[-1]}" if len(fit) > 1 else ", ".join(fit)
        msg = f"{path}: --analyses {unsupported[0]}: {why[unsupported[0]]}; choose {ok} for this network."
        raise InvalidParameterError(msg)
    if note is not None:
        for a in unsupported:
            note(f"regions {path}: skipping {a}: {why[a]} (ask for the others with --analyses).")
    return replace(cfg, analyses=tuple(a for a in wanted if a not in unsupported)), why


def _run_split(
    cf: CodeFile,
    fm: FileModel,
    run: PieceRunner | None,
    split: str,
    cfg: RegionsConfig,
    radius: float,
    selected: list[int],
) -> tuple[list[tuple[str, str, str, float]], dict[str, np.ndarray], dict[str, Any]]:
    """Every analysis of ``cfg`` on one split, in run order (they share the split's seeded generator)."""
    x = split_inputs(cf, split, fm.dataset)
    rng = np.random.default_rng(cfg.seed)
    ctx = SplitContext(cf, fm, run, split, cfg, radius, selected, x, cf.labels(split), rng)
    rows: list[tuple[str, str, float]] = []
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    for name in cfg.analyses or ():
        out = get_analysis(name).run(ctx)
        rows += out.rows
        arrays.update(out.arrays)
        if out.info is not None:
            info[name] = out.info
    return [(split, s, m, v) for s, m, v in rows], arrays, info


def _keep_old(
    cf: CodeFile, analyses: Sequence[str]
) -> tuple[list[tuple[str, str, str, float]], dict[str, np.ndarray], dict[str, Any]]:
    """Rows, arrays and parameters of earlier ``regions`` results of the analyses not rerun now."""
    old = cf.results("regions")
    if old is None:
        return [], {}, {}
    prefixes = tuple(p for a in analyses for p in get_analysis(a).prefixes)
    rows = [r for r in old.rows() if not r[2].startswith(prefixes)]
    arrays = {k: v for k, v in cf.result_arrays("regions").items() if k.split("/")[1] not in analyses}
    earlier = cf.result_params("regions").get("analyses") or {}
    params = {k: v for k, v in earlier.items() if k not in analyses}
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
        needs_run = any(get_analysis(a).needs_pieces for a in analyses)
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
        per.update({a: get_analysis(a).params(cfg, radius, scale, fm) for a in analyses})
    params = {"actcode_version": __version__, "source": fm.source, "site_mode": fm.mode, "analyses": per,
              "walk": info, "splits": splits, "layers": [la.name for la in selected_layers]}  # fmt: skip
    if skipped:
        params["skipped"] = skipped
    table = ResultTable.from_rows(new_rows)
    out = add_results(
        path, "regions", ResultTable.from_rows(rows + new_rows), params=params, arrays=arrays, output=output
    )
    return out, table
