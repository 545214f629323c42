"""``probe_codes`` (codes in memory) and ``run_probes`` (a code file): one function per probe."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sklearn

from actcode import __version__
from actcode import kernels as K
from actcode.codes import LayerInfo
from actcode.errors import InvalidParameterError, ProbeError
from actcode.probes.dense import ColumnPlan, dense_blocks, dense_matrix, plan_columns
from actcode.probes.kmeans import KMeansProbe
from actcode.probes.knn import HammingKNNClassifier, hamming_map
from actcode.probes.linear import accuracy_by_blocks, fit_logreg
from actcode.results import SCOPE_ALL, ResultTable
from actcode.scopes import (
    DEFAULT_MAX_MEMORY,
    Scope,
    check_max_memory,
    check_splits,
    layer_scopes,
    whole_scope,
)

#: Probe names, in the order they run.
PROBES = ("knn", "kmeans", "logreg")


def probe_names() -> tuple[str, ...]:
    """The probes' names, in the order they run: the one place the CLI and the sweep spec ask."""
    return PROBES


_NAMES = {"knn": "K-NN", "kmeans": "K-Means", "logreg": "logistic regression"}

Row = tuple[str, str, str, float]


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


@dataclass
class _Task:
    """One probing task: the probed splits (training split first), settings, and what is collected."""

    splits: list[str]
    classes: np.ndarray
    k: int
    ovo: bool
    seed: int
    n_init: int | str
    knn_map: bool
    max_memory: int
    say: Callable[[str], None]
    params: dict[str, Any]
    engine: Any = None
    rows: list[Row] = field(default_factory=list)

    @property
    def train(self) -> str:
        return self.splits[0]


def _check_task(
    codes: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    chosen: list[str],
    train_split: str,
    k: int,
    where: str,
    say: Callable[[str], None],
) -> tuple[list[str], list[str], np.ndarray]:
    """The probed splits (training first), the unlabelled ones, and the training classes; or raise."""
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
    return splits, unlabeled, classes


def _params(chosen: list[str], task: _Task, unlabeled: list[str]) -> dict[str, Any]:
    """The parameters recorded with the results (before the probes add columns, warnings and times)."""
    train, seed = task.train, task.seed
    params: dict[str, Any] = {
        "actcode_version": __version__,
        "sklearn_version": sklearn.__version__,
        "probes": chosen,
        "train_split": train,
        "eval_splits": task.splits[1:],
        "skipped_splits": {s: "no labels (all -1)" for s in unlabeled},
        "seed": seed,
        "max_memory": task.max_memory,
        "n_classes": int(task.classes.size),
        "columns": {},
        "warnings": [],
        "seconds": {},
    }
    if "knn" in chosen:
        params["knn"] = {
            "n_neighbors": task.k,
            "metric": "hamming",
            "tie_break": "distance",
            "map": task.knn_map,
            "map_ties": "stable by training index",
            "fit_split": train,
            "search": "numba popcount" if task.engine is None else task.engine.describe(),
        }
    if "kmeans" in chosen:
        params["kmeans"] = {
            "n_clusters": int(task.classes.size),
            "n_init": task.n_init,
            "random_state": seed,
            "fit": "separately on each split",
            "mappings": ["majority", "hungarian"],
        }
    if "logreg" in chosen:
        params["logreg"] = {
            "model": "OneVsOneClassifier(LogisticRegression)"
            if task.ovo
            else "LogisticRegression (multinomial)",
            "solver": "lbfgs",
            "C": 1.0,
            "max_iter": 100,
            "random_state": seed,
            "fit_split": train,
        }
    return params


def _probe_knn(
    task: _Task, scope: str, sc: dict[str, np.ndarray], lab: dict[str, np.ndarray], n_bits: int
) -> None:
    """Hamming K-NN fit on the training split; accuracy (and mAP) on every other split."""
    t0 = time.perf_counter()
    train = task.train
    task.say(f"{scope}: K-NN (k={task.k}) on {sc[train].shape[0]} training rows")
    knn = HammingKNNClassifier(task.k, engine=task.engine).fit(sc[train], lab[train])
    for s in task.splits[1:]:
        task.rows.append((s, scope, "knn_accuracy", float((knn.predict(sc[s]) == lab[s]).mean())))
        if task.knn_map:
            m = hamming_map(
                sc[train],
                lab[train],
                sc[s],
                lab[s],
                n_bits=n_bits,
                train_words=knn.train_words_,
                engine=task.engine,
            )
            task.rows.append((s, scope, "knn_map", m))
    task.params["seconds"][f"{scope}/knn"] = round(time.perf_counter() - t0, 3)


def _column_plan(
    task: _Task, scope: str, sc: dict[str, np.ndarray], units: np.ndarray, itemsize: int
) -> ColumnPlan:
    """The columns the dense probes use on this scope (constant units dropped; a subset over budget)."""
    counts = np.sum([K.bit_counts(sc[s]) for s in task.splits], axis=0)
    n_probed = sum(sc[s].shape[0] for s in task.splits)
    max_rows = max(sc[s].shape[0] for s in task.splits)
    plan = plan_columns(units, counts, n_probed, max_rows, task.max_memory, task.seed, itemsize)
    if plan.columns.size == 0:  # every unit constant: keep one so the estimators still run
        plan = ColumnPlan(units[:1], plan.n_units, plan.n_constant, plan.approximate, plan.seed)
    task.params["columns"][scope] = plan.as_params()
    if plan.approximate:
        task.say(
            f"{scope}: dense probes use {plan.columns.size} random columns "
            f"of {units.size - plan.n_constant} (memory budget)"
        )
    return plan


def _probe_kmeans(
    task: _Task, scope: str, sc: dict[str, np.ndarray], lab: dict[str, np.ndarray], plan: ColumnPlan
) -> None:
    """K-Means fit on each split; clusters mapped to labels by majority and by Hungarian matching."""
    t0 = time.perf_counter()
    for s in task.splits:
        task.say(f"{scope}: K-Means on {s} ({sc[s].shape[0]} x {plan.columns.size})")
        X = dense_matrix(sc[s], plan, np.float64)
        km = KMeansProbe(int(task.classes.size), n_init=task.n_init, random_state=task.seed).fit(X, lab[s])
        del X
        task.rows += [
            (s, scope, "kmeans_majority_accuracy", km.majority_accuracy_),
            (s, scope, "kmeans_hungarian_accuracy", km.hungarian_accuracy_),
            (s, scope, "kmeans_approximate", float(plan.approximate)),
        ]
        task.params["kmeans"]["n_init_used"] = km.n_init_
    task.params["seconds"][f"{scope}/kmeans"] = round(time.perf_counter() - t0, 3)


def _probe_logreg(
    task: _Task, scope: str, sc: dict[str, np.ndarray], lab: dict[str, np.ndarray], plan: ColumnPlan
) -> None:
    """Logistic regression fit on the training split; accuracy on every split, in row blocks."""
    t0 = time.perf_counter()
    train = task.train
    task.say(f"{scope}: logistic regression on {train} ({sc[train].shape[0]} x {plan.columns.size})")
    model, notes = fit_logreg(dense_matrix(sc[train], plan), lab[train], ovo=task.ovo, seed=task.seed)
    task.params["warnings"] += [f"{scope} logreg: {n}" for n in notes]
    block = max(1, int(task.max_memory // (4 * max(1, plan.columns.size))) // 8)
    for s in task.splits:
        acc = accuracy_by_blocks(model, dense_blocks(sc[s], plan, block), lab[s])
        task.rows += [
            (s, scope, "logreg_accuracy", acc),
            (s, scope, "logreg_approximate", float(plan.approximate)),
        ]
    task.params["seconds"][f"{scope}/logreg"] = round(time.perf_counter() - t0, 3)


def _probe_scope(
    task: _Task,
    chosen: list[str],
    scope: Scope,
    codes: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
) -> None:
    """Every chosen probe on one scope of the codes."""
    sc = {s: np.ascontiguousarray(codes[s][:, scope.lo : scope.hi]) for s in task.splits}
    lab = {s: np.asarray(labels[s], np.int64) for s in task.splits}
    units = scope.relative_units()
    if "knn" in chosen:
        _probe_knn(task, scope.name, sc, lab, units.size)
    if "kmeans" not in chosen and "logreg" not in chosen:
        return
    itemsize = 8 if "kmeans" in chosen else 4  # float64 for K-Means, float32 for LR
    plan = _column_plan(task, scope.name, sc, units, itemsize)
    if "kmeans" in chosen:
        _probe_kmeans(task, scope.name, sc, lab, plan)
    if "logreg" in chosen:
        _probe_logreg(task, scope.name, sc, lab, plan)


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
    splits, unlabeled, classes = _check_task(codes, labels, chosen, train_split, k, where, say)
    task = _Task(splits, classes, k, ovo, seed, n_init, knn_map, max_memory, say, params={}, engine=engine)
    task.params = _params(chosen, task, unlabeled)
    for scope in [whole_scope(layers)] if scopes is None else layer_scopes(scopes):
        _probe_scope(task, chosen, scope, codes, labels)
    for s in splits:
        if network and s in network:
            task.rows.append((s, SCOPE_ALL, "network_accuracy", float(network[s])))
    order = {s: i for i, s in enumerate(splits)}
    task.rows.sort(key=lambda r: order[r[0]])
    return ProbeResult(ResultTable.from_rows(task.rows), task.params)


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
    check_max_memory(max_memory)
    with open_codes(path) as cf:
        if splits:
            names = check_splits(cf.splits, splits, str(cf.path))
        elif "train" not in cf.splits:
            # fitting on another split would report training accuracy under that split's name
            msg = (
                f"the probes cannot run on {cf.path}: it has no 'train' split to fit them on (it has "
                f"{', '.join(cf.splits)}). Name the split to fit with --splits FIT[,OTHERS]: the first "
                "one named is fitted, and its accuracies are then training accuracies."
            )
            raise ProbeError(msg)
        else:
            names = ["train"] + [s for s in cf.splits if s != "train"]
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


__all__ = ["DEFAULT_MAX_MEMORY", "PROBES", "ProbeResult", "probe_codes", "run_probes"]
