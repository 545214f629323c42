"""Tests of actcode.charts.phase: the regime rule and the phase chart display."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actcode.charts import (
    CRITICAL,
    MISSING,
    SUFFICIENT,
    UNDER,
    PhaseChartDisplay,
    PhaseThresholds,
    classify_regimes,
)
from actcode.charts.data import Run
from actcode.errors import InvalidParameterError

nan = np.nan


@pytest.fixture
def pyplot() -> Iterator[Any]:
    """pyplot on the Agg backend; every figure is closed after the test."""
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


# -- the rule -----------------------------------------------------------------------------
T = PhaseThresholds(r_high=0.1, r_low=0.01, a_low=0.5, a_high=0.9, plateau=1.0)


def test_classify_hand_grid() -> None:
    R = np.array([[0.9, 0.5, 0.05], [0.05, 0.0, 0.0], [0.0, nan, 0.0]])
    A = np.array([[0.2, 0.9, 0.6], [0.95, 0.8, 1.0], [0.3, 1.0, nan]])
    expected = [[UNDER, UNDER, CRITICAL], [CRITICAL, CRITICAL, SUFFICIENT], [UNDER, MISSING, MISSING]]
    assert classify_regimes(R, A, T).tolist() == expected
    assert classify_regimes(R, A, T).dtype == np.int8


@pytest.mark.parametrize(
    ("r", "a", "expected"),
    [
        (0.1, 1.0, CRITICAL),  # R == r_high is not "R > r_high"
        (np.nextafter(0.1, 1), 1.0, UNDER),  # just above r_high
        (0.01, 0.9, SUFFICIENT),  # R == r_low and A == a_high * A*: both inclusive
        (np.nextafter(0.01, 1), 1.0, CRITICAL),  # just above r_low
        (0.0, np.nextafter(0.9, 0), CRITICAL),  # just below a_high * A*
        (0.0, 0.5, CRITICAL),  # A == a_low * A* is not "A < a_low * A*"
        (0.0, np.nextafter(0.5, 0), UNDER),  # just below a_low * A*
        (0.1, 0.5, CRITICAL),  # both under-edges exactly
        (0.2, 1.0, UNDER),  # high R with full accuracy is still under
    ],
)
def test_classify_edges_exactly_at_thresholds(r: float, a: float, expected: int) -> None:
    assert classify_regimes(np.array([[r]]), np.array([[a]]), T)[0, 0] == expected


def test_plateau_defaults_to_max_cell_mean() -> None:
    # A* = 0.8 (max); 0.72 = 0.9 * 0.8 is sufficient (within float rounding of the product).
    t = PhaseThresholds(r_high=0.1, r_low=0.01, a_low=0.5, a_high=0.9)
    R = np.zeros((1, 4))
    A = np.array([[0.8, 0.73, 0.5, 0.39]])
    assert classify_regimes(R, A, t).tolist() == [[SUFFICIENT, SUFFICIENT, CRITICAL, UNDER]]


def test_missing_cells_do_not_set_the_plateau() -> None:
    R = np.array([[0.0, nan]])
    A = np.array([[0.5, 0.99]])  # 0.99 belongs to a cell without R: missing, ignored for A*
    assert classify_regimes(R, A, PhaseThresholds()).tolist() == [[SUFFICIENT, MISSING]]


def test_all_missing() -> None:
    assert classify_regimes(np.full((2, 2), nan), np.full((2, 2), nan)).tolist() == [[MISSING] * 2] * 2


def test_default_thresholds() -> None:
    t = PhaseThresholds()
    assert (t.r_high, t.r_low, t.a_low, t.a_high, t.plateau) == (0.1, 0.01, 0.75, 0.95, None)


@pytest.mark.parametrize(
    "kwargs",
    [{"r_low": 0.2, "r_high": 0.1}, {"a_low": 0.99, "a_high": 0.9}, {"r_low": -0.1}, {"plateau": 0.0}],
)
def test_bad_thresholds(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidParameterError, match="must"):
        PhaseThresholds(**kwargs)


def test_shape_mismatch() -> None:
    with pytest.raises(InvalidParameterError, match="same shape"):
        classify_regimes(np.zeros((2, 2)), np.zeros((2, 3)))


# -- the display --------------------------------------------------------------------------
def _runs(
    widths: list[int], sizes: list[int], seeds: tuple[int, ...] = (0, 1), skip: tuple[Any, ...] = ()
) -> list[Run]:
    """A study-like synthetic grid: R falls with width and n, accuracy rises."""
    runs = []
    for w in widths:
        for n in sizes:
            if (w, n) in skip:
                continue
            for s in seeds:
                r = min(1.0, 4.0 / w) ** 2 * (100.0 / n) ** 0.5 / 3 + 0.001 * s
                a = (1 - np.exp(-w / 8)) * (1 - np.exp(-n / 300)) * 0.9 + 0.002 * s
                metrics = {
                    ("redundancy", "test", "all"): r,
                    ("redundancy", "train", "all"): r / 2,
                    ("knn_accuracy", "test", "all"): a,
                    ("logreg_accuracy", "test", "all"): a - 0.01,
                }
                factors = {"dataset": "synthetic", "width": w, "sample_size": n, "seed": s, "epoch": 30}
                runs.append(Run(Path(f"w{w}-n{n}-s{s}.h5"), factors, metrics, ("measure", "probe")))
    return runs


def test_grid_means_over_seeds_and_regimes() -> None:
    d = PhaseChartDisplay.from_runs(_runs([2, 8, 32], [10, 100, 1000]), x="width", y="sample_size")
    assert d.values.shape == (3, 3)
    assert d.counts.tolist() == [[2] * 3] * 3
    r = min(1.0, 4.0 / 8) ** 2 * (100.0 / 100) ** 0.5 / 3
    assert d.values[1, 1] == pytest.approx(r + 0.0005)
    assert d.plateau == pytest.approx(np.nanmax(d.A))
    assert np.array_equal(d.regimes_, classify_regimes(d.R, d.A, PhaseThresholds()))
    assert d.regimes_[0, 0] == UNDER
    assert d.regimes_[2, 2] == SUFFICIENT


def test_heatmap_artists(pyplot: Any) -> None:
    d = PhaseChartDisplay.from_runs(
        _runs([1, 4, 16, 32, 64, 128], [10, 30, 100, 300, 1000, 3000], skip=((128, 10),)),
        x="width",
        y="sample_size",
    ).plot()
    ax = d.ax_
    assert ax.get_xlabel() == "width (hidden units)"
    assert ax.get_ylabel() == "training sample size n"
    assert ax.get_xscale() == "log"
    assert ax.get_yscale() == "log"
    assert d.mesh_.get_clim() == (0.0, 1.0)  # fixed range for a ratio metric
    assert d.colorbar_.ax.get_ylabel() == "redundancy ratio R (test)"
    present = {int(v) for v in np.unique(d.regimes_) if v != MISSING}
    assert present == {UNDER, CRITICAL, SUFFICIENT}
    assert {k: t.get_text().replace("\n", "") for k, t in d.regime_labels_.items()} == {
        UNDER: "under-expressive",
        CRITICAL: "critically-expressive",
        SUFFICIENT: "sufficiently-expressive",
    }
    # The missing cell is a hatched grey patch and stays NaN (not interpolated).
    assert len(d.missing_patches_) == 1
    assert d.missing_patches_[0].get_hatch() == "xx"
    assert np.isnan(d.values[0, 5])
    assert d.regimes_[0, 5] == MISSING
    assert d.mesh_.get_array().shape == (6, 6)
    assert d.mesh_.get_array().mask[0, 5]
    legend = [t.get_text() for t in d.legend_.get_texts()]
    assert legend[:3] == ["under-expressive", "critically-expressive", "sufficiently-expressive"]
    assert "no run" in legend
    assert {lc.get_gid() for lc in d.boundaries_} == {"boundary-under", "boundary-sufficient"}
    assert "under: R > 0.1 or A < 0.75" in d.legend_.get_title().get_text()


def test_boundaries_lie_on_cell_edges(pyplot: Any) -> None:
    runs = []
    for i, w in enumerate([1, 2, 3]):
        r = [0.5, 0.05, 0.0][i]
        for e in (1, 2):
            runs.append(
                Run(
                    Path(f"{w}-{e}.h5"),
                    {"width": w, "epoch": e, "seed": 0},
                    {("redundancy", "test", "all"): r, ("knn_accuracy", "test", "all"): 1.0},
                )
            )
    d = PhaseChartDisplay.from_runs(runs, x="width", y="epoch").plot()
    assert d.regimes_.tolist() == [[UNDER, CRITICAL, SUFFICIENT]] * 2
    segs = {lc.get_gid(): [np.asarray(s).tolist() for s in lc.get_segments()] for lc in d.boundaries_}
    assert segs["boundary-under"] == [[[1.5, 0.5], [1.5, 1.5]], [[1.5, 1.5], [1.5, 2.5]]]
    assert segs["boundary-sufficient"] == [[[2.5, 0.5], [2.5, 1.5]], [[2.5, 1.5], [2.5, 2.5]]]
    assert d.ax_.get_xscale() == "linear"


def test_epoch_zero_on_log_axis(pyplot: Any) -> None:
    runs = [
        Run(
            Path(f"{w}-{e}.h5"),
            {"width": w, "epoch": e, "seed": 0},
            {("redundancy", "test", "all"): 0.5 / w, ("knn_accuracy", "test", "all"): 0.9},
        )
        for w in (2, 4)
        for e in (0, 1, 10, 100)
    ]
    d = PhaseChartDisplay.from_runs(runs, x="width", y="epoch").plot()
    assert d.ax_.get_yscale() == "log"
    assert d.positions()[1].tolist() == [0.5, 1.0, 10.0, 100.0]
    assert [t.get_text() for t in d.ax_.get_yticklabels()] == ["0", "1", "10", "100"]


def test_contour_style_and_no_regions(pyplot: Any) -> None:
    d = PhaseChartDisplay.from_runs(
        _runs([2, 8, 32], [10, 100, 1000]),
        x="width",
        y="sample_size",
        kind="contour",
        regions=False,
        metric="knn_test",
        logx=False,
    ).plot()
    from matplotlib.contour import ContourSet

    assert isinstance(d.mesh_, ContourSet)
    assert d.ax_.get_xscale() == "linear"
    assert d.ax_.get_yscale() == "log"
    assert (d.regimes_ == MISSING).all()
    assert d.regime_labels_ == {}
    assert d.boundaries_ == []
    assert d.colorbar_.ax.get_ylabel() == "K-NN accuracy (test)"


def test_plot_on_user_axes(pyplot: Any) -> None:
    fig, (a1, a2) = pyplot.subplots(1, 2)
    d = PhaseChartDisplay.from_runs(_runs([2, 8], [10, 100]), x="width", y="sample_size")
    d.plot(ax=a2, colorbar=False, legend=False)
    assert d.ax_ is a2
    assert d.figure_ is fig
    assert d.colorbar_ is None
    assert d.legend_ is None
    assert not a1.collections


def test_single_value_grid_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="single value of 'sample_size'"):
        PhaseChartDisplay.from_runs(_runs([2, 8], [100]), x="width", y="sample_size")


def test_other_factor_varying_is_refused() -> None:
    runs = _runs([2, 8], [10, 100])
    runs += [Run(r.path.with_name("d2" + r.path.name), {**r.factors, "depth": 2}, r.metrics) for r in runs]
    with pytest.raises(InvalidParameterError, match="depth vary"):
        PhaseChartDisplay.from_runs(runs, x="width", y="sample_size")
    d = PhaseChartDisplay.from_runs(runs, x="width", y="sample_size", where={"depth": "2"})
    assert d.counts.sum() == 8


def test_metric_must_be_single() -> None:
    with pytest.raises(InvalidParameterError, match="--metric must name one metric"):
        PhaseChartDisplay.from_runs(_runs([2, 8], [10, 100]), x="width", y="sample_size", metric="redundancy")


def _study_grid() -> list[Run]:
    """The issue-13 case: widths 4, 16, 64, 256 x epochs 1, 3, 10, 30 of a 60k-image dataset."""
    out = []
    for w in (4, 16, 64, 256):
        for e in (1, 3, 10, 30):
            r = 0.5 if e == 1 or w == 4 else (0.05 if e == 3 or w == 16 else 0.0)
            out.append(
                Run(
                    Path(f"w{w}-e{e}.h5"),
                    {"dataset": "mnist", "width": w, "epoch": e, "seed": 0, "sample_size": 60000},
                    {("redundancy", "test", "all"): r, ("knn_accuracy", "test", "all"): 0.97},
                )
            )
    return out


@pytest.mark.parametrize("log", [None, False])
def test_geometric_axes_are_log_and_regime_labels_cover_no_tick_and_no_label(
    pyplot: Any, log: bool | None
) -> None:
    d = PhaseChartDisplay.from_runs(_study_grid(), x="width", y="epoch", logx=log, logy=log).plot()
    ax = d.ax_
    scale = "log" if log is None else "linear"  # geometric grids are log-scaled by default
    assert (ax.get_xscale(), ax.get_yscale()) == (scale, scale)
    assert set(d.regime_labels_) == {UNDER, CRITICAL, SUFFICIENT}
    fig = d.figure_
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks = [
        t.get_window_extent(renderer)
        for axis in (ax.xaxis, ax.yaxis)
        for t in [*axis.get_ticklabels(), *axis.get_ticklabels(minor=True)]
        if t.get_visible() and t.get_text()
    ]
    assert {t.get_text() for t in ax.get_yticklabels()} == {"1", "3", "10", "30"}
    frame = ax.get_window_extent(renderer)
    boxes = [t.get_bbox_patch().get_window_extent(renderer) for t in d.regime_labels_.values()]
    for i, box in enumerate(boxes):
        assert frame.x0 <= box.x0
        assert box.x1 <= frame.x1
        assert frame.y0 <= box.y0
        assert box.y1 <= frame.y1
        assert not any(box.overlaps(t) for t in ticks)
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])
