"""``regions`` as a sweep stage: ``stages = [..., "regions"]`` runs it on each cell's code files."""

from __future__ import annotations

from pathlib import Path

from actcode.io import open_codes
from actcode.sweep import load_saved_spec
from actcode.sweep.manifest import read_manifest
from tests.sweep.conftest import actcode

SPEC = """\
stages = ["train", "extract", "regions"]
[train]
epochs = 1
width = 4
[grid]
seed = [0, 1]
[regions]
analyses = ["lines", "kernel"]
segments = 2
batch = 8
splits = ["test"]
"""


def test_a_sweep_runs_regions_on_each_code_file_and_a_rerun_does_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC, encoding="utf-8")
    out = tmp_path / "out"
    r = actcode("sweep", "run", spec, "--out", out)
    assert r.returncode == 0, r.stderr
    paths = [Path(p) for p in r.stdout.split()]
    assert len(paths) == 2
    for p in paths:
        with open_codes(p) as cf:
            table = cf.results("regions")
            assert table is not None
            assert cf.results("measure") is None  # not a stage of this sweep
        assert table.splits == ["test"]
        metrics = {m for _, _, m, _ in table.rows()}
        assert any(m.startswith("lines_") for m in metrics)
        assert "naswot" in metrics
    ran = [rec["ran"] for rec in read_manifest(out / "sweep.jsonl") if rec["state"] == "done"]
    assert ran == [["train", "extract", "regions"]] * 2
    again = actcode("sweep", spec, "--out", out)  # the old spelling: sweep SPEC is sweep run SPEC
    assert again.returncode == 0, again.stderr
    assert again.stdout == r.stdout
    assert len([rec for rec in read_manifest(out / "sweep.jsonl") if rec["state"] == "done"]) == 2
    status = actcode("sweep", "status", out)  # from the folder's spec snapshot, [regions] included
    assert status.returncode == 0, status.stderr
    assert sum("│ done" in line for line in status.stderr.splitlines()) == 2
    snapshot = load_saved_spec(out)
    assert snapshot.regions == {
        "analyses": ["lines", "kernel"],
        "segments": 2,
        "batch": 8,
        "splits": ["test"],
    }
    assert snapshot.stages == ("train", "extract", "regions")
