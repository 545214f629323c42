"""CurvesDisplay: stored metrics against a factor, one line per hue value, mean and band over seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
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
from actcode.charts.runs import select_epoch
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
    at : str or None
        The epoch taken from each run (:func:`~actcode.charts.runs.select_epoch`): ``"final"``
        (with why, when it was the default), an epoch, or None when every file counts.

    The encoding means one thing in every panel: the line style is the split (test solid,
    train dashed, random dotted), the colour the hue value (or, without a hue, the metric), and
    the marker the metric. Legends sit outside the axes, so they never cover data.

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
        at: str | None = None,
    ) -> None:
        self.panels = panels
        self.at = at
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
        at: str | int | None = None,
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
            Force the x scale; default: log when the positive x values span two decades or
            form a geometric grid (:func:`~actcode.charts.style.log_by_default`), with ticks at
            the grid values.
        at : "final" or int, optional
            Take one file per training run: its final checkpoint, or the one at this epoch
            (:func:`~actcode.charts.runs.select_epoch`). Default: ``"final"`` when the epochs
            differ only by early stopping, else every file.
        """
        if band not in BANDS:
            msg = f"--band must be one of {', '.join(BANDS)}. Got {band!r} instead."
            raise InvalidParameterError(msg)
        if not runs:
            msg = "no code files to chart."
            raise InvalidParameterError(msg)
        runs, at_note = select_epoch(filter_runs(runs, where), at, [x, hue])
        runs = distinct_runs(runs)
        specs = parse_y(y, runs, scope)
        check_factor(runs, x, role="--x")
        xs = numeric_values(runs, x)
        hue_f = choose_hue(runs, x, hue)
        check_constant(runs, [x, hue_f])
        check_metrics(runs, [s for panel in specs for s in panel])
        panels = [[ser for spec in panel for ser in aggregate(runs, spec, x, hue_f)] for panel in specs]
        use_log = style.log_by_default(xs) if logx is None else bool(logx)
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
            at=at_note,
        )

    def to_dict(self) -> dict[str, Any]:
        """The plotted numbers as JSON-safe values (NaN becomes None): one record per series."""
        num = style.json_number
        return {
            "x": self.x,
            "hue": self.hue,
            "logx": self.logx,
            "at": self.at,
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
                    nrows, ncols, figsize=self.figure_size(ncols, nrows), squeeze=False, layout="constrained"
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
            enc = self._encoding()
            for a, panel in zip(axes, self.panels, strict=True):
                self._plot_panel(a, panel, enc)
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

    def _encoding(self) -> _Encoding:
        """Colours, line styles and markers, assigned once over every panel so that each means
        the same thing everywhere: style = split, colour = hue value (else metric), marker = metric."""
        specs = [s.spec for panel in self.panels for s in panel]
        kinds = list(dict.fromkeys((s.metric, s.scope) for s in specs))
        extra = [sp for sp in dict.fromkeys(s.split for s in specs) if sp not in style.SPLIT_LINESTYLES]
        split_style = {**style.SPLIT_LINESTYLES}
        split_style.update({sp: style.EXTRA_LINESTYLES[2 + i % 4] for i, sp in enumerate(extra)})
        hues = self._hue_values()
        return _Encoding(
            by_hue=self.hue is not None and len(hues) > 1,
            hue_colour=dict(zip(hues, style.colours(len(hues), ordered=True), strict=True)),
            kind_colour=dict(zip(kinds, style.colours(len(kinds)), strict=True)),
            split_style=split_style,
            kind_marker={k: style.MARKERS[i % len(style.MARKERS)] for i, k in enumerate(kinds)},
        )

    def _plot_panel(self, ax: Axes, panel: list[Series], enc: _Encoding) -> None:
        specs: list[YSpec] = list(dict.fromkeys(s.spec for s in panel))
        names = _spec_names(specs)
        for ser in panel:
            spec = ser.spec
            colour = enc.hue_colour[ser.hue] if enc.by_hue else enc.kind_colour[(spec.metric, spec.scope)]
            if len(specs) == 1:
                label: str | None = style.hue_label(str(self.hue), ser.hue) if enc.by_hue else names[spec]
            else:
                label = None if enc.by_hue else names[spec]
            pos = style.axis_positions(ser.x, self.logx, self.zero_at)
            (line,) = ax.plot(
                pos,
                ser.mean,
                color=colour,
                linestyle=enc.split_style[spec.split],
                marker=enc.kind_marker[(spec.metric, spec.scope)],
                markersize=4.5,
                label=label,
            )
            line.set_gid(f"{spec.label}|{ser.hue}")
            self.lines_.append(line)
            limits = band_limits(ser, self.band)
            if limits is not None and np.any(ser.n > 1):
                self.bands_.append(
                    ax.fill_between(pos, limits[0], limits[1], color=colour, alpha=0.2, linewidth=0)
                )
        self._decorate(ax, specs, panel)
        self._legend(ax, panel, specs, names, enc)

    def _legend(
        self, ax: Axes, panel: list[Series], specs: list[YSpec], names: dict[YSpec, str], enc: _Encoding
    ) -> None:
        """The panel's legend, outside the axes on the right: it never covers a line or a band.
        The first-epoch marker is named there too, not by a text over the data."""
        from matplotlib.lines import Line2D

        marks = [ln for ln in ax.get_lines() if ln.get_gid() == "first-epoch"]
        handles: list[Any] = []
        if enc.by_hue and len(specs) > 1:
            handles = [
                Line2D([], [], color=enc.hue_colour[h], label=style.hue_label(str(self.hue), h))
                for h in self._hue_values()
            ]
            handles += [
                Line2D([], [], color="0.25", linestyle=enc.split_style[s.split],
                       marker=enc.kind_marker[(s.metric, s.scope)], markersize=4.5, label=names[s])
                for s in specs
            ]  # fmt: skip
            handles += marks
        elif not (len(panel) > 1 or len(specs) > 1 or enc.by_hue or marks):
            return
        for h in handles or ax.get_legend_handles_labels()[0]:
            h.set_label(style.wrap(str(h.get_label()), style.WRAP_LEGEND))
        ax.legend(
            handles=handles or None,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            frameon=False,
            ncols=2 if len(handles) > 12 else 1,
            handlelength=style.LEGEND_HANDLELENGTH,
        )

    def _decorate(self, ax: Axes, specs: list[YSpec], panel: list[Series]) -> None:
        ax.set_xlabel(style.wrap(self.xlabel or style.factor_label(self.x), style.WRAP_X))
        ax.set_ylabel(style.wrap(style.metrics_axis_label([s.metric for s in specs]), style.WRAP_Y))
        title = _panel_title(self.dataset, specs)
        if self.at is not None:
            title += f"\n{_at_text(self.at)}"
        ax.set_title(style.wrap(title, style.WRAP_TITLE))
        if self.logy:
            ax.set_yscale("log")
        if not self.logx:
            return
        ax.set_xscale("log")
        xs = np.unique(np.concatenate([ser.x for ser in panel])) if panel else np.array([])
        zero = "init" if self.x == "epoch" else "0"
        ticked = style.grid_ticks(
            ax, "x", xs, style.axis_positions(xs, True, self.zero_at), True, names={"0": zero}
        )
        self._first_epoch(ax, xs, annotate_zero=not ticked)

    def _first_epoch(self, ax: Axes, xs: np.ndarray, *, annotate_zero: bool) -> None:
        """On a log axis: 0 marked (when no tick names it), and the first epoch's line (named in
        the legend)."""
        from matplotlib.transforms import blended_transform_factory

        trans = blended_transform_factory(ax.transData, ax.transAxes)
        if annotate_zero and np.any(xs == 0):
            ax.annotate(
                "init" if self.x == "epoch" else "0",
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
            line = ax.axvline(
                1.0, color="0.3", linestyle=(0, (4, 2)), linewidth=1.0, zorder=1.5, label="first epoch"
            )
            line.set_gid("first-epoch")
            self.markers_.append(line)

    def has_legend(self) -> bool:
        """Whether some panel gets a legend (then each panel needs room on its right)."""
        by_hue = self.hue is not None and len(self._hue_values()) > 1
        first_epoch = self.logx and self.x == "epoch"
        return by_hue or first_epoch or any(len(panel) > 1 for panel in self.panels)

    def figure_size(self, ncols: int, nrows: int) -> tuple[float, float]:
        """Figure size in inches for ``ncols`` x ``nrows`` panels, with room for outside legends."""
        width = style.PANEL_SIZE[0] + (style.LEGEND_WIDTH if self.has_legend() else 0.0)
        return (width * ncols, style.PANEL_SIZE[1] * nrows)


@dataclass(frozen=True)
class _Encoding:
    """What colour, line style and marker mean in every panel of one display."""

    by_hue: bool
    hue_colour: dict[Any, Any]
    kind_colour: dict[tuple[str, str], Any]
    split_style: dict[str, Any]
    kind_marker: dict[tuple[str, str], str]


def _at_text(at: str) -> str:
    """``final (default: ...)`` -> "each run's final epoch"; ``10`` -> "epoch 10"."""
    return "each run's final epoch" if at.startswith("final") else f"epoch {at}"


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
        fig = Figure(figsize=display.figure_size(ncols, nrows), layout="constrained")
        axs = fig.subplots(nrows, ncols, squeeze=False)
        for extra in axs.ravel()[n:]:
            extra.set_visible(False)
        display.plot(ax=axs.ravel()[:n])
        return style.save_figure(fig, output, inputs=paths), display
