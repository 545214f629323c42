"""The activation hash phase chart: a metric over two factors, with the three expressivity regimes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actcode.charts import style
from actcode.charts.data import (
    Run,
    YSpec,
    check_constant,
    check_factor,
    check_metrics,
    filter_runs,
    group_runs,
    load_runs,
    numeric_values,
    parse_y,
)
from actcode.errors import InvalidParameterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MISSING, UNDER, CRITICAL, SUFFICIENT = -1, 0, 1, 2
#: Regime codes returned by :func:`classify_regimes` and their names.
REGIME_NAMES = {
    MISSING: "no run",
    UNDER: "under-expressive",
    CRITICAL: "critically-expressive",
    SUFFICIENT: "sufficiently-expressive",
}
#: Hatch of each regime's cells (drawn over the colours).
REGIME_HATCHES = {UNDER: "////", CRITICAL: "....", SUFFICIENT: ""}
STYLES = ("heatmap", "contour")


@dataclass(frozen=True)
class PhaseThresholds:
    """Thresholds of the regime rule (see :func:`classify_regimes` and formats/phase-chart.md).

    Parameters
    ----------
    r_high : float
        A cell whose redundancy ratio R exceeds it is under-expressive (default 0.1).
    r_low : float
        Sufficiently-expressive cells have R at most this (default 0.01).
    a_low : float
        A cell whose accuracy is below ``a_low`` times the plateau is under-expressive
        (default 0.75).
    a_high : float
        Sufficiently-expressive cells reach at least ``a_high`` times the plateau (default 0.95).
    plateau : float, optional
        The accuracy plateau A*; default: the largest cell mean of A over the grid.
    """

    r_high: float = 0.1
    r_low: float = 0.01
    a_low: float = 0.75
    a_high: float = 0.95
    plateau: float | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.r_low <= self.r_high):
            msg = (
                f"thresholds must satisfy 0 <= r_low <= r_high. Got r_low={self.r_low}, r_high={self.r_high}."
            )
            raise InvalidParameterError(msg)
        if not (0.0 <= self.a_low <= self.a_high):
            msg = (
                f"thresholds must satisfy 0 <= a_low <= a_high. Got a_low={self.a_low}, a_high={self.a_high}."
            )
            raise InvalidParameterError(msg)
        if self.plateau is not None and not (np.isfinite(self.plateau) and self.plateau > 0):
            msg = f"the accuracy plateau must be a positive number. Got {self.plateau}."
            raise InvalidParameterError(msg)


def accuracy_plateau(A: np.ndarray, thresholds: PhaseThresholds | None = None) -> float:
    """A*: ``thresholds.plateau`` when set, else the largest finite value of ``A`` (NaN if none)."""
    if thresholds is not None and thresholds.plateau is not None:
        return float(thresholds.plateau)
    finite = np.asarray(A, dtype=float)[np.isfinite(A)]
    return float(finite.max()) if finite.size else float("nan")


def classify_regimes(R: np.ndarray, A: np.ndarray, thresholds: PhaseThresholds | None = None) -> np.ndarray:
    """Classify cells into the three expressivity regimes.

    With A* the accuracy plateau (:func:`accuracy_plateau`), a cell is

    - UNDER-expressive (0) if ``R > r_high`` or ``A < a_low * A*``;
    - SUFFICIENTLY-expressive (2) if ``R <= r_low`` and ``A >= a_high * A*``;
    - CRITICALLY-expressive (1) otherwise;
    - missing (-1) where R or A is NaN (no run).

    Parameters
    ----------
    R : ndarray of shape (n_y, n_x)
        Redundancy ratio per cell (mean over seeds), NaN where there is no run.
    A : ndarray of shape (n_y, n_x)
        Categorization accuracy per cell (mean over seeds), NaN where there is no run.
    thresholds : PhaseThresholds, optional

    Returns
    -------
    regimes : ndarray of shape (n_y, n_x), dtype=np.int8

    Examples
    --------
    >>> R = np.array([[0.5, 0.05, 0.0, np.nan]])
    >>> A = np.array([[0.9, 0.9, 1.0, 1.0]])
    >>> classify_regimes(R, A).tolist()
    [[0, 1, 2, -1]]
    """
    t = thresholds or PhaseThresholds()
    R = np.asarray(R, dtype=float)
    A = np.asarray(A, dtype=float)
    if R.shape != A.shape:
        msg = f"R and A must have the same shape. Got {R.shape} and {A.shape}."
        raise InvalidParameterError(msg)
    missing = ~(np.isfinite(R) & np.isfinite(A))
    a_star = accuracy_plateau(np.where(missing, np.nan, A), t)
    out = np.full(R.shape, CRITICAL, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        under = (R > t.r_high) | (A < t.a_low * a_star)
        sufficient = (R <= t.r_low) & (A >= t.a_high * a_star) & ~under
    out[under] = UNDER
    out[sufficient] = SUFFICIENT
    out[missing] = MISSING
    return out


class PhaseChartDisplay:
    """The activation hash phase chart: a metric on a grid of two factors, with regimes.

    Compute with :meth:`from_files` (or :meth:`from_runs`), draw with :meth:`plot`.

    Attributes
    ----------
    values : ndarray of shape (n_y, n_x)
        The shown metric per cell (mean over seeds; NaN = no run).
    R, A : ndarray of shape (n_y, n_x)
        The redundancy ratio and accuracy the regimes are computed from.
    counts : ndarray of shape (n_y, n_x), dtype=int
        Runs (seeds) per cell.
    plateau : float
        The accuracy plateau A* used.
    regimes_ : ndarray of shape (n_y, n_x), dtype=np.int8
        Regime per cell (see :func:`classify_regimes`); all -1 with ``regions=False``.
    ax_, figure_ : Axes, Figure
        Set by :meth:`plot`.
    mesh_ : QuadMesh or ContourSet
    colorbar_ : Colorbar
    boundaries_ : list of LineCollection
        Regime boundaries drawn along cell edges.
    regime_labels_ : dict of int to Text
        The region labels, by regime code.
    missing_patches_ : list of Rectangle
        Hatched grey cells where no run exists.
    """

    ax_: Any
    figure_: Any
    mesh_: Any
    colorbar_: Any
    legend_: Any
    boundaries_: list[Any]
    regime_labels_: dict[int, Any]
    missing_patches_: list[Any]
    regime_patches_: list[Any]

    def __init__(
        self,
        *,
        x: str,
        y: str,
        xs: np.ndarray,
        ys: np.ndarray,
        values: np.ndarray,
        R: np.ndarray,
        A: np.ndarray,
        counts: np.ndarray,
        metric: YSpec,
        r_spec: YSpec | None,
        a_spec: YSpec | None,
        thresholds: PhaseThresholds,
        kind: str = "heatmap",
        logx: bool = False,
        logy: bool = False,
        cmap: str = style.MAP_CMAP,
        dataset: str | None = None,
        title: str | None = None,
    ) -> None:
        self.x, self.y, self.xs, self.ys = x, y, xs, ys
        self.values, self.R, self.A, self.counts = values, R, A, counts
        self.metric, self.r_spec, self.a_spec = metric, r_spec, a_spec
        self.thresholds = thresholds
        self.kind, self.logx, self.logy, self.cmap = kind, logx, logy, cmap
        self.dataset, self.title = dataset, title
        regions = r_spec is not None and a_spec is not None
        self.plateau = accuracy_plateau(A, thresholds) if regions else float("nan")
        self.regimes_ = (
            classify_regimes(R, A, thresholds) if regions else np.full(values.shape, MISSING, np.int8)
        )
        self.notes_: list[str] = []
        n_missing = int(np.sum(counts == 0))
        if n_missing:
            self.notes_.append(f"{n_missing} of {counts.size} grid cells have no run (drawn hatched grey).")

    @classmethod
    def from_files(cls, paths: Sequence[str | Path], **kwargs: Any) -> PhaseChartDisplay:
        """Read code files and compute; kwargs as :meth:`from_runs`."""
        return cls.from_runs(load_runs(paths), **kwargs)

    @classmethod
    def from_runs(
        cls,
        runs: Sequence[Run],
        *,
        x: str = "width",
        y: str = "epoch",
        metric: str = "redundancy_test",
        r: str = "redundancy_test",
        accuracy: str = "knn_test",
        thresholds: PhaseThresholds | None = None,
        regions: bool = True,
        scope: str = "all",
        where: dict[str, str] | None = None,
        kind: str = "heatmap",
        logx: bool | None = None,
        logy: bool | None = None,
        cmap: str = style.MAP_CMAP,
        title: str | None = None,
    ) -> PhaseChartDisplay:
        """Average every grid cell over seeds and classify the cells.

        Parameters
        ----------
        x, y : str
            The two factors of the grid (``width`` x ``epoch``, ``width`` x ``sample_size``).
        metric : str
            The metric shown in colour (one ``METRIC_SPLIT``, default ``redundancy_test``).
        r, accuracy : str
            The redundancy ratio R and the categorization accuracy A of the regime rule.
        thresholds : PhaseThresholds, optional
        regions : bool
            Classify and draw the regimes (needs R and A in every file).
        kind : {"heatmap", "contour"}
        logx, logy : bool, optional
            Force the scales; default: log when the positive values span two decades.
        """
        if kind not in STYLES:
            msg = f"--style must be one of {', '.join(STYLES)}. Got {kind!r} instead."
            raise InvalidParameterError(msg)
        if not runs:
            msg = "no code files to chart."
            raise InvalidParameterError(msg)
        if x == y:
            msg = f"--x and --y must be two different factors; both are {x!r}."
            raise InvalidParameterError(msg)
        thresholds = thresholds or PhaseThresholds()
        runs = filter_runs(runs, where)
        m_spec = _single(parse_y(metric, runs, scope), "--metric", metric)
        r_spec = _single(parse_y(r, runs, scope), "--r", r) if regions else None
        a_spec = _single(parse_y(accuracy, runs, scope), "--accuracy", accuracy) if regions else None
        for f, role in ((x, "--x"), (y, "--y")):
            check_factor(runs, f, role=role)
        xs = np.array(numeric_values(runs, x))
        ys = np.array(numeric_values(runs, y))
        for f, vals, role in ((x, xs, "--x"), (y, ys, "--y")):
            if vals.size < 2:
                msg = (
                    f"the grid has a single value of {f!r} ({role}): {style.format_value(vals[0])}. A phase "
                    "chart needs at least two values on each axis; use 'actcode chart curves' for one factor."
                )
                raise InvalidParameterError(msg)
        check_constant(runs, [x, y])
        check_metrics(runs, [s for s in (m_spec, r_spec, a_spec) if s is not None])
        shape = (ys.size, xs.size)
        grids = {s: np.full(shape, np.nan) for s in (m_spec, r_spec, a_spec) if s is not None}
        counts = np.zeros(shape, dtype=int)
        xi = {v: i for i, v in enumerate(xs.tolist())}
        yi = {v: i for i, v in enumerate(ys.tolist())}
        for (xv, yv), members in group_runs(runs, [x, y]).items():
            j, i = xi[float(xv)], yi[float(yv)]
            counts[i, j] = len(members)
            for s, grid in grids.items():
                vals = np.array([m.metrics[s.key] for m in members], dtype=float)
                if np.any(np.isfinite(vals)):
                    grid[i, j] = np.nanmean(vals)
        nan = np.full(shape, np.nan)
        datasets = {r_.factors.get("dataset") for r_ in runs} - {None}
        return cls(
            x=x,
            y=y,
            xs=xs,
            ys=ys,
            values=grids[m_spec],
            R=grids[r_spec] if r_spec else nan,
            A=grids[a_spec] if a_spec else nan,
            counts=counts,
            metric=m_spec,
            r_spec=r_spec,
            a_spec=a_spec,
            thresholds=thresholds,
            kind=kind,
            logx=style.spans_decades(xs) if logx is None else bool(logx),
            logy=style.spans_decades(ys) if logy is None else bool(logy),
            cmap=cmap,
            dataset=next(iter(datasets)) if len(datasets) == 1 else None,
            title=title,
        )

    # -- draw -------------------------------------------------------------------------------
    def plot(
        self, ax: Axes | None = None, *, colorbar: bool = True, legend: bool = True
    ) -> PhaseChartDisplay:
        """Draw the chart on ``ax`` (default: a new pyplot figure); return ``self``."""

        from actcode.charts._phase_draw import draw_phase

        with style.rc():
            if ax is None:
                import matplotlib.pyplot as plt

                fig, ax = plt.subplots(figsize=PHASE_SIZE, layout="constrained")
            draw_phase(self, ax, colorbar=colorbar, legend=legend)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres on the axes (0 moved to half the smallest positive value on a log axis)."""
        xp = style.axis_positions(self.xs, self.logx, style.zero_position(self.xs))
        yp = style.axis_positions(self.ys, self.logy, style.zero_position(self.ys))
        return xp, yp


#: Size of a phase chart in inches (room for the colour bar and the legend below).
PHASE_SIZE = (5.6, 4.6)


def _single(panels: list[list[YSpec]], role: str, text: str) -> YSpec:
    specs = [s for p in panels for s in p]
    if len(specs) != 1:
        msg = (
            f"{role} must name one metric on one split (for example redundancy_test or knn_test). "
            f"Got {text!r}, which means {', '.join(s.label for s in specs)}."
        )
        raise InvalidParameterError(msg)
    return specs[0]


def write_phase(
    paths: Sequence[str | Path], output: str | Path, **kwargs: Any
) -> tuple[Path, PhaseChartDisplay]:
    """Compute :class:`PhaseChartDisplay` from code files, draw it without pyplot and write ``output``."""
    from matplotlib.figure import Figure

    style.check_output(output, inputs=paths)
    display = PhaseChartDisplay.from_files(paths, **kwargs)
    with style.rc():
        fig = Figure(figsize=PHASE_SIZE, layout="constrained")
        display.plot(ax=fig.subplots())
        return style.save_figure(fig, output, inputs=paths), display
