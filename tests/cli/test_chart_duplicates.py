"""``chart`` never averages one run as two seeds: different files with equal factors and seed are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from actcode.charts import CurvesDisplay, load_runs
from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.io import CodeWriter, ResultTable, add_results, make_provenance


def actcode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actcode", *args], capture_output=True, text=True, timeout=120, check=False
    )


def write_run(path: Path, factors: dict[str, Any], redundancy: float) -> Path:
    layers = layout_layers([LayerInfo("fc1.relu", "ReLU", (4,))])
    with CodeWriter(path, layers, make_provenance(command="test", factors=factors)) as w:
        for split in ("train", "test"):
            w.append(split, pack_bits(np.eye(4, dtype=bool), layers), labels=np.arange(4))
    add_results(
        path, "measure", ResultTable.from_rows([("test", "all", "redundancy", redundancy)]), params={}
    )
    return path


def _factors(width: float, seed: int) -> dict[str, Any]:
    return {"dataset": "cifar10", "model": "vgg11", "width": width, "depth": 11, "epoch": 1, "seed": seed}


def test_two_files_with_the_same_factors_and_seed_are_refused(tmp_path: Path) -> None:
    # what `train --model vgg11 --width 64` and `--width 128` used to write: one factor set, two files
    a = write_run(tmp_path / "a.h5", _factors(1.0, 0), 0.1)
    b = write_run(tmp_path / "b.h5", _factors(1.0, 0), 0.3)
    c = write_run(tmp_path / "c.h5", _factors(2.0, 0), 0.2)
    res = actcode("chart", "curves", str(a), str(b), str(c), "--x", "width", "--y", "redundancy_test",
                  "-o", str(tmp_path / "x.png"))  # fmt: skip
    assert res.returncode == 5, res.stderr
    line = res.stderr.strip()
    assert line.startswith("actcode chart: error: 2 files hold runs with the same factors and seed")
    assert str(a) in line
    assert str(b) in line
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "x.png").exists()


def test_the_same_file_named_twice_counts_once(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a.h5", _factors(1.0, 0), 0.1)
    b = write_run(tmp_path / "b.h5", _factors(1.0, 1), 0.3)
    c = write_run(tmp_path / "c.h5", _factors(2.0, 0), 0.2)
    res = actcode("chart", "curves", str(a), str(a), str(b), str(c), "--x", "width",
                  "--y", "redundancy_test", "-o", str(tmp_path / "x.png"), "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    series = json.loads(res.stdout)["series"]
    assert len(series) == 1
    assert series[0]["n"] == [2, 1]  # width 1.0: seeds 0 and 1, a read once
    assert series[0]["mean"][0] == 0.2


def test_axis_label_names_the_width_of_the_model_family(tmp_path: Path) -> None:
    runs = load_runs([write_run(tmp_path / f"{w}.h5", _factors(w, 0), 0.1) for w in (0.5, 1.0)])
    assert (
        CurvesDisplay.from_runs(runs, x="width", y="redundancy_test").xlabel == "width (channel multiplier)"
    )
    d = CurvesDisplay.from_runs(runs, x="depth", y="redundancy_test", hue="width")
    assert d.xlabel == "depth (weight layers)"
