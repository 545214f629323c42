"""The data layer of the charts: seed averages of a metric over a factor (runs and specs re-exported)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actcode.charts.runs import (  # re-exported: the data layer's public names
    Run,
    check_constant,
    check_factor,
    choose_hue,
    describe_values,
    distinct_runs,
    duplicate_seeds,
    factor_names,
    filter_runs,
    group_runs,
    load_runs,
    numeric_values,
    sort_key,
    varying_factors,
)
from actcode.charts.specs import (  # re-exported: the data layer's public names
    ALIASES,
    KNOWN_SPLITS,
    NET_METRICS,
    PROBE_METRICS,
    YSpec,
    check_metrics,
    normalise_scope,
    parse_y,
    resolve_metric,
)
from actcode.errors import InvalidParameterError

__all__ = [
    "ALIASES",
    "BANDS",
    "KNOWN_SPLITS",
    "NET_METRICS",
    "PROBE_METRICS",
    "Run",
    "Series",
    "YSpec",
    "aggregate",
    "band_limits",
    "check_constant",
    "check_factor",
    "check_metrics",
    "choose_hue",
    "describe_values",
    "distinct_runs",
    "duplicate_seeds",
    "factor_names",
    "filter_runs",
    "group_runs",
    "load_runs",
    "normalise_scope",
    "numeric_values",
    "parse_y",
    "resolve_metric",
    "sort_key",
    "varying_factors",
]

#: Spread bands over seeds.
BANDS = ("std", "minmax", "none")


@dataclass
class Series:
    """A metric against ``x`` for one hue value, averaged over seeds.

    Attributes
    ----------
    x : ndarray of shape (n_points,)
        Sorted distinct x values that have at least one finite value.
    mean, std, lo, hi : ndarray of shape (n_points,)
        Mean, population standard deviation, minimum and maximum over the seeds.
    n : ndarray of shape (n_points,), dtype=int
        How many runs (seeds) each point averages.
    """

    spec: YSpec
    hue: Any
    x: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n: np.ndarray
    paths: list[list[str]] = field(default_factory=list)


def aggregate(runs: Sequence[Run], spec: YSpec, x: str, hue: str | None) -> list[Series]:
    """Mean and spread of ``spec`` over seeds, for each hue value and x value.

    Runs are grouped by (hue, x); each group's runs are the seeds (they must agree on every
    other factor; see :func:`check_constant`). NaN values are left out of a point's
    statistics, and a point without any finite value is dropped.

    Returns
    -------
    series : list of Series
        One per hue value (a single series with ``hue=None`` when there is no hue), sorted.
    """
    by = [hue, x] if hue else [x]
    groups = group_runs(runs, by)
    per_hue: dict[Any, dict[Any, list[Run]]] = {}
    for key, members in groups.items():
        h, xv = (key[0], key[1]) if hue else (None, key[0])
        per_hue.setdefault(h, {})[xv] = members
    out = []
    for h in sorted(per_hue, key=sort_key):
        xs, means, stds, los, his, ns, paths = [], [], [], [], [], [], []
        for xv in sorted(per_hue[h], key=sort_key):
            members = per_hue[h][xv]
            vals = np.array([r.metrics.get(spec.key, np.nan) for r in members], dtype=float)
            finite = vals[np.isfinite(vals)]
            if finite.size == 0:
                continue
            xs.append(xv)
            means.append(finite.mean())
            stds.append(finite.std())
            los.append(finite.min())
            his.append(finite.max())
            ns.append(finite.size)
            paths.append([str(r.path) for r in members])
        out.append(
            Series(
                spec,
                h,
                np.array(xs, dtype=float),
                np.array(means),
                np.array(stds),
                np.array(los),
                np.array(his),
                np.array(ns, dtype=int),
                paths,
            )
        )
    return out


def band_limits(series: Series, band: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Lower and upper edge of the spread band (``std``: mean +- std; ``minmax``), or None."""
    if band == "none":
        return None
    if band == "std":
        return series.mean - series.std, series.mean + series.std
    if band == "minmax":
        return series.lo, series.hi
    msg = f"--band must be one of {', '.join(BANDS)}. Got {band!r} instead."
    raise InvalidParameterError(msg)
