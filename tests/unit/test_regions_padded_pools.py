"""Max-pools with padding and ceil_mode in the exact walk (issue 20, item 3).

Padding is -inf to a max-pool: it never wins, so a padded max-pool is still a max of affine
pieces. The walk's switches are checked against the pool itself, and whole walks through
torchvision's ResNet-18 (random init, no download) against dense sampling.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from actcode.regions import PieceRunner, walk_segments
from actcode.regions.affine import NotPiecewiseAffineError, _pool_switch
from tests.unit.test_regions_lines import _check_flips, _sampled_codes

POOLS = [
    # kernel, stride, padding, dilation, ceil_mode, input size
    (3, 2, 1, 1, False, 8),  # ResNet's stem
    (3, 2, 1, 1, True, 9),
    (2, 2, 0, 1, True, 7),  # a window hangs over the edge
    (3, 3, 1, 1, True, 10),
    (3, 2, 1, 2, False, 11),
    (2, 1, 1, 1, False, 5),
]


def _choices(x: torch.Tensor, k: int, s: int, p: int, d: int, ceil: bool) -> torch.Tensor:
    return F.max_pool2d(x, k, s, p, d, ceil, return_indices=True)[1]


@pytest.mark.parametrize(("k", "s", "p", "d", "ceil", "h"), POOLS)
@pytest.mark.parametrize("seed", range(4))
def test_the_switch_is_where_the_pool_first_changes_its_choice(
    k: int, s: int, p: int, d: int, ceil: bool, h: int, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(3, 2, h, h + 1, generator=g, dtype=torch.float64)
    b = torch.randn(3, 2, h, h + 1, generator=g, dtype=torch.float64)
    tau = 1e-9
    idx = _choices(a + tau * b, k, s, p, d, ceil)
    sw = _pool_switch(a, b, idx, (k, k), (s, s), (d, d), (p, p))
    assert bool(torch.isfinite(sw).all())  # random slopes: some element overtakes in every row
    for row in range(3):
        ar, br, want = a[row : row + 1], b[row : row + 1], idx[row : row + 1]
        before, after = float(sw[row]) * 0.999, float(sw[row]) * 1.001
        assert torch.equal(_choices(ar + before * br, k, s, p, d, ceil), want)
        assert not torch.equal(_choices(ar + after * br, k, s, p, d, ceil), want)


def _resnet18() -> nn.Module:
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    net: nn.Module = torchvision.models.resnet18(weights=None, num_classes=10)
    for m in net.modules():  # running statistics as after training, so the pieces are not symmetric
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None
            assert m.running_var is not None
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
    return net.double().eval()


def test_walks_through_resnet18_match_dense_sampling() -> None:
    net = _resnet18()
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(3, 3, 16, 16, generator=g, dtype=torch.float64)
    u = torch.randn(3, 3, 16, 16, generator=g, dtype=torch.float64)
    u = u / u.flatten(1).norm(dim=1).reshape(-1, 1, 1, 1) * 0.05
    with PieceRunner(net, x0) as run:
        res = walk_segments(run, x0, u)
        assert res.n_breakpoints.sum() >= 6
        for i in range(3):
            ts = np.concatenate([[0.0], res.t[res.segment == i], [1.0]])
            fine = int(max(401, 6 / np.diff(ts).min()))  # >= 6 samples in the smallest region
            assert fine <= 4001  # segments chosen so that "fine enough" stays cheap
            codes = _sampled_codes(net, x0[i], u[i], fine)
            assert 1 + int((codes[1:] != codes[:-1]).any(axis=1).sum()) == res.n_regions[i]
            mids = torch.as_tensor((ts[1:] + ts[:-1]) / 2)
            pts = x0[i].unsqueeze(0) + mids.reshape(-1, 1, 1, 1) * u[i].unsqueeze(0)
            bits = run(pts, u[i].expand(mids.numel(), 3, 16, 16).unsqueeze(0)).bits.numpy()
            _check_flips(res, i, bits)


def test_a_pool_still_refused_names_the_analysis() -> None:
    net = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(6, 2))
    with pytest.raises(NotPiecewiseAffineError, match="the lines analysis: module '2' \\(MaxPool1d\\)"):
        PieceRunner(net, torch.zeros(2, 1, 8), analysis="lines")
