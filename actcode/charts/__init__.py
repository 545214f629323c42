"""Charts of the study: curves of metrics against factors and the activation hash phase chart.

Importing this package selects matplotlib's headless Agg backend unless pyplot was already
imported (a notebook or a user's script keeps the backend it chose), so charts never need a
display.

Use the displays on your own axes::

    from actcode.charts import CurvesDisplay, PhaseChartDisplay
    d = CurvesDisplay.from_files(paths, x="width", y="redundancy_train+redundancy_test")
    d.plot(ax=my_ax)            # d.ax_, d.figure_, d.lines_
    p = PhaseChartDisplay.from_files(paths, x="width", y="epoch").plot()
    p.regimes_                  # -1 no run, 0 under-, 1 critically-, 2 sufficiently-expressive
"""

from __future__ import annotations

import sys

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

from actcode.charts.curves import CurvesDisplay, write_curves  # noqa: E402
from actcode.charts.data import Series, aggregate  # noqa: E402
from actcode.charts.phase import PhaseChartDisplay, write_phase  # noqa: E402
from actcode.charts.phase_grid import PhaseGrid  # noqa: E402
from actcode.charts.regimes import (  # noqa: E402
    CRITICAL,
    MISSING,
    REGIME_NAMES,
    SUFFICIENT,
    UNDER,
    PhaseThresholds,
    classify_regimes,
)
from actcode.charts.runs import Run, distinct_runs, group_runs, load_runs  # noqa: E402
from actcode.charts.specs import YSpec, parse_y  # noqa: E402
from actcode.charts.style import save_figure  # noqa: E402

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
