"""``probe_codes`` (codes in memory) and ``run_probes`` (a code file): one function per probe."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import sklearn

from actcode import __version__
from actcode import kernels as K
from actcode.codes import LayerInfo
from actcode.devices import HammingSearch, accelerated, hamming_search
from actcode.errors import InvalidParameterError, ProbeError
from actcode.probes.dense import ColumnPlan, plan_columns
from actcode.probes.knn import check_knn_ties
from actcode.probes.registry import PROBES as PROBE_REGISTRY
from actcode.probes.registry import (
    Probe,
    ProbeTask,
    ScopeCodes,
    builtin_probe_names,
    get_probe,
    probe_names,
)
from actcode.results import SCOPE_ALL, ResultTable
from actcode.scopes import (
    DEFAULT_MAX_MEMORY,
    Scope,
    check_max_memory,
    check_splits,
    layer_scopes,
    whole_scope,
)

if TYPE_CHECKING:
    from actcode.io.codes import CodeFile

#: The built-in probes, in the order they run (plugins: :func:`~actcode.probes.registry.probe_names`).
PROBES = builtin_probe_names()


class ProbeResult:
    """The table and parameters of :func:`probe_codes`."""

    def __init__(self, table: ResultTable, params: dict[str, Any]) -> None:
        self.table = table
        self.params = params


def _check_probes(probes: Sequence[str]) -> list[str]:
    """The chosen probes, built-ins in run order then plugins; an unknown name lists every name."""
    chosen = list(dict.fromkeys(p.strip() for p in probes if p.strip()))
    bad = [p for p in chosen if p not in PROBE_REGISTRY]
    if bad or not chosen:
        got = ",".join(probes) or "nothing"
        msg = f"--probes must be a comma list of {', '.join(probe_names())}. Got {got!r} instead."
        for name in bad:
            PROBE_REGISTRY.check_loaded(name)  # a plugin that failed to load says so
        raise InvalidParameterError(msg)
    builtin = builtin_probe_names()
    return [p for p in builtin if p in chosen] + [p for p in chosen if p not in builtin]


def _check_task(
    codes: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    train_split: str,
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
    classes = np.unique(np.asarray(labels[train_split], np.int64))
    return splits, unlabeled, classes


def _params(chosen: list[str], task: ProbeTask, unlabeled: list[str]) -> dict[str, Any]:
    """The parameters recorded with the results (before the probes add columns, warnings and times)."""
    params: dict[str, Any] = {
        "actcode_version": __version__,
        "sklearn_version": sklearn.__version__,
        "probes": chosen,
        "train_split": task.train,
        "eval_splits": task.splits[1:],
        "skipped_splits": {s: "no labels (all -1)" for s in unlabeled},
        "seed": task.seed,
        "max_memory": task.max_memory,
        "n_classes": int(task.classes.size),
        "columns": {},
        "warnings": [],
        "seconds": {},
    }
    for name in chosen:
        params[name] = get_probe(name).params(task)
    return params


def _column_plan(
    task: ProbeTask, scope: str, sc: dict[str, np.ndarray], units: np.ndarray, itemsize: int
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


def _probe_scope(
    task: ProbeTask,
    chosen: list[Probe],
    scope: Scope,
    codes: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
) -> None:
    """Every chosen probe on one scope of the codes (the dense column plan made once, for the widest)."""
    sc = {s: np.ascontiguousarray(codes[s][:, scope.lo : scope.hi]) for s in task.splits}
    lab = {s: np.asarray(labels[s], np.int64) for s in task.splits}
    units = scope.relative_units()
    itemsize = max(p.dense_itemsize for p in chosen)
    plan = _column_plan(task, scope.name, sc, units, itemsize) if itemsize > 0 else None
    data = ScopeCodes(scope.name, sc, lab, int(units.size), plan)
    for probe in chosen:
        probe.run(task, data)


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
    engine: HammingSearch | None = None,
    knn_ties: str = "distance",
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
    probes : sequence of str
        Names of probes: the built-ins ``knn``, ``kmeans``, ``logreg`` or installed plugins
        (:func:`~actcode.probes.registry.probe_names`).
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
    engine : HammingSearch, optional
        Run the K-NN and mAP with this search (:func:`actcode.devices.hamming_search`; same
        results); None: the Numba kernels.
    knn_ties : {"distance", "label"}
        How the K-NN breaks a tied vote (:data:`actcode.probes.knn.TIE_RULES`).

    Returns
    -------
    ProbeResult
    """
    chosen = _check_probes(probes)
    check_knn_ties(knn_ties)
    say = log or (lambda _msg: None)
    splits, unlabeled, classes = _check_task(codes, labels, train_split, where, say)
    task = ProbeTask(
        splits, classes, k, ovo, seed, n_init, knn_map, max_memory, say, {}, where, engine, knn_ties=knn_ties
    )
    impls = [get_probe(name) for name in chosen]
    for probe in impls:
        probe.check(task, codes)
    task.params = _params(chosen, task, unlabeled)
    for scope in [whole_scope(layers)] if scopes is None else layer_scopes(scopes):
        _probe_scope(task, impls, scope, codes, labels)
    for s in splits:
        if network and s in network:
            task.rows.append((s, SCOPE_ALL, "network_accuracy", float(network[s])))
    order = {s: i for i, s in enumerate(splits)}
    task.rows.sort(key=lambda r: order[r[0]])
    return ProbeResult(ResultTable.from_rows(task.rows), task.params)


def _network_accuracy(cf: CodeFile, split: str) -> float | None:
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
    knn_ties: str = "distance",
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

    chosen = _check_probes(probes)
    check_knn_ties(knn_ties)
    # the device is resolved once, here; the Numba kernels need no engine (and no torch)
    engine = accelerated(hamming_search(device)) if any(get_probe(p).uses_search for p in chosen) else None
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
            knn_ties=knn_ties,
        )
    out = add_results(path, "probe", result.table, params=result.params, output=output)
    return out, result.table


__all__ = ["DEFAULT_MAX_MEMORY", "PROBES", "ProbeResult", "probe_codes", "run_probes"]
