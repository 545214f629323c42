"""Look of actcode's charts: colours, labels, log-axis rule, sizes and writing figure files."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actcode import metrics as _metrics
from actcode.errors import InvalidParameterError, OutputError
from actcode.factors import factor_meaning

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Okabe & Ito (2008) colour-blind-safe palette, reordered so that the first colours are the
#: most distinct on white (blue, vermillion, bluish green, orange, sky blue, purple, black,
#: yellow). Used for up to 8 lines; more values of an ordered factor use ``SEQUENTIAL_CMAP``.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#E69F00",
    "#56B4E9",
    "#CC79A7",
    "#000000",
    "#F0E442",
)
#: Colour map of ordered hue values when there are more than 8 of them.
SEQUENTIAL_CMAP = "viridis"
#: Default colour map of the phase chart (perceptually uniform, colour-blind safe).
MAP_CMAP = "viridis"

#: Line style per split: the paper draws train dashed and test solid.
SPLIT_LINESTYLES: dict[str, Any] = {"test": "-", "train": "--", "random": ":", "val": "-."}
#: Markers of the metrics (with their scope) overlaid in one chart, in order of first appearance.
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
#: Characters per line before an axis label, a title or a legend entry wraps (at the RC font sizes
#: on a :data:`PANEL_SIZE` panel).
WRAP_Y, WRAP_X, WRAP_TITLE, WRAP_LEGEND = 34, 44, 32, 24
#: Styles of further splits (after :data:`SPLIT_LINESTYLES`), in order of first appearance.
EXTRA_LINESTYLES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)))

#: Axis labels of the study's factors, with units.
FACTOR_LABELS: dict[str, str] = {
    "width": "width (hidden units)",
    "depth": "depth (hidden layers)",
    "epoch": "epoch",
    "sample_size": "training sample size n",
    "weight_decay": "weight decay (L2 coefficient)",
    "dropout": "dropout rate",
    "label_noise": "label-noise ratio",
    "seed": "seed",
    "lr": "learning rate",
    "batch_size": "batch size (samples)",
}
#: Short factor names for legends ("width = 40").
FACTOR_SHORT: dict[str, str] = {
    "sample_size": "n",
    "weight_decay": "wd",
    "label_noise": "noise",
    "batch_size": "batch",
}


def is_ratio(metric: str) -> bool:
    """True for metrics whose values lie in [0, 1] (fixed colour range in the phase chart)."""
    return _metrics.is_ratio(metric)


def metric_label(metric: str) -> str:
    """Long label of a metric (its axis label when alone), from :mod:`actcode.metrics`.

    Examples
    --------
    >>> metric_label("redundancy"), metric_label("knn_accuracy"), metric_label("custom_stat")
    ('redundancy ratio R', 'K-NN accuracy', 'custom stat')
    """
    return _metrics.label_of(metric)


def metric_short(metric: str) -> str:
    """Short name of a metric for legends and titles, from :mod:`actcode.metrics`."""
    return _metrics.short_of(metric)


def metrics_axis_label(metrics: Sequence[str]) -> str:
    """Y label of a panel showing ``metrics``: "redundancy ratio R", "accuracy", or the metric's label.

    Examples
    --------
    >>> metrics_axis_label(["knn_accuracy", "logreg_accuracy"]), metrics_axis_label(["redundancy"])
    ('accuracy', 'redundancy ratio R')
    """
    uniq = list(dict.fromkeys(metrics))
    if all(_metrics.is_accuracy(m) for m in uniq):
        return "accuracy"
    if len(uniq) == 1:
        return metric_label(uniq[0])
    return " / ".join(metric_short(m) for m in uniq)


#: Panel size in inches: the study's panels are about 3.5 x 2.7 in at 9-10 pt text.
PANEL_SIZE = (3.6, 2.8)
#: Room in inches on a panel's right for its legend (legends sit outside the axes).
LEGEND_WIDTH = 1.5
#: Length of a legend's line samples, in font sizes. Matplotlib's 2.0 puts the one gap of a
#: dashed (train) sample under its centred marker, so train looked as solid as test; at 3.0 a
#: gap shows on each side of the marker (dotted and dash-dot samples too).
LEGEND_HANDLELENGTH = 3.0
#: Resolution of PNG output.
PNG_DPI = 200
#: Output formats by file extension.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

#: Matplotlib settings used for every chart (applied with ``rc_context``).
RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.8,
    "svg.fonttype": "none",
    "pdf.fonttype": 42,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.05,
}


def rc() -> Any:
    """A context manager applying :data:`RC` (``matplotlib.rc_context``)."""
    import matplotlib as mpl

    return mpl.rc_context(RC)  # type: ignore[arg-type]


def json_number(v: Any) -> Any:
    """A plotted number for JSON output: a float, None for NaN; anything not a number unchanged."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return None if math.isnan(f) else f


def factor_label(name: str, models: Iterable[Any] = ()) -> str:
    """Axis label of a factor, with its unit.

    ``width`` and ``depth`` count different things per model family
    (:data:`actcode.factors.WIDTH_MEANING`): with the ``model`` factor of the runs in
    ``models``, the unit is the one they share, and no unit is claimed when they differ.
    Runs that do not name their model are read as MLPs, the default model.

    Examples
    --------
    >>> factor_label("sample_size")
    'training sample size n'
    >>> factor_label("bn")
    'bn'
    >>> factor_label("width", ["mlp"]), factor_label("width", ["vgg11"])
    ('width (hidden units)', 'width (channel multiplier)')
    >>> factor_label("width", ["mlp", "vgg11"])
    'width'
    """
    if name in ("width", "depth"):
        known = [m for m in models if m is not None]
        if known:
            meaning = factor_meaning(name, known)
            return f"{name} ({meaning})" if meaning else name
    return FACTOR_LABELS.get(name, name.replace("_", " "))


def format_value(value: Any) -> str:
    """Short text of a factor value for legends and ticks.

    Examples
    --------
    >>> format_value(40.0), format_value(1e-6), format_value(None), format_value(0.25)
    ('40', '1e-06', 'none', '0.25')
    """
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return f"{v:g}"
    return str(value)


def hue_label(factor: str, value: Any) -> str:
    """Legend text of one hue value, for example ``width = 40``."""
    return f"{FACTOR_SHORT.get(factor, factor)} = {format_value(value)}"


def colours(n: int, *, ordered: bool = False) -> list[Any]:
    """``n`` distinguishable, colour-blind-safe colours.

    Up to 8 come from :data:`OKABE_ITO`; more (for an ordered factor, or any factor) are
    sampled from :data:`SEQUENTIAL_CMAP` so that order stays readable.
    """
    if n <= len(OKABE_ITO) and not (ordered and n > 6):
        return list(OKABE_ITO[:n])
    import matplotlib as mpl

    cmap = mpl.colormaps[SEQUENTIAL_CMAP]
    return [cmap(x) for x in np.linspace(0.0, 0.9, n)]


def spans_decades(values: Sequence[float] | np.ndarray, ratio: float = 100.0) -> bool:
    """The auto log-axis rule: positive values span ``max/min >= ratio`` (two decades).

    Examples
    --------
    >>> spans_decades([0, 1, 10, 200]), spans_decades([3, 7, 100]), spans_decades([0, 0])
    (True, False, False)
    """
    pos = [float(v) for v in values if v is not None and np.isfinite(float(v)) and float(v) > 0]
    return len(pos) >= 2 and max(pos) / min(pos) >= ratio


def is_geometric(values: Sequence[float] | np.ndarray) -> bool:
    """Whether the positive values look like a geometric grid (4, 16, 64, 256; 1, 3, 10, 30).

    At least three distinct positive values spanning a factor of 4 or more, whose steps are
    more even on a log scale than on a linear one.

    Examples
    --------
    >>> is_geometric([4, 16, 64, 256]), is_geometric([0, 1, 3, 10, 30]), is_geometric([1, 2, 3])
    (True, True, False)
    >>> is_geometric([10, 20, 30, 40]), is_geometric([4, 16])
    (False, False)
    """
    pos = sorted({float(v) for v in values if v is not None and np.isfinite(float(v)) and float(v) > 0})
    if len(pos) < 3 or pos[-1] / pos[0] < 4:
        return False
    arr = np.asarray(pos)
    lin, log = np.diff(arr), np.diff(np.log(arr))

    def spread(d: np.ndarray) -> float:
        return float(np.std(d) / np.mean(d))

    return spread(log) < spread(lin)


def log_by_default(values: Sequence[float] | np.ndarray) -> bool:
    """The phase chart's auto log-axis rule: :func:`spans_decades` or :func:`is_geometric`."""
    return spans_decades(values) or is_geometric(values)


def wrap(text: str, width: int) -> str:
    r"""``text`` broken into lines of at most ``width`` characters (at spaces; long words stay whole).

    Examples
    --------
    >>> wrap("density of regions along chords between classes", 20)
    'density of regions\nalong chords between\nclasses'
    """
    import textwrap

    lines: list[str] = []
    for part in text.split("\n"):
        lines += textwrap.wrap(part, width, break_on_hyphens=False) or [""]
    return "\n".join(lines)


def grid_ticks(
    ax: Any,
    axis: str,
    values: np.ndarray,
    positions: np.ndarray,
    log: bool,
    names: dict[str, str] | None = None,
) -> bool:
    """Put ticks on the grid values (at most 12), labelled by :func:`format_value` (``names`` maps a
    formatted value to another label, e.g. ``{"0": "init"}``); False when there are too many."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    if values.size > 12 or values.size == 0:
        return False
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(FixedLocator(np.asarray(positions, dtype=float).tolist()))
    labels = [format_value(v) for v in values]
    a.set_major_formatter(FixedFormatter([(names or {}).get(t, t) for t in labels]))
    if log:
        a.set_minor_locator(NullLocator())
    return True


def zero_position(values: Sequence[float] | np.ndarray) -> float:
    """Where 0 is drawn on a log axis: half the smallest positive value (epoch 0 -> 0.5).

    Examples
    --------
    >>> zero_position([0, 1, 3, 10])
    0.5
    """
    pos = [float(v) for v in values if float(v) > 0]
    return min(pos) / 2.0 if pos else 1.0


def axis_positions(values: np.ndarray, log: bool, zero_at: float) -> np.ndarray:
    """Positions of factor values on an axis: on a log axis, 0 moves to ``zero_at``."""
    pos = np.asarray(values, dtype=float).copy()
    if log:
        pos[pos == 0] = zero_at
    return pos


def cell_edges(centres: np.ndarray, log: bool) -> np.ndarray:
    """Edges of cells centred on sorted ``centres``: halfway between neighbours in the axis' scale.

    On a log axis the edges are geometric means, so each cell looks centred on its value;
    the outer edges lie half a step beyond the first and last centres.

    Examples
    --------
    >>> cell_edges(np.array([1.0, 2.0, 4.0]), log=False).tolist()
    [0.5, 1.5, 3.0, 5.0]
    >>> np.round(cell_edges(np.array([1.0, 100.0]), log=True), 6).tolist()
    [0.1, 10.0, 1000.0]
    """
    c = np.log10(centres) if log else np.asarray(centres, dtype=float)
    if c.size == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2.0
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return 10.0**e if log else e


def output_format(path: str | Path) -> str:
    """Matplotlib format name for an output path, from its extension (png, svg or pdf)."""
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        msg = (
            f"cannot tell the figure format of {str(path)!r}: the extension must be one of "
            f"{', '.join(FORMATS)}. Got {ext or 'no extension'!r} instead."
        )
        raise InvalidParameterError(msg)
    return FORMATS[ext]


def check_output(path: str | Path, inputs: Sequence[str | Path] = ()) -> str:
    """Check an output path before any work (extension, the rules every output follows); return the format."""
    from actcode.io.atomic import resolve_output

    fmt = output_format(path)
    resolve_output(Path(path), inputs=inputs)
    return fmt


def save_figure(figure: Figure, path: str | Path, inputs: Sequence[str | Path] = ()) -> Path:
    """Write ``figure`` to ``path`` atomically (PNG, SVG or PDF by extension); return the path.

    The figure is rendered to a hidden temporary name in the same folder and renamed, so an
    interrupted run never leaves a half-written figure under the final name.
    """
    from actcode.io import atomic_output

    fmt = output_format(path)
    final = Path(path)
    try:
        with atomic_output(final, inputs=inputs) as tmp:
            with tmp.open("wb") as fh:
                figure.savefig(fh, format=fmt, dpi=PNG_DPI, metadata=_metadata(fmt))
    except OutputError:
        raise
    except OSError as exc:
        msg = f"cannot write the figure {final}: {exc.strerror or exc}. Choose another output path."
        raise OutputError(msg) from None
    return final


def _metadata(fmt: str) -> dict[str, Any]:
    from actcode import __version__

    creator = f"actcode {__version__} (matplotlib)"
    if fmt == "png":
        return {"Software": creator}
    if fmt == "pdf":
        # A fixed date keeps PDF output byte-stable for the same data.
        return {"Creator": creator, "CreationDate": None}
    return {"Creator": creator, "Date": None}
