"""The example plugin (examples/plugin), installed from its wheel, end to end through the CLI; a broken one.

The wheel is built offline from a copy of ``examples/plugin`` and installed with ``pip install
--target`` into a temporary folder that only these subprocesses see (``PYTHONPATH``), so the
shared environment is not touched. ``importlib.metadata`` finds the entry points in the
installed ``.dist-info``, as it does for any ``pip install``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actcode.io import open_codes

ROOT = Path(__file__).resolve().parents[2]


def _pip(*args: str | Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pip", *map(str, args)], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where the example plugin's wheel is installed (and nothing else)."""
    tmp = tmp_path_factory.mktemp("plugin")
    src = tmp / "src"
    shutil.copytree(ROOT / "examples" / "plugin", src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", src, "-w", tmp / "dist")
    (wheel,) = (tmp / "dist").glob("actcode_blobs-*.whl")
    _pip("install", "--no-deps", "--no-index", "-q", "--target", tmp / "site", wheel)
    return tmp / "site"


def actcode(
    *args: str | Path, paths: list[Path], cwd: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """``python -m actcode ARGS`` with ``paths`` (plugin folders) on PYTHONPATH before this tree."""
    pythonpath = [str(ROOT), *map(str, paths), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "actcode", *map(str, args)],
        input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
    )  # fmt: skip


def _centroid_accuracy(
    codes: np.ndarray, labels: np.ndarray, train: np.ndarray, train_y: np.ndarray
) -> float:
    """Nearest majority-bit centroid, computed independently on unpacked bits."""
    classes = np.unique(train_y)
    bits = np.unpackbits(train, axis=1).astype(np.float64)
    centroids = np.stack([bits[train_y == c].mean(axis=0) > 0.5 for c in classes])
    q = np.unpackbits(codes, axis=1).astype(bool)
    d = (q[:, None, :] != centroids[None, :, :]).sum(axis=2)
    return float((classes[d.argmin(axis=1)] == labels).mean())


@pytest.fixture(scope="module")
def probed(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``train --dataset blobs:4 | extract | probe --probes knn,centroid`` with the plugin installed."""
    work = tmp_path_factory.mktemp("pipeline")
    t = actcode("train", "--dataset", "blobs:4", "--width", "16", "--epochs", "2", "--out", work / "runs",
                paths=[site], cwd=work)  # fmt: skip
    assert t.returncode == 0, t.stderr
    e = actcode("extract", paths=[site], cwd=work, stdin=t.stdout)
    assert e.returncode == 0, e.stderr
    p = actcode("probe", "--probes", "knn,centroid", paths=[site], cwd=work, stdin=e.stdout)
    assert p.returncode == 0, p.stderr
    assert "centroid" in p.stderr  # the plugin's metric is a column of the table
    (path,) = p.stdout.split()
    return Path(path)


def test_the_plugin_probe_and_dataset_from_the_cli(probed: Path) -> None:
    with open_codes(probed) as cf:
        assert cf.factors["dataset"] == "blobs:4"
        assert cf.layers[0].n_units == 16
        table = cf.results("probe")
        assert table is not None
        rows = {(s, m): v for s, scope, m, v in table.rows() if scope == "all"}
        assert set(cf.splits) == {"train", "test"}
        assert cf.n_rows("train") == 640  # 80 % of 4 x 200
        assert cf.n_rows("test") == 200
        train, train_y = cf.codes("train"), cf.labels("train")
        for split in ("train", "test"):
            want = _centroid_accuracy(cf.codes(split), cf.labels(split), train, train_y)
            assert rows[(split, "centroid_accuracy")] == pytest.approx(want)
        assert ("test", "knn_accuracy") in rows
        assert cf.result_params("probe")["centroid"]["fit_split"] == "train"


def test_table_and_chart_show_the_plugin_metric(probed: Path, site: Path) -> None:
    out = probed.parent / "table.jsonl"
    t = actcode("table", probed, "-o", out, paths=[site], cwd=probed.parent)
    assert t.returncode == 0, t.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["split"] for r in rows if r["metric"] == "centroid_accuracy"} == {"train", "test"}
    png = probed.parent / "centroid.png"
    c = actcode("chart", "curves", probed, "--x", "epoch", "--y", "centroid_test", "-o", png,
                paths=[site], cwd=probed.parent)  # fmt: skip
    assert c.returncode == 0, c.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


SPEC = """\
name = "blobs"

[train]
dataset = "blobs:3"
width = 8
epochs = 1

[grid]
seed = [0, 1]

[measure]
nn = false

[probe]
probes = ["centroid"]
"""


def test_a_sweep_uses_the_plugin(site: Path, tmp_path: Path) -> None:
    spec = tmp_path / "blobs.toml"
    spec.write_text(SPEC, encoding="utf-8")
    r = actcode("sweep", spec, "--out", tmp_path / "out", "--jobs", "1", paths=[site], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    files = [Path(p) for p in r.stdout.split()]
    assert len(files) == 2
    for f in files:
        with open_codes(f) as cf:
            table = cf.results("probe")
            assert table is not None
            assert {m for _, _, m, _ in table.rows()} >= {"centroid_accuracy"}
            assert cf.factors["dataset"] == "blobs:3"


def _broken_plugin(root: Path) -> Path:
    """An installed distribution whose ``actcode.probes`` entry point raises ImportError when loaded."""
    (root / "actcode_broken").mkdir(parents=True)
    (root / "actcode_broken" / "__init__.py").write_text("import actcode_missing_dependency\n")
    info = root / "actcode_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: actcode-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[actcode.probes]\nbroken = actcode_broken:Probe\n")
    return root


def test_a_broken_plugin_fails_only_the_command_that_names_it(
    probed: Path, site: Path, tmp_path: Path
) -> None:
    broken = _broken_plugin(tmp_path / "broken")
    m = actcode("measure", probed, "--no-nn", "-o", tmp_path / "m.h5", paths=[site, broken], cwd=tmp_path)
    assert m.returncode == 0, m.stderr
    assert "actcode_missing_dependency" not in m.stderr
    p = actcode(
        "probe", probed, "--probes", "broken", "-o", tmp_path / "p.h5", paths=[site, broken], cwd=tmp_path
    )
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("actcode probe: error: probe plugin 'broken' (actcode_broken:Probe")
    assert "ModuleNotFoundError: No module named 'actcode_missing_dependency'" in lines[0]
    assert not (tmp_path / "p.h5").exists()
    ok = actcode(
        "probe", probed, "--probes", "centroid", "-o", tmp_path / "c.h5", paths=[site, broken], cwd=tmp_path
    )
    assert ok.returncode == 0, ok.stderr
