"""Benchmark of the exact walk (``actcode regions --analyses lines``): cost per boundary and segments/s.

Run: ``.venv/bin/python tests/benchmarks/bench_regions.py`` (``--quick`` for a smaller run).
Prints measurements; asserts nothing about time.

1. Cost per boundary crossed, in forward passes: the walk evaluates the network at stacked
   points (a point and its direction, one row each); the cost is the number of evaluated
   rows divided by the breakpoints found, for chords between digits examples through the
   study's MLP (width 64 and 256, depth 2). Target: at most 3. The cost of the same count by
   dense sampling, at the step that first finds every breakpoint, is printed beside it.
2. Segments per second on the CPU, for the digits MLP (chords between test examples) and a
   CIFAR ResNet-20 at 1/4 width (47k ReLUs) on CIFAR-shaped random inputs: segments of length
   0.05 in random directions through the inputs (a chord between two CIFAR images crosses
   thousands of regions), with the rows per second of the stacked float64 pass for scale.
3. Batched walks (issue 21): segments/s of the walk one segment at a time (``batch=1``) and
   batched (one stacked pass per step for all active segments, refilled as segments finish),
   on the digits MLP (chords) and the CIFAR ResNet-20 x0.25 (chords and short segments,
   mixed), in one run; the per-segment breakpoint counts must be equal. Target: >= 10x.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from actcode.config import ModelSpec
from actcode.data import DataSpec, load_dataset
from actcode.extraction.recorder import SiteRecorder
from actcode.extraction.sites import Site
from actcode.models import build_model
from actcode.regions import PieceRunner, walk_segments


def _short(x: torch.Tensor, n: int, length: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x0 = x[torch.randint(0, x.shape[0], (n,), generator=g)].double()
    v = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    v = v / v.flatten(1).norm(dim=1).reshape(-1, *([1] * (x0.ndim - 1))) * length
    return x0 - v / 2, v


def _chords(x: torch.Tensor, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    i, j = rng.choice(x.shape[0], n), rng.choice(x.shape[0], n)
    x = x.double()
    return x[i], x[j] - x[i]


def _dense_runs(model: nn.Module, sites: list[Site], x0: torch.Tensor, u: torch.Tensor, steps: int) -> int:
    t = torch.linspace(0, 1, steps, dtype=torch.float64).reshape(-1, *([1] * x0.ndim))
    with torch.inference_mode(), SiteRecorder(model, sites) as rec:
        rec.begin(steps, torch.device("cpu"))
        model((x0.unsqueeze(0) + t * u.unsqueeze(0)).float())
        codes = rec.packed()
    return 1 + int((codes[1:] != codes[:-1]).any(axis=1).sum())


def cost_per_boundary(n: int) -> None:
    ds = load_dataset(DataSpec("digits"))
    x = torch.as_tensor(ds.x_test)
    print("1. walk cost per boundary (digits MLP, chords between test examples)")
    for width in (64, 256):
        torch.manual_seed(0)
        model = build_model(ModelSpec("mlp", width=width, depth=2), ds.input_shape, ds.n_classes).eval()
        x0, u = _chords(x, n, 0)
        with PieceRunner(model, x0[:2]) as run:
            t0 = time.perf_counter()
            res = walk_segments(run, x0, u)
            dt = time.perf_counter() - t0
        crossings = int(res.n_breakpoints.sum())
        per = res.points / crossings
        # dense sampling of the first segments: smallest power-of-two step count finding all breakpoints
        dense = []
        for k in range(min(5, n)):
            steps = 64
            while _dense_runs(model, run.sites, x0[k], u[k], steps) < res.n_regions[k] and steps < 2**20:
                steps *= 2
            dense.append(steps / res.n_breakpoints[k] if res.n_breakpoints[k] else float("nan"))
        print(
            f"   width {width}: {crossings} breakpoints on {n} chords, {res.points} evaluations -> "
            f"{per:.2f} forward passes per boundary (target <= 3); {res.bisections} bisections, "
            f"{res.touches} touches; dense sampling needs {np.nanmedian(dense):.0f} passes per boundary; "
            f"{dt:.2f} s"
        )


def segments_per_second(n_mlp: int, n_cnn: int) -> None:
    print("2. segments per second on the CPU")
    ds = load_dataset(DataSpec("digits"))
    x = torch.as_tensor(ds.x_test)
    torch.manual_seed(0)
    mlp = build_model(ModelSpec("mlp", width=64, depth=2), ds.input_shape, ds.n_classes).eval()
    resnet = build_model(ModelSpec("resnet20", width_mult=0.25), (3, 32, 32), 10).eval()
    xr = torch.rand(64, 3, 32, 32)
    cases = (
        ("digits MLP 2x32, chords", mlp, _chords(x, n_mlp, 1), n_mlp),
        ("CIFAR ResNet-20 x0.25, random segments of length 0.05", resnet, _short(xr, n_cnn, 0.05, 1), n_cnn),
    )
    for name, model, (x0, u), n in cases:
        with PieceRunner(model, x0[:2]) as run:
            t0 = time.perf_counter()
            res = walk_segments(run, x0, u, batch=64)
            dt = time.perf_counter() - t0
            t1 = time.perf_counter()
            for _ in range(3):
                run(x0, u.unsqueeze(0))
            fwd = 3 * 2 * n / (time.perf_counter() - t1)
        print(
            f"   {name}: {n / dt:.2f} segments/s ({res.n_breakpoints.mean():.1f} breakpoints per segment, "
            f"{res.points / max(1, int(res.n_breakpoints.sum())):.2f} passes per boundary); "
            f"float64 stacked forward: {fwd:.0f} rows/s"
        )


def batched_vs_alone(n_mlp: int, n_cnn: int) -> None:
    print("3. batched walk vs one segment at a time (segments/s, same process)")
    ds = load_dataset(DataSpec("digits"))
    torch.manual_seed(0)
    mlp = build_model(ModelSpec("mlp", width=64, depth=2), ds.input_shape, ds.n_classes).eval()
    resnet = build_model(ModelSpec("resnet20", width_mult=0.25), (3, 32, 32), 10).eval()
    xr = torch.rand(64, 3, 32, 32)
    xs, us = _short(xr, n_cnn, 0.05, 2)
    xc, uc = _chords(xr, n_cnn, 3)
    mixed = torch.cat([xs, xc[: max(1, n_cnn // 8)]]), torch.cat([us, uc[: max(1, n_cnn // 8)] * 0.2])
    cases = (
        ("digits MLP 2x32, chords", mlp, _chords(torch.as_tensor(ds.x_test), n_mlp, 1)),
        ("CIFAR ResNet-20 x0.25, short segments and a few chord parts", resnet, mixed),
    )
    for name, model, (x0, u) in cases:
        n = int(x0.shape[0])
        rates, counts = {}, {}
        with PieceRunner(model, x0[:2]) as run:
            for b in (1, 256):
                t0 = time.perf_counter()
                res = walk_segments(run, x0, u, batch=b)
                rates[b] = n / (time.perf_counter() - t0)
                counts[b] = res.n_breakpoints
        same = bool(np.array_equal(counts[1], counts[256]))
        print(
            f"   {name}: {n} segments, {counts[1].mean():.1f} breakpoints each; alone {rates[1]:.2f}/s, "
            f"batched {rates[256]:.2f}/s -> {rates[256] / rates[1]:.1f}x (target >= 10x); "
            f"per-segment counts equal: {same}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    cost_per_boundary(16 if args.quick else 64)
    segments_per_second(32 if args.quick else 128, 2 if args.quick else 8)
    batched_vs_alone(32 if args.quick else 128, 8 if args.quick else 32)


if __name__ == "__main__":
    main()
