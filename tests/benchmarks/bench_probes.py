"""Benchmark the K-Means and logistic-regression probes on wide codes (N < D): span path vs dense.

Run: ``python tests/benchmarks/bench_probes.py [--bits 1400000 --train 300 --test 100]
[--kind structured|random] [--no-dense] [--no-process]``. Prints a short results text on stdout
(progress on stderr). Never asserts on time.

In one process, on the same packed codes (10 classes; ``structured``: each row is its class
prototype with 1/8 of its bits flipped; ``random``: uniform bits and labels):

- **new**: :func:`actcode.probes.probe_codes` with ``probes=["kmeans", "logreg"]``, which takes the
  span path (exact popcount Gram matrix, the same scikit-learn estimators on N coordinates);
- **current**: the same call forced onto the dense path (the code before the span path: a
  float64 matrix for K-Means, float32 for LR, a column subset beyond ``--max-memory``);
- **sklearn dense**: the peer: scikit-learn's ``KMeans(n_clusters=10, random_state=9)`` on each
  split and ``LogisticRegression(random_state=9)`` fit on train and scored on both, given the
  dense float64 matrices (their unpacking is not timed);
- **whole process**: ``python -m actcode probe FILE --probes kmeans,logreg`` (a subprocess: start,
  read, probe, write) against the sklearn dense time.

A ratio is (their time) / (our time), so > 1 means the new probe is faster. The accuracies of
each are printed beside the times.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from actcode.codes import LayerInfo, layout_layers, pad_mask
from actcode.io import CodeWriter, make_provenance
from actcode.probes import dense as dense_module
from actcode.probes import probe_codes

N_CLASSES = 10


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def make_codes(
    kind: str, n_train: int, n_test: int, n_bits: int, seed: int = 0
) -> tuple[list[LayerInfo], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Packed codes and labels of ``kind`` (structured or random), one site of ``n_bits`` units."""
    rng = np.random.default_rng(seed)
    layers = layout_layers([LayerInfo("features.relu", "ReLU", (n_bits,))])
    mask = ~pad_mask(layers)
    nb = mask.size

    def rand(n: int) -> np.ndarray:
        return np.frombuffer(rng.bytes(n * nb), np.uint8).reshape(n, nb).copy()

    protos = rand(N_CLASSES)
    codes, labels = {}, {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, N_CLASSES, n)
        if kind == "random":
            rows = rand(n)
        else:
            rows = protos[y] ^ (rand(n) & rand(n) & rand(n))
        codes[split], labels[split] = rows & mask, y
    return layers, codes, labels


def _accuracies(r: Any) -> str:
    t = r.table
    return (
        f"kmeans(test) {t.get('test', 'all', 'kmeans_majority_accuracy'):.3f}, "
        f"logreg(test) {t.get('test', 'all', 'logreg_accuracy'):.3f}"
    )


def run_probe(layers: list[LayerInfo], codes: Any, labels: Any, *, dense: bool) -> tuple[float, float, Any]:
    """Wall and CPU seconds and result of the two probes; ``dense`` forces the dense (current) path."""
    never = mock.patch.object(dense_module, "span_fits", return_value=False)
    with never if dense else contextlib.nullcontext():
        t, c = time.perf_counter(), time.process_time()
        r = probe_codes(codes, labels, layers, probes=["kmeans", "logreg"])
        return time.perf_counter() - t, time.process_time() - c, r


def sklearn_dense(layers: list[LayerInfo], codes: Any, labels: Any) -> tuple[float, float, str]:
    """The peer: scikit-learn's estimators on dense float64 matrices (unpacking not timed)."""
    from sklearn.cluster import KMeans
    from sklearn.linear_model import LogisticRegression

    n_bits = layers[0].n_units
    elapsed, cpu, km_acc = 0.0, 0.0, 0.0
    from actcode.probes.kmeans import majority_accuracy

    for split in ("train", "test"):
        X = np.unpackbits(codes[split], axis=1, count=n_bits).astype(np.float64)
        t, c = time.perf_counter(), time.process_time()
        km = KMeans(n_clusters=N_CLASSES, random_state=9).fit(X)
        elapsed, cpu = elapsed + time.perf_counter() - t, cpu + time.process_time() - c
        km_acc = majority_accuracy(km.labels_, labels[split])
        del X
    X = np.unpackbits(codes["train"], axis=1, count=n_bits).astype(np.float64)
    t, c = time.perf_counter(), time.process_time()
    lr = LogisticRegression(random_state=9).fit(X, labels["train"])
    lr.score(X, labels["train"])
    elapsed, cpu = elapsed + time.perf_counter() - t, cpu + time.process_time() - c
    del X
    X = np.unpackbits(codes["test"], axis=1, count=n_bits).astype(np.float64)
    t, c = time.perf_counter(), time.process_time()
    lr_acc = lr.score(X, labels["test"])
    elapsed, cpu = elapsed + time.perf_counter() - t, cpu + time.process_time() - c
    return elapsed, cpu, f"kmeans(test) {km_acc:.3f}, logreg(test) {lr_acc:.3f}"


def whole_process(layers: list[LayerInfo], codes: Any, labels: Any, folder: Path) -> float:
    """Wall seconds of ``actcode probe --probes kmeans,logreg`` on a file of these codes."""
    path = folder / "codes.h5"
    with CodeWriter(path, layers, make_provenance(command="bench_probes")) as w:
        for split in ("train", "test"):
            w.append(split, codes[split], labels=labels[split])
    cmd = [sys.executable, "-m", "actcode", "-q", "probe", str(path), "--probes", "kmeans,logreg"]
    cmd += ["-o", str(folder / "probed.h5")]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=1_400_000)
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--kind", choices=["structured", "random"], default="structured")
    ap.add_argument("--no-dense", action="store_true", help="Skip the current dense path (slow).")
    ap.add_argument("--no-process", action="store_true", help="Skip the whole `actcode probe` process.")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    say(f"codes: {args.kind}, {args.train} + {args.test} rows x {args.bits} bits")
    layers, codes, labels = make_codes(args.kind, args.train, args.test, args.bits)
    lines = [f"{args.kind} codes, {args.train} train + {args.test} test rows x {args.bits} bits, 10 classes"]
    lines.append(f"  load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    say("new probe (span path) ...")
    t_new, c_new, r_new = run_probe(layers, codes, labels, dense=False)
    cols = r_new.params["columns"]["all"]
    ranks = f"{cols.get('span_rank_train')}/{cols.get('span_rank_test')}"
    lines.append(f"  new (path {cols['path']}, ranks {ranks}; seconds {r_new.params['seconds']}):")
    lines.append(f"    {t_new:.2f} s ({c_new:.2f} s CPU); {_accuracies(r_new)}")
    say("sklearn dense estimators ...")
    t_sk, c_sk, acc_sk = sklearn_dense(layers, codes, labels)
    lines.append(
        f"  sklearn dense estimators: {t_sk:.2f} s ({c_sk:.2f} s CPU); {acc_sk} "
        f"-> new is {t_sk / t_new:.1f}x "
        f"faster ({c_sk / c_new:.1f}x in CPU)"
    )
    if not args.no_dense:
        say("current probe (dense path) ...")
        t_old, c_old, r_old = run_probe(layers, codes, labels, dense=True)
        approx = r_old.params["columns"]["all"]["approximate"]
        lines.append(
            f"  current (dense path, column subset: {approx}): {t_old:.2f} s ({c_old:.2f} s CPU); "
            f"{_accuracies(r_old)} -> new is {t_old / t_new:.1f}x faster ({c_old / c_new:.1f}x in CPU)"
        )
    if not args.no_process:
        say("whole actcode probe process ...")
        with tempfile.TemporaryDirectory() as tmp:
            t_proc = whole_process(layers, codes, labels, Path(tmp))
        lines.append(
            f"  whole `actcode probe --probes kmeans,logreg` process: {t_proc:.2f} s "
            f"-> {t_sk / t_proc:.1f}x faster than the sklearn dense estimators alone"
        )
    lines.append(f"  load average at end: {os.getloadavg()[0]:.1f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
