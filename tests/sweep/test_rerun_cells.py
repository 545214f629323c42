"""A cell of a user's own model is extracted with the factory its spec names; a retrained
cell redoes the code files of its old checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from actcode.io import file_sha256, open_codes
from actcode.sweep import load_spec, run_sweep

NETS = """
from torch import nn

def make(input_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3), nn.ReLU(), nn.Linear(3, n_classes))
"""


def _recorded_sha(code: Path) -> list[str]:
    with open_codes(code) as cf:
        return [i["sha256"] for i in cf.provenance["inputs"]]


def test_a_sweep_of_a_user_factory_extracts_with_the_factory_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the spec names the factory file relative to where the sweep runs
    (tmp_path / "nets.py").write_text(NETS, encoding="utf-8")
    spec_file = tmp_path / "own.toml"
    spec_file.write_text(
        'stages = ["train", "extract"]\n[train]\nmodel = "nets.py:make"\nepochs = 1\nbatch_size = 128\n'
        '[extract]\nsplits = ["test"]\n',
        encoding="utf-8",
    )
    report = run_sweep(load_spec(spec_file, out=tmp_path / "out"))
    assert [c.state for c in report.cells] == ["done"], report.cells[0].record
    [code] = report.paths
    with open_codes(code) as cf:
        assert cf.splits == ["test"]
        assert cf.n_units == 3
    [ckpt] = (tmp_path / "out" / "runs").glob("*.pt")
    assert _recorded_sha(code) == [file_sha256(ckpt)]


def test_a_retrained_cell_redoes_the_code_files_of_its_old_checkpoints(tmp_path: Path) -> None:
    spec_file = tmp_path / "two.toml"
    spec_file.write_text(
        'stages = ["train", "extract"]\n[train]\nwidth = 4\nepochs = 2\nsave-at = [1, 2]\nbatch_size = 128\n'
        '[extract]\nsplits = ["test"]\n',
        encoding="utf-8",
    )
    spec = load_spec(spec_file, out=tmp_path / "out")
    first = run_sweep(spec)
    assert [c.state for c in first.cells] == ["done"]
    codes = first.paths
    assert len(codes) == 2
    before = {c: _recorded_sha(c) for c in codes}
    codes[0].with_suffix(".pt").unlink()  # the cell retrains, overwriting both checkpoints
    second = run_sweep(spec)
    assert [c.state for c in second.cells] == ["done"]
    assert second.paths == codes
    for code in codes:
        assert _recorded_sha(code) == [file_sha256(code.with_suffix(".pt"))], code.name
    # the kept checkpoint was rewritten (its training history differs), so its old code file was stale
    assert _recorded_sha(codes[1]) != before[codes[1]]
