"""Code from a checkpoint (issue 11, class 2): a checkpoint RECORDS its model factory; it runs only if named.

A checkpoint whose config says ``model.name = "custom"`` and ``factory = "/…/evil.py:make"`` must
not make ``actcode extract ck.pt`` import that file; a relative factory is never resolved from
the current folder; a module that prints when imported never reaches stdout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from actcode.checkpoints import make_payload, write_checkpoint
from actcode.config import ModelSpec, TrainConfig
from actcode.io import open_codes
from tests.reliability._run import error_lines, run

#: Creates MARKER when imported and when called: proof that the code ran.
EVIL = """
from pathlib import Path
from torch import nn
Path({marker!r}).touch()

def make(input_shape, n_classes):
    Path({marker!r}).touch()
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.ReLU(), nn.Linear(5, n_classes))
"""

GOOD = """
from torch import nn
print("this module prints when imported")

def make(input_shape, n_classes):
    print("and when called")
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.ReLU(), nn.Linear(5, n_classes))
"""


def checkpoint(path: Path, factory: str) -> Path:
    """A checkpoint of a custom model on digits whose config records ``factory``; its weights fit GOOD."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.ReLU(), nn.Linear(5, 10))
    config = TrainConfig(model=ModelSpec(name="custom", factory=factory), epochs=1, save_at=(1,))
    idx = np.arange(40, dtype=np.int64)
    payload = make_payload(
        config=config, epoch=1, state_dict=net.state_dict(), train_indices=idx, val_indices=idx[:0],
        train_labels=idx % 10, noisy_indices=idx[:0], history=[], metrics={}, input_shape=(1, 8, 8),
        n_classes=10,
    )  # fmt: skip
    return write_checkpoint(path, payload)


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "x"
    d.mkdir()
    marker = tmp_path / "PWNED"
    (d / "evil.py").write_text(EVIL.format(marker=str(marker)))
    return d / "evil.py", marker


def test_recorded_factory_is_not_imported(evil: tuple[Path, Path], tmp_path: Path) -> None:
    src, marker = evil
    ck = checkpoint(tmp_path / "ck.pt", f"{src}:make")
    proc = run("extract", ck, "--splits", "test", "-o", tmp_path / "c.h5")
    assert proc.returncode == 5, proc.stderr
    assert proc.stdout == ""
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == error_lines(proc.stderr, "extract")
    (line,) = error_lines(proc.stderr, "extract")
    assert f"was built by code, {src}:make" in line
    assert "--trust-model-code" in line
    assert not marker.exists()
    assert not (tmp_path / "c.h5").exists()
    # naming another file does not run either of them
    (tmp_path / "mine.py").write_text(GOOD)
    proc = run("extract", ck, "--model", f"{tmp_path / 'mine.py'}:make", "-o", tmp_path / "c.h5")
    assert proc.returncode == 5
    assert "does not match the factory recorded" in error_lines(proc.stderr, "extract")[0]
    assert not marker.exists()


def test_relative_factory_is_never_resolved_from_the_current_folder(
    evil: tuple[Path, Path], tmp_path: Path
) -> None:
    src, marker = evil
    ck = checkpoint(tmp_path / "ck.pt", "evil.py:make")
    for extra in ([], ["--trust-model-code"]):
        proc = run("extract", ck, "--splits", "test", "-o", tmp_path / "c.h5", *extra, cwd=src.parent)
        assert proc.returncode == 5, proc.stderr
        assert len(error_lines(proc.stderr, "extract")) == 1
        assert proc.stdout == ""
    assert "never resolves from the current folder" in error_lines(proc.stderr, "extract")[0]
    assert not marker.exists()


def test_named_or_trusted_code_runs_and_never_writes_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(GOOD)
    spec = f"{tmp_path / 'mine.py'}:make"
    ck = checkpoint(tmp_path / "ck.pt", spec)
    for i, extra in enumerate((["--model", spec], ["--trust-model-code"])):
        out = tmp_path / f"c{i}.h5"
        proc = run("extract", ck, "--splits", "test", "-o", out, *extra)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"{out}\n"  # the module's prints went to stderr, not into the pipe
        assert "this module prints when imported" in proc.stderr
        with open_codes(out) as cf:
            assert [la.name for la in cf.layers] == ["2"]
    proc = run("extract", "--model", "this:nothing", "--dataset", "digits", "-o", tmp_path / "t.h5")
    assert proc.returncode == 5
    assert proc.stdout == ""  # `import this` prints the Zen of Python
    assert "The Zen of Python" in proc.stderr
    assert "has no callable named 'nothing'" in error_lines(proc.stderr, "extract")[0]
