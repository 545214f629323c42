"""The study's factors: one home, computed at train time and stored in the checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actcode.checkpoints import load_checkpoint, make_payload, write_checkpoint
from actcode.config import ModelSpec, TrainConfig
from actcode.factors import FACTOR_KEYS, factor_meaning, factors_of, family_of, model_depth


@pytest.mark.parametrize(
    ("spec", "width", "depth"),
    [
        (ModelSpec(name="mlp", width=10, depth=3), 10, 3),
        (ModelSpec(name="mlp", widths=(5, 7)), 12, 2),
        (ModelSpec(name="vgg11", width_mult=0.25), 0.25, 8 + 2 + 1),
        (ModelSpec(name="resnet32"), 1.0, 32),
        (ModelSpec(name="custom", factory="m.py:f"), None, None),
    ],
)
def test_width_and_depth_per_family(spec: ModelSpec, width: float | None, depth: int | None) -> None:
    f = factors_of(TrainConfig(model=spec), epoch=2, sample_size=7)
    assert (f["width"], f["depth"]) == (width, depth)
    assert set(FACTOR_KEYS) <= set(f)
    assert model_depth(TrainConfig(model=spec)) == depth
    assert family_of(f["model"]) == spec.family


def test_factor_meaning_only_when_every_run_agrees() -> None:
    assert factor_meaning("width", ["mlp"]) == "hidden units"
    assert factor_meaning("depth", ["vgg16", "resnet20"]) == "weight layers"
    assert factor_meaning("width", ["mlp", "resnet20"]) is None
    assert factor_meaning("epoch", ["mlp"]) is None


def _payload(config: TrainConfig) -> dict[str, object]:
    idx = np.arange(5)
    return make_payload(
        config=config,
        epoch=3,
        state_dict={},
        train_indices=idx,
        val_indices=idx,
        train_labels=idx,
        noisy_indices=idx[:0],
        history=[],
        metrics={},
        input_shape=(64,),
        n_classes=10,
    )


def test_checkpoint_stores_factors_and_reads_them_back(tmp_path: Path) -> None:
    config = TrainConfig(model=ModelSpec(width=12, depth=2), seed=4)
    path = write_checkpoint(tmp_path / "a.pt", _payload(config))
    ckpt = load_checkpoint(path)
    assert ckpt.stored_factors == factors_of(config, epoch=3, sample_size=5)
    # stored factors win over recomputing them: a checkpoint from elsewhere keeps its own
    payload = _payload(config)
    payload["factors"] = '{"width": 99}'
    ckpt = load_checkpoint(write_checkpoint(tmp_path / "b.pt", payload))
    assert ckpt.factors() == {"width": 99}


def test_checkpoint_without_factors_computes_them(tmp_path: Path) -> None:
    config = TrainConfig(model=ModelSpec(name="resnet20", width_mult=0.5))
    payload = _payload(config)
    del payload["factors"]
    ckpt = load_checkpoint(write_checkpoint(tmp_path / "old.pt", payload))
    assert ckpt.stored_factors is None
    assert ckpt.factors()["width"] == 0.5
    assert ckpt.factors()["depth"] == 20
