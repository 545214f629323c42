"""``actcode chart``: curves of stored metrics against factors, and the activation hash phase chart."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from actcode.cli._common import emit_json, emit_path, log, read_input_paths
from actcode.cli._errors import EPILOG, handle_errors
from actcode.errors import InvalidParameterError

app = typer.Typer(
    help=(
        "Chart the results stored in code files: 'curves' plots any measured or probed metric against a "
        "factor of the runs (width, depth, epoch, sample_size, weight_decay, dropout, label_noise), and "
        "'phase' draws the activation hash phase chart over two factors with the under-, critically- and "
        "sufficiently-expressive regimes. Figures are PNG, SVG or PDF by the extension of -o; the path of "
        "the figure goes to stdout."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
    epilog=EPILOG,
)


class Band(StrEnum):
    """Spread band over seeds."""

    std = "std"
    minmax = "minmax"
    none = "none"


class Style(StrEnum):
    """Drawing style of the phase chart."""

    heatmap = "heatmap"
    contour = "contour"


PathsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Code files with measure/probe results; '-' or none reads paths from stdin."),
]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="Figure file: .png, .svg or .pdf.")]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where", "-w", help="Keep only runs with FACTOR=VALUE (repeatable), e.g. --where depth=1."
    ),
]
ScopeOpt = Annotated[
    str,
    typer.Option(help="Scope of the metrics: all (whole code), layer:NAME, upto:NAME (or a bare site name)."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON record with the plotted numbers instead of the path.")
]
TitleOpt = Annotated[str | None, typer.Option(help="Figure title (default: dataset and metric per panel).")]
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at",
        help="One file per training run: 'final' (its last checkpoint; the stopping epoch of early "
        "stopping is an outcome, not a factor) or an epoch N (a run that stopped before N counts with "
        "its final model) [default: final when the epochs differ only by early stopping, else every file].",
    ),
]


def _where(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            msg = f"--where needs FACTOR=VALUE (for example depth=1). Got {item!r} instead."
            raise InvalidParameterError(msg)
        out[key.strip()] = value.strip()
    return out


@app.command("curves", epilog=EPILOG)
@handle_errors("chart")
def curves(
    paths: PathsArg = None,
    output: OutputOpt = "curves.png",
    x: Annotated[
        str, typer.Option("--x", help="Factor on the x axis: width, depth, epoch, sample_size, ...")
    ] = "width",
    y: Annotated[
        str,
        typer.Option(
            "--y",
            help=(
                "Metrics: METRIC_SPLIT entries, ',' between panels, '+' to overlay in one panel, "
                "optional @SCOPE. "
                "E.g. redundancy_train+redundancy_test,knn_test. A bare METRIC overlays its train and test. "
                "Aliases: kmeans (majority), kmeans_hungarian, knn, logreg, accuracy/net_accuracy "
                "(the network's)."
            ),
        ),
    ] = "redundancy",
    hue: Annotated[
        str | None,
        typer.Option(
            help="Factor with one line per value (default: the one factor varying besides x; 'none')."
        ),
    ] = None,
    scope: ScopeOpt = "all",
    where: WhereOpt = None,
    band: Annotated[
        Band, typer.Option(help="Spread over seeds: std (mean +- std), minmax, or none.")
    ] = Band.std,
    logx: Annotated[
        bool | None,
        typer.Option(
            "--logx/--no-logx",
            help="Log x axis (default: when x spans two decades; 0 is drawn at half the smallest value).",
        ),
    ] = None,
    logy: Annotated[bool, typer.Option("--logy/--no-logy", help="Log y axis.")] = False,
    cols: Annotated[int, typer.Option(min=1, help="Panels per row.")] = 4,
    title: TitleOpt = None,
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plot stored metrics against a factor, one line per value of another factor.

    Runs are grouped by the factors in their provenance; files that differ only in seed are
    averaged (mean line, band = std or min-max over seeds). Any metric written by
    'actcode measure' or 'actcode probe' can be plotted, on any split (train, test, random)
    and scope, plus the network's own accuracy and loss. Every factor other than x, the hue
    and seed must be constant (fix it with --where; the epoch with --at).

    In every panel the line style is the split (test solid, train dashed, random dotted), the
    colour the hue value (without a hue, the metric) and the marker the metric. Geometric grids
    (4, 16, 64) get a log axis with ticks at the grid values.
    """
    files = read_input_paths(paths, what="code files")
    from actcode.charts import write_curves

    path, d = write_curves(
        files,
        output,
        x=x,
        y=y,
        hue=hue,
        scope=scope,
        where=_where(where),
        band=band.value,
        logx=logx,
        logy=logy,
        title=title,
        cols=cols,
        at=at,
    )
    seeds = sorted({int(n) for panel in d.panels for ser in panel for n in ser.n})
    log(
        f"wrote {path}: {len(d.panels)} panel(s), {len(d.lines_)} line(s) from {len(files)} files; "
        f"x={x} ({'log' if d.logx else 'linear'}), hue={d.hue or 'none'}, runs per point: "
        f"{'-'.join(map(str, [seeds[0], seeds[-1]] if len(seeds) > 1 else seeds))}"
        + (f"; epoch: {d.at}" if d.at else "")
    )
    if as_json:
        emit_json({"path": str(path), "kind": "curves", **d.to_dict()})
    else:
        emit_path(path)


@app.command("phase", epilog=EPILOG)
@handle_errors("chart")
def phase(
    paths: PathsArg = None,
    output: OutputOpt = "phase.png",
    x: Annotated[
        str, typer.Option("--x", help="Factor on the x axis (a grid of at least two values).")
    ] = "width",
    y: Annotated[str, typer.Option("--y", help="Factor on the y axis: epoch, sample_size, ...")] = "epoch",
    metric: Annotated[str, typer.Option(help="Metric shown in colour (METRIC_SPLIT).")] = "redundancy_test",
    r: Annotated[
        str, typer.Option("--r", help="Redundancy ratio R of the regime rule (METRIC_SPLIT).")
    ] = "redundancy_test",
    accuracy: Annotated[
        str,
        typer.Option(
            help="Categorization accuracy A of the regime rule (METRIC_SPLIT, e.g. knn_test, logreg_test)."
        ),
    ] = "knn_test",
    r_high: Annotated[float, typer.Option(help="Under-expressive when R > r_high.")] = 0.1,
    r_low: Annotated[float, typer.Option(help="Sufficiently-expressive needs R <= r_low.")] = 0.01,
    a_low: Annotated[float, typer.Option(help="Under-expressive when A < a_low * A*.")] = 0.75,
    a_high: Annotated[float, typer.Option(help="Sufficiently-expressive needs A >= a_high * A*.")] = 0.95,
    plateau: Annotated[
        float | None,
        typer.Option(help="Accuracy plateau A* (default: the largest cell mean of A over the grid)."),
    ] = None,
    regions: Annotated[
        bool, typer.Option("--regions/--no-regions", help="Classify and draw the regimes.")
    ] = True,
    style: Annotated[
        Style, typer.Option("--style", help="heatmap (cells) or contour (filled contours).")
    ] = Style.heatmap,
    cmap: Annotated[str, typer.Option(help="Colour map (colour-blind safe: viridis, cividis).")] = "viridis",
    scope: ScopeOpt = "all",
    where: WhereOpt = None,
    logx: Annotated[
        bool | None,
        typer.Option("--logx/--no-logx", help="Log x axis (default: x spans two decades or is geometric)."),
    ] = None,
    logy: Annotated[
        bool | None,
        typer.Option("--logy/--no-logy", help="Log y axis (default: y spans two decades or is geometric)."),
    ] = None,
    title: TitleOpt = None,
    at: AtOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw the activation hash phase chart: a metric on a grid of two factors, with regimes.

    Each cell is the mean over seeds of the runs with that (x, y); a cell without runs is
    drawn hatched grey ("no run"), never interpolated. With R the redundancy ratio (--r,
    default test), A the categorization accuracy (--accuracy, default K-NN test) and A* its
    plateau (the largest cell mean of A over the grid, or --plateau), a cell is
    UNDER-expressive if R > r_high or A < a_low*A*; SUFFICIENTLY-expressive if R <= r_low and
    A >= a_high*A*; CRITICALLY-expressive otherwise (defaults r_high 0.1, r_low 0.01, a_low
    0.75, a_high 0.95; see formats/phase-chart.md). Boundaries are drawn along the cell edges
    between regimes, and each region is hatched and labelled.
    """
    files = read_input_paths(paths, what="code files")
    from actcode.charts import REGIME_NAMES, PhaseThresholds, write_phase

    thresholds = PhaseThresholds(r_high=r_high, r_low=r_low, a_low=a_low, a_high=a_high, plateau=plateau)
    path, d = write_phase(
        files,
        output,
        x=x,
        y=y,
        metric=metric,
        r=r,
        accuracy=accuracy,
        thresholds=thresholds,
        regions=regions,
        kind=style.value,
        cmap=cmap,
        scope=scope,
        where=_where(where),
        logx=logx,
        logy=logy,
        title=title,
        at=at,
    )
    counts = {name: int((d.regimes_ == code).sum()) for code, name in REGIME_NAMES.items()}
    for note in d.notes_:
        log(note)
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n and (regions or name != "no run"))
    log(
        f"wrote {path}: {d.ys.size} x {d.xs.size} grid of {y} x {x}"
        + (f"; cells: {summary}" if regions else "")
    )
    if as_json:
        emit_json({"path": str(path), "kind": "phase", **d.to_dict()})
    else:
        emit_path(path)


@app.command("regions", epilog=EPILOG)
@handle_errors("chart")
def regions(
    path: Annotated[
        str, typer.Argument(help="A code file with a plane partition (actcode regions --analyses plane).")
    ],
    output: OutputOpt = "slice.png",
    split: Annotated[
        str | None, typer.Option("--split", help="Whose plane (default: test, else the first).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw the exact 2-D slice stored by 'actcode regions': every linear region of the plane through
    three examples as a polygon, coloured by the network's predicted class, with the decision
    boundary in black and the three examples marked.
    """
    from actcode.charts.regions import write_slice

    out, summary = write_slice(path, output, split=split)
    log(
        f"chart regions: {out}: {summary['regions']} regions, {summary['boundary_edges']} boundary edges",
        level=1,
    )
    if as_json:
        emit_json({"path": str(out), **summary})
    else:
        emit_path(out)
