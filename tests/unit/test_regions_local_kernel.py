"""Local complexity and the NAS code kernels against closed forms and independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.extraction.sites import find_sites
from actcode.measures import measure_codes
from actcode.regions.kernel import code_kernel, kernel_rows, naswot_score
from actcode.regions.local import data_scale, local_complexity, local_rows, star_directions


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(10, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 3)
    ).double()


@pytest.mark.parametrize("radius", [0.05, 0.3])
def test_first_layer_local_complexity_matches_the_closed_form(radius: float) -> None:
    net = _net()
    x = torch.randn(40, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    sites = find_sites(net, x[:2])
    layers = layout_layers([s.layer_info() for s in sites])
    counts = local_complexity(net, sites, layers, x, radius=radius, directions=4, seed=3, batch=64)
    u = star_directions(40, 10, 4, np.random.default_rng(3))  # the same draw: one batch
    first = next(net.children())
    assert isinstance(first, nn.Linear)
    w, b = first.weight.detach().numpy(), first.bias.detach().numpy()
    z = x.numpy() @ w.T + b
    reach = radius * np.abs(np.einsum("npd,kd->npk", u, w)).max(axis=1)
    np.testing.assert_array_equal(counts[:, 0], (np.abs(z) < reach).sum(axis=1))
    assert counts[:, 1].sum() > 0


def test_local_complexity_vanishes_as_the_radius_shrinks() -> None:
    net = _net()
    x = torch.randn(30, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    sites = find_sites(net, x[:2])
    layers = layout_layers([s.layer_info() for s in sites])
    big = local_complexity(net, sites, layers, x, radius=1.0, directions=8).sum()
    tiny = local_complexity(net, sites, layers, x, radius=1e-12, directions=8).sum()
    assert big > 0
    assert tiny == 0
    rows = local_rows(np.array([[1, 2], [3, 4]]), ["a", "b"], [1])
    assert ("all", "local_complexity_mean", 5.0) in rows
    assert ("layer:b", "local_complexity_mean", 3.0) in rows


def test_star_directions_are_orthonormal_and_data_scale_is_rms() -> None:
    u = star_directions(5, 7, 3, np.random.default_rng(0))
    np.testing.assert_allclose(u @ np.swapaxes(u, 1, 2), np.broadcast_to(np.eye(3), (5, 3, 3)), atol=1e-12)
    x = np.random.default_rng(1).standard_normal((100, 4))
    assert data_scale(x) == pytest.approx(np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean()))


def _codes(bits: np.ndarray) -> tuple[np.ndarray, list[LayerInfo]]:
    layers = layout_layers([LayerInfo("a", "ReLU", (13,)), LayerInfo("b", "ReLU", (bits.shape[1] - 13,))])
    return pack_bits(bits, layers), layers


def test_packed_kernel_equals_the_unpacked_gram_matrix() -> None:
    c = (np.random.default_rng(0).random((30, 77)) < 0.4).astype(np.int64)
    packed, layers = _codes(c)
    k = code_kernel(packed, 77)
    np.testing.assert_array_equal(k, c @ c.T + (1 - c) @ (1 - c).T)
    seg = packed[:, layers[1].byte_offset : layers[1].byte_stop]
    cb = c[:, 13:]
    np.testing.assert_array_equal(code_kernel(seg, 64), cb @ cb.T + (1 - cb) @ (1 - cb).T)


def test_naswot_is_minus_infinity_exactly_when_codes_coincide() -> None:
    rng = np.random.default_rng(4)
    for trial in range(20):
        c = (rng.random((12, 200)) < 0.5).astype(np.int64)
        dup = trial % 2 == 0
        if dup:
            c[rng.integers(1, 12)] = c[0]
        packed, _ = _codes(c)
        score = naswot_score(code_kernel(packed, 200))
        full = np.linalg.matrix_rank(np.hstack([c, np.ones((12, 1))])) == 12
        assert full != dup  # D >> n: distinct random codes are independent
        assert np.isneginf(score) == dup
        if not dup:
            assert score == pytest.approx(np.linalg.slogdet((c @ c.T + (1 - c) @ (1 - c).T).astype(float))[1])


def test_kernel_rows_distinct_count_equals_measure() -> None:
    rng = np.random.default_rng(5)
    c = (rng.random((60, 20)) < 0.2).astype(np.int64)
    c[10:20] = c[0]
    packed, layers = _codes(c)
    rows = {(s, m): v for s, m, v in kernel_rows(packed, layers, [0, 1])}
    meas = measure_codes({"x": packed}, {"x": np.zeros(60, np.int64)}, layers, nn=False)
    for scope in ("all", "layer:a", "layer:b"):
        assert rows[(scope, "tenas_distinct")] == meas.table.get("x", scope, "n_distinct")
        assert rows[(scope, "naswot_duplicates")] == 60 - rows[(scope, "tenas_distinct")]
    assert np.isneginf(rows[("all", "naswot")])
