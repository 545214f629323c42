"""Exact 2-D slices (actcode.regions.plane): Zaslavsky's count, areas, Euler, codes and adjacency."""

from __future__ import annotations

from collections import defaultdict
from math import comb

import numpy as np
import pytest
import torch
from torch import nn

from actcode.extraction.recorder import SiteRecorder
from actcode.regions import PieceRunner
from actcode.regions.plane import (
    euler_check,
    partition_plane,
    planar_graph,
    plane_from_points,
    polygon_area,
    split_convex,
)


def _box(r: float) -> np.ndarray:
    return np.array([[-r, -r], [r, -r], [r, r], [-r, r]])


@pytest.mark.parametrize("n", [1, 5, 14])
def test_one_layer_in_general_position_has_zaslavsky_count(n: int) -> None:
    torch.manual_seed(n)
    first = nn.Linear(2, n).double()
    net = nn.Sequential(first, nn.ReLU(), nn.Linear(n, 3)).double()
    w, b = first.weight.detach().numpy(), first.bias.detach().numpy()
    cross = [np.linalg.solve(w[[i, j]], -b[[i, j]]) for i in range(n) for j in range(i + 1, n)]
    r = 2.0 * max([1.0, *np.abs(cross).ravel().tolist()])
    with PieceRunner(net, torch.zeros(2, 2)) as run:
        part = partition_plane(run, np.zeros(2), np.eye(2), _box(r))
    assert len(part.polygons) == 1 + n + comb(n, 2)
    assert part.areas.sum() == pytest.approx((2 * r) ** 2, rel=1e-9)


def _deep() -> nn.Module:
    torch.manual_seed(11)
    return nn.Sequential(
        nn.Linear(5, 12),
        nn.ReLU(),
        nn.Linear(12, 12),
        nn.ReLU(),
        nn.Linear(12, 8),
        nn.ReLU(),
        nn.Linear(8, 4),
    ).double()


def test_deep_partition_areas_euler_codes_and_adjacency() -> None:
    net = _deep()
    pts = np.random.default_rng(0).standard_normal((3, 5)) * 2
    origin, basis, q = plane_from_points(pts)
    np.testing.assert_allclose(origin + q @ basis, pts, atol=1e-12)
    window = np.array([[-3.0, -3.0], [5.0, -3.0], [5.0, 5.0], [-3.0, 5.0]])
    with PieceRunner(net, torch.zeros(2, 5)) as run:
        part = partition_plane(run, origin, basis, window, points=q)
    assert len(part.polygons) > 30
    assert (part.areas > 0).all()
    assert part.areas.sum() == pytest.approx(64.0, rel=1e-9)
    v, e, f = euler_check(part.polygons, 1e-9)
    assert v - e + f == 1
    # each region's code, by extract's own hooks at an interior point, is the region's code
    sites = run.sites
    cents = torch.as_tensor(part.inputs(part.centroids()))
    with torch.inference_mode(), SiteRecorder(net, sites) as rec:
        rec.begin(cents.shape[0], torch.device("cpu"))
        net(cents)
        packed = rec.packed()
    from actcode.codes import layout_layers, pack_bits

    np.testing.assert_array_equal(
        packed, pack_bits(part.bits, layout_layers([s.layer_info() for s in sites]))
    )
    # no two regions that share an edge have the same code
    _, _, poly_edges = planar_graph(part.polygons, 1e-9)
    owners: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, edges in enumerate(poly_edges):
        for edge in edges:
            owners[edge].append(i)
    shared = [o for o in owners.values() if len(o) == 2]
    assert len(shared) > 30
    assert max(len(o) for o in owners.values()) == 2
    for i, j in shared:
        assert (part.bits[i] != part.bits[j]).any()
    # class cells tile the regions; the decision boundary separates different classes
    assert sum(polygon_area(c) for c in part.cells) == pytest.approx(64.0, rel=1e-9)
    assert part.boundary.shape[0] > 0


def test_split_convex_and_degenerate_planes() -> None:
    tri = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    neg, pos = split_convex(tri, tri[:, 0] - tri[:, 1], 1e-12)  # through a vertex
    assert neg is not None
    assert pos is not None
    assert polygon_area(neg) + polygon_area(pos) == pytest.approx(0.5)
    neg, pos = split_convex(tri, tri[:, 0] + 5, 1e-12)
    assert neg is None
    assert pos is not None
    from actcode.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="collinear"):
        plane_from_points(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_region_count_matches_regioncam(seed: int) -> None:
    """regioncam (Rust, MIT/Apache-2.0, float32) as an independent oracle on 2-D MLPs."""
    import regioncam

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(2, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    rc = regioncam.Regioncam(size=2.0)  # the square [-2, 2]^2
    for m in net:
        if isinstance(m, nn.Linear):
            rc.linear(m.weight.detach().float().numpy().T.copy(), m.bias.detach().float().numpy().copy())
        elif isinstance(m, nn.ReLU):
            rc.relu()
    with PieceRunner(net, torch.zeros(2, 2)) as run:
        part = partition_plane(run, np.zeros(2), np.eye(2), _box(2.0), class_cells=False)
    assert len(part.polygons) == rc.num_faces


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.relu(self.bn(self.conv(x)) + x)
        return out


def test_cnn_slice_tiles_the_window_with_the_extracted_codes() -> None:
    torch.manual_seed(2)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), _Residual(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 3)
    ).double()
    net.eval()
    pts = np.random.default_rng(3).standard_normal((3, 16))
    origin, basis, q = plane_from_points(pts)
    with PieceRunner(net, torch.zeros(2, 1, 4, 4)) as run:
        part = partition_plane(run, origin, basis, q, points=q)
    assert len(part.polygons) > 10
    area = abs(polygon_area(q))
    assert part.areas.sum() == pytest.approx(area, rel=1e-9)
    v, e, f = euler_check(part.polygons, 1e-9)
    assert v - e + f == 1
    cents = torch.as_tensor(part.inputs(part.centroids())).reshape(-1, 1, 4, 4)
    with torch.inference_mode(), SiteRecorder(net, run.sites) as rec:
        rec.begin(cents.shape[0], torch.device("cpu"))
        net(cents)
        packed = rec.packed()
    from actcode.codes import layout_layers, pack_bits

    np.testing.assert_array_equal(
        packed, pack_bits(part.bits, layout_layers([s.layer_info() for s in run.sites]))
    )
