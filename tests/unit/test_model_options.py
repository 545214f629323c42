"""Options that do not shape the chosen model are refused; the run hash covers only what shapes the run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actcode.config import ModelSpec, TrainConfig
from actcode.errors import InvalidParameterError
from actcode.train_options import train_config


@pytest.mark.parametrize(
    ("options", "text"),
    [
        (
            {"model": "vgg11", "width": 128},
            "--width does not apply to --model vgg11 (a CNN's width is --width-mult)",
        ),
        ({"model": "resnet20", "depth": 3}, "--depth does not apply to --model resnet20"),
        ({"model": "resnet20", "dropout": 0.2}, "--dropout does not apply to --model resnet20"),
        ({"model": "resnet20", "fc": "16,16"}, "--fc does not apply to --model resnet20"),
        ({"model": "mlp", "width_mult": 0.5}, "--width-mult does not apply to --model mlp"),
        ({"model": "mlp", "plan": "8,M"}, "--plan does not apply to --model mlp"),
        ({"widths": "8,4", "width": 32}, "--width does not apply to --model mlp (--widths sets every layer"),
        ({"widths": "8,4", "depth": 2}, "--depth does not apply to --model mlp"),
        ({"model": "net.py:make", "bn": False}, "--bn does not apply to --model net.py:make"),
    ],
)
def test_options_that_do_not_apply_are_refused(options: dict[str, object], text: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        train_config(options)
    assert str(info.value).startswith(text)


def test_options_at_their_default_are_accepted_and_change_nothing() -> None:
    plain = train_config({"model": "vgg11"})
    assert train_config({"model": "vgg11", "width": 64, "depth": 1}).run_hash() == plain.run_hash()
    assert train_config({"widths": "8,4", "width": 64}).model.widths == (8, 4)


def test_the_hash_ignores_fields_the_family_does_not_use() -> None:
    def h(**kw: object) -> str:
        return TrainConfig(model=ModelSpec(**kw)).run_hash()  # type: ignore[arg-type]

    assert h(name="vgg11", width=128) == h(name="vgg11") == h(name="vgg11", width=64)
    assert h(name="resnet20", dropout=0.3, fc=(8,)) == h(name="resnet20")
    assert h(widths=(8, 4), width=32, depth=3) == h(widths=(8, 4))
    assert h(width_mult=0.5) == h()
    # an explicit default dropout or preset plan builds the same network
    assert h(dropout=0.0) == h()
    assert h(name="vgg16", dropout=0.5) == h(name="vgg16")
    assert h(name="vgg11", plan=(64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")) == h(
        name="vgg11"
    )
    # what shapes the network still tells runs apart
    assert h(name="vgg11", width_mult=0.5) != h(name="vgg11")
    assert h(width=32) != h()
    assert h(widths=(8, 4)) != h(widths=(8, 5))
    assert h(dropout=0.1) != h()


def test_the_cli_refuses_with_one_line() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "actcode", "train", "--model", "vgg11", "--width", "128", "--epochs", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 5, res.stderr
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("actcode train: error: --width does not apply to --model vgg11")


@pytest.mark.parametrize(
    ("ignored", "in_effect"),
    [
        ({"momentum": 0.5}, {"optimizer": "sgd"}),
        ({"lr_step": 5, "lr_gamma": 0.5}, {"lr_schedule": "step"}),
        ({"noise_mode": "random"}, {"label_noise": 0.2}),
        ({"sample_order": "random"}, {"sample_size": 100}),
    ],
)
def test_the_hash_ignores_training_options_the_run_does_not_use(
    ignored: dict[str, object], in_effect: dict[str, object]
) -> None:
    def h(**kw: object) -> str:
        return TrainConfig(**kw).run_hash()  # type: ignore[arg-type]

    off = {"optimizer": "adam", "lr_schedule": "cosine"}  # the defaults use step; adam ignores momentum
    assert h(**off, **ignored) == h(**off)
    on = {**off, **in_effect}
    assert h(**on, **ignored) != h(**on)


def test_the_hash_of_a_run_at_the_defaults_is_unchanged() -> None:
    # pinned before ignored training options were hashed at their defaults
    assert TrainConfig().run_hash() == TrainConfig().run_hash(16)
    assert TrainConfig().run_hash(8) == "2753d9ae"  # old checkpoint names keep their identity
    assert TrainConfig().run_hash().startswith("2753d9ae")
    assert len(TrainConfig().run_hash()) == 16
