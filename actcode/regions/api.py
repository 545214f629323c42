"""``regions_file``: run the region analyses on a code file and store them as its ``regions`` results."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from functools import partial
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
from actcode.regions.sources import FileModel, load_file_model, site_mode, split_inputs
from actcode.regions.walk import WalkProgress
from actcode.results import ResultTable

if TYPE_CHECKING:
    from actcode.io.codes import CodeFile

__all__ = ["ANALYSES", "RegionsConfig", "parse_analyses", "regions_file"]

#: The built-in analyses, in the order they run (plugins: :func:`~actcode.regions.registry.analysis_names`).
ANALYSES = builtin_analysis_names()
#: The analyses computed from the stored codes alone (no network or data is rebuilt for them).
CODES_ONLY = ("kernel",)
#: A result row: split, scope, metric, value.
Row = tuple[str, str, str, float]
#: Kept and new rows, arrays and per-analysis parameters of a run.
_Stored = tuple[list[Row], list[Row], dict[str, np.ndarray], dict[str, Any]]
#: What follows the exact walks: called as ``progress(label, WalkProgress)``; ``label`` names the walk.
WalkReport = Callable[[str, WalkProgress], None]
#: Max-pool modules: an analysis without ``max_pool`` support (a plugin may lack it) refuses them.
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
        (cfg.batch is None or cfg.batch >= 2, f"--batch must be at least 2. Got {cfg.batch} instead."),
        (cfg.max_rows >= 1, f"--max-rows must be at least 1. Got {cfg.max_rows} instead."),
        (cfg.window in ("triangle", "box"), f"--window must be triangle or box. Got {cfg.window!r} instead."),
    ]
    for ok, msg in checks:
        if not ok:
            raise InvalidParameterError(msg)


def _resolve_analyses(
    cfg: RegionsConfig, fm: FileModel, path: Path, note: Callable[[str], None] | None
) -> tuple[RegionsConfig, dict[str, str]]:
    """The analyses to run, and those skipped (with why): the default list drops an analysis without
    max-pool support for a network with max-pools; one named explicitly is refused here, before any
    analysis runs."""
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
    progress: WalkReport | None = None,
) -> tuple[list[tuple[str, str, str, float]], dict[str, np.ndarray], dict[str, Any]]:
    """Every analysis of ``cfg`` on one split, in run order (they share the split's seeded generator)."""
    x = split_inputs(cf, split, fm.dataset)
    rng = np.random.default_rng(cfg.seed)
    ctx = SplitContext(cf, fm, run, split, cfg, radius, selected, x, cf.labels(split), rng, progress)
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
    progress: WalkReport | None = None,
) -> tuple[Path, ResultTable]:
    """Run the region analyses on a code file and store them under ``/results/regions`` (copy-on-write).

    The network and data come from the file's provenance (or ``config.model``/``weights``),
    and are checked against the file's codes. Rows of analyses not rerun are kept. ``note``
    receives one line when the default list skips an analysis (recorded as ``skipped``).
    ``progress`` is called as ``progress(label, WalkProgress)`` during each exact walk
    (``label``: the split and the relation, as ``"train same"``); see
    :class:`~actcode.regions.walk.WalkProgress`. Neither changes the results.

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
        cfg, batch_note = _kernel_batch(cfg, cf)
        if cfg.analyses is not None and set(cfg.analyses) <= set(CODES_ONLY):
            skipped: dict[str, str] = {}
            info: dict[str, Any] = {}
            fm = None
            rows, new_rows, arrays, per = _codes_only(cf, cfg, splits, selected)
        else:
            fm, skipped, info, stored = _run_network(cf, cfg, splits, selected, dev, note, progress)
            rows, new_rows, arrays, per = stored
        source = {"codes": "the file's stored codes (no network or data)"} if fm is None else fm.source
        mode = site_mode(cf.provenance, cf.path) if fm is None else fm.mode
    params = {"actcode_version": __version__, "source": source, "site_mode": mode, "analyses": per,
              "walk": info, "splits": splits, "layers": [la.name for la in selected_layers]}  # fmt: skip
    if skipped:
        params["skipped"] = skipped
    table = ResultTable.from_rows(new_rows)
    # the analyses not rerun are read under the results lock, from the file as it is then, so
    # that two runs at once on one file each keep the other's rows
    keep = partial(_merged, analyses=tuple(per), rows=new_rows, arrays=arrays, params=params)
    out = add_results(path, "regions", table, params=params, arrays=arrays, output=output, merge=keep)
    if batch_note is not None and note is not None:
        note(batch_note)
    return out, table


def _merged(
    cf: Any,
    *,
    analyses: Sequence[str],
    rows: list[tuple[str, str, str, float]],
    arrays: dict[str, np.ndarray],
    params: dict[str, Any],
) -> tuple[ResultTable, dict[str, np.ndarray], dict[str, Any]]:
    """This run's results with the stored ones of the analyses it did not rerun (see _keep_old)."""
    old_rows, old_arrays, old_per = _keep_old(cf, analyses)
    merged = {**params, "analyses": {**old_per, **params["analyses"]}}
    return ResultTable.from_rows(old_rows + rows), {**old_arrays, **arrays}, merged


def _codes_only(cf: CodeFile, cfg: RegionsConfig, splits: list[str], selected: list[int]) -> _Stored:
    """The analyses of :data:`CODES_ONLY` on every split: the stored codes are enough (no network, data)."""
    rows: list[Row] = []  # the stored rows of other analyses are merged under the results lock
    arrays: dict[str, np.ndarray] = {}
    per: dict[str, Any] = {}
    new_rows: list[Row] = []
    for split in splits:
        rng = np.random.default_rng(cfg.seed)
        # kernel reads only the file, the split, the options and the generator: no model, no inputs
        ctx = SplitContext(cf, None, None, split, cfg, 0.0, selected, torch.zeros(0), cf.labels(split), rng)  # type: ignore[arg-type]
        for name in cfg.analyses or ():
            out = get_analysis(name).run(ctx)
            new_rows += [(split, s, m, v) for s, m, v in out.rows]
            arrays.update(out.arrays)
    per.update({a: get_analysis(a).params(cfg, 0.0, 0.0, None) for a in cfg.analyses or ()})  # type: ignore[arg-type]
    return rows, new_rows, arrays, per


def _run_network(
    cf: CodeFile,
    cfg: RegionsConfig,
    splits: list[str],
    selected: list[int],
    dev: torch.device,
    note: Callable[[str], None] | None,
    progress: WalkReport | None = None,
) -> tuple[FileModel, dict[str, str], dict[str, Any], _Stored]:
    """The analyses that need the file's network and data: rebuild them, check them, run each split."""
    fm = load_file_model(
        cf, model=cfg.model, weights=cfg.weights, dataset=cfg.dataset, data_root=cfg.data_root,
        trust_model_code=cfg.trust_model_code,
    )  # fmt: skip
    cfg, skipped = _resolve_analyses(cfg, fm, cf.path, note)
    analyses = cfg.analyses or ()
    dim = int(np.prod(fm.dataset.input_shape))
    if "local" in analyses and cfg.directions > dim:  # before any analysis runs
        got = cfg.directions
        msg = f"--directions must be at most the input dimension {dim} of {cf.path}. Got {got} instead."
        raise InvalidParameterError(msg)
    rows: list[Row] = []  # the stored rows of other analyses are merged under the results lock
    arrays: dict[str, np.ndarray] = {}
    per: dict[str, Any] = {}
    base = split_inputs(cf, "train" if "train" in cf.splits else cf.splits[0], fm.dataset)
    scale = data_scale(base)
    radius = cfg.radius if cfg.radius is not None else 0.01 * scale
    new_rows: list[Row] = []
    info: dict[str, Any] = {}
    # only the analyses that walk affine pieces (lines, plane) need the runner
    walks = [a for a in analyses if get_analysis(a).needs_pieces]
    runner: AbstractContextManager[PieceRunner | None] = (
        PieceRunner(fm.model, base[:2], device=dev, mode=fm.mode, analysis=" and ".join(walks))
        if walks
        else nullcontext(None)
    )
    with runner as run:
        if run is not None:
            probe = base[: min(8, base.shape[0])].double()
            run.check_affine(probe, torch.roll(probe, 1, 0) - probe)
        for split in splits:
            r, a, i = _run_split(cf, fm, run, split, cfg, radius, selected, progress)
            new_rows += r
            arrays.update(a)
            info[split] = i
    per.update({a: get_analysis(a).params(cfg, radius, scale, fm) for a in analyses})
    return fm, skipped, info, (rows, new_rows, arrays, per)


def _kernel_batch(cfg: RegionsConfig, cf: CodeFile) -> tuple[RegionsConfig, str | None]:
    """The kernel batch: by default min(128, D + 1), as NASWOT's K (rank <= D + 1) is singular above.

    Also the note for an explicit batch above D + 1 (said once the results are stored).
    """
    d = sum(layer.n_units for layer in cf.layers)
    if cfg.batch is None:
        return replace(cfg, batch=min(128, d + 1)), None
    if cfg.batch > d + 1 and "kernel" in (cfg.analyses or ANALYSES):
        return cfg, (
            f"regions {cf.path}: --batch {cfg.batch} is above D + 1 = {d + 1} (D = {d} units): "
            "NASWOT's kernel is then singular and its score -inf."
        )
    return cfg, None
