"""Progress of the exact walks (actcode.regions.walk.WalkProgress)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from actcode.regions import PieceRunner, WalkProgress, walk_segments
from actcode.regions.lines import lines_rows
from tests.unit.test_regions_lines import tent_network


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 2)).double()


def test_walk_reports_its_real_counts_and_ends_with_the_result() -> None:
    net = _mlp()
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(20, 6, generator=g, dtype=torch.float64)
    u = torch.randn(20, 6, generator=g, dtype=torch.float64) - x0
    seen: list[WalkProgress] = []
    with PieceRunner(net, x0) as run:
        res = walk_segments(run, x0, u, batch=8, progress=seen.append)
        plain = walk_segments(run, x0, u, batch=8)
    total = int(res.n_breakpoints.sum())
    assert total > 20  # a walk worth following
    assert seen[0] == WalkProgress(20, 0, 0, 0, 0.0)
    assert seen[-1] == WalkProgress(20, 20, total, res.steps, float(total))
    assert all(p.done < p.segments for p in seen[:-1])  # only the last report is the end
    for key in ("done", "breakpoints", "steps"):
        counts = [getattr(p, key) for p in seen]
        assert counts == sorted(counts), key
    assert len(seen) > 20  # one report per stacked pass, not only at the ends
    # following the walk changes nothing in it
    np.testing.assert_array_equal(res.n_breakpoints, plain.n_breakpoints)
    np.testing.assert_array_equal(res.t, plain.t)
    assert res.steps == plain.steps


def test_projection_scales_each_segments_breakpoints_to_its_length() -> None:
    # the tent map of depth 3 along [0, 1]: 7 breakpoints, evenly spaced at k/8
    with PieceRunner(tent_network(3), torch.zeros(2, 1)) as run:
        seen: list[WalkProgress] = []
        res = walk_segments(
            run, torch.zeros(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64),
            progress=seen.append,
        )  # fmt: skip
    assert int(res.n_breakpoints.sum()) == 7
    middle = [p for p in seen[1:-1] if p.breakpoints]
    assert middle
    # k breakpoints seen by t = k/8 project to 8 over the whole segment; the end is exact
    np.testing.assert_allclose([p.projected_breakpoints for p in middle], 8.0, rtol=1e-6)
    assert seen[-1].projected_breakpoints == 7.0


def test_lines_rows_reports_each_relation_and_its_total() -> None:
    net = _mlp()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(12, 6, generator=g, dtype=torch.float64)
    labels = np.array([0, 1] * 6)
    last: dict[str, WalkProgress] = {}
    with PieceRunner(net, x[:2]) as run:
        _, arrays, _ = lines_rows(
            run, x, labels, n=3, radius=0.5, seed=0, selected=[0, 1],
            progress=lambda rel, p: last.__setitem__(rel, p),
        )  # fmt: skip
    assert list(last) == ["same", "different", "random"]
    for rel, p in last.items():
        assert p.done == p.segments == 3
        assert p.breakpoints == int((arrays[f"lines/{rel}/regions"] - 1).sum())
