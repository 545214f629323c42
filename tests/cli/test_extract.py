"""``actcode extract`` run as a user runs it: subprocesses, pipes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from actcode.io import open_codes, validate

PY = [sys.executable, "-m", "actcode"]

USER_MODEL = """
from torch import nn

def make(input_shape, n_classes):
    # deliberately hard-wired to 64 inputs (the digits), whatever input_shape says
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(inplace=True), nn.Linear(10, n_classes))
"""


def run(
    args: list[str], *, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PY, *args], input=stdin, capture_output=True, text=True, timeout=300, cwd=cwd, env=os.environ.copy()
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("actcode extract: error: ")
    for n in needles:
        assert n in lines[0], lines[0]
    assert proc.stdout == ""
    return lines[0]


class Evil:
    """Pickles to a call that would create ``marker`` if anything unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))


@pytest.fixture(scope="module")
def piped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    """``actcode train --epochs 1 ... | actcode extract`` through a real shell pipe."""
    out = tmp_path_factory.mktemp("runs")
    cmd = (
        f"{sys.executable} -m actcode train --epochs 1 --width 10 --depth 2 --sample-size 80 --tile "
        "--save-at 0,1 "
        f"--out {out} | {sys.executable} -m actcode extract --random 30"
    )
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    ckpts = sorted(out.glob("*.pt"))
    return ckpts[-1], out, proc


def test_train_pipe_extract_writes_valid_files(
    piped: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    ckpt, out, proc = piped
    assert proc.returncode == 0, proc.stderr
    paths = proc.stdout.splitlines()
    assert len(paths) == 2  # epochs 0 and 1
    assert paths[-1] == str(ckpt.with_suffix(".h5"))
    for p in paths:
        validate(p)
    with open_codes(paths[-1]) as cf:
        assert cf.splits == ["train", "test", "random"]
        assert cf.n_rows("train") == 80
        assert cf.n_rows("random") == 30
        assert [layer.name for layer in cf.layers] == ["relu1", "relu2"]
        assert cf.provenance["factors"]["epoch"] == 1
    v = subprocess.run([*PY, "validate", *paths], capture_output=True, text=True, timeout=120)
    assert v.returncode == 0, v.stderr
    assert v.stdout.splitlines() == paths


def test_several_checkpoints_out_dir_json(
    piped: tuple[Path, Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    _, out, _ = piped
    ckpts = sorted(str(p) for p in out.glob("*.pt"))
    dest = tmp_path / "codes"
    proc = run(
        ["extract", "--out-dir", str(dest), "--splits", "test", "--layers", "relu2", "--json", "-"],
        stdin="\n".join(ckpts) + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(dest / (Path(c).stem + ".h5")) for c in ckpts]
    assert all(r["splits"] == {"test": r["splits"]["test"]} and r["n_sites"] == 1 for r in records)
    assert records[-1]["network"]["test_accuracy"] is not None
    one = run(["extract", "-o", str(tmp_path / "x.h5"), *ckpts])
    assert_one_line_error(one, 5, "-o/--output names one file but 2 checkpoints")


def test_not_a_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "notes.pt"
    bad.write_text("not a checkpoint\n")
    assert_one_line_error(run(["extract", str(bad)]), 3, "is not a PyTorch checkpoint")
    assert not list(tmp_path.glob("*.h5"))


def test_checkpoint_whose_pickle_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "actcode.checkpoint", "state_dict": Evil(marker)}, evil)  # a real torch zip file
    assert not marker.exists()
    assert_one_line_error(run(["extract", str(evil)]), 3, "refused", "unpickle code")
    assert not marker.exists()
    # a user model's --weights: a legacy (non-zip) pickle is refused before anything is read
    (tmp_path / "net.py").write_text(USER_MODEL)
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"w": Evil(marker)}))
    proc = run(["extract", "--model", f"{tmp_path / 'net.py'}:make", "--weights", str(legacy)])
    assert_one_line_error(proc, 3, str(legacy), "not a weights file written by torch.save")
    assert not marker.exists()


def test_user_model_on_digits_and_on_data_of_another_shape(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(USER_MODEL)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(inplace=True), nn.Linear(10, 10))
    weights = tmp_path / "net_weights.pt"
    torch.save(model.state_dict(), weights)
    ok = run(
        ["extract", "--model", f"{tmp_path / 'net.py'}:make", "--weights", str(weights), "--splits", "test"]
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(tmp_path / "net_weights.h5")
    with open_codes(ok.stdout.strip()) as cf:
        assert [layer.name for layer in cf.layers] == ["2"]
        assert cf.provenance["factors"]["model"].endswith("net.py:make")
        assert cf.n_units == 10
        assert cf.n_rows("test") > 0
    rng = np.random.default_rng(0)
    npz = tmp_path / "tab.npz"
    np.savez(
        npz,
        x_train=rng.random((20, 10), dtype=np.float32),
        y_train=np.arange(20) % 10,  # ten classes, as the weights expect
        x_test=rng.random((6, 10), dtype=np.float32),
        y_test=np.arange(6),
    )
    bad = run(
        [
            "extract",
            "--model",
            f"{tmp_path / 'net.py'}:make",
            "--weights",
            str(weights),
            "--dataset",
            str(npz),
        ]
    )
    assert_one_line_error(bad, 5, "cannot run on inputs of shape (2, 10)", "input shape fits the model")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "net.py",
        "net_weights.h5",
        "net_weights.pt",
        "tab.npz",
    ]


def test_unknown_layer(piped: tuple[Path, Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    ckpt, _, _ = piped
    proc = run(["extract", str(ckpt), "--layers", "fc7", "-o", str(tmp_path / "x.h5")])
    assert_one_line_error(proc, 5, "no activation site matches 'fc7'", "relu1, relu2")
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("where", ["missing-folder", "unwritable"])
def test_output_that_cannot_be_written(
    piped: tuple[Path, Path, subprocess.CompletedProcess[str]], tmp_path: Path, where: str
) -> None:
    ckpt, _, _ = piped
    if where == "missing-folder":
        target, needle = tmp_path / "no" / "such" / "c.h5", "does not exist"
    else:  # /proc refuses new files even for root, where chmod would not
        target, needle = Path("/proc/actcode-test.h5"), "cannot write /proc/actcode-test.h5"
    proc = run(["extract", str(ckpt), "-o", str(target), "--splits", "test"])
    assert_one_line_error(proc, 7, needle)
    assert not target.exists()
