"""Benchmark of ``actcode extract``: overhead against a plain forward pass, and peak RSS against N.

Run: ``.venv/bin/python tests/benchmarks/bench_extract.py`` (add ``--quick`` for a smaller run).
Prints ratios and measurements; asserts nothing about time.

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

import torch
from torch import nn

from actcode.config import ModelSpec
from actcode.extraction import SiteRecorder, extract_codes, find_sites
from actcode.io import CodeWriter, make_provenance
from actcode.models import build_model


def forward_only(model: nn.Module, x: torch.Tensor, bs: int) -> None:
    with torch.inference_mode():
        for i in range(0, len(x), bs):
            model(x[i : i + bs])


def codes_only(model: nn.Module, x: torch.Tensor, bs: int, sites: list, backend: str) -> None:
    cpu = torch.device("cpu")
    with torch.inference_mode(), SiteRecorder(model, sites, backend=backend) as rec:
        for i in range(0, len(x), bs):
            xb = x[i : i + bs]
            rec.begin(len(xb), cpu)
            model(xb)
            rec.packed()


def full_extract(model: nn.Module, x: torch.Tensor, bs: int, sites: list, compression: str | None) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "b.h5"
        with CodeWriter(
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    q = args.quick
    torch.manual_seed(0)
    if not args.skip_overhead:
        mlp = build_model(ModelSpec(name="mlp", widths=(1024, 1024, 1024), bn=True), (1, 28, 28), 10)
        overhead("MLP 784-1024x3 (BN)", mlp, (1, 28, 28), 4096 if q else 16384, 256, args.repeat)
        cnn = build_model(ModelSpec(name="vgg11", width_mult=0.25, fc=(128, 128)), (3, 32, 32), 10)
        overhead("CNN VGG-11 x0.25 (BN)", cnn, (3, 32, 32), 512 if q else 2048, 256, args.repeat)
    if not args.skip_memory:
        memory(500 if q else 2000, 64, 64)


if __name__ == "__main__":
    main()
