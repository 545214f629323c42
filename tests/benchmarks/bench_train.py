"""Benchmark: epoch time of ``actcode.training.train`` against a minimal hand-written PyTorch loop.

Same model (same seed), same data tensors on the same device, same optimizer, batch size and
thread count. Prints per-epoch times and their ratio (target: <= 1.1); never asserts on time.
actcode's epoch also evaluates the validation part (eval mode) and accumulates the training
loss and accuracy, so a second hand loop with the same validation pass is timed too.

Each epoch is timed twice: wall clock (``perf_counter``) and CPU time of the process
(``process_time``). On a machine shared with other jobs the wall clock mostly measures the
scheduler; with one thread the CPU time is the steadier measure of the work done. Both the
median and the minimum over epochs are shown, runs interleaved.

Run:  .venv/bin/python tests/benchmarks/bench_train.py [--epochs 15] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from actcode.config import ModelSpec, TrainConfig
from actcode.data import DataSpec, load_dataset
from actcode.devices import resolve_device
from actcode.models import build_model
from actcode.training import EpochReport, train


@dataclass
class Case:
    name: str
    spec: ModelSpec
    threads: int


CASES = [
    Case("digits MLP width 256", ModelSpec(width=256), 1),
    Case(
        "digits small CNN (16,M,32,M | fc 64)",
        ModelSpec(name="vgg", plan=(16, "M", 32, "M"), fc=(64,), dropout=0.0),
        1,
    ),
]


Times = list[tuple[float, float]]  # (wall seconds, CPU seconds) per epoch


def hand_loop(spec: ModelSpec, epochs: int, *, threads: int, seed: int = 0, with_val: bool = False) -> Times:
    """The minimal loop: tensors on the device, one randperm per epoch, slice, step."""
    ds = load_dataset(DataSpec())
    device = resolve_device("auto")
    n_fit = ds.n_fit
    x = torch.from_numpy(ds.x_train[:n_fit]).to(device)
    y = torch.from_numpy(ds.y_train[:n_fit]).to(device)
    xv = torch.from_numpy(ds.x_train[n_fit:]).to(device)
    prev = torch.get_num_threads()
    torch.set_num_threads(threads or prev)
    torch.manual_seed(seed)
    model = build_model(spec, ds.input_shape, ds.n_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    times: Times = []
    for _ in range(epochs):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        model.train()
        perm = torch.randperm(n_fit, generator=gen).to(device)
        for i in range(0, n_fit, 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        if with_val:
            model.eval()
            with torch.inference_mode():
                model(xv).argmax(1)
        float(loss.detach())  # wait for the device, as actcode's .item() per epoch does
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    torch.set_num_threads(prev)
    return times


def actcode_loop(spec: ModelSpec, epochs: int, *, threads: int, seed: int = 0) -> Times:
    """Per epoch: the wall seconds actcode's history records (training + validation pass), and
    the process CPU time between two ``on_epoch`` calls."""
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(
            model=spec, epochs=epochs, seed=seed, threads=threads, out=out, save_at=(epochs,)
        )
        times: Times = []
        last = [0.0]

        def on_epoch(r: EpochReport) -> None:
            now = time.process_time()
            if r.epoch > 0:
                times.append((r.record["seconds"], now - last[0]))
            last[0] = time.process_time()

        train(config, on_epoch=on_epoch)
    return times[:-1]  # the last epoch's CPU time includes writing its checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(
        f"device: {resolve_device('auto')}, torch {torch.__version__}, "
        f"default threads {torch.get_num_threads()}"
    )
    for case in CASES:
        ours: Times = []
        hand: Times = []
        hand_val: Times = []
        for _ in range(args.repeats):  # interleaved, so that load from other processes hits all three alike
            ours += actcode_loop(case.spec, args.epochs, threads=case.threads)[1:]  # drop the warm-up epoch
            hand += hand_loop(case.spec, args.epochs, threads=case.threads)[1:]
            hand_val += hand_loop(case.spec, args.epochs, threads=case.threads, with_val=True)[1:]
        threads = case.threads or torch.get_num_threads()
        for clock, k in (("wall", 0), ("cpu", 1)):
            for stat in (statistics.median, min):  # min: the epoch least disturbed by other processes
                a, h, v = (stat(t[k] for t in ts) for ts in (ours, hand, hand_val))
                print(
                    f"{case.name} [{threads} thread(s), {clock} {stat.__name__} of {len(ours)} epochs]: "
                    f"actcode {a * 1e3:.2f} ms/epoch, minimal loop {h * 1e3:.2f} ms, + validation pass "
                    f"{v * 1e3:.2f} ms; ratio {a / h:.3f} (vs loop + validation {a / v:.3f}; target <= 1.1)"
                )


def test_bench_train() -> None:
    """Run a short version under pytest (``pytest tests/benchmarks/bench_train.py -s``); prints only."""
    import sys

    sys.argv = ["bench_train", "--epochs", "6", "--repeats", "1"]
    main()


if __name__ == "__main__":
    main()
