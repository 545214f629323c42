"""Charts of real sweeps: the epoch of early stopping (--at), one encoding over panels, legends
outside the data, wrapped labels, and the factors and titles of other models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actcode.charts import CurvesDisplay, PhaseChartDisplay
from actcode.charts.data import Run
from actcode.charts.regions import slice_title
from actcode.config import TrainConfig
from actcode.errors import InvalidParameterError
from actcode.factors import factors_of

KEY = ("redundancy", "test", "all")


@pytest.fixture
def pyplot() -> Iterator[Any]:
    """pyplot on the Agg backend; every figure is closed after the test."""
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def _run(n: int, seed: int, epoch: int, *, planned: int = 50, patience: int = 5, width: int = 8) -> Run:
    factors = {"dataset": "digits", "width": width, "sample_size": n, "epoch": epoch, "seed": seed}
    metrics = {
        KEY: 1.0 / n + epoch / 1000 + seed / 10000,
        ("redundancy", "train", "all"): 0.5 / n,
        ("knn_accuracy", "test", "all"): 0.5,
        ("kmeans_majority_accuracy", "test", "all"): 0.4,
    }
    return Run(
        Path(f"w{width}-n{n}-s{seed}-e{epoch}.h5"), factors, metrics, ("measure", "probe"), planned, patience
    )


def early_stopped() -> list[Run]:
    """One final file per run; most runs stopped early, each at its own epoch."""
    stops = {(10, 0): 50, (10, 1): 44, (100, 0): 21, (100, 1): 17, (1000, 0): 9, (1000, 1): 12}
    return [_run(n, s, e) for (n, s), e in stops.items()]


def test_an_early_stopped_sweep_is_drawn_at_each_runs_final_epoch(pyplot: Any) -> None:
    d = CurvesDisplay.from_runs(early_stopped(), x="sample_size", y="redundancy_test").plot()
    assert d.at == "final (default: the epochs differ only by early stopping)"
    assert d.to_dict()["at"] == d.at
    assert d.ax_.get_title().endswith("\neach run's final epoch")
    (ser,) = d.panels[0]
    assert ser.x.tolist() == [10, 100, 1000]
    assert ser.n.tolist() == [2, 2, 2]
    np.testing.assert_allclose(
        ser.mean, [0.1 + 0.047 + 0.00005, 0.01 + 0.019 + 0.00005, 0.001 + 0.0105 + 0.00005]
    )


def test_epochs_that_are_not_only_early_stopping_are_refused_naming_at() -> None:
    runs = [_run(n, 0, e, patience=0) for n, e in ((10, 50), (100, 30))]  # no early stopping recorded
    with pytest.raises(InvalidParameterError, match=r"epoch vary .*--at final, or one epoch with --at N"):
        CurvesDisplay.from_runs(runs, x="sample_size", y="redundancy_test", hue="none")


def test_at_final_and_at_an_epoch_pick_one_file_per_run() -> None:
    # save points 0 and 10, and the final (early-stopped) model
    runs = [
        _run(n, s, e)
        for n, s, last in ((10, 0, 30), (10, 1, 25), (100, 0, 7), (100, 1, 19))
        for e in (0, 10, last)
        if e <= last
    ]
    with pytest.raises(InvalidParameterError, match="--at final"):
        CurvesDisplay.from_runs(runs, x="sample_size", y="redundancy_test", hue="none")
    final = CurvesDisplay.from_runs(runs, x="sample_size", y="redundancy_test", at="final")
    assert final.at == "final"
    np.testing.assert_allclose(final.panels[0][0].mean, [0.1 + 0.0275 + 0.00005, 0.01 + 0.013 + 0.00005])
    at10 = CurvesDisplay.from_runs(runs, x="sample_size", y="redundancy_test", at=10)
    # the run that stopped at epoch 7 counts at epoch 10 with its final model
    np.testing.assert_allclose(
        at10.panels[0][0].mean, [0.1 + 0.010 + 0.00005, 0.01 + (0.007 + 0.010) / 2 + 0.00005]
    )
    assert at10.at == "10"
    with pytest.raises(InvalidParameterError, match=r"--at 5: .* hold the epochs 0, 10, 30, not 5"):
        CurvesDisplay.from_runs(runs, x="sample_size", y="redundancy_test", at=5)
    with pytest.raises(InvalidParameterError, match="cannot also be on an axis"):
        CurvesDisplay.from_runs(runs, x="epoch", y="redundancy_test", hue="sample_size", at="final")
    with pytest.raises(InvalidParameterError, match="--at must be 'final' or an epoch"):
        CurvesDisplay.from_runs(runs, x="sample_size", y="redundancy_test", at="soon")


def test_runs_planned_for_different_epochs_are_not_averaged_as_seeds() -> None:
    runs = [_run(n, 0, e, planned=e, patience=0) for n in (10, 100) for e in (10, 20)]
    with pytest.raises(InvalidParameterError, match="epoch vary"):
        CurvesDisplay.from_runs(runs, x="sample_size", y="redundancy_test", hue="none")
    with pytest.raises(InvalidParameterError, match="planned_epochs vary"):
        CurvesDisplay.from_runs(runs, x="sample_size", y="redundancy_test", hue="none", at="final")
    d = CurvesDisplay.from_runs(runs, x="sample_size", y="redundancy_test", hue="planned_epochs", at="final")
    assert [s.hue for s in d.panels[0]] == [10, 20]


def test_the_phase_chart_takes_the_final_epoch_too() -> None:
    runs = [_run(n, s, e, width=w) for w in (4, 8) for (n, s, e) in ((10, 0, 50), (100, 0, 21), (1000, 0, 9))]
    d = PhaseChartDisplay.from_runs(runs, x="width", y="sample_size", regions=False)
    assert d.values.shape == (3, 2)
    assert any("final" in note for note in d.notes_)


def test_one_encoding_over_every_panel_and_legends_outside_the_data(pyplot: Any) -> None:
    runs = [_run(n, s, e, width=w) for w in (8, 16) for (n, s), e in {(10, 0): 50, (100, 0): 21}.items()]
    d = CurvesDisplay.from_runs(
        runs, x="sample_size", y="redundancy_train+redundancy_test,kmeans_test+knn_test", hue="width"
    ).plot()
    styles = {ln.get_gid(): (ln.get_linestyle(), ln.get_marker(), ln.get_color()) for ln in d.lines_}
    # the line style is the split in every panel: the K-Means and K-NN test lines are solid, as test R
    assert {styles[g][0] for g in styles if "_test|" in g or g.startswith(("kmeans", "knn"))} == {"-"}
    assert {styles[g][0] for g in styles if "redundancy_train" in g} == {"--"}
    # the marker is the metric, the colour the width, in every panel
    assert styles["kmeans_majority_accuracy_test|8"][1] != styles["knn_accuracy_test|8"][1]
    assert (
        styles["kmeans_majority_accuracy_test|8"][2]
        == styles["redundancy_test|8"][2]
        != styles["redundancy_test|16"][2]
    )
    fig = d.figure_
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in d.axes_:
        legend = ax.get_legend()
        assert legend is not None
        assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


def test_long_metric_labels_wrap_and_stay_in_the_figure(pyplot: Any) -> None:
    long = "lines_different_density_mean_of_the_regions_along_every_chord_between_two_classes"
    runs = [
        Run(Path(f"{w}.h5"), {"dataset": "digits", "width": w, "seed": 0}, {(long, "test", "all"): 1.0 / w})
        for w in (2, 4, 8)
    ]
    d = CurvesDisplay.from_runs(runs, x="width", y=f"{long}_test").plot()
    ax = d.ax_
    assert "\n" in ax.get_ylabel()
    d.figure_.canvas.draw()
    renderer = d.figure_.canvas.get_renderer()
    fig_box = d.figure_.bbox
    for text in (ax.yaxis.label, ax.title):
        box = text.get_window_extent(renderer)
        assert fig_box.x0 <= box.x0, text.get_text()
        assert box.x1 <= fig_box.x1, text.get_text()
        assert fig_box.y0 <= box.y0, text.get_text()
        assert box.y1 <= fig_box.y1, text.get_text()


def test_tile_is_a_factor() -> None:
    assert factors_of(TrainConfig(sample_size=10, tile=True), epoch=1, sample_size=10)["tile"] is True
    assert factors_of(TrainConfig(sample_size=10), epoch=1, sample_size=10)["tile"] is False
    assert factors_of(TrainConfig(), epoch=1, sample_size=1149)["tile"] is False
    # tiled and untiled runs are told apart by --where
    runs = [
        Run(Path(f"{t}-{w}.h5"), {"width": w, "tile": t, "seed": 0}, {KEY: w / (2 if t else 1)})
        for t in (True, False)
        for w in (2, 4, 8)
    ]
    with pytest.raises(InvalidParameterError, match="tile vary"):
        CurvesDisplay.from_runs(runs, x="width", y="redundancy_test", hue="none")
    tiled = CurvesDisplay.from_runs(runs, x="width", y="redundancy_test", where={"tile": "true"})
    assert tiled.panels[0][0].mean.tolist() == [1.0, 2.0, 4.0]
    untiled = CurvesDisplay.from_runs(runs, x="width", y="redundancy_test", where={"tile": "false"})
    assert untiled.panels[0][0].mean.tolist() == [2.0, 4.0, 8.0]


def test_a_custom_models_slice_is_titled_by_its_name() -> None:
    title = slice_title({"dataset": "digits", "model": "/src/nets.py:make", "width": None, "epoch": None})
    assert title == "digits nets.py:make"
    assert "None" not in slice_title({"dataset": "digits", "model": "torchvision:resnet18", "width": None})
