"""The numbers of a phase chart: a metric, R and A on a grid of two factors, run counts and regimes."""

from __future__ import annotations

from typing import Any

import numpy as np

from actcode.charts import style
from actcode.charts.regimes import REGIME_NAMES, PhaseThresholds
from actcode.charts.specs import YSpec


class PhaseGrid:
    """What a phase chart shows, computed once (see :meth:`PhaseChartDisplay.from_runs`).

    The constructor only stores its arguments.

    Attributes
    ----------
    x, y : str
        The factors on the axes.
    xs, ys : ndarray of shape (n_x,) and (n_y,)
        Their sorted grid values.
    values : ndarray of shape (n_y, n_x)
        The shown metric per cell (mean over seeds; NaN = no run).
    R, A : ndarray of shape (n_y, n_x)
        The redundancy ratio and accuracy the regimes are computed from.
    counts : ndarray of shape (n_y, n_x), dtype=int
        Runs (seeds) per cell.
    plateau : float
        The accuracy plateau A* used.
    regimes_ : ndarray of shape (n_y, n_x), dtype=np.int8
        Regime per cell (see :func:`~actcode.charts.regimes.classify_regimes`); all -1 without
        regions.
    notes_ : list of str
        Remarks for the user (cells without a run).
    xlabel, ylabel : str or None
        The axis labels (None: :func:`~actcode.charts.style.factor_label` of the factors).
    """

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
        plateau: float,
        regimes: np.ndarray,
        notes: list[str] | None = None,
        kind: str = "heatmap",
        logx: bool = False,
        logy: bool = False,
        cmap: str = style.MAP_CMAP,
        dataset: str | None = None,
        title: str | None = None,
        xlabel: str | None = None,
        ylabel: str | None = None,
    ) -> None:
        self.x, self.y, self.xs, self.ys = x, y, xs, ys
        self.values, self.R, self.A, self.counts = values, R, A, counts
        self.metric, self.r_spec, self.a_spec = metric, r_spec, a_spec
        self.thresholds, self.plateau, self.regimes_ = thresholds, plateau, regimes
        self.notes_: list[str] = list(notes or [])
        self.kind, self.logx, self.logy, self.cmap = kind, logx, logy, cmap
        self.dataset, self.title = dataset, title
        self.xlabel, self.ylabel = xlabel, ylabel

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres on the axes (0 moved to half the smallest positive value on a log axis)."""
        xp = style.axis_positions(self.xs, self.logx, style.zero_position(self.xs))
        yp = style.axis_positions(self.ys, self.logy, style.zero_position(self.ys))
        return xp, yp

    def to_dict(self) -> dict[str, Any]:
        """The plotted numbers as JSON-safe values (NaN becomes None)."""
        t = self.thresholds
        return {
            "x": self.x,
            "y": self.y,
            "xs": self.xs.tolist(),
            "ys": self.ys.tolist(),
            "metric": self.metric.label,
            "values": _grid(self.values),
            "R": _grid(self.R),
            "A": _grid(self.A),
            "plateau": style.json_number(self.plateau),
            "counts": self.counts.tolist(),
            "regimes": self.regimes_.tolist(),
            "regime_names": {str(k): v for k, v in REGIME_NAMES.items()},
            "thresholds": {
                "r_high": t.r_high,
                "r_low": t.r_low,
                "a_low": t.a_low,
                "a_high": t.a_high,
                "plateau": t.plateau,
            },
        }


def _grid(a: np.ndarray) -> list[list[float | None]]:
    return [[style.json_number(v) for v in row] for row in a]


__all__ = ["PhaseGrid"]
