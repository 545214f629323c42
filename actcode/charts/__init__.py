"""Charts of the study: curves of metrics against factors and the activation hash phase chart.

Importing this package leaves matplotlib's backend alone: the ``write_*`` functions (and so
``actcode chart``) draw on Figures made without pyplot, so they never need a display, and a
notebook keeps its inline backend for ``.plot()``.

Use the displays on your own axes::

    from actcode.charts import CurvesDisplay, PhaseChartDisplay
    d = CurvesDisplay.from_files(paths, x="width", y="redundancy_train+redundancy_test")
    d.plot(ax=my_ax)            # d.ax_, d.figure_, d.lines_
    p = PhaseChartDisplay.from_files(paths, x="width", y="epoch").plot()
    p.regimes_                  # -1 no run, 0 under-, 1 critically-, 2 sufficiently-expressive
"""

from __future__ import annotations

from actcode.charts.curves import CurvesDisplay, write_curves
from actcode.charts.data import Series, aggregate
from actcode.charts.phase import PhaseChartDisplay, write_phase
from actcode.charts.phase_grid import PhaseGrid
from actcode.charts.regimes import (
    CRITICAL,
    MISSING,
    REGIME_NAMES,
    SUFFICIENT,
    UNDER,
    PhaseThresholds,
    classify_regimes,
)
from actcode.charts.runs import Run, distinct_runs, group_runs, load_runs
from actcode.charts.specs import YSpec, parse_y
from actcode.charts.style import save_figure

__all__ = [
    "CRITICAL",
    "MISSING",
    "REGIME_NAMES",
    "SUFFICIENT",
    "UNDER",
    "CurvesDisplay",
    "PhaseChartDisplay",
    "PhaseGrid",
    "PhaseThresholds",
    "Run",
    "Series",
    "YSpec",
    "aggregate",
    "classify_regimes",
    "distinct_runs",
    "group_runs",
    "load_runs",
    "parse_y",
    "save_figure",
    "write_curves",
    "write_phase",
]
