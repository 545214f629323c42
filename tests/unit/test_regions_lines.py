"""Exact walks (actcode.regions.walk) against closed forms and dense sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from actcode.extraction.recorder import SiteRecorder
from actcode.regions import NotPiecewiseAffineError, PieceRunner, WalkResult, walk_segments
from actcode.regions.lines import chord_pairs, make_segments


def _one_layer(d: int, n: int, seed: int, sigma_w: float = 1.0, sigma_b: float = 1.0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    first = nn.Linear(d, n)
    with torch.no_grad():
        first.weight.copy_(torch.randn(n, d, generator=g) * sigma_w / math.sqrt(d))
        first.bias.copy_(torch.randn(n, generator=g) * sigma_b)
    return nn.Sequential(first, nn.ReLU(), nn.Linear(n, 2)).double()


def tent_network(depth: int) -> nn.Module:
    """The tent map T(x) = 2 relu(x) - 4 relu(x - 1/2) composed ``depth`` times (2 ReLUs a layer)."""
    layers: list[nn.Module] = []
    for i in range(depth):
        lin = nn.Linear(1 if i == 0 else 2, 2)
        with torch.no_grad():
            lin.weight.copy_(
                torch.tensor([[1.0], [1.0]]) if i == 0 else torch.tensor([[2.0, -4.0], [2.0, -4.0]])
            )
            lin.bias.copy_(torch.tensor([0.0, -0.5]))
        layers += [lin, nn.ReLU()]
    out = nn.Linear(2, 1)
    with torch.no_grad():
        out.weight.copy_(torch.tensor([[2.0, -4.0]]))
        out.bias.zero_()
    return nn.Sequential(*layers, out).double()


def test_one_hidden_layer_count_is_one_plus_sign_changes() -> None:
    net = _one_layer(6, 40, seed=0)
    g = torch.Generator().manual_seed(1)
    x0, x1 = (
        torch.randn(64, 6, generator=g, dtype=torch.float64),
        torch.randn(64, 6, generator=g, dtype=torch.float64),
    )
    with PieceRunner(net, x0) as run:
        res = walk_segments(run, x0, x1 - x0, batch=16)
    first = next(net.children())
    assert isinstance(first, nn.Linear)
    w, b = first.weight, first.bias
    expected = ((x0 @ w.T + b > 0) != (x1 @ w.T + b > 0)).sum(dim=1).numpy() + 1
    np.testing.assert_array_equal(res.n_regions, expected)
    # each breakpoint flips exactly the unit whose zero it is, at t = -z0 / (z1 - z0)
    z0, z1 = (x0 @ w.T + b).detach().numpy(), (x1 @ w.T + b).detach().numpy()
    for i in range(res.t.size):
        (unit,) = res.flipped(i)
        s = res.segment[i]
        assert res.t[i] == pytest.approx(-z0[s, unit] / (z1[s, unit] - z0[s, unit]), abs=1e-8)
    assert res.bisections == 0


@pytest.mark.parametrize("depth", [1, 2, 3, 5, 8])
def test_tent_map_has_two_to_the_depth_regions(depth: int) -> None:
    net = tent_network(depth)
    with PieceRunner(net, torch.zeros(2, 1)) as run:
        res = walk_segments(
            run, torch.zeros(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
        )
    assert res.n_regions.tolist() == [2**depth]
    if depth >= 3:  # T∘T(1/2) = 0: later layers touch 0 at dyadic points without changing sign
        assert res.touches > 0
    np.testing.assert_allclose(res.t, np.arange(1, 2**depth) / 2**depth, atol=1e-9)


def test_gaussian_one_layer_mean_count_matches_the_closed_form() -> None:
    d, n, T, sigma_b = 12, 400, 3.0, 0.7
    rng = np.random.default_rng(0)
    counts = []
    for seed in range(4):
        net = _one_layer(d, n, seed=100 + seed, sigma_b=sigma_b)
        x0 = rng.standard_normal((4, d))
        u = rng.standard_normal((4, d))
        u -= (u * x0).sum(1, keepdims=True) / (x0 * x0).sum(1, keepdims=True) * x0  # x0 ⟂ u
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        with PieceRunner(net, torch.zeros(1, d)) as run:
            res = walk_segments(run, torch.as_tensor(x0), torch.as_tensor(u * T))
        s = np.sqrt((x0 * x0).sum(1) + d * sigma_b**2)
        counts.append(res.n_breakpoints / (n * np.arctan(T / s) / np.pi))  # ratio to the expected count
    ratio = np.concatenate(counts)
    se = ratio.std(ddof=1) / np.sqrt(ratio.size)
    assert abs(ratio.mean() - 1.0) < 4 * se + 1e-3


def _deep_net() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Linear(3, 12),
        nn.ReLU(),
        nn.Linear(12, 10),
        nn.LeakyReLU(0.1),
        nn.Linear(10, 8),
        nn.ReLU(),
        nn.Linear(8, 3),
    ).double()


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu(self.bn(self.conv(x)) + x)
        return out


def _cnn() -> nn.Module:
    torch.manual_seed(5)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), _Block(), nn.MaxPool2d(2),
        nn.Conv2d(4, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2),
    )  # fmt: skip
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None
            assert m.running_var is not None
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return net.double().eval()


def _sampled_codes(net: nn.Module, x0: torch.Tensor, u: torch.Tensor, steps: int) -> np.ndarray:
    from actcode.extraction.sites import find_sites

    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    pts = x0.unsqueeze(0) + t.reshape(-1, *([1] * x0.ndim)) * u.unsqueeze(0)
    sites = find_sites(net, pts[:2])
    with torch.inference_mode(), SiteRecorder(net, sites) as rec:
        rec.begin(steps, torch.device("cpu"))
        net(pts)
        return rec.packed()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_dense_sampling_never_exceeds_the_walk_and_matches_it_at_fine_steps(kind: str) -> None:
    net = _deep_net() if kind == "mlp" else _cnn()
    shape = (3,) if kind == "mlp" else (1, 6, 6)
    n = 3 if kind == "mlp" else 2
    g = torch.Generator().manual_seed(7 if kind == "mlp" else 8)
    x0 = torch.randn(n, *shape, generator=g, dtype=torch.float64) * 2
    u = torch.randn(n, *shape, generator=g, dtype=torch.float64) * (3 if kind == "mlp" else 0.5)
    with PieceRunner(net, x0) as run:
        res = walk_segments(run, x0, u)
        assert res.n_breakpoints.min() > 2
        for i in range(n):
            ts = np.concatenate([[0.0], res.t[res.segment == i], [1.0]])
            fine = int(max(2001, 8 / np.diff(ts).min()))  # >= 8 samples in the smallest region
            assert fine <= 20001  # segments chosen so that "fine enough" stays cheap
            for steps, exact in ((101, False), (fine, True)):
                codes = _sampled_codes(net, x0[i], u[i], steps)
                runs = 1 + int((codes[1:] != codes[:-1]).any(axis=1).sum())
                assert runs <= res.n_regions[i]
                if exact:
                    assert runs == res.n_regions[i]
            # the code between breakpoints (sampled at the midpoints) changes exactly at each one
            mids = torch.as_tensor((ts[1:] + ts[:-1]) / 2)
            pts = x0[i].unsqueeze(0) + mids.reshape(-1, *([1] * x0[i].ndim)) * u[i].unsqueeze(0)
            bits = run(pts, u[i].unsqueeze(0).expand(mids.numel(), *shape).unsqueeze(0)).bits.numpy()
            _check_flips(res, i, bits)


def _check_flips(res: WalkResult, i: int, bits: np.ndarray) -> None:
    """Between consecutive midpoints the code changes exactly in the bits the walk says flipped."""
    for k, bp in enumerate(np.flatnonzero(res.segment == i)):
        changed = np.flatnonzero(bits[k] != bits[k + 1])
        np.testing.assert_array_equal(changed, np.sort(res.flipped(int(bp))))


def test_walk_cost_is_about_two_evaluations_per_breakpoint() -> None:
    net = _deep_net()
    g = torch.Generator().manual_seed(2)
    x0, u = (
        torch.randn(32, 3, generator=g, dtype=torch.float64),
        torch.randn(32, 3, generator=g, dtype=torch.float64) * 6,
    )
    with PieceRunner(net, x0) as run:
        res = walk_segments(run, x0, u)
    assert res.points / res.n_breakpoints.sum() <= 3.0


def test_a_non_affine_network_is_refused() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sigmoid(), nn.Linear(4, 2)).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    with PieceRunner(net, x) as run, pytest.raises(NotPiecewiseAffineError, match="not affine"):
        run.check_affine(x, torch.randn(4, 3, dtype=torch.float64))


def test_chords_and_random_segments_follow_their_relation() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2, -1])
    rng = np.random.default_rng(0)
    same = chord_pairs(labels, 10, same=True, rng=rng)
    assert (labels[same[:, 0]] == labels[same[:, 1]]).all()
    assert (same[:, 0] != same[:, 1]).all()
    assert (labels[same] >= 0).all()
    x = torch.randn(7, 4)
    segs = {s.relation: s for s in make_segments(x, labels, n=5, radius=0.3, seed=1)}
    np.testing.assert_allclose(segs["random"].lengths, 0.3)
    mid = segs["random"].x0 + segs["random"].u / 2
    np.testing.assert_allclose(mid.numpy(), x[segs["random"].rows[:, 0]].double().numpy(), atol=1e-6)
    diff = segs["different"].rows
    assert (labels[diff[:, 0]] != labels[diff[:, 1]]).all()
