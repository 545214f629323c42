"""The runs a chart reads: each code file's factors and stored metrics, their filters, groups and checks."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actcode.errors import InvalidParameterError


@dataclass(frozen=True)
class Run:
    """One code file's factors and stored results.

    Parameters
    ----------
    path : Path
        The code file.
    factors : dict
        ``provenance["factors"]`` (width, depth, epoch, sample_size, ..., seed; None where
        not applicable).
    metrics : dict of (metric, split, scope) to float
        Every row of the measure and probe result tables, plus the network's own accuracy
        and loss per split as ``net_accuracy`` / ``net_loss`` with scope ``"all"``.
    result_kinds : tuple of str
        Which result tables the file holds (``"measure"``, ``"probe"``).
    planned_epochs : int or None
        The epochs the run was planned to train (``train.epochs``), None when not recorded.
    early_stop : int
        Its early-stopping patience (0: off).
    """

    path: Path
    factors: dict[str, Any]
    metrics: dict[tuple[str, str, str], float]
    result_kinds: tuple[str, ...] = ()
    planned_epochs: int | None = None
    early_stop: int = 0

    def identity(self, exclude: Iterable[str] = ("seed",)) -> tuple[tuple[str, Any], ...]:
        """The factors without ``exclude``, as a hashable key (runs that differ only in seed share it)."""
        skip = set(exclude)
        return tuple(sorted((k, _norm(v)) for k, v in self.factors.items() if k not in skip))


def _norm(v: Any) -> Any:
    """Make 40 and 40.0 the same key, keep strings and None."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int | float | np.integer | np.floating):
        f = float(v)
        return int(f) if f.is_integer() else f
    return str(v)


def sort_key(v: Any) -> tuple[int, Any]:
    """Order factor values: numbers ascending, then strings, then None."""
    if v is None:
        return (2, "")
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (0, float(v))
    return (1, str(v))


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Read the factors and results of code files.

    Parameters
    ----------
    paths : sequence of str or Path
        Code files written by ``actcode extract`` (with results added by ``measure`` and
        ``probe``). Each file is validated before it is read.

    Returns
    -------
    runs : list of Run
        One per file, in the given order.
    """
    from actcode.io import open_codes

    runs: list[Run] = []
    for p in paths:
        with open_codes(p) as cf:
            metrics: dict[tuple[str, str, str], float] = {}
            kinds = []
            for kind in ("measure", "probe", "regions"):
                table = cf.results(kind)
                if table is None:
                    continue
                kinds.append(kind)
                for split, scope, metric, value in table.rows():
                    metrics[(metric, split, scope)] = float(value)
            network = cf.provenance.get("network") or {}
            for split in cf.splits:
                info = cf.split_info(split)
                for name, short in (("accuracy", "net_accuracy"), ("loss", "net_loss")):
                    net: Any = info.get(name, network.get(f"{split}_{name}"))
                    if net is None and name == "accuracy":
                        net = metrics.get(("network_accuracy", split, "all"))
                    if net is not None:
                        metrics[(short, split, "all")] = float(net)
            factors = {k: _norm(v) for k, v in cf.factors.items()}
            train = cf.provenance.get("train") or {}
            planned, patience = train.get("epochs"), train.get("early_stop")
            runs.append(
                Run(
                    Path(p),
                    factors,
                    metrics,
                    tuple(kinds),
                    planned_epochs=planned if isinstance(planned, int) else None,
                    early_stop=patience if isinstance(patience, int) else 0,
                )
            )
    return runs


def filter_runs(runs: Sequence[Run], where: dict[str, str] | None) -> list[Run]:
    """Keep the runs whose factors equal every ``factor=value`` of ``where`` (numbers compare as numbers)."""
    if not where:
        return list(runs)
    out = []
    known = factor_names(runs)
    for factor in where:
        if factor not in known:
            msg = (
                f"factor {factor!r} (--where) is not recorded in any file's provenance. "
                f"Factors recorded: {', '.join(known)}."
            )
            raise InvalidParameterError(msg)
    for run in runs:
        if all(_matches(run.factors.get(k), v) for k, v in where.items()):
            out.append(run)
    if not out:
        shown = ", ".join(f"{k}={v}" for k, v in where.items())
        msg = f"no file matches --where {shown}; the files have {describe_values(runs, list(where))}."
        raise InvalidParameterError(msg)
    return out


def _matches(value: Any, wanted: str) -> bool:
    if value is None:
        return wanted.strip().lower() in ("none", "null", "")
    if isinstance(value, bool):  # bn, tile: true/false (as format_value writes them), or 1/0
        return wanted.strip().lower() in (("true", "1", "yes") if value else ("false", "0", "no"))
    if isinstance(value, str):
        return value == wanted
    try:
        return math.isclose(float(value), float(wanted), rel_tol=1e-9, abs_tol=0.0)
    except ValueError:
        return False


def describe_values(runs: Sequence[Run], factors: Sequence[str]) -> str:
    """Text listing the distinct values of some factors over ``runs``."""
    parts = []
    for f in factors:
        vals = sorted({run.factors.get(f) for run in runs}, key=sort_key)
        parts.append(f"{f} in {{{', '.join(map(_fmt, vals))}}}")
    return "; ".join(parts)


def _fmt(v: Any) -> str:
    from actcode.charts.style import format_value

    return format_value(v)


def factor_names(runs: Sequence[Run]) -> list[str]:
    """Factor names recorded (non-null) in at least one run, in first-seen order."""
    names: dict[str, None] = {}
    for run in runs:
        for k, v in run.factors.items():
            if v is not None:
                names[k] = None
    return list(names)


def check_factor(runs: Sequence[Run], factor: str, *, role: str) -> None:
    """Raise when ``factor`` is absent (null) from the provenance of any run."""
    missing = [run for run in runs if run.factors.get(factor) is None]
    if not missing:
        return
    known = ", ".join(factor_names(runs)) or "(none)"
    example = ", ".join(str(r.path) for r in missing[:2]) + (" ..." if len(missing) > 2 else "")
    if len(missing) == len(runs):
        msg = (
            f"factor {factor!r} ({role}) is not recorded in the provenance of any of the {len(runs)} files. "
            f"Factors they record: {known}."
        )
    else:
        msg = (
            f"factor {factor!r} ({role}) is not recorded in the provenance of {len(missing)} of {len(runs)} "
            f"files ({example}). Leave those files out, or choose another factor: {known}."
        )
    raise InvalidParameterError(msg)


def varying_factors(runs: Sequence[Run], exclude: Iterable[str] = ("seed",)) -> dict[str, list[Any]]:
    """Factors (but ``exclude``) that take more than one value over ``runs``, with their sorted values."""
    skip = set(exclude)
    names: dict[str, None] = {}
    for run in runs:
        names.update(dict.fromkeys(run.factors))
    out = {}
    for name in names:
        if name in skip:
            continue
        vals = {run.factors.get(name) for run in runs}
        if len(vals) > 1:
            out[name] = sorted(vals, key=sort_key)
    return out


def choose_hue(runs: Sequence[Run], x: str, hue: str | None) -> str | None:
    """The hue factor: ``hue`` when given ("none" for no hue), else the one factor varying besides x.

    Raises when the default is ambiguous (several factors vary); returns None when none does.
    """
    if hue is not None:
        if hue.lower() == "none":
            return None
        if hue == x:
            msg = f"--hue must differ from --x; both are {x!r}."
            raise InvalidParameterError(msg)
        check_factor(runs, hue, role="--hue")
        return hue
    others = varying_factors(runs, exclude=("seed", x))
    if not others:
        return None
    if len(others) == 1:
        return next(iter(others))
    msg = (
        f"cannot choose the line factor: {', '.join(others)} all vary besides x={x!r} "
        f"({describe_values(runs, list(others))}). Pick one with --hue and fix the others with "
        "--where FACTOR=VALUE."
    )
    raise InvalidParameterError(msg)


def check_constant(runs: Sequence[Run], used: Sequence[str | None]) -> None:
    """Raise when a factor other than ``used`` and seed varies (its runs would be averaged together)."""
    others = varying_factors(runs, exclude=("seed", *[u for u in used if u]))
    if others:
        msg = (
            f"factor(s) {', '.join(others)} vary besides {', '.join(repr(u) for u in used if u)} "
            f"({describe_values(runs, list(others))}); runs that differ in them would be averaged as if they "
            "were seeds. Choose one value with --where FACTOR=VALUE, or put the factor on an axis or the hue"
            + (
                "; for the epoch, take each run's final checkpoint with --at final, or one epoch with --at N."
                if "epoch" in others
                else "."
            )
        )
        raise InvalidParameterError(msg)


def group_runs(runs: Sequence[Run], by: Sequence[str]) -> dict[tuple[Any, ...], list[Run]]:
    """Group runs by the values of the factors ``by`` (key order follows :func:`sort_key`)."""
    groups: dict[tuple[Any, ...], list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(run.factors.get(f) for f in by), []).append(run)
    return {k: groups[k] for k in sorted(groups, key=lambda t: tuple(sort_key(v) for v in t))}


def duplicate_seeds(runs: Sequence[Run]) -> list[list[Run]]:
    """Sets of runs with identical factors, seed included (the same run read twice)."""
    seen: dict[tuple[Any, ...], list[Run]] = {}
    for run in runs:
        seen.setdefault(run.identity(exclude=()), []).append(run)
    return [v for v in seen.values() if len(v) > 1]


def numeric_values(runs: Sequence[Run], factor: str) -> list[float]:
    """The distinct values of a numeric factor, sorted; raises when a value is not a number."""
    vals = sorted({run.factors.get(factor) for run in runs}, key=sort_key)
    bad = [v for v in vals if not isinstance(v, int | float) or isinstance(v, bool)]
    if bad:
        shown = ", ".join(map(repr, bad[:3]))
        msg = f"factor {factor!r} must be numeric to be an axis; it has the value(s) {shown}."
        raise InvalidParameterError(msg)
    return [float(v) for v in vals if v is not None]


__all__ = [
    "AT_FINAL",
    "Run",
    "check_constant",
    "check_factor",
    "choose_hue",
    "describe_values",
    "distinct_runs",
    "duplicate_seeds",
    "factor_names",
    "filter_runs",
    "group_runs",
    "load_runs",
    "numeric_values",
    "select_epoch",
    "sort_key",
    "varying_factors",
]


def distinct_runs(runs: Sequence[Run]) -> list[Run]:
    """The runs with every file once, after refusing different files that hold the same run.

    Two files whose factors are all equal, seed included, would be averaged as two seeds of
    one point. When they are one file named twice it is counted once; different files are
    refused, naming both.

    Raises
    ------
    InvalidParameterError
        Two different files share every factor and the seed.
    """
    out: list[Run] = []
    seen: set[Path] = set()
    for run in runs:
        key = run.path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(run)
    for group in duplicate_seeds(out):
        names = ", ".join(str(r.path) for r in group)
        msg = (
            f"{len(group)} files hold runs with the same factors and seed ({names}), so the chart "
            "would count them as different seeds of one run. They differ in something the factors do not "
            "record, or one run was extracted twice: leave all but one out, or choose one with --where "
            "FACTOR=VALUE."
        )
        raise InvalidParameterError(msg)
    return out


#: ``--at`` value that takes each run's last checkpoint.
AT_FINAL = "final"


def _stopped_early(run: Run) -> bool:
    epoch = run.factors.get("epoch")
    planned = run.planned_epochs
    return run.early_stop > 0 and isinstance(epoch, int | float) and planned is not None and epoch < planned


def _by_run(runs: Sequence[Run]) -> list[list[Run]]:
    """The files of each training run (all factors but the epoch equal), epochs ascending."""
    groups: dict[tuple[Any, ...], list[Run]] = {}
    for run in runs:
        groups.setdefault((*run.identity(exclude=("epoch",)), run.planned_epochs), []).append(run)
    return [sorted(g, key=lambda r: sort_key(r.factors.get("epoch"))) for g in groups.values()]


def _default_at(runs: Sequence[Run], used: Sequence[str | None]) -> str | None:
    """``final`` when the epochs differ only by early stopping: one file per run, and every file
    before its planned last epoch is a run that stopped early; None otherwise."""
    if "epoch" in used or len({r.factors.get("epoch") for r in runs}) < 2:
        return None
    groups = _by_run(runs)
    if any(len(g) > 1 for g in groups) or len({r.planned_epochs for r in runs}) > 1:
        return None
    if all(r.planned_epochs is not None and (r.factors.get("epoch") == r.planned_epochs or _stopped_early(r))
           for r in runs):  # fmt: skip
        return AT_FINAL
    return None


def _at_epoch(group: list[Run], epoch: float) -> Run:
    for run in group:
        if _matches(run.factors.get("epoch"), str(epoch)):
            return run
    last = group[-1]
    if _stopped_early(last) and float(last.factors["epoch"]) < epoch:
        return last  # training ended there: that is the model at any later epoch
    have = ", ".join(_fmt(r.factors.get("epoch")) for r in group)
    msg = (
        f"--at {_fmt(epoch)}: {last.path} and the other files of its run hold the epochs {have}, not "
        f"{_fmt(epoch)}; choose one of them, or --at final."
    )
    raise InvalidParameterError(msg)


def select_epoch(
    runs: Sequence[Run], at: str | int | None, used: Sequence[str | None]
) -> tuple[list[Run], str | None]:
    """One file per training run: its final checkpoint (``at="final"``) or the one at epoch ``at``.

    The stopping epoch of an early-stopped run is an outcome, not a design factor. With ``at``
    None it is ``"final"`` when the epochs of ``runs`` differ only by early stopping (one file
    per run), else nothing is selected. A run that stopped before epoch N counts at N with its
    final model. ``used`` are the factors on the axes and hue: the epoch cannot be both chosen
    and drawn.

    Returns
    -------
    runs : list of Run
        Where an epoch was selected, the runs' ``epoch`` factor is dropped (it no longer varies).
    at : str or None
        What was chosen, as recorded with the chart: ``"final"``, ``"final (default: ...)"``,
        the epoch, or None.
    """
    note: str | None
    if at is None:
        if _default_at(runs, used) is None:
            return list(runs), None
        at, note = AT_FINAL, "final (default: the epochs differ only by early stopping)"
    else:
        note = str(at)
    if "epoch" in used:
        msg = f"--at {at} chooses one epoch per run, so the epoch cannot also be on an axis or the hue."
        raise InvalidParameterError(msg)
    if str(at) == AT_FINAL:
        chosen = [g[-1] for g in _by_run(runs)]
    else:
        try:
            epoch = float(at)
        except ValueError:
            epoch = -1.0
        if epoch < 0 or not epoch.is_integer():
            msg = f"--at must be 'final' or an epoch (an integer >= 0). Got {at!r} instead."
            raise InvalidParameterError(msg)
        chosen = [_at_epoch(g, epoch) for g in _by_run(runs)]
    wanted = {id(r) for r in chosen}
    # runs planned for different epochs are different designs: that factor stays, so that
    # check_constant names it (or it goes on the hue) instead of averaging them as seeds
    differ = len({r.planned_epochs for r in chosen}) > 1
    out = []
    for r in runs:
        if id(r) in wanted:
            factors = {k: v for k, v in r.factors.items() if k != "epoch"}
            if differ:
                factors["planned_epochs"] = r.planned_epochs
            out.append(Run(r.path, factors, r.metrics, r.result_kinds, r.planned_epochs, r.early_stop))
    return out, note
