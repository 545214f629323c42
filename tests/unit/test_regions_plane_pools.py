"""Exact 2-D slices through networks with max-pools (issue 20, item 3: ``plane``).

A max-pool is a stage of its own: each piece is cut where another element of a window takes
over, so every piece is affine and the regions are unions of pieces of one code. Checked
against regioncam (an independent Rust implementation that also splits at max-pool switches)
and against dense sampling through a CNN with padded ``ceil_mode`` pools and torchvision's
ResNet-18, with independent hooks: every sample has its piece's code, pool choices and
affine logits, and two pieces that share an edge differ in code or pool choice.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from actcode.regions import PieceRunner
from actcode.regions.plane import (
    PlanePartition,
    argmax_cells,
    code_regions,
    euler_check,
    partition_plane,
    planar_graph,
    plane_from_points,
    polygon_area,
)
from tests.unit.test_regions_padded_pools import _resnet18


def _box(r: float) -> np.ndarray:
    return np.array([[-r, -r], [r, -r], [r, r], [-r, r]])


@pytest.mark.parametrize("seed", range(4))
def test_piece_count_matches_regioncam_through_a_max_pool(seed: int) -> None:
    regioncam = pytest.importorskip("regioncam")
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 6), nn.Unflatten(1, (1, 2, 3)), nn.MaxPool2d((2, 3)),
        nn.Flatten(), nn.Linear(1, 5), nn.ReLU(), nn.Linear(5, 3),
    ).double()  # fmt: skip
    rc = regioncam.Regioncam(size=2.0)  # the square [-2, 2]^2; its max_pool is one window of all units
    for m in net:
        if isinstance(m, nn.Linear):
            rc.linear(m.weight.detach().float().numpy().T.copy(), m.bias.detach().float().numpy().copy())
        elif isinstance(m, nn.ReLU):
            rc.relu()
        elif isinstance(m, nn.MaxPool2d):
            rc.max_pool()
    with PieceRunner(net, torch.zeros(2, 2)) as run:
        part = partition_plane(run, np.zeros(2), np.eye(2), _box(2.0), class_cells=False)
    assert len(part.polygons) == rc.num_faces
    assert part.n_regions < len(part.polygons)  # pool switches cut pieces that keep their code
    v, e, f = euler_check(part.polygons, 1e-9)
    assert v - e + f == 1
    assert part.region_areas.sum() == pytest.approx(16.0, rel=1e-12)


def _signatures(net: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Independent of the runner: every ReLU call's on/off and every max-pool's choices, and the logits."""
    parts: list[torch.Tensor] = []

    def relu_hook(_m: nn.Module, _a: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        parts.append((out > 0).flatten(1))

    def pool_hook(m: nn.Module, args: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        assert isinstance(m, nn.MaxPool2d)
        _, idx = F.max_pool2d(args[0], m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, True)
        parts.append(idx.flatten(1))

    handles = [
        m.register_forward_hook(relu_hook if isinstance(m, nn.ReLU) else pool_hook)
        for m in net.modules()
        if isinstance(m, nn.ReLU | nn.MaxPool2d)
    ]
    try:
        with torch.no_grad():
            logits = net(x)
    finally:
        for h in handles:
            h.remove()
    return torch.cat([p.to(torch.int64) for p in parts], dim=1).numpy(), logits.numpy()


def _inside(poly: np.ndarray, q: np.ndarray, margin: float) -> np.ndarray:
    """Samples strictly inside a counter-clockwise convex polygon, ``margin`` away from its edges."""
    ok = np.ones(q.shape[0], bool)
    for i in range(poly.shape[0]):
        p, r = poly[i], poly[(i + 1) % poly.shape[0]]
        d = r - p
        ok &= (d[0] * (q[:, 1] - p[1]) - d[1] * (q[:, 0] - p[0])) / np.linalg.norm(d) > margin
    return ok


def _check_against_sampling(net: nn.Module, run: PieceRunner, part: PlanePartition, steps: int) -> int:
    """Dense samples agree with the partition; returns the number of samples checked."""
    lo, hi = part.window.min(axis=0), part.window.max(axis=0)
    g = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps)), -1)
    q = g.reshape(-1, 2)
    x = torch.as_tensor(part.inputs(q)).reshape(-1, *run.input_shape)
    sig, logits = _signatures(net, x)
    cents = part.centroids()
    csig, _ = _signatures(net, torch.as_tensor(part.inputs(cents)).reshape(-1, *run.input_shape))
    # the pieces' affine logits, from the runner at their centroids
    dirs = torch.as_tensor(part.basis).reshape(2, 1, *run.input_shape).expand(2, len(cents), *run.input_shape)
    p = run(torch.as_tensor(part.inputs(cents)).reshape(-1, *run.input_shape), dirs.contiguous())
    oa, ob = p.out_a.numpy(), p.out_b.numpy()
    assert (p.bits.numpy() == part.bits).all()
    margin = 1e-6 * float(np.ptp(part.window, axis=0).max())
    checked = 0
    for f, poly in enumerate(part.polygons):
        inside = np.flatnonzero(_inside(poly, q, margin))
        checked += inside.size
        # no cut missed: one code and one pool choice on the whole piece, and affine logits
        assert (sig[inside] == csig[f]).all(), f"piece {f} holds samples of another code or pool choice"
        want = oa[f] + (q[inside] - cents[f]) @ ob[:, f]
        np.testing.assert_allclose(logits[inside], want, rtol=1e-9, atol=1e-9 * np.abs(oa).max())
    # no cut too many: pieces that share an edge differ in their code or a pool choice
    _, _, poly_edges = planar_graph(part.polygons, 1e-9 * float(np.ptp(part.window, axis=0).max()))
    owners: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, edges in enumerate(poly_edges):
        for edge in edges:
            owners[edge].append(i)
    for pair in owners.values():
        if len(pair) == 2:
            assert (csig[pair[0]] != csig[pair[1]]).any()
            same_code = (part.bits[pair[0]] == part.bits[pair[1]]).all()
            assert same_code == (part.region[pair[0]] == part.region[pair[1]])
    return checked


class _PaddedPools(nn.Module):
    """Conv -> ReLU -> padded ceil_mode pool -> conv -> ReLU -> dilated pool -> linear (ties after ReLU)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.r1 = nn.Conv2d(1, 3, 3, padding=1), nn.ReLU()
        self.p1 = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
        self.c2, self.r2 = nn.Conv2d(3, 4, 2), nn.ReLU()
        self.p2 = nn.MaxPool2d(2, 1, dilation=2, ceil_mode=True)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.p2(self.r2(self.c2(self.p1(self.r1(self.c1(x))))))
        out: torch.Tensor = self.fc(h.flatten(1))
        return out


def test_a_cnn_with_padded_ceil_mode_pools_matches_dense_sampling() -> None:
    seed = 0
    torch.manual_seed(seed)
    net = _PaddedPools().double().eval()
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(3, 1, 7, 7, generator=g, dtype=torch.float64)
    origin, basis, q = plane_from_points(pts.reshape(3, -1).numpy())
    window = q.copy()  # the triangle of the three examples
    seen: list[tuple[int, int, int]] = []
    with PieceRunner(net, pts) as run:
        part = partition_plane(run, origin, basis, window, points=q, progress=lambda *a: seen.append(a))
        assert [k for k, _ in run.stages] == ["site", "pool", "site", "pool"]
        assert [(d, t) for d, t, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
        assert seen[-1][2] == len(part.polygons)
        assert all(a[2] <= b[2] for a, b in zip(seen, seen[1:], strict=False))  # cuts only add pieces
        assert len(part.polygons) > 1000
        assert part.n_regions < len(part.polygons)
        assert _check_against_sampling(net, run, part, 80) > 2500
    v, e, f = euler_check(part.polygons, 1e-9 * float(np.ptp(window, axis=0).max()))
    assert v - e + f == 1
    assert part.areas.sum() == pytest.approx(abs(polygon_area(window)), rel=1e-9)
    assert sum(polygon_area(cell) for cell in part.cells) == pytest.approx(part.areas.sum(), rel=1e-9)


def test_a_slice_through_resnet18_matches_dense_sampling() -> None:
    net = _resnet18()
    g = torch.Generator().manual_seed(3)
    pts = torch.randn(3, 3, 16, 16, generator=g, dtype=torch.float64)
    origin, basis, q = plane_from_points(pts.reshape(3, -1).numpy())
    window = q[0] + 0.005 * (q - q[0])  # a small triangle at the first example
    with PieceRunner(net, pts) as run:
        part = partition_plane(run, origin, basis, window, points=q)
        assert ("pool", 0) in run.stages
        assert len(part.polygons) > 50
        assert _check_against_sampling(net, run, part, 70) > 2000
    v, e, f = euler_check(part.polygons, 1e-9 * float(np.ptp(window, axis=0).max()))
    assert v - e + f == 1


def test_argmax_cells_tile_the_polygon_with_ties_and_padding() -> None:
    rng = np.random.default_rng(0)
    sq = _box(1.0)
    for _ in range(50):
        A = rng.standard_normal(5)
        B = rng.standard_normal((2, 5))
        A[3], B[:, 3] = A[1], B[:, 1]  # a tie on the whole square: the first one wins
        A[4] = -np.inf  # padding never wins
        cells = argmax_cells(sq, A, B, np.zeros(2))
        assert sum(polygon_area(c) for c, _ in cells) == pytest.approx(4.0, rel=1e-12)
        assert {j for _, j in cells} <= {0, 1, 2}
        for cell, j in cells:  # the winner at each cell's centroid
            assert int(np.argmax(A + cell.mean(axis=0) @ B)) == j


def test_code_regions_join_pieces_across_edges_only() -> None:
    tri = [np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])]
    corner = np.array([[1.0, 1.0], [2.0, 1.0], [2.0, 2.0]])  # touches the second at a vertex only
    same = np.ones((3, 2), bool)
    assert code_regions([*tri, corner], same, 1e-9).tolist() == [0, 0, 1]
    other = same.copy()
    other[1, 0] = False
    assert code_regions([*tri, corner], other, 1e-9).tolist() == [0, 1, 2]
