"""The activation hash phase chart: a metric over two factors, with the three expressivity regimes."""

from __future__ import annotations

from collections.abc import Sequence
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
    distinct_runs,
    filter_runs,
    group_runs,
    load_runs,
    numeric_values,
    parse_y,
)
from actcode.charts.phase_grid import PhaseGrid
from actcode.charts.regimes import (
    CRITICAL,
    MISSING,
    REGIME_HATCHES,
    REGIME_NAMES,
    SUFFICIENT,
    UNDER,
    PhaseThresholds,
    accuracy_plateau,
    classify_regimes,
)
from actcode.charts.runs import select_epoch
from actcode.errors import InvalidParameterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

STYLES = ("heatmap", "contour")


class PhaseChartDisplay(PhaseGrid):
    """The activation hash phase chart: a metric on a grid of two factors, with regimes.

    Compute with :meth:`from_files` (or :meth:`from_runs`), draw with :meth:`plot`; the
    constructor only stores what :class:`~actcode.charts.phase_grid.PhaseGrid` holds, and
    :meth:`~actcode.charts.phase_grid.PhaseGrid.to_dict` gives the plotted numbers.

    Attributes
    ----------
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

    The numbers (``values``, ``R``, ``A``, ``counts``, ``plateau``, ``regimes_``...) are those
    of :class:`~actcode.charts.phase_grid.PhaseGrid`.
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
        at: str | int | None = None,
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
            Force the scales; default: log when the positive values span two decades or form a
            geometric grid (4, 16, 64, 256), as :func:`~actcode.charts.style.log_by_default` decides.
        at : "final" or int, optional
            One file per training run, as :func:`~actcode.charts.runs.select_epoch` chooses it
            (default: ``"final"`` when the epochs differ only by early stopping); noted in ``notes_``.
        """
        _check_request(runs, x, y, kind)
        thresholds = thresholds or PhaseThresholds()
        runs, at_note = select_epoch(filter_runs(runs, where), at, [x, y])
        runs = distinct_runs(runs)
        m_spec = _single(parse_y(metric, runs, scope), "--metric", metric)
        r_spec = _single(parse_y(r, runs, scope), "--r", r) if regions else None
        a_spec = _single(parse_y(accuracy, runs, scope), "--accuracy", accuracy) if regions else None
        specs = [s for s in (m_spec, r_spec, a_spec) if s is not None]
        xs, ys = _grid_axes(runs, x, y)
        check_metrics(runs, specs)
        grids, counts = _cell_means(runs, x, y, xs, ys, specs)
        nan = np.full(counts.shape, np.nan)
        R = grids[r_spec] if r_spec else nan
        A = grids[a_spec] if a_spec else nan
        with_regions = r_spec is not None and a_spec is not None
        datasets = {r_.factors.get("dataset") for r_ in runs} - {None}
        models = [r_.factors.get("model") for r_ in runs]
        return cls(
            x=x,
            y=y,
            xs=xs,
            ys=ys,
            values=grids[m_spec],
            R=R,
            A=A,
            counts=counts,
            metric=m_spec,
            r_spec=r_spec,
            a_spec=a_spec,
            thresholds=thresholds,
            plateau=accuracy_plateau(A, thresholds) if with_regions else float("nan"),
            regimes=classify_regimes(R, A, thresholds) if with_regions else _no_regimes(counts),
            notes=_missing_note(counts) + ([f"epoch of each run: {at_note}."] if at_note else []),
            kind=kind,
            logx=style.log_by_default(xs) if logx is None else bool(logx),
            logy=style.log_by_default(ys) if logy is None else bool(logy),
            cmap=cmap,
            dataset=next(iter(datasets)) if len(datasets) == 1 else None,
            title=title,
            xlabel=style.factor_label(x, models),
            ylabel=style.factor_label(y, models),
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
            artists = draw_phase(self, ax, colorbar=colorbar, legend=legend)
        for name, value in artists.items():
            setattr(self, name, value)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self


#: Size of a phase chart in inches (room for the colour bar and the legend below).
PHASE_SIZE = (5.6, 4.6)


def _check_request(runs: Sequence[Run], x: str, y: str, kind: str) -> None:
    if kind not in STYLES:
        msg = f"--style must be one of {', '.join(STYLES)}. Got {kind!r} instead."
        raise InvalidParameterError(msg)
    if not runs:
        msg = "no code files to chart."
        raise InvalidParameterError(msg)
    if x == y:
        msg = f"--x and --y must be two different factors; both are {x!r}."
        raise InvalidParameterError(msg)


def _grid_axes(runs: Sequence[Run], x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """The sorted values of the two grid factors, after checking each has two or more."""
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
    return xs, ys


def _no_regimes(counts: np.ndarray) -> np.ndarray:
    return np.full(counts.shape, MISSING, np.int8)


def _missing_note(counts: np.ndarray) -> list[str]:
    n_missing = int(np.sum(counts == 0))
    return [f"{n_missing} of {counts.size} grid cells have no run (drawn hatched grey)."] if n_missing else []


def _cell_means(
    runs: Sequence[Run], x: str, y: str, xs: np.ndarray, ys: np.ndarray, specs: list[YSpec]
) -> tuple[dict[YSpec, np.ndarray], np.ndarray]:
    """Per spec, the mean over seeds of every grid cell (NaN where no run has a finite value); run counts."""
    shape = (ys.size, xs.size)
    grids = {s: np.full(shape, np.nan) for s in specs}
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
    return grids, counts


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


__all__ = [
    "CRITICAL",
    "MISSING",
    "PHASE_SIZE",
    "REGIME_HATCHES",
    "REGIME_NAMES",
    "STYLES",
    "SUFFICIENT",
    "UNDER",
    "PhaseChartDisplay",
    "PhaseThresholds",
    "accuracy_plateau",
    "classify_regimes",
    "write_phase",
]
