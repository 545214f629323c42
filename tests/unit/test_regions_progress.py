"""Progress of the exact walks (actcode.regions.walk.WalkProgress) and how `regions` words it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from actcode.cli._walks import LONG_S, WATCH_PASSES, WATCH_S, WalkWatch
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


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _follow(watch: WalkWatch, clock: _Clock, label: str, seconds: float, p: WalkProgress) -> str | None:
    clock.now = seconds
    return watch.cost_note(label, p, watch.seen(label, p))


def _long_walk(watch: WalkWatch, clock: _Clock, label: str) -> list[str | None]:
    """A walk of 4 segments at 10 steps/s that has seen 400 of a projected 60,000 breakpoints."""
    notes = [_follow(watch, clock, label, 0.0, WalkProgress(4, 0, 0, 0, 0.0))]
    for i in range(1, WATCH_PASSES + 2):
        seconds = WATCH_S * i / WATCH_PASSES
        steps = round(10 * seconds)
        notes.append(_follow(watch, clock, label, seconds, WalkProgress(4, 0, steps, steps, 60_000.0)))
    return notes


def test_cost_note_waits_then_says_the_measured_rate_and_the_estimate_once() -> None:
    clock = _Clock()
    watch = WalkWatch("f.h5", clock)
    notes = _long_walk(watch, clock, "train same")
    said = [n for n in notes if n is not None]
    assert notes[:-2] == [None] * (len(notes) - 2)  # watched for WATCH_S and WATCH_PASSES first
    (note,) = said
    assert note.startswith("regions f.h5: walk train same looks long: ")
    assert "10.0 steps/s" in note
    assert "Estimate, from each segment's breakpoints so far" in note
    assert "~60,000 breakpoints" in note
    assert "--segments" in note
    assert "--analyses kernel,local" in note
    # one note per file, whatever the later walks do
    assert [n for n in _long_walk(watch, clock, "test same") if n is not None] == []


def test_no_cost_note_for_a_walk_projected_short() -> None:
    clock = _Clock()
    watch = WalkWatch("f.h5", clock)
    seconds = 2 * WATCH_S
    steps = 1000
    short = steps * (1 + LONG_S / seconds / 2)  # what is left takes LONG_S / 2 at this rate
    _follow(watch, clock, "train same", 0.0, WalkProgress(4, 0, 0, 0, 0.0))
    for _ in range(WATCH_PASSES + 1):
        assert _follow(watch, clock, "train same", seconds, WalkProgress(4, 1, steps, steps, short)) is None


@pytest.mark.parametrize("path", ["f\x1b[31m.h5", "f[bold].h5"])
def test_walk_lines_show_a_path_as_typed(path: str) -> None:
    clock = _Clock()
    (note,) = [n for n in _long_walk(WalkWatch(path, clock), clock, "train same") if n is not None]
    assert "\x1b" not in note
    assert "[bold]" not in note or "\\[bold]" in note
