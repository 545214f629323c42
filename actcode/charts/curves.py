"""CurvesDisplay: stored metrics against a factor, one line per hue value, mean and band over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actcode.charts import style
from actcode.charts.data import (
    BANDS,
    Run,
    Series,
    YSpec,
    aggregate,
    band_limits,
    check_constant,
    check_factor,
    check_metrics,
    choose_hue,
    distinct_runs,
    filter_runs,
    load_runs,
    numeric_values,
    parse_y,
)
from actcode.errors import InvalidParameterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class CurvesDisplay:
    """Curves of stored metrics against a factor, as in the study's figures.

    Compute with :meth:`from_files` (or :meth:`from_runs`), then draw with :meth:`plot`,
    as many times as wanted, on new axes or on the user's own.

    Parameters
    ----------
    panels : list of list of Series
        Per panel, the series to draw (one per y spec and hue value).
    x : str
        Factor on the x axis.
    hue : str or None
        Factor whose values get one line each.
    band : {"std", "minmax", "none"}
        Spread over seeds drawn around the mean.
    logx : bool
        Log-scaled x axis (0 is drawn at :attr:`zero_at`).
    zero_at : float
        Where the value 0 of ``x`` sits on a log axis (half the smallest positive value; the
        paper draws epoch 0 at 0.5).
    logy : bool
        Log-scaled y axis.
    dataset : str or None
        Dataset name for the panel titles.
    xlabel : str or None
        The x axis label (default: :func:`~actcode.charts.style.factor_label` of ``x``).

    Attributes
    ----------
    ax_ : Axes or ndarray of Axes
        The axes drawn on (an array when there are several panels).
    axes_ : list of Axes
        The same, always as a list, one per panel.
    figure_ : Figure
    lines_ : list of Line2D
        The data lines (one per series), in panel order.
    bands_ : list of PolyCollection
        The spread bands (only where some point averages several seeds).
    markers_ : list of Line2D
        The "first epoch" marker lines.

    Examples
    --------
    >>> import numpy as np
    >>> from actcode.charts.data import Run, YSpec
    >>> key = ("redundancy", "test", "all")
    >>> runs = [Run(Path(f"{w}-{s}.h5"), {"width": w, "seed": s}, {key: 1.0 / w + 0.01 * s})
    ...         for w in (2, 4, 8) for s in (0, 1)]
    >>> d = CurvesDisplay.from_runs(runs, x="width", y="redundancy_test").plot()
    >>> len(d.lines_), d.ax_.get_xlabel(), d.ax_.get_ylabel()
    (1, 'width (hidden units)', 'redundancy ratio R')
    >>> import matplotlib.pyplot as plt; plt.close(d.figure_)
    """

    ax_: Any
    axes_: list[Any]
    figure_: Any
    lines_: list[Any]
    bands_: list[Any]
    markers_: list[Any]

    def __init__(
        self,
        panels: list[list[Series]],
        *,
        x: str,
        hue: str | None,
        band: str = "std",
        logx: bool = False,
        zero_at: float = 0.5,
        logy: bool = False,
        dataset: str | None = None,
        title: str | None = None,
        xlabel: str | None = None,
    ) -> None:
        self.panels = panels
        self.x = x
        self.hue = hue
        self.band = band
        self.logx = logx
        self.zero_at = zero_at
        self.logy = logy
        self.dataset = dataset
        self.title = title
        self.xlabel = xlabel

    # -- compute ----------------------------------------------------------------------------
    @classmethod
    def from_files(cls, paths: Sequence[str | Path], **kwargs: Any) -> CurvesDisplay:
        """Read code files (:func:`~actcode.charts.data.load_runs`), then compute as :meth:`from_runs`."""
        return cls.from_runs(load_runs(paths), **kwargs)

    @classmethod
    def from_runs(
        cls,
        runs: Sequence[Run],
        *,
        x: str,
        y: str = "redundancy",
        hue: str | None = None,
        scope: str = "all",
        where: dict[str, str] | None = None,
        band: str = "std",
        logx: bool | None = None,
        logy: bool = False,
        title: str | None = None,
    ) -> CurvesDisplay:
        """Group runs and average over seeds.

        Parameters
        ----------
        runs : sequence of Run
        x : str
            Factor on the x axis (``width``, ``epoch``, ``sample_size``, ...).
        y : str
            Panels and series: ``,`` between panels, ``+`` between overlaid series, each
            ``METRIC_SPLIT`` (see :func:`actcode.charts.data.parse_y`).
        hue : str, optional
            Factor with one line per value; default: the single factor that varies besides
            ``x`` and seed (none if none varies); ``"none"`` for no hue.
        scope : str
            ``all``, ``layer:NAME`` or ``upto:NAME`` for every series without ``@SCOPE``.
        where : dict of str to str, optional
            Keep only runs with these factor values.
        band : {"std", "minmax", "none"}
        logx : bool, optional
            Force the x scale; default: log when the positive x values span two decades.
        """
        if band not in BANDS:
            msg = f"--band must be one of {', '.join(BANDS)}. Got {band!r} instead."
            raise InvalidParameterError(msg)
        if not runs:
            msg = "no code files to chart."
            raise InvalidParameterError(msg)
        runs = distinct_runs(filter_runs(runs, where))
        specs = parse_y(y, runs, scope)
        check_factor(runs, x, role="--x")
        xs = numeric_values(runs, x)
        hue_f = choose_hue(runs, x, hue)
        check_constant(runs, [x, hue_f])
        check_metrics(runs, [s for panel in specs for s in panel])
        panels = [[ser for spec in panel for ser in aggregate(runs, spec, x, hue_f)] for panel in specs]
        use_log = style.spans_decades(xs) if logx is None else bool(logx)
        if use_log and not any(v > 0 for v in xs):
            msg = f"--logx needs positive values of {x!r}; all are {xs}."
            raise InvalidParameterError(msg)
        if use_log and any(v < 0 for v in xs):
            neg = [v for v in xs if v < 0]
            msg = f"--logx cannot show the negative values of {x!r} ({neg}); use --no-logx."
            raise InvalidParameterError(msg)
        datasets = {r.factors.get("dataset") for r in runs} - {None}
        return cls(
            panels,
            x=x,
            hue=hue_f,
            band=band,
            logx=use_log,
            zero_at=style.zero_position(xs),
            logy=logy,
            dataset=next(iter(datasets)) if len(datasets) == 1 else None,
            title=title,
            xlabel=style.factor_label(x, [r.factors.get("model") for r in runs]),
        )

    def to_dict(self) -> dict[str, Any]:
        """The plotted numbers as JSON-safe values (NaN becomes None): one record per series."""
        num = style.json_number
        return {
            "x": self.x,
            "hue": self.hue,
            "logx": self.logx,
            "series": [
                {
                    "panel": i,
                    "y": ser.spec.label,
                    "metric": ser.spec.metric,
                    "split": ser.spec.split,
                    "scope": ser.spec.scope,
                    "hue": ser.hue,
                    "x": ser.x.tolist(),
                    "mean": [num(v) for v in ser.mean],
                    "std": [num(v) for v in ser.std],
                    "min": [num(v) for v in ser.lo],
                    "max": [num(v) for v in ser.hi],
                    "n": ser.n.tolist(),
                }
                for i, panel in enumerate(self.panels)
                for ser in panel
            ],
        }

    # -- draw -------------------------------------------------------------------------------
    def plot(self, ax: Axes | Sequence[Axes] | np.ndarray | None = None, *, cols: int = 4) -> CurvesDisplay:
        """Draw the panels; return ``self`` with ``ax_``, ``figure_``, ``lines_`` set.

        Parameters
        ----------
        ax : Axes or sequence of Axes, optional
            Where to draw: one Axes per panel. Default: a new figure (through pyplot) with
            the panels in rows of at most ``cols``.
        """

        n = len(self.panels)
        with style.rc():
            if ax is None:
                import matplotlib.pyplot as plt

                ncols = min(n, cols)
                nrows = math.ceil(n / ncols)
                fig, axs = plt.subplots(
                    nrows,
                    ncols,
                    figsize=(style.PANEL_SIZE[0] * ncols, style.PANEL_SIZE[1] * nrows),
                    squeeze=False,
                    layout="constrained",
                )
                axes = list(axs.ravel())
                for extra in axes[n:]:
                    extra.set_visible(False)
                axes = axes[:n]
            else:
                axes = list(np.ravel(np.asarray(ax, dtype=object))) if not hasattr(ax, "plot") else [ax]
                if len(axes) != n:
                    msg = f"plot(ax=...) needs one Axes per panel: {n} panels, {len(axes)} Axes given."
                    raise InvalidParameterError(msg)
                fig = axes[0].figure
            self.lines_ = []
            self.bands_ = []
            self.markers_ = []
            for a, panel in zip(axes, self.panels, strict=True):
                self._plot_panel(a, panel)
            if self.title:
                fig.suptitle(self.title)
        self.axes_ = axes
        self.ax_ = axes[0] if n == 1 else np.array(axes, dtype=object)
        self.figure_ = fig
        return self

    def _hue_values(self) -> list[Any]:
        vals: dict[Any, None] = {}
        for panel in self.panels:
            for ser in panel:
                vals[ser.hue] = None
        return list(vals)

    def _plot_panel(self, ax: Axes, panel: list[Series]) -> None:
        from matplotlib.lines import Line2D

        specs: list[YSpec] = list(dict.fromkeys(s.spec for s in panel))
        hues = self._hue_values()
        by_hue = self.hue is not None and len(hues) > 1
        hue_colour = dict(zip(hues, style.colours(len(hues), ordered=True), strict=True))
        spec_colour = dict(zip(specs, style.colours(len(specs)), strict=True))
        splits = [s.split for s in specs]
        split_styles = len(set(splits)) == len(splits) and all(s in style.SPLIT_LINESTYLES for s in splits)
        spec_style = {
            s: (
                style.SPLIT_LINESTYLES[s.split]
                if (split_styles or not by_hue) and s.split in style.SPLIT_LINESTYLES
                else style.EXTRA_LINESTYLES[i % len(style.EXTRA_LINESTYLES)]
            )
            for i, s in enumerate(specs)
        }
        names = _spec_names(specs)
        for ser in panel:
            colour = hue_colour[ser.hue] if by_hue else spec_colour[ser.spec]
            if len(specs) == 1:
                label: str | None = style.hue_label(str(self.hue), ser.hue) if by_hue else names[ser.spec]
            else:
                label = None if by_hue else names[ser.spec]
            pos = style.axis_positions(ser.x, self.logx, self.zero_at)
            (line,) = ax.plot(
                pos,
                ser.mean,
                color=colour,
                linestyle=spec_style[ser.spec],
                marker="o",
                markersize=3,
                label=label,
            )
            line.set_gid(f"{ser.spec.label}|{ser.hue}")
            self.lines_.append(line)
            limits = band_limits(ser, self.band)
            if limits is not None and np.any(ser.n > 1):
                self.bands_.append(
                    ax.fill_between(pos, limits[0], limits[1], color=colour, alpha=0.2, linewidth=0)
                )
        handles: list[Any] = []
        if by_hue and len(specs) > 1:
            handles = [
                Line2D([], [], color=hue_colour[h], label=style.hue_label(str(self.hue), h)) for h in hues
            ]
            handles += [Line2D([], [], color="0.2", linestyle=spec_style[s], label=names[s]) for s in specs]
            ax.legend(handles=handles, ncols=2 if len(handles) > 6 else 1)
        elif len(panel) > 1 or (len(specs) > 1) or by_hue:
            ax.legend()
        self._decorate(ax, specs, panel)

    def _decorate(self, ax: Axes, specs: list[YSpec], panel: list[Series]) -> None:
        from matplotlib.transforms import blended_transform_factory

        ax.set_xlabel(self.xlabel or style.factor_label(self.x))
        ax.set_ylabel(style.metrics_axis_label([s.metric for s in specs]))
        ax.set_title(_panel_title(self.dataset, specs))
        if self.logy:
            ax.set_yscale("log")
        if not self.logx:
            return
        ax.set_xscale("log")
        xs = np.unique(np.concatenate([ser.x for ser in panel])) if panel else np.array([])
        trans = blended_transform_factory(ax.transData, ax.transAxes)
        if np.any(xs == 0):
            text = "init" if self.x == "epoch" else "0"
            ax.annotate(
                text,
                xy=(self.zero_at, 0.0),
                xycoords=trans,
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                color="0.35",
            )
        if self.x == "epoch" and xs.size and xs.min() < 1 <= xs.max():
            line = ax.axvline(1.0, color="0.3", linestyle=(0, (4, 2)), linewidth=1.0, zorder=1.5)
            line.set_gid("first-epoch")
            ax.text(
                1.0,
                0.98,
                "first epoch ",
                transform=trans,
                rotation=90,
                ha="right",
                va="top",
                fontsize=7,
                color="0.3",
                style="italic",
            )
            self.markers_.append(line)


def _spec_names(specs: list[YSpec]) -> dict[YSpec, str]:
    """Legend names of a panel's series: the split alone when the metric is shared, etc."""
    metrics = {s.metric for s in specs}
    splits = {s.split for s in specs}
    scopes = {s.scope for s in specs}
    out = {}
    for s in specs:
        if len(metrics) == 1 and len(splits) > 1:
            name = s.split
        elif len(splits) == 1 and len(metrics) > 1:
            name = style.metric_short(s.metric)
        elif len(metrics) == 1 and len(splits) == 1:
            name = f"{style.metric_short(s.metric)} ({s.split})"
        else:
            name = f"{style.metric_short(s.metric)} ({s.split})"
        if len(scopes) > 1:
            name += f" [{s.scope}]"
        out[s] = name
    return out


def _panel_title(dataset: str | None, specs: list[YSpec]) -> str:
    metrics = list(dict.fromkeys(s.metric for s in specs))
    splits = list(dict.fromkeys(s.split for s in specs))
    scopes = list(dict.fromkeys(s.scope for s in specs))
    what = ", ".join(style.metric_short(m) for m in metrics) + f" ({', '.join(splits)})"
    if len(scopes) == 1 and scopes[0] != "all":
        what += f" [{scopes[0]}]"
    return f"{dataset}: {what}" if dataset else what


def write_curves(
    paths: Sequence[str | Path], output: str | Path, **kwargs: Any
) -> tuple[Path, CurvesDisplay]:
    """Compute :class:`CurvesDisplay` from code files, draw it on a new figure and write ``output``.

    The figure is built without pyplot (no global state, no display needed). The format
    (PNG, SVG or PDF) follows the extension of ``output``. ``cols`` (default 4) panels per
    row; the other keyword arguments are those of :meth:`CurvesDisplay.from_runs`.
    """
    from matplotlib.figure import Figure

    style.check_output(output, inputs=paths)
    cols = int(kwargs.pop("cols", 4))
    display = CurvesDisplay.from_files(paths, **kwargs)
    n = len(display.panels)
    ncols = min(n, cols)
    nrows = math.ceil(n / ncols)
    with style.rc():
        fig = Figure(figsize=(style.PANEL_SIZE[0] * ncols, style.PANEL_SIZE[1] * nrows), layout="constrained")
        axs = fig.subplots(nrows, ncols, squeeze=False)
        for extra in axs.ravel()[n:]:
            extra.set_visible(False)
        display.plot(ax=axs.ravel()[:n])
        return style.save_figure(fig, output, inputs=paths), display
