"""Classes 3 (memory bombs), 4 (wrong answers) and 5 (bad options) of issue 11.

One size rule (``actcode.sizes.check_allocation``: the memory available, or
``$ACTCODE_MAX_MEMORY``) refuses what an option or a file claims before anything is
allocated: exit 5 for options, 3 for files, the message naming the size and the limit. Seeds
are checked once (``actcode.config.check_seed``), classes are bounded by the spec, and data
that would become non-finite, empty splits and a probe without a training split are refused.
Each reproduction of the issue runs as a user runs it; generated values go through the
library functions, which are what the commands call.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from actcode.config import SEED_MAX, ModelSpec, check_seed
from actcode.errors import FormatError, InvalidParameterError
from actcode.models import build_model
from actcode.sizes import check_allocation, memory_limit
from actcode.testing.helpers import tiny_layers, write_code_file
from tests.reliability._run import error_lines, run
from tests.reliability.corpus import valid_code_file


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(r: object, command: str, code: int) -> str:
    import subprocess

    assert isinstance(r, subprocess.CompletedProcess)
    assert r.returncode == code, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = error_lines(r.stderr, command)
    assert len(lines) == 1, r.stderr[-2000:]
    assert r.stdout == ""
    return lines[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt")
    r = run("-q", "train", "--width", "6", "--epochs", "1", "--save-at", "1", "--out", folder)
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.split()[-1])


# -- class 5: seeds, once -------------------------------------------------------------------


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=SEED_MAX + 1), st.booleans()))
@settings(max_examples=150, deadline=None)
def test_out_of_range_seeds_are_exit_5(seed: int) -> None:
    with pytest.raises(InvalidParameterError, match="--seed must be an integer from 0 to 4294967295") as info:
        check_seed(seed)
    assert info.value.exit_code == 5


@given(st.integers(min_value=0, max_value=SEED_MAX))
@settings(max_examples=100, deadline=None)
def test_in_range_seeds_pass(seed: int) -> None:
    assert check_seed(seed) == seed


@pytest.mark.parametrize(
    "args",
    [
        ["probe", "--seed", "-1"],
        ["probe", "--seed", "1180591620717411303424"],
        ["measure", "--seed", "4294967296"],
        ["extract", "--seed", "-1", "--random", "5"],
        ["train", "--seed", "-1", "--epochs", "1"],
    ],
    ids=lambda a: " ".join(a[:3]),
)
def test_every_command_refuses_a_bad_seed_first(args: list[str], tmp_path: Path, checkpoint: Path) -> None:
    codes = valid_code_file(tmp_path / "c.h5")
    before = _sha(codes)
    target = [] if args[0] == "train" else [checkpoint if args[0] == "extract" else codes]
    line = _one_line(run(*args, *target, cwd=tmp_path), args[0], 5)
    assert "--seed" in line
    assert _sha(codes) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]


# -- class 3: one size rule ------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=1 << 60), st.integers(min_value=1, max_value=1 << 50))
@settings(max_examples=100, deadline=None)
def test_the_size_rule(nbytes: int, limit: int) -> None:
    if nbytes <= limit:
        check_allocation(nbytes, "x", limit=limit)
        return
    with pytest.raises(InvalidParameterError, match="more than the memory limit"):
        check_allocation(nbytes, "x", limit=limit)
    with pytest.raises(FormatError, match="f.npz: x would need"):
        check_allocation(nbytes, "x", from_file="f.npz", limit=limit)


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(width=10**12),
        ModelSpec(width=10**9, depth=2),
        ModelSpec(widths=(10**9, 10**9)),
        ModelSpec(name="vgg11", width_mult=4096.0),
        ModelSpec(name="resnet20", width_mult=10_000.0),
    ],
    ids=["width-1e12", "width-1e9-depth-2", "widths-1e9-1e9", "vgg-x4096", "resnet-x10000"],
)
def test_models_are_sized_before_they_are_built(spec: ModelSpec) -> None:
    shape = (3, 32, 32) if spec.name != "mlp" else (64,)
    with pytest.raises(InvalidParameterError, match="model .* would need .* more than the memory limit"):
        build_model(spec, shape, 10, copies=4)
    with pytest.raises(FormatError, match="ck.pt: the"):
        build_model(spec, shape, 10, from_file="ck.pt")


def test_many_classes_are_sized_too() -> None:
    with pytest.raises(InvalidParameterError, match="would need"):
        build_model(ModelSpec(width=64), (64,), 10**9, copies=4)
    assert memory_limit() > 0


def test_train_with_a_huge_width_is_exit_5(tmp_path: Path) -> None:
    line = _one_line(run("train", "--width", "1000000000000", "--out", tmp_path / "runs"), "train", 5)
    assert "TiB" in line
    assert "memory limit" in line
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def _forge(checkpoint: Path, out: Path, **model: object) -> Path:
    raw = torch.load(checkpoint, weights_only=True)
    config = json.loads(raw["config"])
    n_classes = model.pop("n_classes", None)
    config["model"].update(model)
    raw["config"] = json.dumps(config)
    if n_classes is not None:
        raw["n_classes"] = n_classes
    torch.save(raw, out)
    return out


def test_checkpoint_configs_that_claim_huge_models_are_exit_3(tmp_path: Path, checkpoint: Path) -> None:
    forged = [
        _forge(checkpoint, tmp_path / "width.pt", width=10**9),
        _forge(checkpoint, tmp_path / "widths.pt", widths=[10**9, 10**9], depth=2),
        _forge(checkpoint, tmp_path / "classes.pt", n_classes=10**9),
    ]
    before = {p: _sha(p) for p in forged}
    r = run("extract", "--out-dir", tmp_path / "out", *forged)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = error_lines(r.stderr, "extract")
    assert len(lines) == len(forged), r.stderr
    for line, path in zip(lines, forged, strict=True):
        assert str(path) in line
        assert "memory limit" in line
    assert {p: _sha(p) for p in forged} == before
    assert not list((tmp_path / "out").glob("*.h5"))


def test_extract_random_10_to_the_12_is_exit_5(tmp_path: Path, checkpoint: Path) -> None:
    r = run("extract", "--random", "1000000000000", "-o", tmp_path / "x.h5", checkpoint)
    line = _one_line(r, "extract", 5)
    assert "--random 1000000000000" in line
    assert "memory limit" in line
    assert list(tmp_path.iterdir()) == []


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    x = rng.random((60, 8))
    y = np.arange(60) % 3
    base = {"x_train": x, "y_train": y, "x_test": x[:20], "y_test": y[:20]}
    np.savez(path, **{**base, **arrays})  # type: ignore[arg-type]
    return path


def _zip_bomb(path: Path, rows: int) -> Path:
    """A small .npz whose x_train expands to ``rows`` x 8 float64 zeros."""
    rng = np.random.default_rng(0)
    small = {"y_train": np.arange(rows) % 3, "x_test": rng.random((20, 8)), "y_test": np.arange(20) % 3}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x_train.npy", "w", force_zip64=True) as fh:
            header = {"descr": "<f8", "fortran_order": False, "shape": (rows, 8)}
            np.lib.format.write_array_header_1_0(fh, header)
            left, block = rows * 64, bytes(1 << 22)
            while left > 0:
                fh.write(block[: min(left, len(block))])
                left -= len(block)
        for key, arr in small.items():
            with zf.open(f"{key}.npy", "w") as fh:
                np.lib.format.write_array(fh, np.asarray(arr))
    return path


def test_npz_files_that_lie_or_bomb(tmp_path: Path) -> None:
    files = {
        "label-10^12": _npz(tmp_path / "label.npz", y_train=np.where(np.arange(60) == 0, 10**12, 1)),
        "label-2^62": _npz(tmp_path / "label62.npz", y_test=np.where(np.arange(20) == 0, 2**62, 0)),
        "zero-train-rows": _npz(tmp_path / "no-tr.npz", x_train=np.zeros((0, 8)), y_train=np.zeros(0, int)),
        "zero-test-rows": _npz(tmp_path / "empty-test.npz", x_test=np.zeros((0, 8)), y_test=np.zeros(0, int)),
        "beyond-float32": _npz(tmp_path / "big.npz", x_train=np.full((60, 8), 1e300)),
        "decompression-bomb": _zip_bomb(tmp_path / "bomb.npz", 3_000_000),  # 183 MiB from about 200 KiB
    }
    before = {k: _sha(p) for k, p in files.items()}
    expected = {
        "label-10^12": "classes must be integers in 0..2147483647",
        "label-2^62": "classes must be integers in 0..2147483647",
        "zero-train-rows": "has no rows",
        "zero-test-rows": "has no rows",
        "beyond-float32": "beyond the float32 range",
        "decompression-bomb": "more than the memory limit of 64.0 MiB",
    }
    import os
    import subprocess
    import sys

    env = {**os.environ, "ACTCODE_MAX_MEMORY": "64MiB"}
    for name, path in files.items():
        r = subprocess.run(
            [sys.executable, "-m", "actcode", "train", "--dataset", str(path), "--width", "4",
             "--epochs", "1", "--out", str(tmp_path / "runs")],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        line = _one_line(r, "train", 3)
        assert str(path) in line, name
        assert expected[name] in line, (name, line)
    assert {k: _sha(p) for k, p in files.items()} == before
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.pt"))


def test_20000_one_unit_layers_are_refused_with_the_limit(tmp_path: Path) -> None:
    layers = tiny_layers((1,) * 20_000)
    rng = np.random.default_rng(0)
    bits = {"train": rng.integers(0, 2, (30, 20_000))}
    path = write_code_file(tmp_path / "many.h5", bits, {"train": np.arange(30) % 2}, layers)
    before = _sha(path)
    from actcode.scopes import MAX_SCOPE_SITES

    assert MAX_SCOPE_SITES < 20_000
    r = run("measure", "--no-nn", path)
    line = _one_line(r, "measure", 5)
    assert "20000 sites" in line
    assert f"limit of {MAX_SCOPE_SITES}" in line
    assert _sha(path) == before
    size = path.stat().st_size
    r = run("-q", "measure", "--no-nn", "--no-per-layer", "--no-prefixes", path)
    assert r.returncode == 0, r.stderr
    assert path.stat().st_size - size < 1 << 20  # per-unit arrays only, not 15 KB per layer (300 MB)


# -- class 4: wrong answers ------------------------------------------------------------------


def test_probe_on_a_file_without_a_train_split_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    bits = {"test": rng.integers(0, 2, (40, 17))}
    path = write_code_file(tmp_path / "test-only.h5", bits, {"test": np.arange(40) % 3}, tiny_layers())
    before = _sha(path)
    line = _one_line(run("probe", "--probes", "knn", path), "probe", 6)
    assert "no 'train' split" in line
    assert "--splits" in line
    assert _sha(path) == before
