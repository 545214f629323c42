"""Operator-level sites: every ReLU spelling, bit-exact against hand-written forward passes that take signs.

Each hand-written forward below repeats the model's float32 operations in the same order and
collects ``pre > 0`` of every pre-activation, so bits must be equal, not close.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from actcode.codes import unpack_bits
from actcode.config import ModelSpec
from actcode.extraction import DynamicSitesError, NoSitesError, extract_model, find_sites
from actcode.extraction.recorder import OpRecorder, SiteRecorder
from actcode.io import open_codes
from actcode.models import build_model


def randomize_bn(model: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                assert m.running_mean is not None
                assert m.running_var is not None
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)


def file_bits(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    with open_codes(path) as cf:
        bits = unpack_bits(cf.codes("test"), cf.layers).astype(bool)
        return bits, [layer.name for layer in cf.layers], [layer.kind for layer in cf.layers]


def signs(pres: list[torch.Tensor]) -> np.ndarray:
    return torch.cat([(p > 0).reshape(p.shape[0], -1) for p in pres], 1).numpy()


def extract(model: nn.Module, x: torch.Tensor, path: Path, **kw: object) -> Path:
    y = torch.zeros(len(x), dtype=torch.int64)
    return extract_model(model, {"test": (x, y)}, path, device="cpu", batch_size=16, **kw)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# the "pytorch-cifar" ResNet (kuangliu style): F.relu everywhere, in forward


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    def __init__(self, blocks: tuple[int, ...] = (1, 1, 1), width: int = 8, n_classes: int = 10) -> None:
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers = []
        for i, n in enumerate(blocks):
            layers.append(self._make_layer(width * 2**i, n, 1 if i == 0 else 2))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(width * 4, n_classes)

    def _make_layer(self, planes: int, n: int, stride: int) -> nn.Sequential:
        out = []
        for s in [stride] + [1] * (n - 1):
            out.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        logits: torch.Tensor = self.linear(out)
        return logits


def cifar_resnet_signs(m: CifarResNet, x: torch.Tensor) -> tuple[np.ndarray, list[str]]:
    """The same operations, by hand, taking the sign of every pre-activation."""
    pres, names = [], []
    with torch.inference_mode():
        pre = m.bn1(m.conv1(x))
        pres.append(pre.clone())
        names.append("(root):relu#0")
        out = pre.clamp(min=0)
        for lname in ("layer1", "layer2", "layer3"):
            for i, blk in enumerate(getattr(m, lname)):
                p1 = blk.bn1(blk.conv1(out))
                h = torch.maximum(p1, torch.zeros_like(p1))
                p2 = blk.bn2(blk.conv2(h)) + blk.shortcut(out)
                pres += [p1, p2]
                names += [f"{lname}.{i}:relu#0", f"{lname}.{i}:relu#1"]
                out = torch.maximum(p2, torch.zeros_like(p2))
    return signs(pres), names


def test_pytorch_cifar_resnet_with_functional_relu_is_bit_exact(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = CifarResNet(blocks=(2, 1, 1))
    randomize_bn(model, 1)
    x = torch.randn(40, 3, 16, 16)
    bits, names, kinds = file_bits(extract(model, x, tmp_path / "r.h5"))
    want, want_names = cifar_resnet_signs(model.eval(), x)
    assert names == want_names
    assert set(kinds) == {"relu"}
    assert bits.shape == want.shape
    assert bits.mean() not in (0.0, 1.0)
    np.testing.assert_array_equal(bits, want)


# ----------------------------------------------------------------------------------------------
# one block, every spelling


class Spellings(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 9), nn.Linear(9, 9), nn.Linear(9, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.fc1(x))  # torch.relu
        b = self.fc2(a).relu()  # Tensor.relu
        c = self.fc2(b) - 0.05
        F.relu(c, inplace=True)  # in place: the bit must be read before the write
        d = (self.fc2(c) + 0.1).clamp(min=0)  # clamp(min=0)
        e = F.relu6(self.fc2(d))  # clipped: NOT a site
        out: torch.Tensor = self.fc3(torch.maximum(e, torch.zeros(())))  # maximum: not caught (documented)
        return out


def spellings_signs(m: Spellings, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        p1 = m.fc1(x)
        p2 = m.fc2(p1.clamp(min=0))
        p3 = m.fc2(p2.clamp(min=0)) - 0.05
        p4 = m.fc2(p3.clamp(min=0)) + 0.1
    return signs([p1, p2, p3, p4])


def test_every_spelling_in_one_block_is_a_site_and_bit_exact(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = Spellings()
    x = torch.randn(50, 6)
    bits, names, kinds = file_bits(extract(model, x, tmp_path / "s.h5"))
    assert names == ["(root):relu#0", "(root):relu#1", "(root):relu#2", "(root):clamp#0"]
    assert kinds == ["relu", "relu", "relu", "clamp"]
    np.testing.assert_array_equal(bits, spellings_signs(model, x))


class LeakyInPlace(nn.Module):
    """F.leaky_relu in place with a NEGATIVE slope: the output's sign is the opposite of the input's."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(5, 12), nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        F.leaky_relu(h, -0.5, inplace=True)
        out: torch.Tensor = self.fc2(h)
        return out


def test_inplace_leaky_relu_with_negative_slope_reads_the_input(tmp_path: Path) -> None:
    torch.manual_seed(4)
    model = LeakyInPlace()
    x = torch.randn(60, 5)
    bits, names, _ = file_bits(extract(model, x, tmp_path / "l.h5"))
    assert names == ["(root):leaky_relu#0"]
    with torch.inference_mode():
        pre = model.fc1(x)
    want = signs([pre])
    np.testing.assert_array_equal(bits, want)
    with torch.inference_mode():  # reading the written tensor instead would give all ones
        out = F.leaky_relu(pre.clone(), -0.5)
    assert (out > 0).all()
    assert 0.2 < want.mean() < 0.8


class ScriptedInner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(7, 10)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc(x))
        out: torch.Tensor = self.act(h - 0.2)
        return out


class WithScripted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated, still used
            self.inner = torch.jit.script(ScriptedInner())
        self.out = nn.Linear(10, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.out(F.relu(self.inner(x) - 0.1))
        return out


def test_torchscript_submodule_ops_are_caught_and_charged_to_it(tmp_path: Path) -> None:
    torch.manual_seed(5)
    model = WithScripted()
    x = torch.randn(45, 7)
    bits, names, _ = file_bits(extract(model, x, tmp_path / "j.h5"))
    # inside TorchScript no Python hook runs: both ReLUs are charged to the scripted module
    assert names == ["inner:relu#0", "inner:relu#1", "(root):relu#0"]
    fc = model.inner.fc
    with torch.inference_mode():
        p1 = F.linear(x, fc.weight, fc.bias)
        p2 = p1.clamp(min=0) - 0.2
        p3 = p2.clamp(min=0) - 0.1
    np.testing.assert_array_equal(bits, signs([p1, p2, p3]))


# ----------------------------------------------------------------------------------------------
# torchvision models that use F.relu(inplace=True), checked through their own layers


def bn_outputs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Every BatchNorm2d output, in call order, cloned before the in-place ReLU that follows it."""
    seen: list[tuple[str, torch.Tensor]] = []
    handles = []
    for path, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):

            def hook(_m: nn.Module, _a: object, out: torch.Tensor, path: str = path) -> None:
                seen.append((path, out.clone()))

            handles.append(m.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def test_torchvision_inception_v3_bit_exact_against_its_own_layers(tmp_path: Path) -> None:
    """BasicConv2d is conv -> bn -> F.relu(inplace=True): the bits are the signs of the bn outputs."""
    from torchvision.models import inception_v3

    torch.manual_seed(6)
    model = inception_v3(weights=None, aux_logits=False, init_weights=False).eval()
    randomize_bn(model, 2)
    x = torch.randn(3, 3, 75, 75)
    bits, names, kinds = file_bits(extract_model(model, {"test": x}, tmp_path / "i.h5", device="cpu"))
    pres = bn_outputs(model, x)
    assert names == [f"{p.removesuffix('.bn')}:relu#0" for p, _ in pres]
    assert len(names) == 94
    assert set(kinds) == {"relu"}
    np.testing.assert_array_equal(bits, signs([t for _, t in pres]))


def test_torchvision_densenet121_bit_exact_against_its_own_layers(tmp_path: Path) -> None:
    """Each norm is followed by its ReLU module; the last (norm5) by F.relu(inplace=True) in forward."""
    from torchvision.models import densenet121

    torch.manual_seed(7)
    model = densenet121(weights=None).eval()
    randomize_bn(model, 3)
    x = torch.randn(2, 3, 32, 32)
    bits, names, kinds = file_bits(extract_model(model, {"test": x}, tmp_path / "d.h5", device="cpu"))
    pres = bn_outputs(model, x)

    def site(bn_path: str) -> str:
        if bn_path == "features.norm5":
            return "(root):relu#0"
        return bn_path.replace("norm", "relu")

    assert names == [site(p) for p, _ in pres]
    assert len(names) == 1 + 2 * 58 + 3 + 1
    assert kinds[-1] == "relu"
    assert set(kinds[:-1]) == {"ReLU"}
    np.testing.assert_array_equal(bits, signs([t for _, t in pres]))


# ----------------------------------------------------------------------------------------------
# compatibility with module-only models, errors


def _golden_models() -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    relu = nn.ReLU(inplace=True)

    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(1, 4, 3, padding=1)
            self.c2 = nn.Conv2d(4, 4, 3, padding=1)
            self.relu = relu
            self.act2 = nn.LeakyReLU(0.1, inplace=True)
            self.p = nn.PReLU(4)
            self.fc = nn.Linear(4 * 8 * 8, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.relu(self.c1(x))
            y = self.relu(self.c2(y) + y)
            y = self.p(self.act2(y))
            out: torch.Tensor = self.fc(y.flatten(1))
            return out

    out: list[tuple[str, nn.Module, tuple[int, ...]]] = [("shared", Shared(), (1, 8, 8))]
    torch.manual_seed(1)
    out.append(("mlp", build_model(ModelSpec(width=60, depth=3, bn=True), (1, 8, 8), 10), (1, 8, 8)))
    torch.manual_seed(2)
    out.append(
        ("resnet20", build_model(ModelSpec(name="resnet20", width_mult=0.25), (3, 16, 16), 10), (3, 16, 16))
    )
    return out


#: sha256 over (layer table as JSON, code bytes) of the three models below, computed with the
#: release before operator-level capture (main at c7492c5), by the same procedure.
GOLDEN_DIGEST = "0f0b58a7a409a4cc802d69f67103e38f4bdeb896b4651da62962a8c77b1c3acb"


@pytest.mark.parametrize("sites", ["ops", "modules"])
def test_module_models_are_byte_identical_to_the_previous_release(tmp_path: Path, sites: str) -> None:
    h = hashlib.sha256()
    for name, model, shape in _golden_models():
        x = torch.randn(37, *shape, generator=torch.Generator().manual_seed(7))
        p = extract_model(
            model,
            {"test": (x, torch.zeros(37, dtype=torch.int64))},
            tmp_path / f"{name}-{sites}.h5",
            device="cpu",
            batch_size=16,
            sites=sites,
        )
        with open_codes(p) as cf:
            table = [(la.name, la.kind, list(la.shape), la.byte_offset, la.call_index) for la in cf.layers]
            h.update(json.dumps(table).encode())
            h.update(cf.codes("test").tobytes())
    assert h.hexdigest() == GOLDEN_DIGEST


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_dispatch_recorder_equals_module_hooks_on_module_models(backend: str) -> None:
    """Forced through the operator path, module models give the same bytes as through module hooks."""
    for _, model, shape in _golden_models():
        model.eval()
        x = torch.randn(21, *shape, generator=torch.Generator().manual_seed(9))
        sites = find_sites(model, x[:2], mode="ops")
        assert [s.name for s in sites] == [s.name for s in find_sites(model, x[:2], mode="modules")]
        out = []
        recorders = (
            SiteRecorder(model, sites, backend=backend),
            OpRecorder(model, sites, sites, backend=backend),
        )
        for rec in recorders:
            with torch.inference_mode(), rec:
                rec.begin(21, torch.device("cpu"))
                rec.forward(x.clone())
                out.append(rec.packed())
        np.testing.assert_array_equal(out[0], out[1])


def test_gelu_and_silu_only_model_names_its_activations() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 8), nn.SiLU(), nn.Linear(8, 2))
    with pytest.raises(NoSitesError) as exc:
        find_sites(model, torch.zeros(2, 4), mode="ops")
    text = str(exc.value)
    assert "gelu x1 (first in '1')" in text
    assert "silu x1 (first in '3')" in text
    assert "\n" not in text


def test_functional_data_dependent_sequence_is_refused(tmp_path: Path) -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = F.relu(self.fc(x))
            return F.relu(h - 1) if float(x.sum()) > 0 else h

    x = torch.cat([torch.ones(2, 3), -torch.ones(2, 3)])
    with pytest.raises(DynamicSitesError, match=r"'\(root\):relu' ran 1 time\(s\), expected 2"):
        extract_model(Branchy(), {"test": x}, tmp_path / "b.h5", device="cpu", batch_size=2)
    assert not (tmp_path / "b.h5").exists()


def test_layers_selects_op_sites_and_unselected_ones_are_still_counted(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = Spellings()
    x = torch.randn(30, 6)
    bits, names, _ = file_bits(extract(model, x, tmp_path / "s.h5", layers="*clamp*,0"))
    assert names == ["(root):relu#0", "(root):clamp#0"]
    np.testing.assert_array_equal(bits, spellings_signs(model, x)[:, [*range(9), *range(27, 36)]])
