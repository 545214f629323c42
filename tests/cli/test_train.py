"""``actcode train`` run as a user runs it: a subprocess, paths on stdout, one error line on stderr."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ACTCODE = [sys.executable, "-m", "actcode"]
FAST = ["--width", "8", "--epochs", "2", "--sample-size", "256"]


def actcode(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ACTCODE, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def write_mnist(folder: Path, n_train: int = 200, n_test: int = 50) -> None:
    """The four standard IDX files, gzipped, with class-dependent images so a model can learn them."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
        for i, label in enumerate(y):
            x[i, 2 * label : 2 * label + 4, :] = 255  # a bright band whose row encodes the class
        for kind, a in (("images-idx3", x), ("labels-idx1", y)):
            header = bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
            (folder / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(header + a.tobytes()))


def test_pipe_prints_one_path_per_saved_epoch_in_order(tmp_path: Path) -> None:
    """``actcode train ... | next-command``: stdout holds exactly the checkpoint paths, in epoch order."""
    out = tmp_path / "runs"
    # the next command of the pipe: reads paths on stdin, one per line, as `actcode extract` does
    reader = (
        "import sys, pathlib\n"
        "for line in sys.stdin:\n"
        "    p = pathlib.Path(line.rstrip('\\n'))\n"
        "    print(p.name, p.is_file(), p.read_bytes()[:2] == b'PK')\n"
    )
    with subprocess.Popen(
        [*ACTCODE, "train", *FAST, "--epochs", "3", "--save-at", "3,0,1", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    ) as producer:
        consumer = subprocess.run(
            [sys.executable, "-c", reader], stdin=producer.stdout, capture_output=True, text=True, timeout=300
        )
        assert producer.stderr is not None
        stderr = producer.stderr.read()
        assert producer.wait(timeout=300) == 0, stderr
    assert consumer.returncode == 0, consumer.stderr
    rows = [line.split() for line in consumer.stdout.splitlines()]
    assert [r[0][-8:] for r in rows] == ["e0000.pt", "e0001.pt", "e0003.pt"]
    assert all(r[1:] == ["True", "True"] for r in rows)  # each exists and is a torch zip file
    assert sorted(p.name for p in out.iterdir()) == sorted(r[0] for r in rows)  # no temp files left
    from actcode.checkpoints import load_checkpoint

    assert [load_checkpoint(out / r[0]).epoch for r in rows] == [0, 1, 3]
    assert "test acc" in stderr
    assert "Traceback" not in stderr


def test_mnist_from_local_idx_files_without_network(tmp_path: Path) -> None:
    """MNIST-format IDX files in $ACTCODE_DATA/MNIST/raw; -q leaves stderr empty; stdout is only paths."""
    write_mnist(tmp_path / "data" / "MNIST" / "raw")
    r = actcode(
        "-q", "train", "--dataset", "mnist", "--width", "16", "--epochs", "3", "--save-at", "0,3",
        "-o", str(tmp_path / "runs"), env={"ACTCODE_DATA": str(tmp_path / "data")},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert all(Path(line).is_file() for line in lines)
    assert Path(lines[0]).name.startswith("mnist-mlp-w16-d1-n160-")
    from actcode.checkpoints import load_checkpoint

    ck = load_checkpoint(lines[-1])
    assert ck.input_shape == (1, 28, 28)
    assert ck.metrics["test_accuracy"] >= 0.9


def test_user_model_factory(tmp_path: Path) -> None:
    (tmp_path / "nets.py").write_text(
        "import torch.nn as nn\n"
        "def small(input_shape, n_classes):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.ReLU(), nn.Linear(5, n_classes))\n"
    )
    r = actcode("train", "--model", "nets.py:small", "--epochs", "1", "-o", "runs", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "custom_small" in r.stdout
    assert len(r.stdout.splitlines()) == 1


FACTORIES = (
    "def boom(input_shape, n_classes):\n    raise RuntimeError('cannot build this')\n"
    "def not_a_module(input_shape, n_classes):\n    return [1, 2, 3]\n"
)


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--dataset", "imagenet22k"], 5, "unknown dataset 'imagenet22k'"),
        (["--dataset", "mnist", "--data-root", "{tmp}/empty"], 4, "train-images-idx3-ubyte"),
        (["--width", "0"], 5, "--width must be at least 1"),
        (["--epochs", "3", "--save-at", "0,1,5"], 5, "--save-at 0,1,5 asks for epoch(s) 5"),
        (["--label-noise", "1.5"], 5, "--label-noise must be a fraction in [0, 1]"),
        (["--label-noise", "-0.2"], 5, "--label-noise must be a fraction in [0, 1]"),
        (["--model", "{tmp}/f.py:boom"], 5, "raised RuntimeError: cannot build this"),
        (["--model", "{tmp}/f.py:not_a_module"], 5, "returned a list, not a torch.nn.Module"),
    ],
)
def test_bad_input_gives_one_error_line(tmp_path: Path, args: list[str], code: int, needle: str) -> None:
    (tmp_path / "f.py").write_text(FACTORIES)
    (tmp_path / "empty").mkdir()
    r = actcode("train", *[a.replace("{tmp}", str(tmp_path)) for a in args], "-o", str(tmp_path / "runs"))
    assert r.returncode == code
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("actcode train: error: ")
    assert needle in lines[0]
    assert "Traceback" not in r.stderr
    if code == 4:
        assert str(tmp_path / "empty") in lines[0]  # names the folder it looked in


def test_help_lists_the_factors() -> None:
    r = actcode("train", "--help")
    assert r.returncode == 0
    for opt in (
        "--save-at",
        "--sample-size",
        "--tile",
        "--label-noise",
        "--weight-decay",
        "--early-stop",
        "--model",
    ):
        assert opt in r.stdout
