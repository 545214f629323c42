"""Categorization probes on neural codes: K-Means, Hamming K-NN and logistic regression, as in the study.

- **K-Means** (``kmeans``): scikit-learn ``KMeans(n_clusters=#classes, random_state=seed)``
  fit *separately* on each split's codes; clusters are mapped to labels by majority
  (``kmeans_majority_accuracy``, the study's MNIST/CIFAR scripts) and one-to-one by
  Hungarian matching (``kmeans_hungarian_accuracy``).
- **K-NN** (``knn``): :class:`HammingKNNClassifier` with K = 9 fit on the training split,
  accuracy on every other split (``knn_accuracy``), plus ``knn_map``, the mAP of ranking all
  training rows by Hamming distance (ties by index).
- **Logistic regression** (``logreg``): multinomial, or one-vs-one with ``ovo`` as in the
  study; fit on the training split, accuracy on every split (``logreg_accuracy``).
- ``network_accuracy``: the network's own accuracy on each split.

A split without labels (all -1, as random inputs) is not probed (``skipped_splits`` in the
parameters); a training split without labels is a :class:`~actcode.errors.ProbeError`.

Memory. K-NN and mAP work on packed codes (1 bit per unit). K-Means and logistic
regression need a dense matrix (float64 for K-Means, whose k-means++ in scikit-learn is several
times slower on float32; float32 for logistic regression); constant units (over all probed rows) are dropped
first, as the study did. When the remaining columns of the largest split would exceed
``max_memory`` bytes, a seeded random subset of the columns that fits is used instead (an
approximation of the Hamming geometry: distances on a random subset of bits are proportional
in expectation), and the rows ``kmeans_approximate`` / ``logreg_approximate`` are 1 and the
``columns`` parameters say how many columns were used. Peak memory is about the packed codes
plus twice ``max_memory`` (scikit-learn's K-Means takes a variance over the matrix).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sklearn

from actcode import __version__
from actcode import kernels as K
from actcode.codes import LayerInfo
from actcode.errors import InvalidParameterError, ProbeError
from actcode.probes.dense import ColumnPlan, dense_blocks, dense_matrix, plan_columns
from actcode.probes.kmeans import KMeansProbe, hungarian_accuracy, majority_accuracy
from actcode.probes.knn import HammingKNNClassifier, hamming_map
from actcode.probes.linear import accuracy_by_blocks, fit_logreg
from actcode.results import SCOPE_ALL, ResultTable, layer_scope

__all__ = [
    "PROBES",
    "HammingKNNClassifier",
    "KMeansProbe",
    "ProbeResult",
    "hamming_map",
    "hungarian_accuracy",
    "majority_accuracy",
    "probe_codes",
    "run_probes",
]

#: Probe names, in the order they run.
PROBES = ("knn", "kmeans", "logreg")
_NAMES = {"knn": "K-NN", "kmeans": "K-Means", "logreg": "logistic regression"}
DEFAULT_MAX_MEMORY = 4 << 30


class ProbeResult:
    """The table and parameters of :func:`probe_codes`."""

    def __init__(self, table: ResultTable, params: dict[str, Any]) -> None:
        self.table = table
        self.params = params


def _check_probes(probes: Sequence[str]) -> list[str]:
    chosen = [p.strip() for p in probes if p.strip()]
    bad = [p for p in chosen if p not in PROBES]
    if bad or not chosen:
        got = ",".join(probes) or "nothing"
        msg = f"--probes must be a comma list of {', '.join(PROBES)}. Got {got!r} instead."
        raise InvalidParameterError(msg)
    return [p for p in PROBES if p in chosen]


def _scope_ranges(
    layers: list[LayerInfo], scopes: list[LayerInfo] | None
) -> list[tuple[str, int, int, np.ndarray]]:
    if scopes is None:
        units = np.concatenate([8 * layer.byte_offset + np.arange(layer.n_units) for layer in layers])
        return [(SCOPE_ALL, 0, layers[-1].byte_stop, units)]
    out = []
    for layer in scopes:
        out.append(
            (
                layer_scope(layer.name),
                layer.byte_offset,
                layer.byte_stop,
                np.arange(layer.n_units, dtype=np.int64),
            )
        )
    return out


def probe_codes(
    codes: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    layers: list[LayerInfo],
    *,
    probes: Sequence[str] = PROBES,
    train_split: str = "train",
    scopes: list[LayerInfo] | None = None,
    k: int = 9,
    ovo: bool = False,
    seed: int = 9,
    n_init: int | str = "auto",
    knn_map: bool = True,
    max_memory: int = DEFAULT_MAX_MEMORY,
    network: Mapping[str, float] | None = None,
    log: Callable[[str], None] | None = None,
    where: str = "the codes",
    engine: Any = None,
) -> ProbeResult:
    """Run the probes on packed codes held in memory.

    Parameters
    ----------
    codes : mapping of str to ndarray of shape (n_samples, n_bytes), dtype=np.uint8
        Packed rows per split; the first split fitted is ``train_split``, the others are
        evaluated (K-Means is fit on each).
    labels : mapping of str to ndarray of shape (n_samples,)
    layers : list of LayerInfo
        Layer table of the rows.
    probes : sequence of {"knn", "kmeans", "logreg"}
    scopes : list of LayerInfo, optional
        Probe each of these sites on its own (scopes ``layer:<name>``); default: the whole
        code (scope ``all``).
    k : int
        Neighbours of the K-NN probe.
    ovo : bool
        One-vs-one logistic regression (the study's) instead of multinomial.
    seed : int
        ``random_state`` of K-Means and logistic regression, and seed of column subsets.
    n_init : int or "auto"
        K-Means restarts.
    knn_map : bool
        Also compute ``knn_map`` (one more pass over the training codes per query).
    max_memory : int
        Bytes allowed for one dense matrix (see the module docstring).
    network : mapping of str to float, optional
        The network's own accuracy per split.
    engine : actcode.search.TorchHamming, optional
        Run the K-NN and mAP with torch products on this device (same results).

    Returns
    -------
    ProbeResult
    """
    chosen = _check_probes(probes)
    say = log or (lambda _msg: None)
    if train_split not in codes:
        msg = (
            f"{where}: has no training split {train_split!r}; it has {sorted(codes)}. "
            "Name the training split first in --splits."
        )
        raise InvalidParameterError(msg)
    unlabeled = [s for s in codes if not (np.asarray(labels[s]) >= 0).any()]
    if train_split in unlabeled:
        msg = (
            f"the probes cannot run on {where}: the training split {train_split!r} has no labels (all -1). "
            "Name a labelled training split first in --splits."
        )
        raise ProbeError(msg)
    for s in unlabeled:
        say(f"split {s!r} has no labels (all -1): no probe is evaluated on it")
    splits = [train_split] + [s for s in codes if s != train_split and s not in unlabeled]
    y_train = np.asarray(labels[train_split], np.int64)
    classes = np.unique(y_train)
    if "knn" in chosen and not (1 <= k <= y_train.size):
        msg = (
            f"--k = {k} must be between 1 and the {y_train.size} rows of the training split {train_split!r}."
        )
        raise InvalidParameterError(msg)
    for p in ("kmeans", "logreg"):
        if p in chosen and classes.size < 2:
            msg = (
                f"the {_NAMES[p]} probe cannot run on {where}: the training split {train_split!r} has a "
                f"single class (label {classes[0]}), so there is nothing to separate. "
                "Run only --probes knn, or use codes of two or more classes."
            )
            raise ProbeError(msg)
    if "kmeans" in chosen:
        small = [s for s in splits if codes[s].shape[0] < classes.size]
        if small:
            msg = (
                f"the K-Means probe cannot run on {where}: split {small[0]!r} has "
                f"{codes[small[0]].shape[0]} rows, "
                f"fewer than the {classes.size} clusters (one per class)."
            )
            raise ProbeError(msg)
    rows: list[tuple[str, str, str, float]] = []
    params: dict[str, Any] = {
        "actcode_version": __version__,
        "sklearn_version": sklearn.__version__,
        "probes": chosen,
        "train_split": train_split,
        "eval_splits": splits[1:],
        "skipped_splits": {s: "no labels (all -1)" for s in unlabeled},
        "seed": seed,
        "max_memory": max_memory,
        "n_classes": int(classes.size),
        "columns": {},
        "warnings": [],
        "seconds": {},
    }
    if "knn" in chosen:
        params["knn"] = {
            "n_neighbors": k,
            "metric": "hamming",
            "tie_break": "distance",
            "map": knn_map,
            "map_ties": "stable by training index",
            "fit_split": train_split,
            "search": "numba popcount" if engine is None else engine.describe(),
        }
    if "kmeans" in chosen:
        params["kmeans"] = {
            "n_clusters": int(classes.size),
            "n_init": n_init,
            "random_state": seed,
            "fit": "separately on each split",
            "mappings": ["majority", "hungarian"],
        }
    if "logreg" in chosen:
        params["logreg"] = {
            "model": "OneVsOneClassifier(LogisticRegression)" if ovo else "LogisticRegression (multinomial)",
            "solver": "lbfgs",
            "C": 1.0,
            "max_iter": 100,
            "random_state": seed,
            "fit_split": train_split,
        }
    n_probed = sum(codes[s].shape[0] for s in splits)
    max_rows = max(codes[s].shape[0] for s in splits)
    for scope, lo, hi, units in _scope_ranges(layers, scopes):
        sc = {s: np.ascontiguousarray(codes[s][:, lo:hi]) for s in splits}
        lab = {s: np.asarray(labels[s], np.int64) for s in splits}
        if "knn" in chosen:
            t0 = time.perf_counter()
            say(f"{scope}: K-NN (k={k}) on {sc[train_split].shape[0]} training rows")
            knn = HammingKNNClassifier(k, engine=engine).fit(sc[train_split], lab[train_split])
            for s in splits[1:]:
                rows.append((s, scope, "knn_accuracy", float((knn.predict(sc[s]) == lab[s]).mean())))
                if knn_map:
                    m = hamming_map(
                        sc[train_split],
                        lab[train_split],
                        sc[s],
                        lab[s],
                        n_bits=units.size,
                        train_words=knn.train_words_,
                        engine=engine,
                    )
                    rows.append((s, scope, "knn_map", m))
            del knn
            params["seconds"][f"{scope}/knn"] = round(time.perf_counter() - t0, 3)
        if "kmeans" not in chosen and "logreg" not in chosen:
            continue
        counts = np.sum([K.bit_counts(sc[s]) for s in splits], axis=0)
        itemsize = 8 if "kmeans" in chosen else 4  # float64 for K-Means, float32 for LR
        plan = plan_columns(units, counts, n_probed, max_rows, max_memory, seed, itemsize)
        if plan.columns.size == 0:  # every unit constant: keep one so the estimators still run
            plan = ColumnPlan(units[:1], plan.n_units, plan.n_constant, plan.approximate, plan.seed)
        params["columns"][scope] = plan.as_params()
        if plan.approximate:
            say(
                f"{scope}: dense probes use {plan.columns.size} random columns "
                f"of {units.size - plan.n_constant} (memory budget)"
            )
        if "kmeans" in chosen:
            t0 = time.perf_counter()
            for s in splits:
                say(f"{scope}: K-Means on {s} ({sc[s].shape[0]} x {plan.columns.size})")
                X = dense_matrix(sc[s], plan, np.float64)
                km = KMeansProbe(int(classes.size), n_init=n_init, random_state=seed).fit(X, lab[s])
                del X
                rows += [
                    (s, scope, "kmeans_majority_accuracy", km.majority_accuracy_),
                    (s, scope, "kmeans_hungarian_accuracy", km.hungarian_accuracy_),
                    (s, scope, "kmeans_approximate", float(plan.approximate)),
                ]
                params["kmeans"]["n_init_used"] = km.n_init_
            params["seconds"][f"{scope}/kmeans"] = round(time.perf_counter() - t0, 3)
        if "logreg" in chosen:
            t0 = time.perf_counter()
            say(
                f"{scope}: logistic regression on {train_split} "
                f"({sc[train_split].shape[0]} x {plan.columns.size})"
            )
            model, notes = fit_logreg(
                dense_matrix(sc[train_split], plan), lab[train_split], ovo=ovo, seed=seed
            )
            params["warnings"] += [f"{scope} logreg: {n}" for n in notes]
            block = max(1, int(max_memory // (4 * max(1, plan.columns.size))) // 8)
            for s in splits:
                acc = accuracy_by_blocks(model, dense_blocks(sc[s], plan, block), lab[s])
                rows += [
                    (s, scope, "logreg_accuracy", acc),
                    (s, scope, "logreg_approximate", float(plan.approximate)),
                ]
            params["seconds"][f"{scope}/logreg"] = round(time.perf_counter() - t0, 3)
    for s in splits:
        if network and s in network:
            rows.append((s, SCOPE_ALL, "network_accuracy", float(network[s])))
    order = {s: i for i, s in enumerate(splits)}
    rows.sort(key=lambda r: order[r[0]])
    return ProbeResult(ResultTable.from_rows(rows), params)


def _network_accuracy(cf: Any, split: str) -> float | None:
    if not (cf.labels(split) >= 0).any():
        return None
    info = cf.split_info(split)
    if "accuracy" in info:
        return float(info["accuracy"])
    pred = cf.predictions(split)
    if pred.size and (pred >= 0).all():
        return float((pred == cf.labels(split)).mean())
    return None


def run_probes(
    path: str | Path,
    *,
    probes: Sequence[str] = PROBES,
    k: int = 9,
    ovo: bool = False,
    layers: list[str] | str | None = None,
    splits: list[str] | None = None,
    seed: int = 9,
    n_init: int | str = "auto",
    knn_map: bool = True,
    max_memory: int = DEFAULT_MAX_MEMORY,
    output: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    device: str = "cpu",
) -> tuple[Path, ResultTable]:
    """Probe a neural-code file and store the results in it (copy-on-write).

    Parameters
    ----------
    splits : list of str, optional
        The first is the training split, the others are evaluated. Default: ``train``
        (or the file's first split) followed by every other split.
    layers : list of str or str, optional
        Probe these sites one by one (scopes ``layer:<name>``) instead of the whole code.
    device : str
        Where the K-NN and mAP run: ``"cpu"`` (Numba kernels), ``"cuda"``, ``"cuda:N"``,
        ``"mps"`` (torch products, :mod:`actcode.search`) or ``"auto"``.
    Other parameters as in :func:`probe_codes`.

    Returns
    -------
    path : Path
        The file that holds the results (``output`` when given).
    table : ResultTable
    """
    from actcode.io import add_results, open_codes
    from actcode.search import hamming_engine

    chosen = _check_probes(probes)
    engine = hamming_engine(device) if "knn" in chosen else None
    if max_memory <= 0:
        msg = f"--max-memory must be positive. Got {max_memory} bytes instead."
        raise InvalidParameterError(msg)
    with open_codes(path) as cf:
        if splits:
            missing = [s for s in splits if s not in cf.splits]
            if missing:
                msg = (
                    f"{cf.path}: has no split {missing[0]!r}; it has {cf.splits}. "
                    "Choose among those with --splits."
                )
                raise InvalidParameterError(msg)
            names = list(dict.fromkeys(splits))
        else:
            first = "train" if "train" in cf.splits else cf.splits[0]
            names = [first] + [s for s in cf.splits if s != first]
        scopes = cf.select_layers(layers) if layers else None
        codes = {s: cf.codes(s) for s in names}
        labels = {s: cf.labels(s) for s in names}
        network = {s: a for s in names if (a := _network_accuracy(cf, s)) is not None}
        result = probe_codes(
            codes,
            labels,
            cf.layers,
            probes=chosen,
            train_split=names[0],
            scopes=scopes,
            k=k,
            ovo=ovo,
            seed=seed,
            n_init=n_init,
            knn_map=knn_map,
            max_memory=max_memory,
            network=network,
            log=log,
            where=str(cf.path),
            engine=engine,
        )
    out = add_results(path, "probe", result.table, params=result.params, output=output)
    return out, result.table
