"""Tests of actcode.checkpoints: the format, safe loading, and refusal of damaged or malicious files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from actcode.checkpoints import (
    FORMAT,
    FORMAT_VERSION,
    REQUIRED_KEYS,
    Checkpoint,
    load_checkpoint,
    write_checkpoint,
)
from actcode.config import ModelSpec, TrainConfig
from actcode.data import DataSpec, load_dataset
from actcode.errors import ActcodeFileNotFoundError, CheckpointError, OutputError
from actcode.training import train

DIGITS = load_dataset(DataSpec())


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("runs")
    config = TrainConfig(
        model=ModelSpec(width=10, depth=2, dropout=0.1),
        epochs=2,
        save_at=(0, 2),
        sample_size=300,
        label_noise=0.1,
        out=str(out),
        device="cpu",
        seed=4,
    )
    return train(config, dataset=DIGITS)


def test_loads_with_plain_torch_weights_only(ckpts: list[Path]) -> None:
    raw = torch.load(ckpts[-1], weights_only=True, map_location="cpu")
    assert set(REQUIRED_KEYS) <= set(raw)
    assert raw["format"] == FORMAT
    assert raw["format_version"] == FORMAT_VERSION
    assert raw["epoch"] == 2
    assert raw["seed"] == 4
    assert all(isinstance(v, torch.Tensor) for v in raw["state_dict"].values())
    for k in ("train_indices", "val_indices", "train_labels", "noisy_indices"):
        assert raw[k].dtype == torch.int64
        assert raw[k].ndim == 1
    for k in ("config", "history", "metrics", "versions"):
        assert isinstance(raw[k], str)
        json.loads(raw[k])
    assert set(json.loads(raw["metrics"])) == {
        "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
    }  # fmt: skip
    assert set(json.loads(raw["versions"])) == {"actcode", "torch", "numpy", "python"}


def test_load_checkpoint_fields(ckpts: list[Path]) -> None:
    ck = load_checkpoint(ckpts[-1])
    assert isinstance(ck, Checkpoint)
    assert ck.path == ckpts[-1]
    assert ck.epoch == 2
    assert ck.seed == 4
    assert ck.config.model.width == 10
    assert ck.train_indices.dtype == np.int64
    assert len(ck.train_indices) == 300
    np.testing.assert_array_equal(ck.val_indices, np.arange(DIGITS.n_fit, DIGITS.n_train))
    assert 20 < len(ck.noisy_indices) <= 30  # permute mode: 30 drawn, a few keep their label by chance
    assert [h["epoch"] for h in ck.history] == [0, 1, 2]
    assert ck.input_shape == (1, 8, 8)
    assert ck.n_classes == 10
    assert ck.dataset().name == "digits"


def test_build_model_is_eval_and_reproduces_metrics(ckpts: list[Path]) -> None:
    ck = load_checkpoint(ckpts[-1])
    model = ck.build_model()
    assert not model.training
    with torch.no_grad():
        pred = model(torch.from_numpy(DIGITS.x_test)).argmax(1).numpy()
    assert ck.metrics["test_accuracy"] == pytest.approx(float((pred == DIGITS.y_test).mean()))


def test_factors(ckpts: list[Path]) -> None:
    f = load_checkpoint(ckpts[0]).factors()
    assert f == {
        "dataset": "digits",
        "model": "mlp",
        "width": 10,
        "depth": 2,
        "epoch": 0,
        "sample_size": 300,
        "weight_decay": 0.0,
        "dropout": 0.1,
        "label_noise": 0.1,
        "seed": 4,
        "bn": True,
        "optimizer": "adam",
        "lr": 0.01,
        "batch_size": 64,
        "tile": False,
    }


def test_factors_of_cnns() -> None:
    from actcode.factors import factors_of

    vgg = factors_of(TrainConfig(model=ModelSpec(name="vgg16", width_mult=0.5)), epoch=1, sample_size=5)
    assert (vgg["width"], vgg["depth"], vgg["dropout"]) == (0.5, 16, 0.5)
    res = factors_of(TrainConfig(model=ModelSpec(name="resnet56")), epoch=1, sample_size=5)
    assert (res["width"], res["depth"], res["dropout"]) == (1.0, 56, 0.0)


# ----------------------------------------------------------------------------- refusals


class _WritesMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


def test_checkpoint_that_would_run_code_is_refused(ckpts: list[Path], tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    raw = torch.load(ckpts[-1], weights_only=True)
    raw["history"] = _WritesMarker(marker)
    evil = tmp_path / "evil.pt"
    torch.save(raw, evil)
    with pytest.raises(CheckpointError, match="would need to unpickle code"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_not_a_checkpoint(tmp_path: Path) -> None:
    p = tmp_path / "x.pt"
    p.write_bytes(b"hello world" * 10)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(p)
    with pytest.raises(ActcodeFileNotFoundError, match="nothere.pt"):
        load_checkpoint(tmp_path / "nothere.pt")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(tmp_path)


def test_truncated_checkpoint(ckpts: list[Path], tmp_path: Path) -> None:
    blob = ckpts[-1].read_bytes()
    p = tmp_path / "cut.pt"
    p.write_bytes(blob[: len(blob) - 200])
    with pytest.raises(CheckpointError):
        load_checkpoint(p)


def test_zip_that_is_not_torch(tmp_path: Path) -> None:
    p = tmp_path / "z.pt"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        load_checkpoint(p)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.pop("train_indices"), "missing train_indices"),
        (lambda d: d.update(format="other.format"), "not an actcode checkpoint"),
        (lambda d: d.update(format_version="2.0.0"), "Upgrade actcode"),
        (lambda d: d.update(train_labels=torch.zeros(3)), "'train_labels' must be a 1-D int64 tensor"),
        (lambda d: d.update(config="{not json"), "'config' must be a JSON string"),
        (
            lambda d: d.update(config=json.dumps({"epochs": 1, "colour": "red"})),
            "not a valid actcode train config",
        ),
        (lambda d: d.update(metrics=json.dumps([1, 2])), "'metrics' must hold a JSON dict"),
        (lambda d: d.update(epoch="2"), "'epoch' must be an integer"),
    ],
)
def test_malformed_fields(ckpts: list[Path], tmp_path: Path, edit: object, match: str) -> None:
    raw = torch.load(ckpts[-1], weights_only=True)
    edit(raw)  # type: ignore[operator]
    p = tmp_path / "bad.pt"
    torch.save(raw, p)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(p)


def test_newer_minor_version_is_read(ckpts: list[Path], tmp_path: Path) -> None:
    raw = torch.load(ckpts[-1], weights_only=True)
    raw["format_version"] = "1.7.0"
    p = tmp_path / "minor.pt"
    torch.save(raw, p)
    assert load_checkpoint(p).format_version == "1.7.0"


def test_weights_not_matching_the_model(ckpts: list[Path], tmp_path: Path) -> None:
    raw = torch.load(ckpts[-1], weights_only=True)
    raw["state_dict"]["fc1.weight"] = torch.zeros(3, 3)
    p = tmp_path / "shape.pt"
    torch.save(raw, p)
    with pytest.raises(CheckpointError, match="do not fit the mlp model"):
        load_checkpoint(p).build_model()


def test_write_is_atomic_and_reports_unwritable(tmp_path: Path) -> None:
    p = write_checkpoint(tmp_path / "sub" / "a.pt", {"format": FORMAT})
    assert p.is_file()
    assert sorted(x.name for x in p.parent.iterdir()) == ["a.pt"]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write the checkpoint"):
        write_checkpoint(blocker / "b.pt", {"format": FORMAT})
