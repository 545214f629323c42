"""`actcode regions` and `actcode chart regions` as a user runs them, on digits checkpoints from `train`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from actcode.io import open_codes, validate
from actcode.io.spec import FORMAT_VERSION


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actcode", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def code_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    d = tmp_path_factory.mktemp("regions")
    t = run(
        "-q",
        "train",
        "--width",
        "12",
        "--depth",
        "2",
        "--epochs",
        "2",
        "--save-at",
        "0,2",
        "-o",
        str(d / "runs"),
    )
    assert t.returncode == 0, t.stderr
    e = run("-q", "extract", "--random", "30", stdin=t.stdout)
    assert e.returncode == 0, e.stderr
    return [Path(p) for p in e.stdout.split()]


def test_regions_stores_every_analysis_and_chart_plots_it(code_files: list[Path], tmp_path: Path) -> None:
    args = ["regions", "--segments", "4", "--max-rows", "20", "--directions", "4", "--batch", "24"]
    args += ["--window", "box"]
    r = run(*args, stdin="".join(f"{p}\n" for p in code_files))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(p) for p in code_files]
    for p in code_files:
        validate(p)
        with open_codes(p) as cf:
            assert cf.format_version == FORMAT_VERSION
            table = cf.results("regions")
            assert table is not None
            arrays = cf.result_arrays("regions")
            params = cf.result_params("regions")
            for split in ("train", "test"):
                assert table.get(split, "all", "lines_same_segments") == 4
                assert table.get(split, "all", "lines_different_regions_mean") >= 1
                assert table.get(split, "layer:relu2", "lines_different_regions_mean") >= 1
                assert table.get(split, "all", "local_examples") == 20
                assert table.get(split, "all", "kernel_batch") == 24
                assert table.get(split, "all", "plane_regions") == arrays[f"{split}/plane/offsets"].size - 1
            assert table.get("random", "all", "lines_random_segments") == 4
            assert ("random", "all", "lines_same_segments") not in {r[:3] for r in table.rows()}
            assert set(params["analyses"]) == {"lines", "local", "kernel", "plane"}
            # the regions crossed per chord never undercut the per-layer counts
            regions = arrays["test/lines/different/regions"]
            assert regions.min() >= 1
    out = tmp_path / "curve.png"
    c = run(
        "chart",
        "curves",
        *map(str, code_files),
        "--x",
        "epoch",
        "--y",
        "lines_different_regions_mean_test",
        "-o",
        str(out),
    )
    assert c.returncode == 0, c.stderr
    assert out.stat().st_size > 1000
    s = run("chart", "regions", str(code_files[-1]), "-o", str(tmp_path / "slice.png"), "--json")
    assert s.returncode == 0, s.stderr
    rec = json.loads(s.stdout)
    assert rec["split"] == "test"
    assert rec["regions"] > 1
    # rerunning one analysis keeps the others
    k = run(
        "regions", str(code_files[0]), "--analyses", "kernel", "--batch", "10", "--splits", "test", "--json"
    )
    assert k.returncode == 0, k.stderr
    recs = [json.loads(line) for line in k.stdout.splitlines()]
    assert {r["metric"] for r in recs} >= {"naswot", "tenas_distinct"}
    assert all(r["value"] is not None or r["value_text"] == "-inf" for r in recs)
    with open_codes(code_files[0]) as cf:
        table = cf.results("regions")
        assert table is not None
        assert table.get("test", "all", "kernel_batch") == 10
        assert table.get("train", "all", "lines_same_segments") == 4
        assert "train/plane/vertices" in cf.result_arrays("regions")


def test_regions_errors_are_one_line_with_documented_codes(code_files: list[Path], tmp_path: Path) -> None:
    bad = run("regions", str(code_files[0]), "--analyses", "lines,oops")
    assert bad.returncode == 5
    assert bad.stderr.startswith("actcode regions: error: --analyses")
    assert "Traceback" not in bad.stderr
    rows = run("regions", str(code_files[0]), "--analyses", "plane", "--plane", "1,2")
    assert rows.returncode == 5
    assert "--plane" in rows.stderr
    # a file whose checkpoint moved away: says so, nothing written
    moved = tmp_path / "moved.h5"
    moved.write_bytes(code_files[0].read_bytes())
    with h5py.File(moved, "r+") as f:
        prov = json.loads(f.attrs["provenance"])
        prov["inputs"] = [{"path": str(tmp_path / "gone.pt"), "sha256": "0" * 64}]
        prov["checkpoint"]["path"] = str(tmp_path / "gone.pt")
        f.attrs["provenance"] = json.dumps(prov)
    before = moved.read_bytes()
    gone = run("regions", str(moved), "--analyses", "lines")
    assert gone.returncode != 0
    assert "checkpoint" in gone.stderr
    assert "Traceback" not in gone.stderr
    assert moved.read_bytes() == before
    # kernel needs only the stored codes: it runs without the checkpoint
    codes_only = run("regions", str(moved), "--analyses", "kernel", "-o", str(tmp_path / "k.h5"))
    assert codes_only.returncode == 0, codes_only.stderr
    nochart = run("chart", "regions", str(code_files[0]), "--split", "val", "-o", str(tmp_path / "x.png"))
    assert nochart.returncode != 0
    assert "plane" in nochart.stderr
    assert not (tmp_path / "x.png").exists()


def test_regions_results_on_a_1_0_file_raise_its_version(code_files: list[Path], tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    old.write_bytes(code_files[1].read_bytes())
    with h5py.File(old, "r+") as f:
        f.attrs["encoding-version"] = "1.0.0"
        if "results" in f:
            del f["results"]
    r = run("regions", str(old), "--analyses", "kernel", "--splits", "test")
    assert r.returncode == 0, r.stderr
    with h5py.File(old, "r") as f:
        assert f.attrs["encoding-version"] == "1.1.0"
        assert np.asarray(f["results/regions/table/metric"]).size > 0


@pytest.fixture(scope="module")
def plane_file(code_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plane") / "r.h5"
    have = run("regions", str(code_files[-1]), "--analyses", "plane", "--splits", "test", "-o", str(path))
    assert have.returncode == 0, have.stderr
    return path


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("offsets", np.array([0, 2, 1], np.int64)),  # not increasing, polygons of fewer than 3 vertices
        ("offsets", np.array([0, 10**9], np.int64)),  # past the vertices
        ("offsets", np.array([0.0, 3.0])),  # not integers
        ("vertices", np.zeros((4, 3))),  # not 2-D points
        ("region", np.zeros(2, np.int64)),  # not one per piece
    ],
)
def test_chart_regions_refuses_a_damaged_partition_in_one_line(
    plane_file: Path, tmp_path: Path, name: str, value: np.ndarray
) -> None:
    """The stored polygons are read from an untrusted file: checked before they are drawn."""
    path = tmp_path / "r.h5"
    path.write_bytes(plane_file.read_bytes())
    with h5py.File(path, "r+") as f:
        found: list[str] = []
        f.visit(lambda k: found.append(k) if k.endswith("test/plane/offsets") else None)
        (key,) = found
        target = key.rsplit("/", 1)[0] + "/" + name
        del f[target]
        f[target] = value
    before = path.read_bytes()
    r = run("chart", "regions", str(path), "-o", str(tmp_path / "x.png"))
    assert r.returncode != 0
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("actcode chart: error:") or line.startswith("actcode chart regions: error:"), line
    assert str(path) in line
    assert "damaged" in line
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()
    assert path.read_bytes() == before


def test_regions_reports_each_walk_with_its_real_counts_and_q_silences_it(
    code_files: list[Path], tmp_path: Path
) -> None:
    args = ["regions", str(code_files[0]), "--analyses", "lines", "--segments", "4", "--splits", "train"]
    out = tmp_path / "walked.h5"
    r = run("-v", *args, "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{out}\n"  # stdout carries the path only, as before
    lines = {ln.split(": ")[1]: ln for ln in r.stderr.splitlines() if ": walked " in ln}
    assert list(lines) == ["walked train same", "walked train different", "walked train random"]
    with open_codes(out) as cf:
        arrays = cf.result_arrays("regions")
    for rel in ("same", "different", "random"):
        found = int((arrays[f"train/lines/{rel}/regions"] - 1).sum())
        assert f": 4/4 segments, {found:,} breakpoints, " in lines[f"walked train {rel}"]
    # without -v a walk this quick says nothing off a terminal; -q says nothing at all
    plain = run(*args, "-o", str(tmp_path / "plain.h5"))
    assert plain.returncode == 0, plain.stderr
    assert ": walk" not in plain.stderr
    quiet = run("-q", *args, "-o", str(tmp_path / "quiet.h5"))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert quiet.stdout == f"{tmp_path / 'quiet.h5'}\n"
