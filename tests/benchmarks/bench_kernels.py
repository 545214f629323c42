"""Benchmark actcode's kernels and probes against the study's methods, FAISS and the machine's limits.

Run: ``python tests/benchmarks/bench_kernels.py [--quick] [--sizes 1000,4000]``. Prints a short
results text on stdout (progress on stderr). Never asserts on time.

All comparisons use the same generated codes: N_train = 48 000 and N_test = 10 000 rows of
D bits with 10 classes (each row is its class prototype with 30 % of bits flipped) and 5 %
duplicate rows. Times are the best of a few runs for fast calls and one run for slow ones;
a ratio is (their time) / (our time), so > 1 means actcode is faster.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from actcode import kernels as K
from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.testing import synthetic_bits

N_TRAIN, N_TEST, K_NN = 48000, 10000, 9


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def best(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls, and the last result."""
    out: Any = None
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


# -- machine limits -----------------------------------------------------------------------------


@njit(cache=True)
def _popcount_loop(a, b, reps):  # type: ignore[no-untyped-def]
    # XOR + popcount + sum over two L1-resident word arrays, repeated: the compute ceiling of
    # the inner loop every Hamming kernel runs (LLVM vectorises it with VPOPCNTQ where present)
    s = 0
    for r in range(reps):
        acc = 0
        for i in range(a.shape[0]):
            acc += K.popcount64(a[i] ^ b[i])
        s += acc + r
    return s


@njit(parallel=True, cache=True)
def _popcount_threads(a, b, reps):  # type: ignore[no-untyped-def]
    out = np.zeros(a.shape[0], np.int64)
    for t in prange(a.shape[0]):
        out[t] = _popcount_loop(a[t], b[t], reps)
    return out


@njit(parallel=True, cache=True)
def _sum_words(words):  # type: ignore[no-untyped-def]
    s = np.uint64(0)
    for i in prange(words.shape[0]):
        s += words[i]
    return s


def machine_limits() -> dict[str, float]:
    threads = numba.get_num_threads()
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, (threads, 1024), dtype=np.uint64)  # 8 KiB per thread and array
    b = a[:, ::-1].copy()
    reps = 20000
    _popcount_loop(a[0], b[0], 2)
    _popcount_threads(a, b, 2)
    t1, _ = best(lambda: _popcount_loop(a[0], b[0], reps), 3)
    tn, _ = best(lambda: _popcount_threads(a, b, reps), 3)
    big = np.ones((1 << 30) // 8, np.uint64)  # 1 GiB
    _sum_words(big[:1000])
    tb, _ = best(lambda: _sum_words(big), 3)
    return {
        "popcount_words_per_s": max(a.size * reps / tn, 1024 * reps / t1),
        "popcount_words_per_s_1": 1024 * reps / t1,
        "read_bytes_per_s": (1 << 30) / tb,
        "threads": threads,
    }


# -- data -----------------------------------------------------------------------------------------


def make_codes(n_bits: int, seed: int = 0) -> dict[str, np.ndarray]:
    b, y, protos = synthetic_bits(N_TRAIN, n_bits, n_classes=10, flip=0.3, duplicates=0.05, seed=seed)
    bt, yt, _ = synthetic_bits(
        N_TEST, n_bits, n_classes=10, flip=0.3, duplicates=0.05, seed=seed + 1, prototypes=protos
    )
    bt[:200], yt[:200] = b[:200], y[:200]  # some test codes equal to training codes
    return {
        "bits": b,
        "y": y,
        "bits_test": bt,
        "y_test": yt,
        "packed": np.packbits(b, axis=1),
        "packed_test": np.packbits(bt, axis=1),
    }


# -- comparisons ----------------------------------------------------------------------------------


@njit(cache=True)
def _sorted_count(hashes):  # type: ignore[no-untyped-def]
    h = np.sort(hashes)
    n = 1 if h.size else 0
    for i in range(1, h.size):
        n += h[i] != h[i - 1]
    return n


def plain_hash_count(packed: np.ndarray) -> int:
    """The floor of any exact method: hash every row (Numba), sort the hashes, count the changes.

    It returns a count only, and a count that two different rows with one hash would make
    wrong; ``group_rows`` returns the exact groups."""
    return int(_sorted_count(K.row_hashes(K.to_words(packed))))


def bench_uniqueness(d: dict[str, np.ndarray], lines: list[str]) -> None:
    x8 = d["bits"].astype(np.int8)
    plain_hash_count(d["packed"][:10])  # compile
    t_ours, ids = best(lambda: K.group_rows(K.to_words(d["packed"])), 15)
    t_plain, n_plain = best(lambda: plain_hash_count(d["packed"]), 15)
    say("  np.unique(axis=0) on int8 rows ...")
    t_np, uniq = best(lambda: np.unique(x8, axis=0), 1)
    t_void, _ = best(
        lambda: np.unique(d["packed"].view(np.dtype((np.void, d["packed"].shape[1]))).ravel()), 3
    )
    assert int(ids.max()) + 1 == uniq.shape[0] == n_plain, "distinct counts differ"  # correctness, not time
    lines.append(
        f"  uniqueness (train, {uniq.shape[0]} distinct): actcode group_rows {t_ours * 1e3:.1f} ms | "
        f"np.unique(int8, axis=0) {t_np:.2f} s -> {t_np / t_ours:.0f}x | "
        f"np.unique(void view of packed) {t_void * 1e3:.1f} ms -> {t_void / t_ours:.1f}x | "
        f"plain Numba hash+sort count {t_plain * 1e3:.1f} ms -> "
        f"group_rows takes {t_ours / t_plain:.2f}x its time"
    )


def bench_knn(d: dict[str, np.ndarray], lines: list[str], limits: dict[str, float], quick: bool) -> None:
    import faiss
    from sklearn.neighbors import KNeighborsClassifier

    from actcode.probes import HammingKNNClassifier

    n_bits = d["bits"].shape[1]
    words, qwords = K.to_words(d["packed"]), K.to_words(d["packed_test"])
    t_topk, (dist, idx) = best(lambda: K.topk_hamming(qwords, words, K_NN))
    knn = HammingKNNClassifier(K_NN).fit(d["packed"], d["y"])
    t_pred, pred = best(lambda: knn.predict(d["packed_test"]))
    index = faiss.IndexBinaryFlat(n_bits)
    index.add(d["packed"])
    t_faiss, (fd, fi) = best(lambda: index.search(d["packed_test"], K_NN))
    same = bool((fd == dist).all())
    n_sub = 200 if quick else 1000
    sk = KNeighborsClassifier(n_neighbors=K_NN, metric="hamming").fit(d["bits"], d["y"])
    say(f"  scikit-learn Hamming K-NN on {n_sub} queries ...")
    t_sub, sk_pred = best(lambda: sk.predict(d["bits_test"][:n_sub]), 1)
    t_sk = t_sub * N_TEST / n_sub
    agree = float((sk_pred == knn.set_params(tie_break="label").predict(d["packed_test"][:n_sub])).mean())
    knn.set_params(tie_break="distance")
    pairs_words = N_TEST * N_TRAIN * words.shape[1]
    lines.append(
        f"  9-NN of {N_TEST} test rows: actcode top-k {t_topk:.3f} s, predict {t_pred:.3f} s "
        f"(accuracy {(pred == d['y_test']).mean():.4f})"
    )
    lines.append(
        f"    vs FAISS IndexBinaryFlat search {t_faiss:.3f} s ({faiss.omp_get_max_threads()} threads) -> "
        f"{t_faiss / t_topk:.2f}x; same distances: {same}, same ids: {bool((fi == idx).all())}"
    )
    lines.append(
        f"    vs scikit-learn KNeighborsClassifier(9, metric='hamming').predict: {t_sub:.2f} s on {n_sub} "
        f"queries, scaled linearly to {N_TEST}: {t_sk:.1f} s -> {t_sk / t_pred:.0f}x "
        f"(predictions agree on {agree:.3f} of those queries; ties at the 9th neighbour differ)"
    )
    rate = pairs_words / t_topk
    lines.append(
        f"    top-k throughput {rate / 1e9:.2f} G words/s = "
        f"{rate / limits['popcount_words_per_s']:.0%} of the "
        f"XOR+popcount peak; train rows read (once per 4 queries, {words.nbytes / 1e6:.0f} MB each time): "
        f"{N_TEST / 4 * words.nbytes / t_topk / 1e9:.1f} GB/s, vs RAM read "
        f"{limits['read_bytes_per_s'] / 1e9:.1f} GB/s (above it = served from cache)"
    )


def _class_nn(words: np.ndarray, y: np.ndarray, symmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """measure's nearest-neighbour pass: every row a query, 32 MiB row blocks merged through state."""
    n = words.shape[0]
    q = np.arange(n, dtype=np.int64)
    step = max(1, (32 << 20) // (8 * words.shape[1]))
    state = None
    for s in range(0, n, step):
        rows = [(s, words[s : s + step], y[s : s + step])]
        state = K.nearest_class_distances(words, y, q, rows, state=state, symmetric=symmetric)
    assert state is not None
    return state


def bench_symmetric(packed: np.ndarray, y: np.ndarray, lines: list[str], faiss_peer: bool = True) -> None:
    """measure's nearest-class distances within one split: each pair once against each pair twice."""
    n, n_bits = packed.shape[0], 8 * packed.shape[1]
    words = K.to_words(packed)
    _class_nn(words[:64], y[:64], True)  # compile
    _class_nn(words[:64], y[:64], False)
    t_one, (w1, b1) = best(lambda: _class_nn(words, y, False), 1)
    t_sym, (w2, b2) = best(lambda: _class_nn(words, y, True), 1)
    same = bool((w1 == w2).all() and (b1 == b2).all())
    text = (
        f"  nearest-class distances within {n} rows x {n_bits} bits (measure's NN pass): each pair twice "
        f"{t_one:.2f} s | each pair once {t_sym:.2f} s -> {t_one / t_sym:.2f}x; same minima: {same}"
    )
    if faiss_peer:
        import faiss

        index = faiss.IndexBinaryFlat(n_bits)
        index.add(packed)
        index.search(packed[:64], 2)
        t_faiss, _ = best(lambda: index.search(packed, 2), 1)
        text += f"\n    vs FAISS IndexBinaryFlat self-search, k=2 (nearest other row): {t_faiss:.2f} s -> "
        text += f"{t_faiss / t_sym:.2f}x"
    lines.append(text)


def bench_dense_probes(d: dict[str, np.ndarray], lines: list[str]) -> None:
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsOneClassifier

    from actcode.probes import probe_codes

    warnings.simplefilter("ignore", ConvergenceWarning)
    layers = layout_layers([LayerInfo("fc", "ReLU", (d["bits"].shape[1],))])
    codes = {"train": pack_bits(d["bits"], layers), "test": pack_bits(d["bits_test"], layers)}
    labels = {"train": d["y"], "test": d["y_test"]}
    x8 = d["bits"].astype(np.int8)
    say("  study K-Means call ...")
    t_km_study, _ = best(lambda: KMeans(n_clusters=10, random_state=9).fit(x8), 1)
    t_km_ours = probe_codes({"train": codes["train"]}, {"train": d["y"]}, layers, probes=["kmeans"]).params[
        "seconds"
    ]["all/kmeans"]
    say("  study one-vs-one logistic regression call ...")
    x8_test = d["bits_test"].astype(np.int8)

    def study_lr() -> float:  # the study: fit on train, accuracy on test
        model = OneVsOneClassifier(LogisticRegression(random_state=9)).fit(x8, d["y"])
        return float(model.score(x8_test, d["y_test"]))

    t_lr_study, _ = best(study_lr, 1)
    r = probe_codes(codes, labels, layers, probes=["logreg"], ovo=True)
    t_lr_ours = r.params["seconds"]["all/logreg"]
    lines.append(
        f"  K-Means (k=10, n_init='auto'=1, train): study call on int8 {t_km_study:.1f} s | actcode probe "
        f"(unpack to float64 + same sklearn KMeans) {t_km_ours:.1f} s -> {t_km_study / t_km_ours:.2f}x"
    )
    lines.append(
        f"  OvO logistic regression: study call on int8 (fit on train, test accuracy) {t_lr_study:.1f} s | "
        f"actcode probe (float32; fit, train and test accuracy) {t_lr_ours:.1f} s "
        f"-> {t_lr_study / t_lr_ours:.2f}x"
    )


def bench_pipeline(d: dict[str, np.ndarray], lines: list[str]) -> None:
    from actcode.io import open_codes
    from actcode.measures import measure_file
    from actcode.probes import run_probes
    from actcode.testing.helpers import write_code_file

    layers = layout_layers([LayerInfo("fc", "ReLU", (d["bits"].shape[1],))])
    with tempfile.TemporaryDirectory() as tmp:
        path = write_code_file(
            Path(tmp) / "bench.h5",
            {"train": d["bits"], "test": d["bits_test"]},
            {"train": d["y"], "test": d["y_test"]},
            layers,
            block_rows=8192,
        )
        c0, t0 = time.process_time(), time.perf_counter()
        _, mt = measure_file(path)
        t1 = time.perf_counter()
        _, pt = run_probes(path)
        c2, t2 = time.process_time(), time.perf_counter()
        with open_codes(path) as cf:
            seconds = cf.result_params("probe")["seconds"]
    lines.append(
        f"  measure + probe on the {N_TRAIN}/{N_TEST} x {d['bits'].shape[1]}-bit file (defaults: K-NN + mAP, "
        f"K-Means n_init='auto', multinomial LR): measure {t1 - t0:.1f} s + probe {t2 - t1:.1f} s = "
        f"{t2 - t0:.1f} s wall, {c2 - c0:.1f} s CPU (target < 60 s wall on 2 cores)"
    )
    lines.append("    probe parts (s): " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    lines.append(
        f"    R train {mt.get('train', 'all', 'redundancy'):.4f}, "
        f"test {mt.get('test', 'all', 'redundancy'):.4f}; "
        f"K-NN {pt.get('test', 'all', 'knn_accuracy'):.4f}, "
        f"K-Means test {pt.get('test', 'all', 'kmeans_majority_accuracy'):.4f}, "
        f"LR test {pt.get('test', 'all', 'logreg_accuracy'):.4f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,4000", help="Code lengths D to benchmark.")
    ap.add_argument("--only-uniqueness", action="store_true", help="Run the uniqueness comparison alone.")
    ap.add_argument(
        "--symmetric",
        default="",
        help="Only the symmetric nearest-neighbour search, on ROWSxBITS,... (e.g. 10000x1000,2000x200000).",
    )
    ap.add_argument(
        "--quick", action="store_true", help="Fewer scikit-learn queries; skip the dense probes at D > 1000."
    )
    args = ap.parse_args()
    lines = [
        f"actcode kernel benchmark  ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numba {numba.__version__}, numpy {np.__version__}, load average {os.getloadavg()[0]:.1f})"
    ]
    if args.symmetric:
        for item in args.symmetric.split(","):
            n, n_bits = (int(v) for v in item.lower().split("x"))
            say(f"symmetric search, {n} x {n_bits} bits ...")
            b, y, _ = synthetic_bits(n, n_bits, n_classes=10, flip=0.3, duplicates=0.05, seed=0)
            bench_symmetric(np.packbits(b, axis=1), y, lines, faiss_peer=n_bits <= 8192)
        print("\n".join(lines))
        return
    if args.only_uniqueness:
        for n_bits in (int(s) for s in args.sizes.split(",")):
            lines.append(f"D = {n_bits} bits, N_train = {N_TRAIN}:")
            bench_uniqueness(make_codes(n_bits), lines)
        print("\n".join(lines))
        return
    say("machine limits ...")
    limits = machine_limits()
    lines.append(
        f"  machine: XOR+popcount peak {limits['popcount_words_per_s'] / 1e9:.1f} G words/s with "
        f"{limits['threads']} threads ({limits['popcount_words_per_s_1'] / 1e9:.1f} on one), L1-resident; "
        f"RAM read {limits['read_bytes_per_s'] / 1e9:.1f} GB/s"
    )
    for n_bits in (int(s) for s in args.sizes.split(",")):
        say(f"D = {n_bits}: generating codes ...")
        d = make_codes(n_bits)
        lines.append(f"D = {n_bits} bits, N_train = {N_TRAIN}, N_test = {N_TEST}:")
        bench_uniqueness(d, lines)
        bench_knn(d, lines, limits, args.quick)
        bench_symmetric(d["packed_test"], d["y_test"], lines)
        if not (args.quick and n_bits > 1000):
            bench_dense_probes(d, lines)
        if n_bits == 1000:
            bench_pipeline(d, lines)
        say("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
