"""Benchmark of ``actcode extract``: overhead against a plain forward pass, and peak RSS against N.

Run: ``.venv/bin/python tests/benchmarks/bench_extract.py`` (add ``--quick`` for a smaller run).
Prints ratios and measurements; asserts nothing about time.

0. The issue-12 targets (``--models``, the default first part): the digits MLP (64 inputs, the
   README's ``--width 64``), the CIFAR ResNet-20 (nn.ReLU modules), the pytorch-cifar ResNet
   spelled with ``F.relu`` (operator-level capture), and a torchvision ResNet-18 at 224 x 224
   (about 2.3 M bits per image). Each is timed as a plain forward loop; as the codes alone
   (sites recorded and packed, no file); and as ``extract_codes`` into a file with the default
   settings (compression ``auto``, blocks written in a background thread), with ``gzip`` and
   with ``none``. Target: default <= 1.1x. The digits (1797 rows) are tiled 10 times: one pass
   over them takes tens of milliseconds, less than creating, fsyncing and renaming a file.
1. Overhead. For an MLP (MNIST-shaped, BN, 3 x 1024 hidden units) and a CNN (a VGG-11 at 1/4
   width on CIFAR-shaped inputs), the same model, data and batch size are timed as
   a) a plain forward loop (eval, ``torch.inference_mode``): the baseline;
   b) the codes only: the same loop with the site hooks and the packing, packed bytes on the
      host (no file), with the CPU path (NumPy masks written in place, ``np.packbits``) and
      with the torch path used on GPUs (one ``torch.cat``, ``pack_padded``);
   c) the whole ``extract_codes`` into a ``CodeWriter`` (gzip), the library's real path, and
      the same with ``compression=None``.
   Each variant is repeated (interleaved, best of ``--repeat``) to damp noise from other
   processes; the ratios are best(variant) / best(forward), for wall-clock time and for the
   process's CPU time (less sensitive to other processes on a busy machine).
2. Memory. A subprocess extracts N and 4N random inputs of a CNN with about 200k ReLUs per
   example (VGG-on-CIFAR scale) and reports its peak RSS (``ru_maxrss``); the unpacked bool
   codes of the 3N extra rows would take 3N * D bytes if they were held.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actcode.config import ModelSpec
from actcode.extraction import extract_codes, find_sites
from actcode.extraction.run import make_recorder
from actcode.io import CodeWriter, make_provenance
from actcode.models import build_model


def forward_only(model: nn.Module, x: torch.Tensor, bs: int) -> None:
    with torch.inference_mode():
        for i in range(0, len(x), bs):
            model(x[i : i + bs])


def codes_only(model: nn.Module, x: torch.Tensor, bs: int, sites: list[Any], backend: str) -> None:
    cpu = torch.device("cpu")
    with torch.inference_mode(), make_recorder(model, sites, sites, backend=backend) as rec:
        for i in range(0, len(x), bs):
            xb = x[i : i + bs]
            rec.begin(len(xb), cpu)
            rec.forward(xb)
            rec.packed()


class HDF5DeflateWriter(CodeWriter):
    """The writer before issue 21: HDF5 deflates each chunk inside h5py's write, the GIL held."""

    def _split_group(self, split: str, sample: Any = None) -> Any:
        group = super()._split_group(split, sample)
        self._streams.pop(split, None)  # rows go through ds[...] = rows, as they did
        return group


def full_extract(
    model: nn.Module,
    x: torch.Tensor,
    bs: int,
    sites: list[Any],
    compression: str | None,
    census: list[Any] | None = None,
    writer: type[CodeWriter] = CodeWriter,
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.h5"
        with writer(
            path, [s.layer_info() for s in sites], make_provenance(command="bench"), compression=compression
        ) as w:
            extract_codes(
                model,
                (x, torch.zeros(len(x), dtype=torch.int64)),
                sites,
                w,
                "test",
                batch_size=bs,
                device="cpu",
                census=census,
            )


def best_of(fns: dict[str, Callable[[], None]], repeat: int) -> dict[str, tuple[float, float]]:
    """Best wall-clock and best process CPU time of each function over ``repeat`` interleaved runs."""
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            cpu[name].append(time.process_time() - c)
            wall[name].append(time.perf_counter() - t)
    return {k: (min(wall[k]), min(cpu[k])) for k in fns}


def overhead(name: str, model: nn.Module, shape: tuple[int, ...], n: int, bs: int, repeat: int) -> None:
    model.eval()
    x = torch.rand(n, *shape)
    sites = find_sites(model, x[:2])
    d = sum(s.n_units for s in sites)
    forward_only(model, x[: 2 * bs], bs)  # warm-up
    t = best_of(
        {
            "forward": lambda: forward_only(model, x, bs),
            "codes": lambda: codes_only(model, x, bs, sites, "auto"),
            "codes_torch": lambda: codes_only(model, x, bs, sites, "torch"),
            "extract_gzip": lambda: full_extract(model, x, bs, sites, "gzip"),
            "extract_raw": lambda: full_extract(model, x, bs, sites, None),
        },
        repeat,
    )
    (bw, bc) = t["forward"]
    print(f"{name}: N={n} batch={bs} sites={len(sites)} D={d} bits/row, threads={torch.get_num_threads()}")
    for key, label in [
        ("codes", "codes only"),
        ("codes_torch", "codes, torch packing"),
        ("extract_gzip", "extract_codes gzip"),
        ("extract_raw", "uncompressed"),
    ]:
        w, c = t[key]
        print(
            f"  {label:22s} wall {w:.3f}s (x{w / bw:.2f} of forward {bw:.3f}s) | "
            f"cpu {c:.3f}s (x{c / bc:.2f} of {bc:.3f}s)"
        )


RSS_CHILD = """
import json, resource, sys, tempfile
from pathlib import Path
import torch
from torch import nn
from actcode.extraction import RandomInputs, extract_model
n, ch, bs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(3, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(),
    nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, 10))
with tempfile.TemporaryDirectory() as d:
    out = extract_model(model, {"random": RandomInputs(n, (3, 32, 32), (0.0, 1.0), seed=0)}, Path(d) / "r.h5",
                        device="cpu", batch_size=bs)
    size = (Path(d) / "r.h5").stat().st_size
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": n, "maxrss_kib": rss, "file_bytes": size,
                  "d": 3 * ch * 32 * 32}))
"""


def peak_rss(n: int, channels: int, bs: int) -> dict[str, int]:
    proc = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(n), str(channels), str(bs)],
        capture_output=True, text=True, check=True, env=os.environ.copy(),
    )  # fmt: skip
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def memory(n: int, channels: int, bs: int) -> None:
    a = peak_rss(n, channels, bs)
    b = peak_rss(4 * n, channels, bs)
    d = a["d"]
    extra_unpacked = 3 * n * d / 2**20
    print(
        f"peak RSS (ru_maxrss of a subprocess), CNN with D={d} bits/row, batch {bs}, random inputs:\n"
        f"  N={n}: {a['maxrss_kib'] / 1024:.0f} MiB (file {a['file_bytes'] / 2**20:.0f} MiB) | "
        f"4N={4 * n}: {b['maxrss_kib'] / 1024:.0f} MiB (file {b['file_bytes'] / 2**20:.0f} MiB) | "
        f"ratio {b['maxrss_kib'] / a['maxrss_kib']:.3f}; holding the 3N extra rows' bool masks would add "
        f"{extra_unpacked:.0f} MiB, their packed bytes {extra_unpacked / 8:.0f} MiB"
    )


def cifar_functional_resnet() -> nn.Module:
    """The pytorch-cifar ResNet-18 layout (F.relu in forward), at 1/4 width: the operator-level path."""
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.sc: nn.Module = nn.Sequential()
            if stride != 1 or cin != cout:
                self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = F.relu(self.b1(self.c1(x)))
            return F.relu(self.b2(self.c2(out)) + self.sc(x))

    class Net(nn.Module):
        def __init__(self, w: int = 16) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w)
            chans, blocks, cin = [w, 2 * w, 4 * w, 8 * w], [], w
            for i, c in enumerate(chans):
                for j in range(2):
                    blocks.append(Block(cin, c, 2 if i and not j else 1))
                    cin = c
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(cin, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.blocks(F.relu(self.bn(self.conv(x))))
            y: torch.Tensor = self.fc(F.adaptive_avg_pool2d(out, 1).flatten(1))
            return y

    return Net()


def target_models(quick: bool) -> list[tuple[str, nn.Module, tuple[int, ...], int, int]]:
    """(name, model, input shape, N, batch) of the issue-12 targets."""
    from torchvision.models import resnet18

    return [
        ("digits MLP (width 64)", build_model(ModelSpec(width=64), (1, 8, 8), 10), (1, 8, 8),
         1797 if quick else 17970, 256),
        ("CIFAR ResNet-20", build_model(ModelSpec(name="resnet20"), (3, 32, 32), 10), (3, 32, 32),
         256 if quick else 1024, 128),
        ("pytorch-cifar ResNet-18 x0.25, F.relu", cifar_functional_resnet(), (3, 32, 32),
         256 if quick else 1024, 128),
        ("torchvision ResNet-18 224x224", resnet18(), (3, 224, 224), 32 if quick else 96, 32),
    ]  # fmt: skip


def target(name: str, model: nn.Module, shape: tuple[int, ...], n: int, bs: int, repeat: int) -> None:
    """One model: default extraction (compression auto, threaded writes) against a plain forward pass."""
    model.eval()
    x = torch.rand(n, *shape)
    sites = find_sites(model, x[:2], mode="ops")
    d = sum(s.n_units for s in sites)
    ops = sum(1 for s in sites if s.op)
    forward_only(model, x[: min(n, 2 * bs)], bs)  # warm-up
    t = best_of(
        {
            "forward": lambda: forward_only(model, x, bs),
            "codes": lambda: codes_only(model, x, bs, sites, "auto"),
            "auto": lambda: full_extract(model, x, bs, sites, "auto", sites),
            "auto_hdf5": lambda: full_extract(model, x, bs, sites, "auto", sites, HDF5DeflateWriter),
            "gzip": lambda: full_extract(model, x, bs, sites, "gzip", sites),
            "none": lambda: full_extract(model, x, bs, sites, None, sites),
        },
        repeat,
    )
    bw, bc = t["forward"]
    print(f"{name}: N={n} batch={bs} sites={len(sites)} ({ops} op sites) D={d} bits/row")
    labels = (
        ("codes", "codes, no file"),
        ("auto", "default (auto)"),
        ("auto_hdf5", "auto, HDF5 deflate (before)"),
        ("gzip", "gzip"),
        ("none", "no compression"),
    )
    for key, label in labels:
        w, c = t[key]
        print(f"  {label:27s} wall x{w / bw:.2f} of forward {bw:.3f}s | cpu x{c / bc:.2f} of {bc:.3f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--skip-targets", action="store_true", help="skip the issue-12 targets (part 0)")
    ap.add_argument("--only-targets", action="store_true", help="run the issue-12 targets only")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--models", default="", help="targets whose name holds one of these (comma list)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    q = args.quick
    torch.manual_seed(0)
    if not args.skip_targets:
        wanted = [m.strip().lower() for m in args.models.split(",") if m.strip()]
        for spec in target_models(q):
            if not wanted or any(w in spec[0].lower() for w in wanted):
                target(*spec, args.repeat)
    if args.only_targets:
        return
    if not args.skip_overhead:
        mlp = build_model(ModelSpec(name="mlp", widths=(1024, 1024, 1024), bn=True), (1, 28, 28), 10)
        overhead("MLP 784-1024x3 (BN)", mlp, (1, 28, 28), 4096 if q else 16384, 256, args.repeat)
        cnn = build_model(ModelSpec(name="vgg11", width_mult=0.25, fc=(128, 128)), (3, 32, 32), 10)
        overhead("CNN VGG-11 x0.25 (BN)", cnn, (3, 32, 32), 512 if q else 2048, 256, args.repeat)
    if not args.skip_memory:
        memory(500 if q else 2000, 64, 64)


if __name__ == "__main__":
    main()
