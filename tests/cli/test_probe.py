"""`actcode probe` as a user runs it: the measure | probe chain, options, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actcode.codes import LayerInfo, layout_layers
from actcode.io import open_codes
from actcode.testing import synthetic_bits
from actcode.testing.helpers import write_code_file


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actcode", *args], input=stdin, capture_output=True, text=True, timeout=180
    )


LAYERS = layout_layers([LayerInfo("fc0.relu", "ReLU", (19,)), LayerInfo("fc1.relu", "ReLU", (12,))])


@pytest.fixture
def code_file(tmp_path: Path) -> Path:
    b, y, protos = synthetic_bits(150, 31, n_classes=3, flip=0.15, seed=3)
    bt, yt, _ = synthetic_bits(50, 31, n_classes=3, flip=0.15, seed=4, prototypes=protos)
    return write_code_file(tmp_path / "codes.h5", {"train": b, "test": bt}, {"train": y, "test": yt}, LAYERS)


def test_measure_then_probe_through_a_pipe(code_file: Path) -> None:
    m = subprocess.run(
        [sys.executable, "-m", "actcode", "measure", str(code_file), "--no-nn"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert m.returncode == 0, m.stderr
    r = run("probe", stdin=m.stdout)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{code_file}\n"
    assert "K-NN" in r.stderr
    assert "K-Means" in r.stderr
    with open_codes(code_file) as cf:
        probe, measure = cf.results("probe"), cf.results("measure")
        params = cf.result_params("probe")
    assert measure is not None
    assert probe is not None
    assert probe.get("test", "all", "knn_accuracy") > 0.8
    assert (
        0
        < probe.get("train", "all", "kmeans_hungarian_accuracy")
        <= probe.get("train", "all", "kmeans_majority_accuracy")
    )
    assert probe.get("test", "all", "network_accuracy") == 1.0
    assert params["knn"]["n_neighbors"] == 9
    assert params["kmeans"]["random_state"] == 9


def test_probe_options_and_json(code_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "probed.h5"
    r = run(
        "probe",
        str(code_file),
        "--probes",
        "knn,logreg",
        "--k",
        "3",
        "--ovo",
        "--layers",
        "fc1*",
        "--max-memory",
        "600",
        "--json",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert {rec["path"] for rec in recs} == {str(out)}
    metrics = {(rec["split"], rec["scope"], rec["metric"]): rec["value"] for rec in recs}
    assert ("test", "layer:fc1.relu", "knn_accuracy") in metrics
    assert ("train", "layer:fc1.relu", "logreg_accuracy") in metrics
    assert metrics[("train", "layer:fc1.relu", "logreg_approximate")] == 1.0  # 600 bytes: 1 float32 column
    assert not any(m.startswith("kmeans") for _, _, m in metrics)
    with open_codes(out) as cf:
        p = cf.result_params("probe")
    assert p["logreg"]["model"].startswith("OneVsOne")
    assert p["columns"]["layer:fc1.relu"]["n_columns_used"] == 1


def _single_class_file(tmp_path: Path) -> Path:
    b, _, _ = synthetic_bits(40, 31, n_classes=1, seed=5)
    bt, _, _ = synthetic_bits(20, 31, n_classes=1, seed=6)
    labels = {"train": np.full(40, 2), "test": np.full(20, 2)}
    return write_code_file(tmp_path / "one.h5", {"train": b, "test": bt}, labels, LAYERS)


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["{good}", "--k", "151"], 5, "--k = 151 must be between 1 and the 150 rows"),
        (["{good}", "--splits", "train,random"], 5, "has no split 'random'"),
        (["{bad}"], 3, "not an HDF5 file"),
        (["{one}"], 6, "the K-Means probe cannot run"),
    ],
)
def test_probe_errors_are_one_line(
    code_file: Path, tmp_path: Path, args: list[str], code: int, text: str
) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_text("hello")
    names = {"good": code_file, "bad": bad, "one": _single_class_file(tmp_path)}
    r = run("probe", *[a.format(**names) for a in args])
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("actcode probe: error:")
    assert text in lines[0]
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--probes", "svm"], "--probes must be a comma list"),
        (["--n-init", "many"], "--n-init must be 'auto'"),
        (["--max-memory", "-3GiB"], "--max-memory must be a positive size"),
        (["--knn-ties", "vote"], "--knn-ties must be one of distance, label. Got 'vote' instead."),
    ],
)
def test_bad_options_in_process(code_file: Path, args: list[str], text: str) -> None:
    # the same entry point, without a new interpreter per case
    from typer.testing import CliRunner

    from actcode.cli.main import app

    r = CliRunner().invoke(app, ["probe", str(code_file), *args])
    assert r.exit_code == 5
    assert r.stderr.strip().startswith("actcode probe: error:")
    assert text in r.stderr
    assert r.stdout == ""


def test_single_class_knn_only_still_runs(tmp_path: Path) -> None:
    one = _single_class_file(tmp_path)
    r = run("probe", str(one), "--probes", "knn", "--json")
    assert r.returncode == 0, r.stderr
    recs = {
        rec["metric"]: rec["value"]
        for rec in map(json.loads, r.stdout.splitlines())
        if rec["split"] == "test"
    }
    assert recs["knn_accuracy"] == 1.0


@pytest.mark.parametrize(("rule", "accuracy"), [("distance", 1.0), ("label", 0.0)])
def test_knn_ties_rule_on_a_tied_vote(tmp_path: Path, rule: str, accuracy: float) -> None:
    # k=2: the query's neighbours are row 0 (label 9, distance 0) and row 2 (label 3, distance 1),
    # one vote each. "distance" takes the class with the smaller distance sum (9, right);
    # "label" takes the smaller label (3, wrong).
    layers = layout_layers([LayerInfo("a", "ReLU", (4,))])
    train = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]], bool)
    test = np.array([[0, 0, 0, 0]], bool)
    labels = {"train": np.array([9, 2, 3]), "test": np.array([9])}
    path = write_code_file(tmp_path / "tie.h5", {"train": train, "test": test}, labels, layers)
    args = ["probe", str(path), "--probes", "knn", "--k", "2", "--no-map", "--json"]
    r = run(*args, *(["--knn-ties", rule] if rule != "distance" else []))
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [r["value"] for r in recs if (r["split"], r["metric"]) == ("test", "knn_accuracy")] == [accuracy]
    with open_codes(path) as cf:
        knn = cf.result_params("probe")["knn"]
    assert knn["tie_break"] == rule
    assert knn["tie_rule"].startswith("plain majority" if rule == "label" else "a tied vote goes to the tied")
