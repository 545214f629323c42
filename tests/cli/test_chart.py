"""``actcode chart`` run as a user runs it: a subprocess, paths on stdin or as arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.io import CodeWriter, ResultTable, add_results, make_provenance


def actcode(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actcode", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_run(path: Path, factors: dict[str, Any], results: bool = True) -> Path:
    layers = layout_layers([LayerInfo("fc1.relu", "ReLU", (4,))])
    with CodeWriter(path, layers, make_provenance(command="test", factors=factors)) as w:
        for split in ("train", "test"):
            w.append(split, pack_bits(np.eye(4, dtype=bool), layers), labels=np.arange(4))
            w.set_split_info(split, accuracy=0.9, loss=0.3)
    if results:
        w_, n = factors["width"], factors["sample_size"]
        r = min(1.0, 1.0 / w_) * 10 / n
        rows = [("train", "all", "redundancy", r / 2), ("test", "all", "redundancy", r)]
        add_results(path, "measure", ResultTable.from_rows(rows), params={})
        add_results(path, "probe", ResultTable.from_rows([("test", "all", "knn_accuracy", 1 - r)]), params={})
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("chart")
    return [
        write_run(d / f"w{w}-n{n}.h5", {"dataset": "digits", "width": w, "sample_size": n, "seed": 0})
        for w in (1, 4, 16)
        for n in (10, 100, 1000)
    ]


def assert_user_error(res: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert res.returncode == code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("actcode chart: error: ")
    assert text in lines[0]
    assert "Traceback" not in res.stderr
    assert res.stdout == ""


def test_curves_paths_on_stdin(files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    res = actcode(
        "chart",
        "curves",
        "--x",
        "sample_size",
        "--y",
        "redundancy_train+redundancy_test,knn_test",
        "-o",
        str(out),
        stdin="\n".join(map(str, files)) + "\n",
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"{out}\n"
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "2 panel(s), 9 line(s)" in res.stderr
    assert "hue=width" in res.stderr


def test_curves_json(files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "c.svg"
    res = actcode(
        "chart",
        "curves",
        *map(str, files),
        "--x",
        "width",
        "--where",
        "sample_size=100",
        "--y",
        "redundancy_test",
        "-o",
        str(out),
        "--json",
    )
    assert res.returncode == 0, res.stderr
    rec = json.loads(res.stdout)
    assert rec["path"] == str(out)
    assert rec["hue"] is None
    (series,) = rec["series"]
    assert series["x"] == [1.0, 4.0, 16.0]
    assert series["mean"] == pytest.approx([0.1, 0.025, 0.00625])
    assert out.read_bytes().lstrip().startswith(b"<?xml")


def test_phase_pdf_and_json(files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "phase.pdf"
    res = actcode(
        "chart", "phase", *map(str, files), "--x", "width", "--y", "sample_size", "-o", str(out), "--json"
    )
    assert res.returncode == 0, res.stderr
    assert out.read_bytes().startswith(b"%PDF-")
    rec = json.loads(res.stdout)
    assert rec["xs"] == [1.0, 4.0, 16.0]
    assert rec["ys"] == [10.0, 100.0, 1000.0]
    # R(w=1, n=10) = 1.0 -> under; R(16, 1000) = 0.000625 and A = A* -> sufficient.
    assert rec["regimes"][0][0] == 0
    assert rec["regimes"][2][2] == 2
    assert "cells:" in res.stderr


def test_phase_contour_with_thresholds(files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "phase.png"
    res = actcode(
        "chart",
        "phase",
        *map(str, files),
        "--x",
        "width",
        "--y",
        "sample_size",
        "--style",
        "contour",
        "--r-high",
        "0.5",
        "--a-low",
        "0.4",
        "--a-high",
        "0.5",
        "--json",
        "-o",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["thresholds"]["r_high"] == 0.5


def test_files_without_results(tmp_path: Path) -> None:
    bare = [
        write_run(tmp_path / f"b{w}.h5", {"width": w, "sample_size": 10, "seed": 0}, results=False)
        for w in (1, 2)
    ]
    res = actcode("chart", "curves", *map(str, bare), "--x", "width", "-o", str(tmp_path / "x.png"))
    assert_user_error(res, 5, "no measure or probe results")
    assert not (tmp_path / "x.png").exists()


def test_factor_absent_from_provenance(files: list[Path], tmp_path: Path) -> None:
    res = actcode("chart", "curves", *map(str, files), "--x", "label_noise", "-o", str(tmp_path / "x.png"))
    assert_user_error(res, 5, "factor 'label_noise' (--x) is not recorded in the provenance")


def test_grid_with_a_single_value(files: list[Path], tmp_path: Path) -> None:
    res = actcode(
        "chart",
        "phase",
        *map(str, files[:3]),
        "--x",
        "width",
        "--y",
        "sample_size",
        "-o",
        str(tmp_path / "x.png"),
    )
    assert_user_error(res, 5, "the grid has a single value of 'width'")


def test_bad_extension_and_missing_file(files: list[Path], tmp_path: Path) -> None:
    res = actcode("chart", "curves", *map(str, files), "-o", str(tmp_path / "x.jpeg"))
    assert_user_error(res, 5, "extension must be one of .png, .svg, .pdf")
    res = actcode("chart", "curves", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "x.png"))
    assert_user_error(res, 4, "missing.h5")
