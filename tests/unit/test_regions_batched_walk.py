"""Batched walks (issue 21, item 3): one pass per step for all active segments, same per-segment results.

Segments leave the batch when done and waiting ones take their place. Whatever the batch
size, each segment's breakpoints, their positions and the flipped bits equal those of the
walk of that segment alone.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from actcode.config import ModelSpec
from actcode.data import DataSpec, load_dataset
from actcode.models import build_model
from actcode.regions import PieceRunner, WalkResult, walk_segments
from tests.unit.test_regions_lines import _cnn


def _digits_mlp() -> tuple[nn.Module, torch.Tensor]:
    ds = load_dataset(DataSpec("digits"))
    torch.manual_seed(0)
    net = build_model(ModelSpec("mlp", width=32, depth=2), ds.input_shape, ds.n_classes).eval()
    return net, torch.as_tensor(ds.x_test[:40]).double()


def _resnet() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net = build_model(ModelSpec("resnet20", width_mult=0.25), (3, 8, 8), 10).eval()
    return net, torch.rand(12, 3, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def _small_cnn() -> tuple[nn.Module, torch.Tensor]:
    return _cnn(), torch.randn(12, 1, 6, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)


def _segments(x: torch.Tensor, n: int, seed: int, chord: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Parts of chords between rows, long and short (very different numbers of breakpoints)."""
    rng = np.random.default_rng(seed)
    i, j = rng.choice(x.shape[0], n), rng.choice(x.shape[0], n)
    u = x[j] - x[i]
    short = rng.random(n) < 0.5
    scale = torch.as_tensor(np.where(short, 0.05, 1.0) * chord).reshape(-1, *([1] * (x.ndim - 1)))
    return x[i], u * scale


def _per_segment(res: WalkResult, n: int) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    out = []
    for s in range(n):
        at = np.flatnonzero(res.segment == s)
        out.append((res.t[at], [np.sort(res.flipped(int(k))) for k in at]))
    return out


#: Each network, with the chord fraction that keeps its walks short (a full chord between two
#: inputs of the ResNet crosses hundreds of regions).
NETS = {"digits-mlp": (_digits_mlp, 1.0), "cnn": (_small_cnn, 0.1), "resnet20": (_resnet, 0.01)}


@pytest.mark.parametrize("net_name", list(NETS))
@pytest.mark.parametrize("seed", [0, 1])
def test_every_batch_size_gives_each_segment_its_own_walk(net_name: str, seed: int) -> None:
    make, chord = NETS[net_name]
    net, x = make()
    n = 9
    x0, u = _segments(x, n, seed, chord)
    with PieceRunner(net, x0[:2]) as run:
        alone = walk_segments(run, x0, u, batch=1)
        results = {b: walk_segments(run, x0, u, batch=b) for b in (2, 4, 64)}
    assert alone.n_breakpoints.sum() > n
    want = _per_segment(alone, n)
    for b, res in results.items():
        np.testing.assert_array_equal(res.n_breakpoints, alone.n_breakpoints, err_msg=f"batch {b}")
        np.testing.assert_array_equal(res.site_breakpoints, alone.site_breakpoints)
        for (t_want, f_want), (t_got, f_got) in zip(want, _per_segment(res, n), strict=True):
            np.testing.assert_allclose(t_got, t_want, rtol=0, atol=1e-12)
            for a, b_ in zip(f_want, f_got, strict=True):
                np.testing.assert_array_equal(a, b_)
        assert res.steps == alone.steps
