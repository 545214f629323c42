"""Tests of actcode.charts: the data layer (runs, specs, seed averages) and CurvesDisplay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actcode.charts import CurvesDisplay, PhaseChartDisplay, load_runs, save_figure, write_curves
from actcode.charts.data import (
    Run,
    YSpec,
    aggregate,
    band_limits,
    check_constant,
    choose_hue,
    filter_runs,
    group_runs,
    parse_y,
)
from actcode.charts.style import cell_edges, colours, spans_decades
from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.errors import InvalidParameterError, OutputError
from actcode.io import CodeWriter, ResultTable, add_results, make_provenance


@pytest.fixture
def pyplot() -> Iterator[Any]:
    """pyplot on the Agg backend; every figure is closed after the test."""
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def write_run(
    path: Path,
    factors: dict[str, Any],
    measure: list[tuple[str, str, str, float]] | None = None,
    probe: list[tuple[str, str, str, float]] | None = None,
    net: dict[str, float] | None = None,
) -> Path:
    """A tiny synthetic code file (4 one-hot rows per split) with the given results."""
    layers = layout_layers([LayerInfo("fc1.relu", "ReLU", (4,))])
    with CodeWriter(path, layers, make_provenance(command="test", factors=factors)) as w:
        for split in ("train", "test"):
            w.append(split, pack_bits(np.eye(4, dtype=bool), layers), labels=np.arange(4))
            if net:
                w.set_split_info(split, accuracy=net[split], loss=1 - net[split])
    if measure:
        add_results(path, "measure", ResultTable.from_rows(measure), params={})
    if probe:
        add_results(path, "probe", ResultTable.from_rows(probe), params={})
    return path


@pytest.fixture(scope="module")
def width_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Widths 2, 4, 8 x seeds 0, 1, 2 with known values: R_test = 1/w + 0.01*seed."""
    d = tmp_path_factory.mktemp("runs")
    out = []
    for w in (2, 4, 8):
        for s in (0, 1, 2):
            measure = [
                ("test", "all", "redundancy", 1 / w + 0.01 * s),
                ("train", "all", "redundancy", 2 / w),
                ("random", "all", "redundancy", 0.5),
                ("test", "layer:fc1.relu", "redundancy", 0.25),
            ]
            probe = [
                ("test", "all", "knn_accuracy", 0.5 + w / 20),
                ("test", "all", "kmeans_majority_accuracy", 0.3),
            ]
            out.append(
                write_run(
                    d / f"w{w}-s{s}.h5",
                    {"dataset": "digits", "width": w, "depth": 1, "seed": s},
                    measure,
                    probe,
                    net={"train": 0.9, "test": 0.8 + 0.01 * s},
                )
            )
    return out


def _run(name: str, factors: dict[str, Any], **metrics: float) -> Run:
    keys = {(k.rsplit("_", 1)[0], k.rsplit("_", 1)[1], "all"): v for k, v in metrics.items()}
    return Run(Path(name), factors, keys, ("measure", "probe"))


# -- data layer ---------------------------------------------------------------------------
def test_load_runs_reads_factors_results_and_network(width_files: list[Path]) -> None:
    runs = load_runs(width_files[:2])
    r = runs[1]
    assert r.path == width_files[1]
    assert r.factors["width"] == 2
    assert r.factors["seed"] == 1
    assert r.factors["epoch"] is None
    assert r.metrics[("redundancy", "test", "all")] == pytest.approx(0.51)
    assert r.metrics[("redundancy", "random", "all")] == 0.5
    assert r.metrics[("redundancy", "test", "layer:fc1.relu")] == 0.25
    assert r.metrics[("knn_accuracy", "test", "all")] == pytest.approx(0.6)
    assert r.metrics[("net_accuracy", "test", "all")] == pytest.approx(0.81)
    assert r.result_kinds == ("measure", "probe")


def test_parse_y_splits_aliases_overlays_and_scope() -> None:
    run = _run(
        "a",
        {},
        redundancy_train=0.1,
        redundancy_test=0.2,
        redundancy_random=0.3,
        knn_accuracy_test=0.9,
        kmeans_majority_accuracy_train=0.5,
        net_accuracy_test=0.8,
    )
    panels = parse_y(
        "redundancy, redundancy_train+redundancy_test,kmeans_train+knn_test,accuracy_test", [run]
    )
    assert [[s.label for s in p] for p in panels] == [
        ["redundancy_train", "redundancy_test"],
        ["redundancy_train", "redundancy_test"],
        ["kmeans_majority_accuracy_train", "knn_accuracy_test"],
        ["net_accuracy_test"],
    ]
    assert parse_y("kmeans_hungarian_test", [run]) == [[YSpec("kmeans_hungarian_accuracy", "test")]]
    assert parse_y("redundancy_random", [run]) == [[YSpec("redundancy", "random")]]
    assert parse_y("redundancy_test@fc2", [run], scope="upto:fc1") == [
        [YSpec("redundancy", "test", "layer:fc2")]
    ]
    assert parse_y("redundancy_test", [run], scope="upto:fc1") == [[YSpec("redundancy", "test", "upto:fc1")]]
    with pytest.raises(InvalidParameterError, match="no file holds the metric 'nope'"):
        parse_y("nope", [run])
    with pytest.raises(InvalidParameterError, match="empty entry"):
        parse_y("redundancy_test,", [run])


def test_group_and_aggregate_over_seeds(width_files: list[Path]) -> None:
    runs = load_runs(width_files)
    groups = group_runs(runs, ["width"])
    assert list(groups) == [(2,), (4,), (8,)]
    assert all(len(g) == 3 for g in groups.values())
    (series,) = aggregate(runs, YSpec("redundancy", "test"), "width", None)
    assert series.x.tolist() == [2.0, 4.0, 8.0]
    assert series.n.tolist() == [3, 3, 3]
    np.testing.assert_allclose(series.mean, [0.51, 0.26, 0.135])
    np.testing.assert_allclose(series.std, [np.std([0.0, 0.01, 0.02])] * 3, atol=1e-12)
    np.testing.assert_allclose(series.lo, [0.5, 0.25, 0.125])
    np.testing.assert_allclose(series.hi, [0.52, 0.27, 0.145])
    limits = band_limits(series, "minmax")
    assert limits is not None
    np.testing.assert_allclose(limits[1] - limits[0], [0.02] * 3)
    assert band_limits(series, "none") is None


def test_aggregate_by_hue_skips_nan() -> None:
    runs = [
        _run("a", {"width": 2, "epoch": 0, "seed": 0}, redundancy_test=0.4),
        _run("b", {"width": 2, "epoch": 0, "seed": 1}, redundancy_test=float("nan")),
        _run("c", {"width": 2, "epoch": 1, "seed": 0}, redundancy_test=0.2),
        _run("d", {"width": 4, "epoch": 0, "seed": 0}, redundancy_test=0.1),
    ]
    s = aggregate(runs, YSpec("redundancy", "test"), "epoch", "width")
    assert [ser.hue for ser in s] == [2, 4]
    assert s[0].x.tolist() == [0.0, 1.0]
    assert s[0].mean.tolist() == [0.4, 0.2]
    assert s[0].n.tolist() == [1, 1]
    assert s[1].x.tolist() == [0.0]


def test_default_hue_and_constant_factors() -> None:
    runs = [
        _run(f"{w}{e}{s}", {"width": w, "epoch": e, "seed": s, "depth": 1}, redundancy_test=0.1)
        for w in (2, 4)
        for e in (0, 1)
        for s in (0, 1)
    ]
    assert choose_hue(runs, "epoch", None) == "width"
    assert choose_hue(runs, "epoch", "none") is None
    with pytest.raises(InvalidParameterError, match="epoch vary"):
        check_constant(runs, ["width"])
    runs3 = runs + [_run("x", {"width": 2, "epoch": 0, "seed": 0, "depth": 2}, redundancy_test=0.1)]
    with pytest.raises(InvalidParameterError, match="cannot choose the line factor: width, depth"):
        choose_hue(runs3, "epoch", None)
    assert len(filter_runs(runs3, {"depth": "2"})) == 1
    assert len(filter_runs(runs3, {"depth": "1.0"})) == 8
    with pytest.raises(InvalidParameterError, match="no file matches --where depth=3"):
        filter_runs(runs3, {"depth": "3"})


def test_absent_factor_is_refused(width_files: list[Path]) -> None:
    with pytest.raises(
        InvalidParameterError, match="factor 'epoch' .--x. is not recorded in the provenance of any"
    ):
        CurvesDisplay.from_files(width_files, x="epoch", y="redundancy_test")


def test_file_without_results_is_refused(tmp_path: Path, width_files: list[Path]) -> None:
    bare = write_run(tmp_path / "bare.h5", {"width": 16, "depth": 1, "seed": 0, "dataset": "digits"})
    with pytest.raises(InvalidParameterError, match="bare.h5 .* holds no measure or probe results"):
        CurvesDisplay.from_files([*width_files, bare], x="width", y="redundancy_test")
    with pytest.raises(InvalidParameterError, match="hold no measure or probe results"):
        CurvesDisplay.from_files([bare], x="width", y="redundancy")


def test_style_helpers() -> None:
    assert spans_decades([0, 1, 3, 100])
    assert not spans_decades([3, 100])
    assert not spans_decades([-100, -1])
    assert len(set(colours(8))) == 8
    assert len(colours(12, ordered=True)) == 12
    np.testing.assert_allclose(
        cell_edges(np.array([10.0, 100.0, 1000.0]), log=True), [10**0.5, 10**1.5, 10**2.5, 10**3.5]
    )


# -- CurvesDisplay -------------------------------------------------------------------------
def test_curves_panels_lines_labels(width_files: list[Path], pyplot: Any) -> None:
    d = CurvesDisplay.from_files(
        width_files, x="width", y="redundancy_train+redundancy_test,kmeans_test+knn_test,accuracy_test"
    )
    d.plot()
    assert len(d.axes_) == 3
    assert d.ax_.shape == (3,)
    assert len(d.lines_) == 5
    a0, a1, a2 = d.axes_
    assert [a.get_xlabel() for a in d.axes_] == ["width (hidden units)"] * 3
    assert a0.get_ylabel() == "redundancy ratio R"
    assert a1.get_ylabel() == "accuracy"
    assert a2.get_ylabel() == "accuracy"
    assert a0.get_title() == "digits: R (train, test)"
    # widths 2, 4, 8 are a geometric grid: a log axis with ticks at the grid values
    assert a0.get_xscale() == "log"
    assert a0.get_xticks().tolist() == [2.0, 4.0, 8.0]
    assert [t.get_text() for t in a0.get_xticklabels()] == ["2", "4", "8"]
    # Train dashed, test solid, in one panel (as in the paper).
    styles = {ln.get_label(): ln.get_linestyle() for ln in a0.get_lines()}
    assert styles == {"train": "--", "test": "-"}
    assert [t.get_text() for t in a1.get_legend().get_texts()] == ["K-Means", "K-NN"]
    test_line = a0.get_lines()[1]
    np.testing.assert_allclose(test_line.get_ydata(), [0.51, 0.26, 0.135])
    # A band only where several seeds exist: test R varies over seeds, train R does not but still has n = 3.
    assert len(d.bands_) == 5


def test_curves_hue_log_axis_epoch_zero_and_first_epoch(pyplot: Any) -> None:
    runs = [
        _run(
            f"{w}-{e}-{s}",
            {"width": w, "epoch": e, "seed": s},
            redundancy_test=0.5 / w + e / 1000,
            redundancy_train=0.4 / w,
        )
        for w in (40, 50, 60)
        for e in (0, 1, 3, 10, 100, 200)
        for s in (0, 1)
    ]
    d = CurvesDisplay.from_runs(runs, x="epoch", y="redundancy_train+redundancy_test").plot()
    assert d.hue == "width"
    assert d.logx
    ax = d.ax_
    assert ax.get_xscale() == "log"
    assert len(d.lines_) == 6
    assert d.lines_[0].get_xdata()[0] == 0.5  # epoch 0 drawn at 0.5
    assert len(d.markers_) == 1
    assert d.markers_[0].get_xdata()[0] == 1.0
    assert d.markers_[0].get_label() == "first epoch"  # named in the legend, not over the data
    # the grid values are the ticks; epoch 0 (drawn at 0.5) is labelled "init"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["init", "1", "3", "10", "100", "200"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["width = 40", "width = 50", "width = 60", "train", "test", "first epoch"]
    colours_by_width = {ln.get_gid().split("|")[1]: ln.get_color() for ln in d.lines_}
    assert len(set(colours_by_width.values())) == 3
    d2 = CurvesDisplay.from_runs(runs, x="epoch", y="redundancy_test", logx=False, band="none").plot()
    assert d2.ax_.get_xscale() == "linear"
    assert d2.lines_[0].get_xdata()[0] == 0.0
    assert d2.bands_ == []
    assert [t.get_text() for t in d2.ax_.get_legend().get_texts()] == [
        "width = 40",
        "width = 50",
        "width = 60",
    ]


def test_curves_on_user_axes_and_scope(width_files: list[Path], pyplot: Any) -> None:
    fig, axs = pyplot.subplots(1, 2)
    d = CurvesDisplay.from_files(
        width_files, x="width", y="redundancy_test,redundancy_test", scope="layer:fc1.relu"
    )
    d.plot(ax=axs)
    assert d.figure_ is fig
    assert list(d.axes_) == list(axs)
    assert d.lines_[0].get_ydata().tolist() == [0.25, 0.25, 0.25]
    assert axs[0].get_title().replace("\n", " ") == "digits: R (test) [layer:fc1.relu]"  # wrapped
    with pytest.raises(InvalidParameterError, match="one Axes per panel"):
        d.plot(ax=axs[0])


@pytest.mark.parametrize(
    ("ext", "magic"), [(".png", b"\x89PNG\r\n\x1a\n"), (".pdf", b"%PDF-"), (".svg", b"<?xml")]
)
def test_each_file_type_is_written(width_files: list[Path], tmp_path: Path, ext: str, magic: bytes) -> None:
    out, d = write_curves(width_files, tmp_path / f"fig{ext}", x="width", y="redundancy")
    assert out == tmp_path / f"fig{ext}"
    data = out.read_bytes()
    assert data.startswith(magic)
    if ext == ".svg":
        assert b"<svg" in data[:2000]
    assert [p.name for p in tmp_path.iterdir()] == [f"fig{ext}"]  # no temporary left behind


def test_bad_output(width_files: list[Path], tmp_path: Path, pyplot: Any) -> None:
    with pytest.raises(InvalidParameterError, match="extension must be one of .png, .svg, .pdf"):
        write_curves(width_files, tmp_path / "fig.jpg", x="width")
    with pytest.raises(OutputError, match="does not exist"):
        write_curves(width_files, tmp_path / "nope" / "fig.png", x="width")
    fig, _ = pyplot.subplots()
    with pytest.raises(OutputError):
        save_figure(fig, tmp_path / "nope" / "x.pdf")


def test_phase_from_files(tmp_path: Path) -> None:
    paths = []
    for w in (2, 8):
        for n in (10, 1000):
            paths.append(
                write_run(
                    tmp_path / f"{w}-{n}.h5",
                    {"width": w, "sample_size": n, "seed": 0},
                    [("test", "all", "redundancy", 1 / (w * n))],
                    [("test", "all", "knn_accuracy", 0.1 * w)],
                )
            )
    d = PhaseChartDisplay.from_files(paths, x="width", y="sample_size")
    assert d.R.tolist() == [[0.05, 1 / 80], [0.0005, 1 / 8000]]
    assert d.regimes_.tolist() == [[0, 1], [0, 2]]


def _handle_row_gaps(d: CurvesDisplay, ax: Any) -> dict[str, int]:
    """Per legend entry: background pixels on the middle row of its drawn handle (line and
    marker), away from the handle's two ends (antialiased caps)."""
    fig = d.figure_
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    legend = ax.get_legend()
    gaps = {}
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
        box = handle.get_window_extent(renderer)
        row = img.shape[0] - 1 - round((box.y0 + box.y1) / 2)
        x0, x1 = round(box.x0) + 3, round(box.x1) - 3
        gaps[text.get_text()] = int((img[row, x0:x1] > 235).all(axis=1).sum())
    return gaps


@pytest.mark.parametrize("hue", ["width", "none"])
def test_legend_shows_each_split_line_style_beside_the_marker(pyplot: Any, hue: str) -> None:
    """Train is dashed and test solid in the plot; the legend must show it too. With the
    default handle length, the one gap of a dashed handle lay under its centred marker, so the
    'train' entry was drawn as solid as 'test'."""
    runs = [
        _run(f"{w}-{n}-{s}", {"dataset": "digits", "width": w, "sample_size": n, "seed": s},
             redundancy_test=0.5 / n + w / 100, redundancy_train=0.4 / n + w / 200, knn_accuracy_test=0.5)
        for w in ((8, 16) if hue == "width" else (8,)) for n in (10, 30, 100) for s in (0, 1)
    ]  # fmt: skip
    d = CurvesDisplay.from_runs(
        runs, x="sample_size", y="redundancy_train+redundancy_test,knn_test", hue=hue
    ).plot()
    gaps = _handle_row_gaps(d, d.axes_[0])
    assert gaps["test"] == 0
    assert gaps["train"] >= 2, gaps
