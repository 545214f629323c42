"""Tests of actcode.training and actcode.config: each factor's effect, determinism, schedules, names."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from actcode.checkpoints import load_checkpoint
from actcode.config import ModelSpec, TrainConfig
from actcode.data import DataSpec, load_dataset
from actcode.errors import InvalidParameterError, UntrustedCodeError
from actcode.models import build_model
from actcode.training import EpochReport, apply_label_noise, checkpoint_name, make_selection, train
from actcode.training.optim import lr_at

DIGITS = load_dataset(DataSpec())
N_FIT = DIGITS.n_fit  # 1150


def cfg(tmp_path: Path, **kw: object) -> TrainConfig:
    model = kw.pop("model", ModelSpec(width=8))
    kw.setdefault("threads", 1)
    return TrainConfig(model=model, epochs=kw.pop("epochs", 1), out=str(tmp_path), device="cpu", **kw)  # type: ignore[arg-type]


def run(config: TrainConfig) -> tuple[list[Path], list[EpochReport], list[tuple[int, int, int]]]:
    reports: list[EpochReport] = []
    batches: list[tuple[int, int, int]] = []
    paths = train(config, on_epoch=reports.append, on_batch=lambda *a: batches.append(a), dataset=DIGITS)
    return paths, reports, batches


def weights_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ----------------------------------------------------------------------------- checkpoints per epoch


def test_default_saves_last_epoch_only(tmp_path: Path) -> None:
    paths, reports, _ = run(cfg(tmp_path, epochs=2))
    assert [p.name[-8:] for p in paths] == ["e0002.pt"]
    assert sorted(tmp_path.iterdir()) == paths  # no temp files left behind
    assert [r.epoch for r in reports] == [0, 1, 2]
    assert reports[-1].checkpoint == paths[0]


def test_save_at_paths_in_epoch_order_written_before_callback(tmp_path: Path) -> None:
    seen: list[tuple[int, bool]] = []

    def on_epoch(r: EpochReport) -> None:
        if r.checkpoint is not None:
            seen.append((r.epoch, r.checkpoint.is_file()))

    paths = train(cfg(tmp_path, epochs=3, save_at=(3, 0, 1)), on_epoch=on_epoch, dataset=DIGITS)
    assert [load_checkpoint(p).epoch for p in paths] == [0, 1, 3]
    assert seen == [(0, True), (1, True), (3, True)]
    hist = load_checkpoint(paths[-1]).history
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3]
    assert set(hist[1]) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    }


def test_epoch0_is_the_initialisation(tmp_path: Path) -> None:
    spec = ModelSpec(width=12, depth=2, dropout=0.2)
    paths, _, _ = run(cfg(tmp_path, model=spec, epochs=1, save_at=(0, 1), seed=7))
    torch.manual_seed(7)
    init = build_model(spec, (1, 8, 8), 10).state_dict()
    assert weights_equal(load_checkpoint(paths[0]).state_dict, init)
    assert not weights_equal(load_checkpoint(paths[1]).state_dict, init)


def test_same_seed_same_weights_other_seed_differs(tmp_path: Path) -> None:
    spec = ModelSpec(width=16, depth=2, dropout=0.3)
    a = load_checkpoint(run(cfg(tmp_path / "a", model=spec, epochs=2, seed=3))[0][-1])
    b = load_checkpoint(run(cfg(tmp_path / "b", model=spec, epochs=2, seed=3))[0][-1])
    c = load_checkpoint(run(cfg(tmp_path / "c", model=spec, epochs=2, seed=4))[0][-1])
    assert weights_equal(a.state_dict, b.state_dict)
    assert not weights_equal(a.state_dict, c.state_dict)


def test_global_state_is_restored(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    run(cfg(tmp_path))
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det


# ----------------------------------------------------------------------------- sample size and tiling


def test_sample_size_sets_subset_and_epoch_length(tmp_path: Path) -> None:
    paths, reports, batches = run(cfg(tmp_path, sample_size=100, batch_size=32))
    ck = load_checkpoint(paths[-1])
    np.testing.assert_array_equal(ck.train_indices, np.arange(100))  # the paper's first n
    assert reports[-1].epoch_length == 100
    assert [b for b in batches] == [(1, 1, 4), (1, 2, 4), (1, 3, 4), (1, 4, 4)]  # ceil(100 / 32)


def test_tile_repeats_the_subset_to_keep_epoch_length(tmp_path: Path) -> None:
    _, reports, batches = run(cfg(tmp_path, sample_size=100, tile=True, batch_size=50))
    assert reports[-1].n_train == 100
    assert reports[-1].epoch_length == 100 * (N_FIT // 100) == 1100
    assert len(batches) == 22


def test_tiled_epoch_shows_each_example_equally_often() -> None:
    sel = make_selection(DIGITS, TrainConfig(sample_size=7, tile=True))
    perm = torch.randperm(sel.epoch_length, generator=torch.Generator().manual_seed(0)) % sel.n
    assert torch.bincount(perm).tolist() == [N_FIT // 7] * 7


def test_sample_orders() -> None:
    y = DIGITS.y_train[:N_FIT]
    strat = make_selection(DIGITS, TrainConfig(sample_size=100, sample_order="stratified"))
    counts = np.bincount(y[strat.train_indices], minlength=10)
    expected = np.bincount(y, minlength=10) * 100 / N_FIT
    assert counts.sum() == 100
    assert np.all(np.abs(counts - expected) < 1)
    r1 = make_selection(DIGITS, TrainConfig(sample_size=50, sample_order="random", seed=1)).train_indices
    r1b = make_selection(DIGITS, TrainConfig(sample_size=50, sample_order="random", seed=1)).train_indices
    r2 = make_selection(DIGITS, TrainConfig(sample_size=50, sample_order="random", seed=2)).train_indices
    assert np.array_equal(r1, r1b)
    assert not np.array_equal(r1, r2)
    assert len(set(r1.tolist())) == 50
    assert np.all(np.diff(r1) > 0)
    assert r1.max() < N_FIT


def test_validation_is_the_last_20_percent() -> None:
    sel = make_selection(DIGITS, TrainConfig())
    np.testing.assert_array_equal(sel.train_indices, np.arange(N_FIT))
    np.testing.assert_array_equal(sel.val_indices, np.arange(N_FIT, DIGITS.n_train))


def test_sample_size_larger_than_training_part(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"--sample-size must be in \[1, 1150\]"):
        run(cfg(tmp_path, sample_size=N_FIT + 1))


def test_single_example_epoch_with_bn_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="BatchNorm"):
        run(cfg(tmp_path, sample_size=1))
    run(cfg(tmp_path, sample_size=1, tile=True))  # tiling makes it trainable


# ----------------------------------------------------------------------------- label noise


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_uniform_noise_changes_exactly_round_pn_labels(p: float) -> None:
    sel = make_selection(DIGITS, TrainConfig(label_noise=p, noise_mode="uniform", seed=5))
    clean = DIGITS.y_train[sel.train_indices]
    changed = np.flatnonzero(sel.train_labels != clean)
    assert len(changed) == math.floor(p * N_FIT + 0.5)
    np.testing.assert_array_equal(sel.noisy_indices, sel.train_indices[changed])
    assert sel.train_labels.min() >= 0
    assert sel.train_labels.max() < 10


def test_permute_noise_keeps_class_counts() -> None:
    sel = make_selection(DIGITS, TrainConfig(label_noise=0.4, noise_mode="permute", seed=5))
    clean = DIGITS.y_train[sel.train_indices]
    k = math.floor(0.4 * N_FIT + 0.5)
    n_changed = int((sel.train_labels != clean).sum())
    assert 0.8 * k < n_changed <= k  # a permuted label may land on its own class by chance
    np.testing.assert_array_equal(
        np.bincount(sel.train_labels, minlength=10), np.bincount(clean, minlength=10)
    )


def test_noise_is_reproducible_by_seed() -> None:
    a = make_selection(DIGITS, TrainConfig(label_noise=0.2, seed=1))
    b = make_selection(DIGITS, TrainConfig(label_noise=0.2, seed=1))
    c = make_selection(DIGITS, TrainConfig(label_noise=0.2, seed=2))
    assert np.array_equal(a.train_labels, b.train_labels)
    assert np.array_equal(a.noisy_indices, b.noisy_indices)
    assert not np.array_equal(a.noisy_indices, c.noisy_indices)


def test_apply_label_noise_small() -> None:
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    new, changed = apply_label_noise(y, 0.5, "uniform", 5, np.random.default_rng(0))
    assert len(changed) == 5
    assert np.all(new[changed] != y[changed])
    mask = np.ones(10, bool)
    mask[changed] = False
    assert np.array_equal(new[mask], y[mask])


def test_noisy_labels_are_trained_on_and_recorded(tmp_path: Path) -> None:
    paths, _, _ = run(cfg(tmp_path, label_noise=0.3, noise_mode="uniform", sample_size=200, seed=2))
    ck = load_checkpoint(paths[-1])
    clean = DIGITS.y_train[ck.train_indices]
    assert len(ck.noisy_indices) == 60
    np.testing.assert_array_equal(ck.train_indices[ck.train_labels != clean], ck.noisy_indices)
    # the eval-mode train metrics are measured against the labels used in training
    model = ck.build_model()
    with torch.no_grad():
        pred = model(torch.from_numpy(DIGITS.x_train[ck.train_indices])).argmax(1).numpy()
    assert ck.metrics["train_accuracy"] == pytest.approx(float((pred == ck.train_labels).mean()))


# ----------------------------------------------------------------------------- regularisation, optimisation


def test_weight_decay_changes_the_update(tmp_path: Path) -> None:
    """One SGD step (no momentum): w1(wd) - w1(0) == -lr * wd * w0 on weights, biases untouched."""
    spec = ModelSpec(width=10, bn=False)
    common = dict(
        model=spec, optimizer="sgd", momentum=0.0, lr=0.1, sample_size=64, batch_size=64, save_at=(0, 1)
    )
    p0 = run(cfg(tmp_path / "a", weight_decay=0.0, **common))[0]
    p1 = run(cfg(tmp_path / "b", weight_decay=0.5, **common))[0]
    w0 = load_checkpoint(p0[0]).state_dict
    a, b = load_checkpoint(p0[1]).state_dict, load_checkpoint(p1[1]).state_dict
    for name in ("fc1.weight", "out.weight"):
        torch.testing.assert_close(b[name] - a[name], -0.1 * 0.5 * w0[name], rtol=0, atol=1e-6)
    for name in ("fc1.bias", "out.bias"):
        assert torch.equal(a[name], b[name])


def test_bn_and_dropout_reach_the_trained_model(tmp_path: Path) -> None:
    with_both = load_checkpoint(
        run(cfg(tmp_path / "a", model=ModelSpec(width=8, dropout=0.5)))[0][-1]
    ).build_model()
    neither = load_checkpoint(
        run(cfg(tmp_path / "b", model=ModelSpec(width=8, bn=False)))[0][-1]
    ).build_model()
    assert any(isinstance(m, nn.BatchNorm1d) for m in with_both.modules())
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in with_both.modules())
    assert not any(isinstance(m, nn.BatchNorm1d | nn.Dropout) for m in neither.modules())


def test_metrics_are_eval_mode(tmp_path: Path) -> None:
    paths, _, _ = run(cfg(tmp_path, model=ModelSpec(width=32, dropout=0.5), epochs=2))
    ck = load_checkpoint(paths[-1])
    model = ck.build_model()
    assert not model.training
    with torch.no_grad():
        logits = model(torch.from_numpy(DIGITS.x_test))
    y = torch.from_numpy(DIGITS.y_test)
    assert ck.metrics["test_accuracy"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert ck.metrics["test_loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-5)
    assert ck.metrics["test_accuracy"] > 0.5


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("step", [0.4, 0.2, 0.1, 0.05]),
        ("none", [0.4] * 4),
        ("cosine", [0.4, 0.4 * (0.5 + 0.5 * math.cos(math.pi / 4))]),
    ],
)
def test_lr_schedule(schedule: str, expected: list[float]) -> None:
    c = TrainConfig(lr=0.4, lr_schedule=schedule, lr_step=1, lr_gamma=0.5, epochs=4)
    assert [lr_at(c, e) for e in range(1, len(expected) + 1)] == pytest.approx(expected)


def test_paper_step_schedule_and_history_lr(tmp_path: Path) -> None:
    c = TrainConfig(lr=1e-2, epochs=60)
    assert [lr_at(c, e) for e in (1, 20, 21, 40, 41)] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4])
    paths, _, _ = run(cfg(tmp_path, epochs=3, lr=0.01, lr_step=2, sample_size=64))
    assert [h["lr"] for h in load_checkpoint(paths[-1]).history[1:]] == pytest.approx([0.01, 0.01, 0.001])


def test_early_stopping_on_training_loss(tmp_path: Path) -> None:
    paths, reports, _ = run(cfg(tmp_path, epochs=40, early_stop=1, save_at=(0, 40), lr=0.05, sample_size=256))
    last = reports[-1]
    assert last.stopped_early
    assert last.epoch < 40
    losses = [r.record["train_loss"] for r in reports[1:]]
    assert losses[-1] >= min(losses[:-1])  # patience 1: the last epoch did not improve
    # the model where it stopped replaces the save-at epoch it never reached
    assert [load_checkpoint(p).epoch for p in paths] == [0, last.epoch]


def test_early_stopping_rule_is_kerass(tmp_path: Path) -> None:
    """The run stops at the first epoch whose loss is not below the best of the preceding ones."""
    paths, reports, _ = run(cfg(tmp_path, epochs=40, early_stop=2, lr=0.05, sample_size=256))
    losses = [r.record["train_loss"] for r in reports[1:]]
    best, wait, stop = math.inf, 0, None
    for i, loss in enumerate(losses, start=1):
        best, wait = (loss, 0) if loss < best else (best, wait + 1)
        if wait >= 2:
            stop = i
            break
    assert stop == reports[-1].epoch == load_checkpoint(paths[-1]).epoch


def test_sgd_and_adam_differ(tmp_path: Path) -> None:
    a = load_checkpoint(run(cfg(tmp_path / "a", optimizer="adam"))[0][-1]).state_dict
    s = load_checkpoint(run(cfg(tmp_path / "s", optimizer="sgd"))[0][-1]).state_dict
    assert not weights_equal(a, s)


# ----------------------------------------------------------------------------- other models and data


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(name="vgg11", width_mult=0.0625, fc=(16, 16)),
        ModelSpec(name="resnet20", width_mult=0.25),
        ModelSpec(width=9, depth=3, activation="prelu"),
        ModelSpec(widths=(12, 6), activation="leaky_relu"),
    ],
)
def test_other_models_train(tmp_path: Path, spec: ModelSpec) -> None:
    paths, reports, _ = run(cfg(tmp_path, model=spec, sample_size=256, epochs=3, save_at=(0, 3)))
    ck = load_checkpoint(paths[-1])
    assert ck.config.model == spec
    assert reports[3].record["train_loss"] < reports[1].record["train_loss"]  # it learns
    assert not weights_equal(ck.state_dict, load_checkpoint(paths[0]).state_dict)
    assert type(ck.build_model()).__name__ == type(build_model(spec, (1, 8, 8), 10)).__name__


def test_custom_factory_run_records_the_spec(tmp_path: Path) -> None:
    f = tmp_path / "net.py"
    f.write_text(
        "import torch.nn as nn\ndef make(input_shape, n_classes):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, 7), nn.ReLU(), nn.Linear(7, n_classes))\n"
    )
    spec = ModelSpec(name="custom", factory=f"{f}:make")
    paths, _, _ = run(cfg(tmp_path / "out", model=spec))
    ck = load_checkpoint(paths[-1])
    assert ck.config.model.factory == f"{f}:make"
    assert paths[-1].name.startswith("digits-custom_make-n1150-")
    assert ck.factors()["model"] == f"{f}:make"
    assert ck.factors()["width"] is None
    with pytest.raises(UntrustedCodeError, match="runs a file's code only when you name it"):
        ck.build_model()  # the recorded factory is not run unless named or trusted
    assert isinstance(ck.build_model(factory=f"{f}:make")[1], nn.Linear)  # type: ignore[index]
    assert isinstance(ck.build_model(trust_code=True)[1], nn.Linear)  # type: ignore[index]


def test_custom_model_with_wrong_output_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "net.py"
    f.write_text("import torch.nn as nn\ndef make(input_shape, n_classes):\n    return nn.Flatten()\n")
    with pytest.raises(InvalidParameterError, match=r"must return logits of shape \(batch, 10\)"):
        run(cfg(tmp_path, model=ModelSpec(name="custom", factory=f"{f}:make")))


def test_trains_on_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "tab.npz", x_train=x[:150], y_train=y[:150], x_test=x[150:], y_test=y[150:])
    c = dataclasses.replace(cfg(tmp_path / "o", epochs=20), data=DataSpec(str(tmp_path / "tab.npz")))
    paths = train(c)
    ck = load_checkpoint(paths[-1])
    assert paths[-1].name.startswith("tab-mlp-w8-d1-n120-")
    assert ck.input_shape == (6,)
    assert ck.metrics["test_accuracy"] > 0.8


# ----------------------------------------------------------------------------- config and names


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"model": ModelSpec(width=0)}, "--width must be at least 1"),
        ({"model": ModelSpec(depth=0)}, "--depth"),
        ({"model": ModelSpec(dropout=1.0)}, "--dropout"),
        ({"model": ModelSpec(name="lenet")}, "--model must be one of"),
        ({"model": ModelSpec(name="vgg11", width_mult=0)}, "--width-mult"),
        ({"epochs": 5, "save_at": (0, 6)}, r"outside \[0, --epochs 5\]"),
        ({"save_at": (-1,)}, "--save-at"),
        ({"label_noise": 1.01}, r"--label-noise must be a fraction in \[0, 1\]"),
        ({"label_noise": -0.1}, "--label-noise"),
        ({"label_noise": float("nan")}, "--label-noise"),
        ({"noise_mode": "flip"}, "--noise-mode"),
        ({"sample_size": 0}, "--sample-size"),
        ({"sample_order": "last"}, "--sample-order"),
        ({"lr": 0.0}, "--lr must be a learning rate > 0"),
        ({"batch_size": 0}, "--batch-size"),
        ({"weight_decay": -1.0}, "--weight-decay"),
        ({"optimizer": "lbfgs"}, "--optimizer"),
        ({"lr_schedule": "exp"}, "--lr-schedule"),
        ({"early_stop": -1}, "--early-stop"),
        ({"device": "tpu"}, "--device"),
        ({"epochs": -1}, "--epochs"),
        ({"data": DataSpec("nope")}, "unknown dataset 'nope'"),
    ],
)
def test_config_validation(change: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        dataclasses.replace(TrainConfig(), **change).validate()  # type: ignore[arg-type]


def test_config_json_round_trip() -> None:
    c = TrainConfig(
        data=DataSpec("mnist", root="/data", download=True),
        model=ModelSpec(name="vgg", plan=(8, "M", 16), fc=(32,), dropout=0.1),
        save_at=(0, 5),
        sample_size=30,
        label_noise=0.2,
    )
    d = json.loads(json.dumps(c.to_dict()))
    assert TrainConfig.from_dict(d) == c
    with pytest.raises(InvalidParameterError, match="unknown train config key"):
        TrainConfig.from_dict({**d, "colour": "red"})


def test_checkpoint_names_are_unique_over_a_grid() -> None:
    base = TrainConfig()
    variants = [
        base,
        dataclasses.replace(base, model=ModelSpec(width=32)),
        dataclasses.replace(base, model=ModelSpec(width=64, depth=2)),
        dataclasses.replace(base, model=ModelSpec(widths=(32, 32))),
        dataclasses.replace(base, model=ModelSpec(bn=False)),
        dataclasses.replace(base, model=ModelSpec(dropout=0.1)),
        dataclasses.replace(base, model=ModelSpec(activation="prelu")),
        dataclasses.replace(base, weight_decay=1e-6),
        dataclasses.replace(base, label_noise=0.1),
        dataclasses.replace(base, label_noise=0.1, noise_mode="uniform"),
        dataclasses.replace(base, seed=1),
        dataclasses.replace(base, lr=1e-3),
        dataclasses.replace(base, optimizer="sgd"),
        dataclasses.replace(base, sample_size=500),
        dataclasses.replace(base, sample_size=500, sample_order="random"),
        dataclasses.replace(base, tile=True),
        dataclasses.replace(base, batch_size=128),
    ]
    names = [checkpoint_name(v, n=100, epoch=3) for v in variants]
    assert len(set(names)) == len(names)
    assert names[7].startswith("digits-mlp-w64-d1-n100-wd0.000001-do0-ln0-bn1-s0-")
    # where the run is written and which epochs are kept do not change the trajectory or the name
    same = dataclasses.replace(base, out="elsewhere", save_at=(0, 3), threads=2)
    assert checkpoint_name(same, n=100, epoch=3) == names[0]
    # nor does an option the run ignores: without a sample size every order selects all examples
    ignored = dataclasses.replace(base, sample_order="random")
    assert checkpoint_name(ignored, n=100, epoch=3) == names[0]
