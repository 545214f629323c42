"""actcode.extraction: codes against hand-written forward passes, sites, selection, splits, file contents."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from actcode.codes import unpack_bits
from actcode.errors import InvalidParameterError
from actcode.extraction import (
    ArrayInputs,
    DynamicSitesError,
    FunctionalActivationError,
    ModelInputError,
    NoSitesError,
    RandomInputs,
    SplitInputs,
    dataset_splits,
    extract,
    extract_codes,
    extract_model,
    find_sites,
    select_sites,
)
from actcode.io import CodeWriter, make_provenance, open_codes, validate

# ----------------------------------------------------------------------------------------------
# test-local networks (the hand-written forward passes below mirror them exactly)


def randomize_bn(model: nn.Module, seed: int) -> None:
    """Give every BatchNorm non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)


class MLPBN(nn.Module):
    """Flatten -> (Linear -> BatchNorm1d -> ReLU) x 2 -> Linear; widths 13 and 7 (not multiples of 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.fc1, self.bn1, self.relu1 = nn.Linear(64, 13), nn.BatchNorm1d(13), nn.ReLU()
        self.fc2, self.bn2, self.relu2 = nn.Linear(13, 7), nn.BatchNorm1d(7), nn.ReLU()
        self.out = nn.Linear(7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu1(self.bn1(self.fc1(self.flatten(x))))
        out: torch.Tensor = self.out(self.relu2(self.bn2(self.fc2(h))))
        return out


class SmallVGG(nn.Module):
    """(conv3x3 -> BN -> ReLU) x 2 -> maxpool -> FC -> ReLU -> FC, for (1, 8, 8) inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu1 = (
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(inplace=True),
        )
        self.conv2, self.bn2, self.relu2 = (
            nn.Conv2d(4, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.MaxPool2d(2)
        self.fc1, self.relu3 = nn.Linear(6 * 4 * 4, 11), nn.ReLU()
        self.out = nn.Linear(11, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.pool(self.relu2(self.bn2(self.conv2(x))))
        out: torch.Tensor = self.out(self.relu3(self.fc1(torch.flatten(x, 1))))
        return out


class LeakyNet(nn.Module):
    """In-place LeakyReLU with a NEGATIVE slope, in-place ReLU, PReLU with negative slopes, LeakyReLU(0)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.act1 = nn.Linear(10, 12), nn.LeakyReLU(-0.5, inplace=True)
        self.fc2, self.act2 = nn.Linear(12, 9), nn.ReLU(inplace=True)
        self.fc3, self.act3 = nn.Linear(9, 11), nn.PReLU(11, init=-0.3)
        self.fc4, self.act4 = nn.Linear(11, 5), nn.LeakyReLU(0.0, inplace=True)
        self.out = nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.fc2(self.act1(self.fc1(x))))
        out: torch.Tensor = self.out(self.act4(self.fc4(self.act3(self.fc3(x)))))
        return out


def bn64(h: torch.Tensor, bn: nn.Module) -> torch.Tensor:
    """BatchNorm in eval mode, written out, in float64, for (N, C) or (N, C, H, W)."""
    shape = (1, -1) + (1,) * (h.ndim - 2)
    mean, var = bn.running_mean.double().view(shape), bn.running_var.double().view(shape)
    w, b = bn.weight.double().view(shape), bn.bias.double().view(shape)
    return (h - mean) / torch.sqrt(var + bn.eps) * w + b


def mlp_pre64(m: MLPBN, x: torch.Tensor) -> list[torch.Tensor]:
    h = x.double().flatten(1)
    p1 = bn64(h @ m.fc1.weight.double().T + m.fc1.bias.double(), m.bn1)
    p2 = bn64(p1.clamp(min=0) @ m.fc2.weight.double().T + m.fc2.bias.double(), m.bn2)
    return [p1, p2]


def vgg_pre64(m: SmallVGG, x: torch.Tensor) -> list[torch.Tensor]:
    p1 = bn64(F.conv2d(x.double(), m.conv1.weight.double(), m.conv1.bias.double(), padding=1), m.bn1)
    p2 = bn64(F.conv2d(p1.clamp(min=0), m.conv2.weight.double(), m.conv2.bias.double(), padding=1), m.bn2)
    h = F.max_pool2d(p2.clamp(min=0), 2).flatten(1)
    p3 = h @ m.fc1.weight.double().T + m.fc1.bias.double()
    return [p1, p2, p3]


def file_bits(path: Path, split: str) -> tuple[np.ndarray, list[str]]:
    with open_codes(path) as cf:
        return unpack_bits(cf.codes(split), cf.layers).astype(bool), [layer.name for layer in cf.layers]


def assert_bits_match(bits: np.ndarray, pres: list[torch.Tensor], *, band: float = 0.0) -> None:
    """Every bit equals ``pre > 0``; with ``band`` > 0 (a float64 reference), units whose reference
    pre-activation lies within ``band`` of zero, where float32 rounding may decide the sign, are the
    only ones allowed to differ, and must be rare."""
    pre = torch.cat([p.reshape(p.shape[0], -1) for p in pres], 1).numpy()
    assert bits.shape == pre.shape
    diff = bits != (pre > 0)
    if band == 0.0:
        assert not diff.any(), f"{int(diff.sum())} of {diff.size} bits differ"
        return
    near = np.abs(pre) <= band
    assert not (diff & ~near).any(), f"{int((diff & ~near).sum())} bits differ away from zero"
    assert near.mean() < 1e-3


# ----------------------------------------------------------------------------------------------
# codes against independent recomputation


def test_mlp_with_batchnorm_codes_match_hand_forward(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MLPBN()
    randomize_bn(model, 1)
    x = torch.rand(300, 1, 8, 8)
    y = torch.randint(0, 10, (300,))
    path = extract_model(model, {"test": (x, y)}, tmp_path / "mlp.h5", device="cpu", batch_size=64)
    bits, names = file_bits(path, "test")
    assert names == ["relu1", "relu2"]
    with torch.no_grad():
        pres = mlp_pre64(model, x)
    assert_bits_match(bits, pres, band=1e-5)
    assert 0 < bits.mean() < 1


def test_vgg_codes_match_hand_forward(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = SmallVGG()
    randomize_bn(model, 3)
    x = torch.rand(64, 1, 8, 8)
    path = extract_model(model, {"test": x}, tmp_path / "vgg.h5", device="cpu", batch_size=20)
    bits, names = file_bits(path, "test")
    assert names == ["relu1", "relu2", "relu3"]
    with open_codes(path) as cf:
        assert [layer.shape for layer in cf.layers] == [(4, 8, 8), (6, 8, 8), (11,)]
    with torch.no_grad():
        pres = vgg_pre64(model, x)
    assert_bits_match(bits, pres, band=1e-5)


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    """torchvision's ResNet-18 (each BasicBlock calls its one in-place ``relu`` twice), BN randomised."""
    import torchvision

    torch.manual_seed(4)
    model = torchvision.models.resnet18(num_classes=10)
    randomize_bn(model, 5)
    return model.eval()


def test_torchvision_resnet18_shared_relu_codes_match_hand_forward(
    resnet18: nn.Module, tmp_path: Path
) -> None:
    model = resnet18
    x = torch.rand(3, 3, 32, 32)
    path = extract_model(model, {"test": x}, tmp_path / "r18.h5", device="cpu")
    bits, names = file_bits(path, "test")
    blocks = [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    assert names == ["relu"] + [f"{b}.relu#{k}" for b in blocks for k in (0, 1)]
    # Hand-wired forward: the same conv/BN modules (no hooks), each ReLU input computed explicitly.
    pres: list[torch.Tensor] = []
    with torch.inference_mode():
        c = model.bn1(model.conv1(x))
        pres.append(c)
        h = model.maxpool(c.clamp(min=0))
        for b in blocks:
            blk = getattr(model, b.split(".")[0])[int(b.split(".")[1])]
            a = blk.bn1(blk.conv1(h))
            pres.append(a)
            o = blk.bn2(blk.conv2(a.clamp(min=0)))
            o = o + (h if blk.downsample is None else blk.downsample(h))
            pres.append(o)
            h = o.clamp(min=0)
    assert_bits_match(bits, pres)  # same float32 ops: exact, bit for bit


def test_inplace_relu_and_negative_slope_leaky_and_prelu(tmp_path: Path) -> None:
    torch.manual_seed(6)
    model = LeakyNet()
    x = torch.randn(200, 10)
    path = extract_model(model, {"test": x}, tmp_path / "leaky.h5", device="cpu", batch_size=33)
    bits, names = file_bits(path, "test")
    assert names == ["act1", "act2", "act3", "act4"]
    with torch.no_grad():
        p1 = F.linear(x, model.fc1.weight, model.fc1.bias)
        h1 = torch.where(p1 > 0, p1, -0.5 * p1)
        p2 = F.linear(h1, model.fc2.weight, model.fc2.bias)
        p3 = F.linear(p2.clamp(min=0), model.fc3.weight, model.fc3.bias)
        h3 = torch.where(p3 > 0, p3, model.act3.weight * p3)
        p4 = F.linear(h3, model.fc4.weight, model.fc4.bias)
    assert_bits_match(bits, [p1, p2, p3, p4])
    # the test discriminates: the outputs' signs are NOT the codes for these activations
    assert ((h1 > 0).numpy() != (p1 > 0).numpy()).any()
    assert ((h3 > 0).numpy() != (p3 > 0).numpy()).any()


@pytest.mark.parametrize("layers", [None, "layer1.0.relu#1,layer3.*"])
def test_torch_and_numpy_packing_paths_give_the_same_bytes(
    resnet18: nn.Module, tmp_path: Path, layers: str | None
) -> None:
    x = torch.rand(5, 3, 32, 32)
    paths = {
        b: extract_model(resnet18, {"t": x}, tmp_path / f"{b}.h5", device="cpu", layers=layers, backend=b)
        for b in ("numpy", "torch")
    }
    with open_codes(paths["numpy"]) as a, open_codes(paths["torch"]) as b:
        assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
        np.testing.assert_array_equal(a.codes("t"), b.codes("t"))
    leaky: dict[str, Path] = {}
    torch.manual_seed(0)
    net = LeakyNet()
    x2 = torch.randn(9, 10)
    for b in ("numpy", "torch"):
        leaky[b] = extract_model(net, {"t": x2}, tmp_path / f"l{b}.h5", device="cpu", backend=b)
    with open_codes(leaky["numpy"]) as a, open_codes(leaky["torch"]) as b:
        np.testing.assert_array_equal(a.codes("t"), b.codes("t"))


def test_codes_do_not_depend_on_batch_size_or_train_mode(tmp_path: Path) -> None:
    torch.manual_seed(7)
    model = MLPBN()
    randomize_bn(model, 8)
    model.train()
    x = torch.rand(23, 1, 8, 8)
    a = extract_model(model, {"test": x}, tmp_path / "a.h5", device="cpu", batch_size=1)
    b = extract_model(model, {"test": x}, tmp_path / "b.h5", device="cpu", batch_size=7)
    assert model.training  # mode restored
    with open_codes(a) as ca, open_codes(b) as cb:
        np.testing.assert_array_equal(ca.codes("test"), cb.codes("test"))
        np.testing.assert_array_equal(ca.predictions("test"), cb.predictions("test"))


def test_inplace_model_does_not_modify_the_inputs(tmp_path: Path) -> None:
    x = np.random.default_rng(15).standard_normal((30, 4)).astype(np.float32)
    before = x.copy()
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(4, 2))
    path = extract_model(model, {"test": x}, tmp_path / "i.h5", device="cpu", batch_size=8)
    np.testing.assert_array_equal(x, before)
    bits, _ = file_bits(path, "test")
    np.testing.assert_array_equal(bits, before > 0)


# ----------------------------------------------------------------------------------------------
# sites


def test_find_sites_names_calls_and_reads(resnet18: nn.Module) -> None:
    sites = find_sites(resnet18, torch.zeros(2, 3, 32, 32))
    assert len(sites) == 17
    s = sites[2]
    assert (s.name, s.module, s.call_index, s.module_calls, s.read) == (
        "layer1.0.relu#1",
        "layer1.0.relu",
        1,
        2,
        "output",
    )
    assert sites[0].name == "relu"
    assert sites[0].module_calls == 1
    leaky = find_sites(LeakyNet(), torch.zeros(2, 10))
    assert [(s.kind, s.read) for s in leaky] == [
        ("LeakyReLU", "input"), ("ReLU", "output"), ("PReLU", "input"), ("LeakyReLU", "input")
    ]  # fmt: skip


def test_actcode_resnet_gives_two_sites_per_block() -> None:
    from actcode.config import ModelSpec
    from actcode.models import build_model

    model = build_model(ModelSpec(name="resnet20", width_mult=0.25), (1, 8, 8), 10)
    sites = find_sites(model, torch.zeros(2, 1, 8, 8))
    assert len(sites) == 1 + 9 * 2
    assert [s.name for s in sites[:3]] == ["relu", "layer1.0.relu#0", "layer1.0.relu#1"]


class _Functional(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.relu = nn.ReLU()
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.fc(x))
        if self.how == "F.relu":
            return F.relu(x)
        if self.how == "method":
            return x.relu()
        if self.how == "inplace":
            return torch.relu_(x.clone())
        return F.leaky_relu(x, 0.1)


@pytest.mark.parametrize(
    ("how", "name"),
    [("F.relu", "relu()"), ("method", "relu()"), ("inplace", "relu_()"), ("leaky", "leaky_relu()")],
)
def test_functional_relu_is_refused_with_a_clear_message(how: str, name: str) -> None:
    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = _Functional(how)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.block(x)
            return out

    with pytest.raises(FunctionalActivationError) as exc:
        find_sites(Outer(), torch.zeros(2, 4))
    text = str(exc.value)
    assert f"{name} x1 in 'block' (_Functional)" in text
    assert "nn.ReLU" in text
    # explicitly allowed: only the module sites remain
    assert [s.name for s in find_sites(Outer(), torch.zeros(2, 4), check_functional=False)] == ["block.relu"]


def test_relu6_is_not_a_site(tmp_path: Path) -> None:
    with pytest.raises(NoSitesError, match="ReLU6/Hardtanh modules are not two-piece linear"):
        find_sites(nn.Sequential(nn.Linear(3, 4), nn.ReLU6()), torch.zeros(2, 3))
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU6())
    path = extract_model(model, {"test": torch.randn(5, 3)}, tmp_path / "r6.h5", device="cpu")
    with open_codes(path) as cf:
        assert [layer.name for layer in cf.layers] == ["1"]
        assert cf.provenance["extract"]["excluded_modules"] == ["3"]


def test_data_dependent_control_flow_is_detected(tmp_path: Path) -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.relu = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.relu(x)
            return self.relu(x - 1) if float(x.sum()) > 0 else x

    x = torch.cat([torch.ones(2, 3), -torch.ones(2, 3)])
    with pytest.raises(DynamicSitesError, match="'relu' ran 1 time"):
        extract_model(Branchy(), {"test": x}, tmp_path / "b.h5", device="cpu", batch_size=2)
    assert not (tmp_path / "b.h5").exists()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_activation_shape_change_between_batches_is_detected(tmp_path: Path, backend: str) -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    batches = [torch.rand(3, 1, 8, 8), torch.rand(3, 1, 6, 6)]  # a stream whose image size changes
    with pytest.raises(DynamicSitesError, match="activation shapes changed"):
        extract_model(model, {"t": batches}, tmp_path / "s.h5", device="cpu", backend=backend)
    assert not (tmp_path / "s.h5").exists()


def test_model_that_does_not_fit_the_inputs() -> None:
    with pytest.raises(ModelInputError, match=r"cannot run on inputs of shape \(2, 5\)"):
        find_sites(nn.Sequential(nn.Linear(4, 3), nn.ReLU()), torch.zeros(2, 5))
    assert issubclass(ModelInputError, InvalidParameterError)


def test_float64_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"model\.float\(\)"):
        extract_model(
            nn.Sequential(nn.Linear(2, 2), nn.ReLU()).double(), {"t": torch.zeros(2, 2)}, tmp_path / "x.h5"
        )


def test_tf32_off_during_extraction_and_restored(tmp_path: Path) -> None:
    seen: list[tuple[bool, bool, bool]] = []

    class Spy(nn.ReLU):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b = torch.backends
            seen.append((b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32, torch.is_inference_mode_enabled()))
            return super().forward(x)

    b = torch.backends
    before = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)
    b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = True, True
    try:
        path = extract_model(
            nn.Sequential(nn.Linear(3, 3), Spy()), {"t": torch.randn(4, 3)}, tmp_path / "s.h5"
        )
        assert (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32) == (True, True)
    finally:
        b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32 = before
    assert seen
    assert all(s == (False, False, True) for s in seen)
    with open_codes(path) as cf:
        ex = cf.provenance["extract"]
        assert (ex["dtype"], ex["allow_tf32"], ex["mode"], ex["inference_mode"]) == (
            "float32",
            False,
            "eval",
            True,
        )
        assert cf.provenance["environment"]["allow_tf32"] is False


# ----------------------------------------------------------------------------------------------
# layer selection


def test_layer_selection_gives_the_right_byte_and_bit_slices(tmp_path: Path) -> None:
    torch.manual_seed(9)
    model = SmallVGG()
    randomize_bn(model, 10)
    x = torch.rand(40, 1, 8, 8)
    full = extract_model(model, {"test": x}, tmp_path / "full.h5", device="cpu")
    with open_codes(full) as cf:
        codes, layers = cf.codes("test"), cf.layers
    bits = unpack_bits(codes, layers)
    starts = np.cumsum([0] + [layer.n_units for layer in layers])
    for sel, chosen in [
        ("relu2", [1]),
        ("-1", [2]),
        ("relu[13]", [0, 2]),
        ("0,relu3", [0, 2]),
        (["relu2", "2"], [1, 2]),
    ]:
        part = extract_model(model, {"test": x}, tmp_path / "part.h5", device="cpu", layers=sel)
        with open_codes(part) as cp:
            assert [layer.name for layer in cp.layers] == [layers[i].name for i in chosen]
            got = cp.codes("test")
            got_bits = unpack_bits(got, cp.layers)
        expected = np.concatenate([codes[:, layers[i].byte_offset : layers[i].byte_stop] for i in chosen], 1)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(
            got_bits, np.concatenate([bits[:, starts[i] : starts[i + 1]] for i in chosen], 1)
        )


def test_select_sites_errors_list_the_names() -> None:
    sites = find_sites(SmallVGG(), torch.zeros(2, 1, 8, 8))
    with pytest.raises(
        InvalidParameterError,
        match="no activation site matches 'fc9'. The model's sites are: relu1, relu2, relu3",
    ):
        select_sites(sites, "fc9")
    with pytest.raises(InvalidParameterError, match="index 3 is out of range"):
        select_sites(sites, "3")
    assert select_sites(sites, None) == sites
    assert [s.name for s in select_sites(sites, " relu3 , relu1 ")] == ["relu1", "relu3"]


# ----------------------------------------------------------------------------------------------
# random inputs, streams, lower-level API


def test_random_inputs_shape_range_and_seed() -> None:
    r = RandomInputs(1000, (3, 4, 5), (-2.0, 0.5), seed=11)
    x = torch.cat(list(r.blocks(64)))
    assert x.shape == (1000, 3, 4, 5)
    assert x.dtype == torch.float32
    assert float(x.min()) >= -2.0
    assert float(x.max()) < 0.5
    assert float(x.min()) < -1.9
    assert float(x.max()) > 0.4
    assert torch.equal(x, torch.cat(list(r.blocks(333))))  # independent of the batch size
    assert torch.equal(x[:10], r.head(10))
    assert not torch.equal(x, torch.cat(list(RandomInputs(1000, (3, 4, 5), (-2.0, 0.5), seed=12).blocks(64))))
    with pytest.raises(InvalidParameterError, match="--random"):
        RandomInputs(0, (2,), (0, 1))


def test_stream_of_batches_and_lower_level_writer_api(tmp_path: Path) -> None:
    torch.manual_seed(12)
    model = MLPBN().eval()
    x = torch.rand(50, 1, 8, 8)
    y = torch.randint(0, 10, (50,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=False)
    sites = find_sites(model, x[:2])
    path = tmp_path / "low.h5"
    with CodeWriter(path, [s.layer_info() for s in sites], make_provenance(command="test")) as w:
        res = extract_codes(model, loader, sites, w, "test", device="cpu")
    assert res.n_rows == 50
    validate(path)
    ref = extract_model(model, {"test": (x, y)}, tmp_path / "ref.h5", device="cpu")
    with open_codes(path) as a, open_codes(ref) as b:
        np.testing.assert_array_equal(a.codes("test"), b.codes("test"))
        np.testing.assert_array_equal(a.labels("test"), y.numpy())
        np.testing.assert_array_equal(a.indices("test"), np.arange(50))
        with torch.no_grad():
            logits = model(x)
        np.testing.assert_array_equal(a.predictions("test"), logits.argmax(1).numpy())
        info = a.split_info("test")
        assert info["loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)
        assert info["accuracy"] == pytest.approx(float((logits.argmax(1) == y).float().mean()))


# ----------------------------------------------------------------------------------------------
# redundancy ratio from the file alone


def test_redundancy_ratio_from_file_matches_in_memory_activations(tmp_path: Path) -> None:
    from actcode.data import DataSpec, load_dataset

    ds = load_dataset(DataSpec("digits"))
    torch.manual_seed(13)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 3), nn.ReLU(), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 10)
    )
    splits = {"train": (ds.x_train, ds.y_train), "test": (ds.x_test, ds.y_test)}
    path = extract_model(model, splits, tmp_path / "r.h5", device="cpu", batch_size=100)

    acts: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, o: acts.append(o.clone()))
        for m in model
        if isinstance(m, nn.ReLU)
    ]
    for split, (x, _) in splits.items():
        acts.clear()
        with torch.no_grad():
            model(torch.from_numpy(x))
        mem = torch.cat(acts, 1).numpy() > 0
        with h5py.File(path, "r") as f:
            codes = f[f"splits/{split}/codes"][()]
            offs, nbs, nus = (f[f"layers/{k}"][()] for k in ("byte_offset", "n_bytes", "n_units"))
        segs = [
            np.unpackbits(codes[:, o : o + b], axis=1, count=n)
            for o, b, n in zip(offs, nbs, nus, strict=True)
        ]
        from_file = np.concatenate(segs, 1)
        n = len(x)
        r_file = (n - len(np.unique(from_file, axis=0))) / n
        r_mem = (n - len(np.unique(mem, axis=0))) / n
        assert r_file == r_mem
        assert r_mem > 0  # a 7-unit code must collide on hundreds of digits
        for seg, lo, hi in [(segs[0], 0, 3), (segs[1], 3, 7)]:
            assert len(np.unique(seg, axis=0)) == len(np.unique(mem[:, lo:hi], axis=0))
    for h in hooks:
        h.remove()


# ----------------------------------------------------------------------------------------------
# checkpoints: the train split is exactly what was trained on


@pytest.fixture(scope="module")
def noisy_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from actcode.config import ModelSpec, TrainConfig
    from actcode.training import train

    out = tmp_path_factory.mktemp("ckpt")
    cfg = TrainConfig(
        model=ModelSpec(width=12, depth=2),
        epochs=1,
        sample_size=60,
        sample_order="random",
        tile=True,
        label_noise=0.3,
        out=str(out),
    )
    return train(cfg)[-1]


def test_train_split_is_exactly_the_checkpoints_examples(noisy_checkpoint: Path, tmp_path: Path) -> None:
    from actcode.checkpoints import load_checkpoint

    ckpt = load_checkpoint(noisy_checkpoint)
    ds = ckpt.dataset()
    out = extract(noisy_checkpoint, output=tmp_path / "c.h5", random=25, seed=3, device="cpu")
    validate(out)
    with open_codes(out) as cf:
        assert cf.splits == ["train", "test", "random"]
        idx = cf.indices("train")
        np.testing.assert_array_equal(idx, ckpt.train_indices)
        assert len(idx) == 60 == len(np.unique(idx))
        np.testing.assert_array_equal(cf.labels("train"), ds.y_train[idx])
        np.testing.assert_array_equal(cf.training_labels("train"), ckpt.train_labels)
        assert (cf.training_labels("train") != cf.labels("train")).any()  # the noise is visible
        np.testing.assert_array_equal(cf.indices("test"), np.arange(len(ds.y_test)))
        np.testing.assert_array_equal(cf.labels("test"), ds.y_test)
        # random split: documented shape, labels -1, the network's predictions
        assert cf.n_rows("random") == 25
        assert (cf.labels("random") == -1).all()
        assert ((cf.predictions("random") >= 0) & (cf.predictions("random") < 10)).all()
        p = cf.provenance
        assert p["factors"]["epoch"] == ckpt.epoch
        assert p["factors"]["sample_size"] == 60
        assert p["factors"]["label_noise"] == 0.3
        assert p["train"] == ckpt.config.to_dict()
        assert p["inputs"][0]["sha256"]
        assert p["command"] == "extract"
        info = p["extract"]["split_info"]["random"]
        assert (info["low"], info["high"], info["shape"], info["seed"]) == (0.0, 1.0, [1, 8, 8], 3)
        net = p["network"]
        assert net["test_accuracy"] == pytest.approx(ckpt.metrics["test_accuracy"], abs=1e-9)
        assert cf.split_info("test")["accuracy"] == net["test_accuracy"]
        assert "train_accuracy_training_labels" in net


def test_dataset_splits_drop_repeated_indices() -> None:
    from actcode.data import DataSpec, load_dataset

    ds = load_dataset(DataSpec("digits"))
    idx = np.array([7, 3, 7, 9, 3, 1])
    fit = np.array([0, 1, 0, 2, 1, 3])
    s = dataset_splits(ds, ["train"], train_indices=idx, train_labels=fit, with_training_labels=True)["train"]
    np.testing.assert_array_equal(s.indices, [7, 3, 9, 1])
    np.testing.assert_array_equal(s.training_labels, [0, 1, 2, 3])
    x = torch.cat([b[0] for b in s.batches(3)])
    np.testing.assert_array_equal(x.numpy(), ds.x_train[[7, 3, 9, 1]])


# ----------------------------------------------------------------------------------------------
# memory


def _vmrss() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    msg = "no VmRSS in /proc/self/status"
    raise AssertionError(msg)


def test_memory_stays_flat_as_rows_grow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sanity check (tests/benchmarks/bench_extract.py measures peak RSS for N vs 4N in subprocesses):
    once the first rows are through, resident memory does not grow with the rows extracted."""
    import actcode.extraction.run as run_mod

    monkeypatch.setattr(run_mod, "WRITE_BLOCK_BYTES", 256 << 10)  # several write cycles in a short run
    n, bs = 8000, 50
    torch.manual_seed(14)
    # cheap per unit: the ReLU acts on the (8, 64, 64) input itself, D = 8 * 64 * 64 = 32768 bits per row
    model = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    d = 8 * 64 * 64
    x = (
        torch.rand(64, 8, 64, 64) * 2 - 1
    )  # rows are served cyclically from these: the inputs take no memory per row
    samples: list[tuple[int, int]] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: one thread avoids contention on a busy machine
    try:
        extract_model(
            model,
            {"random": SplitInputs(ArrayInputs(x, np.arange(n) % len(x)), np.full(n, -1), np.arange(n))},
            tmp_path / "m.h5",
            device="cpu",
            batch_size=bs,
            compression=None,
            progress=lambda done, _total: samples.append((done, _vmrss())),
        )
    finally:
        torch.set_num_threads(threads)
    early = max(r for done, r in samples if done <= n // 4)
    late = max(r for done, r in samples if done > n // 4)
    unpacked_extra = (n - n // 4) * d  # bytes the later rows' bool codes would take if they were kept
    assert late - early < unpacked_extra / 4, (early >> 20, late >> 20, unpacked_extra >> 20)
    with open_codes(tmp_path / "m.h5") as cf:
        assert cf.n_rows("random") == n
        assert cf.n_units == d
