"""PieceRunner on op sites (--sites ops): every ReLU-like spelling is frozen like its module twin."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from actcode.regions.affine import PieceRunner


class Twin(nn.Module):
    """One conv and two linear layers; ``functional`` applies the activations as functions."""

    def __init__(self, functional: bool) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.functional = functional
        self.conv = nn.Conv2d(1, 3, 3)
        self.fc1, self.fc2, self.fc3 = nn.Linear(12, 9), nn.Linear(9, 7), nn.Linear(7, 4)
        self.prelu = nn.PReLU(3, init=0.2)
        self.pool = nn.MaxPool2d(2)
        self.acts = nn.ModuleList([nn.LeakyReLU(0.1), nn.ReLU(inplace=True), nn.ReLU()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x)
        if self.functional:
            h = self.pool(F.prelu(z, self.prelu.weight)).flatten(1)
            h = F.leaky_relu(self.fc1(h), 0.1)
            h = F.relu_(self.fc2(h))
            clamped: torch.Tensor = self.fc3(h).clamp(min=0)
            return clamped
        h = self.pool(self.prelu(z)).flatten(1)
        h = self.acts[0](self.fc1(h))
        h = self.acts[1](self.fc2(h))
        out: torch.Tensor = self.acts[2](self.fc3(h))
        return out


@pytest.mark.parametrize("tau", [0.0, 1e-9])
def test_op_sites_freeze_as_module_sites(tau: float) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 1, 6, 6, generator=gen, dtype=torch.float64)
    dirs = torch.randn(3, 5, 1, 6, 6, generator=gen, dtype=torch.float64)
    with PieceRunner(Twin(False), x[:2]) as mods, PieceRunner(Twin(True), x[:2], mode="ops") as ops:
        assert [s.op for s in ops.sites] == ["prelu", "leaky_relu", "relu", "clamp"]
        assert [s.n_units for s in ops.sites] == [s.n_units for s in mods.sites]
        want = mods(x, dirs, tau=tau, switches=True)
        got = ops(x, dirs, tau=tau, switches=True)
        for name in ("a", "b", "bits", "out_a", "out_b", "switch"):
            torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=0, atol=0)
        ops.check_affine(x, dirs[0])
    # the frozen piece is the network itself at the base points and affine along each direction
    net = Twin(True).double().eval()
    with torch.no_grad():
        torch.testing.assert_close(got.out_a, net(x))
        assert bool(got.bits.any())
        assert not bool(got.bits.all())


def test_modules_mode_still_refuses_functional_relus() -> None:
    from actcode.extraction.sites import FunctionalActivationError

    with pytest.raises(FunctionalActivationError):
        PieceRunner(Twin(True), torch.zeros(2, 1, 6, 6))
