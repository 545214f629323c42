"""Tests of actcode.models: the width split, layer order, BN/dropout switches, CNN presets, user factories."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.fx
from torch import nn

from actcode.config import ModelSpec, normalize_factory_spec, split_width
from actcode.errors import ActcodeFileNotFoundError, InvalidParameterError
from actcode.models import MLP, build_model
from actcode.models.resnet import BasicBlock
from actcode.models.vgg import PLANS

ACT_TYPES = (nn.ReLU, nn.LeakyReLU, nn.PReLU)


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Tiny models run fastest on one thread (and do not fight other tests for the cores)."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


def activation_calls(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Names of the activation modules in call order (a module called twice appears twice)."""
    calls: list[str] = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=name: calls.append(n))
        for name, m in model.named_modules()
        if isinstance(m, ACT_TYPES)
    ]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return calls


def hidden_linear_widths(model: nn.Module) -> list[int]:
    return [m.out_features for m in model.modules() if isinstance(m, nn.Linear)][:-1]


# ----------------------------------------------------------------------------- MLP


@pytest.mark.parametrize(
    ("width", "depth", "expected"),
    [(64, 1, [64]), (10, 3, [4, 3, 3]), (50, 5, [10] * 5), (7, 7, [1] * 7), (1000, 3, [334, 333, 333])],
)
def test_width_is_split_over_layers(width: int, depth: int, expected: list[int]) -> None:
    assert list(split_width(width, depth)) == expected
    model = build_model(ModelSpec(width=width, depth=depth), (1, 8, 8), 10)
    assert hidden_linear_widths(model) == expected
    assert sum(hidden_linear_widths(model)) == width


def test_explicit_widths_override_width_and_depth() -> None:
    model = build_model(ModelSpec(width=3, depth=1, widths=(256, 128)), (64,), 5)
    assert hidden_linear_widths(model) == [256, 128]
    assert model.fc1.in_features == 64
    assert model.out.out_features == 5


def test_width_smaller_than_depth_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="cannot be split over --depth 3"):
        build_model(ModelSpec(width=2, depth=3), (4,), 2)
    with pytest.raises(InvalidParameterError, match="--width must be at least 1"):
        build_model(ModelSpec(width=0), (4,), 2)


def test_mlp_layer_order_bn_before_activation() -> None:
    m = build_model(ModelSpec(width=6, depth=2, dropout=0.25), (1, 8, 8), 10)
    assert [n for n, _ in m.named_children()] == [
        "flatten", "fc1", "bn1", "relu1", "dropout1", "fc2", "bn2", "relu2", "dropout2", "out",
    ]  # fmt: skip
    assert isinstance(m.bn1, nn.BatchNorm1d)
    assert m.bn1.num_features == 3
    assert all(d.p == 0.25 for d in m.modules() if isinstance(d, nn.Dropout))


def test_bn_and_dropout_switches() -> None:
    plain = build_model(ModelSpec(width=8, depth=2, bn=False), (4,), 3)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())  # MLP default dropout is 0
    full = build_model(ModelSpec(width=8, depth=2, bn=True, dropout=0.5), (4,), 3)
    assert sum(isinstance(m, nn.BatchNorm1d) for m in full.modules()) == 2
    assert sum(isinstance(m, nn.Dropout) for m in full.modules()) == 2


@pytest.mark.parametrize(
    ("name", "cls"), [("relu", nn.ReLU), ("leaky_relu", nn.LeakyReLU), ("prelu", nn.PReLU)]
)
def test_activation_choice(name: str, cls: type[nn.Module]) -> None:
    m = build_model(ModelSpec(width=12, depth=2, activation=name), (4,), 3)
    acts = [a for a in m.modules() if isinstance(a, ACT_TYPES)]
    assert len(acts) == 2
    assert all(type(a) is cls for a in acts)
    if name == "prelu":
        assert acts[0].weight.numel() == 6  # one slope per unit
    assert activation_calls(m, torch.zeros(2, 4)) == [f"{name}1", f"{name}2"]
    with pytest.raises(InvalidParameterError, match="--activation must be one of"):
        build_model(ModelSpec(activation="tanh"), (4,), 3)


def test_mlp_flattens_images() -> None:
    m = MLP((3, 4, 4), 7, [5])
    assert m(torch.zeros(2, 3, 4, 4)).shape == (2, 7)


# ----------------------------------------------------------------------------- VGG


@pytest.mark.parametrize(("name", "n_conv"), [("vgg11", 8), ("vgg13", 10), ("vgg16", 13), ("vgg19", 16)])
def test_vgg_presets(name: str, n_conv: int) -> None:
    m = build_model(ModelSpec(name=name, width_mult=0.125, fc=(16, 16)), (3, 32, 32), 10)
    convs = [c for c in m.modules() if isinstance(c, nn.Conv2d)]
    assert len(convs) == n_conv
    assert [c.out_channels for c in convs] == [max(1, round(p * 0.125)) for p in PLANS[name] if p != "M"]
    assert sum(isinstance(p, nn.MaxPool2d) for p in m.modules()) == 5  # 32 -> 1
    calls = activation_calls(m, torch.zeros(2, 3, 32, 32))
    assert len(calls) == n_conv + 2
    assert len(set(calls)) == len(calls)


def test_vgg16_is_the_papers_layout() -> None:
    m = build_model(ModelSpec(name="vgg16"), (3, 32, 32), 10)
    fcs = [x for x in m.classifier if isinstance(x, nn.Linear)]
    assert [f.out_features for f in fcs] == [512, 512, 10]
    assert [type(x).__name__ for x in m.classifier] == [
        "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear",
    ]  # fmt: skip
    assert all(d.p == 0.5 for d in m.modules() if isinstance(d, nn.Dropout))
    assert sum(isinstance(x, nn.BatchNorm2d) for x in m.modules()) == 13
    assert m.feature_shape == (512, 1, 1)


def test_vgg_on_digits_skips_pools_that_would_vanish() -> None:
    m = build_model(ModelSpec(name="vgg16", width_mult=0.0625, fc=(8, 8)), (1, 8, 8), 10)
    assert sum(isinstance(p, nn.MaxPool2d) for p in m.modules()) == 3  # 8 -> 4 -> 2 -> 1
    assert m.feature_shape[1:] == (1, 1)
    assert m(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


def test_vgg_custom_plan_width_mult_and_no_bn() -> None:
    spec = ModelSpec(name="vgg", plan=(8, "M", 16, "M"), fc=(32,), width_mult=2.0, bn=False, dropout=0.0)
    m = build_model(spec, (1, 8, 8), 4)
    assert [c.out_channels for c in m.modules() if isinstance(c, nn.Conv2d)] == [16, 32]
    assert not any(isinstance(x, nn.BatchNorm2d | nn.BatchNorm1d | nn.Dropout) for x in m.modules())
    assert m.classifier.fc1.in_features == 32 * 2 * 2
    assert m.classifier.fc1.out_features == 64
    with pytest.raises(InvalidParameterError, match="--plan"):
        build_model(ModelSpec(name="vgg"), (1, 8, 8), 4)


def test_cnn_needs_images() -> None:
    with pytest.raises(InvalidParameterError, match=r"need image inputs of shape \(C, H, W\)"):
        build_model(ModelSpec(name="vgg11"), (64,), 10)
    with pytest.raises(InvalidParameterError, match=r"need image inputs"):
        build_model(ModelSpec(name="resnet20"), (64,), 10)


# ----------------------------------------------------------------------------- ResNet


@pytest.mark.parametrize(
    ("name", "blocks", "planes"),
    [
        ("resnet20", 9, [16, 32, 64]),
        ("resnet32", 15, [16, 32, 64]),
        ("resnet56", 27, [16, 32, 64]),
        ("resnet18", 8, [64, 128, 256, 512]),
    ],
)
def test_resnet_presets(name: str, blocks: int, planes: list[int]) -> None:
    m = build_model(ModelSpec(name=name, width_mult=0.25), (3, 32, 32), 10)
    bbs = [b for b in m.modules() if isinstance(b, BasicBlock)]
    assert len(bbs) == blocks
    stage_planes = [getattr(m, f"layer{k}")[0].conv1.out_channels for k in range(1, len(planes) + 1)]
    assert stage_planes == [round(p * 0.25) for p in planes]
    assert not any(isinstance(x, nn.MaxPool2d) for x in m.modules())
    calls = activation_calls(m, torch.zeros(2, 3, 32, 32))
    # the stem relu once, each block's single relu module twice (like torchvision)
    assert len(calls) == 1 + 2 * blocks
    assert len(set(calls)) == 1 + blocks
    assert calls[1:3] == ["layer1.0.relu", "layer1.0.relu"]


def test_resnet_small_inputs_and_no_bn() -> None:
    m = build_model(ModelSpec(name="resnet18", width_mult=0.125, bn=False), (1, 8, 8), 10)
    assert not any(isinstance(x, nn.BatchNorm2d) for x in m.modules())
    assert m(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("name", ["mlp", "vgg11", "resnet20"])
def test_no_functional_activations(name: str) -> None:
    """Every ReLU-like op is a module call, so hooks see all of them (no F.relu in forward)."""
    m = build_model(ModelSpec(name=name, width=8, width_mult=0.125, fc=(8, 8)), (1, 8, 8), 10)
    graph = torch.fx.symbolic_trace(m).graph
    functional = {
        torch.relu,
        torch.nn.functional.relu,
        torch.nn.functional.leaky_relu,
        torch.nn.functional.prelu,
    }
    assert not [n for n in graph.nodes if n.op in ("call_function", "call_method") and n.target in functional]
    assert any(n.op == "call_module" and "relu" in str(n.target) for n in graph.nodes)


# ----------------------------------------------------------------------------- custom


FACTORIES = """
import torch.nn as nn

def good(input_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(int(__import__("math").prod(input_shape)), 6), nn.ReLU(),
                         nn.Linear(6, n_classes))

def raises(input_shape, n_classes):
    raise RuntimeError("the factory is broken")

def not_a_module(input_shape, n_classes):
    return {"layers": 3}
"""


@pytest.fixture
def factory_file(tmp_path: Path) -> Path:
    p = tmp_path / "user_nets.py"
    p.write_text(FACTORIES)
    return p


def test_custom_factory_from_file(factory_file: Path) -> None:
    m = build_model(ModelSpec(name="custom", factory=f"{factory_file}:good"), (1, 8, 8), 4)
    assert m(torch.zeros(2, 1, 8, 8)).shape == (2, 4)


def test_custom_factory_from_module() -> None:
    """``package.module:factory`` imports an installed module by name."""
    spec = ModelSpec(name="custom", factory="tests_factory_module:make")
    import sys
    import types

    mod = types.ModuleType("tests_factory_module")
    mod.make = lambda input_shape, n_classes: nn.Linear(input_shape[0], n_classes)  # type: ignore[attr-defined]
    sys.modules["tests_factory_module"] = mod
    try:
        assert build_model(spec, (5,), 2).out_features == 2
    finally:
        del sys.modules["tests_factory_module"]


def test_custom_factory_errors(factory_file: Path) -> None:
    with pytest.raises(InvalidParameterError, match="raised RuntimeError: the factory is broken"):
        build_model(ModelSpec(name="custom", factory=f"{factory_file}:raises"), (4,), 2)
    with pytest.raises(InvalidParameterError, match="returned a dict, not a torch.nn.Module"):
        build_model(ModelSpec(name="custom", factory=f"{factory_file}:not_a_module"), (4,), 2)
    with pytest.raises(InvalidParameterError, match="has no callable named 'missing'"):
        build_model(ModelSpec(name="custom", factory=f"{factory_file}:missing"), (4,), 2)
    with pytest.raises(ActcodeFileNotFoundError, match="nope.py"):
        build_model(ModelSpec(name="custom", factory=f"{factory_file.parent}/nope.py:good"), (4,), 2)
    with pytest.raises(InvalidParameterError, match="importing the model module"):
        build_model(ModelSpec(name="custom", factory="no_such_package_xyz.nets:make"), (4,), 2)
    with pytest.raises(InvalidParameterError, match="not a factory spec"):
        build_model(ModelSpec(name="custom", factory="justaname"), (4,), 2)


def test_factory_spec_is_made_absolute(factory_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(factory_file.parent)
    assert normalize_factory_spec("user_nets.py:good") == f"{factory_file.resolve()}:good"
    assert normalize_factory_spec("pkg.mod:make") == "pkg.mod:make"
