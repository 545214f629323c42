"""Benchmark: ``actcode sweep`` against the same cells run as a bash pipeline, and --jobs 2 against 1.

On the digits model-size grid (examples/model_size.toml; narrow it with --widths, --seeds and
--epochs for a short run), three runs, each in a fresh folder:

- the bash pipeline, one cell after the other:
  ``actcode -q train ... | actcode -q extract | actcode -q measure | actcode -q probe``;
- ``actcode sweep --jobs 1`` (the same cells, one at a time);
- ``actcode sweep --jobs 2``.

Prints wall-clock and CPU seconds (the children's user + system time) of each, the sweep's
overhead per cell against the pipeline (target: under 5 %), and the speed-up of --jobs 2 over
--jobs 1. Never asserts on time. Checks that the three runs made the same code files.

Run:  .venv/bin/python tests/benchmarks/bench_sweep.py [--widths 4,8,16,32] [--seeds 0] [--epochs 30]
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from actcode.sweep import load_spec, make_cells
from actcode.testing.helpers import code_file_content

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "model_size.toml"
ACT = [sys.executable, "-m", "actcode"]


def timed(cmd: list[str] | str, *, shell: bool = False) -> tuple[float, float, str]:
    """Run ``cmd``; return wall seconds, CPU seconds of the children, and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    shell_exe = "/bin/bash" if shell else None
    r = subprocess.run(cmd, shell=shell, capture_output=True, text=True, check=False, executable=shell_exe)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        msg = f"failed ({r.returncode}): {cmd}\n{r.stderr[-2000:]}"
        raise SystemExit(msg)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stdout


def train_args(options: dict[str, object]) -> list[str]:
    """``actcode train`` arguments for a cell's options."""
    out: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else f"--no-{key.replace('_', '-')}")
        elif isinstance(value, list | tuple):
            out += [flag, ",".join(map(str, value))]
        else:
            out += [flag, str(value)]
    return out


def bash_pipeline(options: list[dict[str, object]], runs: Path) -> str:
    act = " ".join(shlex.quote(a) for a in ACT)
    lines = ["set -euo pipefail"]
    for o in options:
        args = " ".join(shlex.quote(a) for a in train_args({**o, "out": str(runs)}))
        lines.append(f"{act} -q train {args} | {act} -q extract | {act} -q measure | {act} -q probe")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default=None, help="comma list (default: the spec's)")
    ap.add_argument("--seeds", default=None, help="comma list (default: the spec's)")
    ap.add_argument("--epochs", type=int, default=None)
    args = ap.parse_args()
    grids = [f"width={args.widths}"] if args.widths else []
    grids += [f"seed={args.seeds}"] if args.seeds else []
    sets = [f"train.epochs={args.epochs}"] if args.epochs else []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        spec = load_spec(SPEC, out=base / "bash", sets=sets, grids=grids)
        cells = make_cells(spec)
        n = len(cells)
        print(f"{n} cells: {', '.join(c.label for c in cells)}; {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        (base / "bash" / "runs").mkdir(parents=True)
        options = [{k: v for k, v in c.options.items() if k != "out"} for c in cells]
        results: dict[str, tuple[float, float, list[Path]]] = {}
        wall, cpu, out = timed(bash_pipeline(options, base / "bash" / "runs"), shell=True)
        results["bash pipeline"] = (wall, cpu, [Path(p) for p in out.split()])
        for jobs in (1, 2):
            cmd = [*ACT, "-q", "sweep", str(SPEC), "--out", str(base / f"jobs{jobs}"), "--jobs", str(jobs)]
            cmd += [a for g in grids for a in ("--grid", g)] + [a for s in sets for a in ("--set", s)]
            wall, cpu, out = timed(cmd)
            results[f"sweep --jobs {jobs}"] = (wall, cpu, [Path(p) for p in out.split()])
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        print(f"{'run':<16} {'wall s':>8} {'CPU s':>8} {'files':>6}")
        for name, (wall, cpu, paths) in results.items():
            print(f"{name:<16} {wall:8.1f} {cpu:8.1f} {len(paths):6d}")
        ref = [code_file_content(p) for p in results["bash pipeline"][2]]
        for name, (_, _, paths) in results.items():
            same = [code_file_content(p) for p in paths] == ref
            print(f"{name}: {'the same' if same else 'DIFFERENT'} code files as the bash pipeline")
        bash_wall, bash_cpu = results["bash pipeline"][:2]
        one_wall, one_cpu = results["sweep --jobs 1"][:2]
        two_wall = results["sweep --jobs 2"][0]
        print(f"sweep overhead per cell vs the pipeline: wall {(one_wall - bash_wall) / n:+.2f} s "
              f"({one_wall / bash_wall - 1:+.1%}), CPU {(one_cpu - bash_cpu) / n:+.2f} s "
              f"({one_cpu / bash_cpu - 1:+.1%}); target under +5 %")  # fmt: skip
        print(f"--jobs 2 over --jobs 1: {one_wall / two_wall:.2f}x faster (wall)")


if __name__ == "__main__":
    main()
