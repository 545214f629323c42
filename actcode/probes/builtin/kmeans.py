"""The ``kmeans`` probe: K-Means on each split, its clusters mapped to labels by majority and Hungarian."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from actcode.errors import ProbeError
from actcode.metrics import METRICS, Metric
from actcode.probes.builtin._checks import check_two_classes
from actcode.probes.kmeans import fit_kmeans_codes
from actcode.probes.registry import ProbeTask, ScopeCodes, register_probe


class KMeansCategorization:
    """:class:`~actcode.probes.kmeans.KMeansProbe` with one cluster per training class.

    On float64 columns, or in the span of the rows when they are fewer than the columns
    (:func:`~actcode.probes.kmeans.fit_kmeans_codes`).
    """

    title: str = "K-Means"
    order: int = 20
    metrics: tuple[Metric, ...] = (
        METRICS["kmeans_majority_accuracy"],
        METRICS["kmeans_hungarian_accuracy"],
        METRICS["kmeans_approximate"],
    )
    dense_itemsize: int = 8  # scikit-learn's k-means++ is several times slower on float32
    uses_search: bool = False

    def check(self, task: ProbeTask, codes: Mapping[str, np.ndarray]) -> None:
        check_two_classes(self.title, task)
        small = [s for s in task.splits if codes[s].shape[0] < task.classes.size]
        if small:
            msg = (
                f"the K-Means probe cannot run on {task.where}: split {small[0]!r} has "
                f"{codes[small[0]].shape[0]} rows, "
                f"fewer than the {task.classes.size} clusters (one per class)."
            )
            raise ProbeError(msg)

    def params(self, task: ProbeTask) -> dict[str, Any]:
        return {
            "n_clusters": int(task.classes.size),
            "n_init": task.n_init,
            "random_state": task.seed,
            "fit": "separately on each split",
            "mappings": ["majority", "hungarian"],
        }

    def run(self, task: ProbeTask, scope: ScopeCodes) -> None:
        assert scope.plan is not None  # dense_itemsize > 0
        t0 = time.perf_counter()
        plan, sc, lab = scope.plan, scope.codes, scope.labels
        for s in task.splits:
            task.say(f"{scope.name}: K-Means on {s} ({sc[s].shape[0]} x {plan.columns.size})")
            km, basis = fit_kmeans_codes(
                sc[s], lab[s], plan, n_clusters=int(task.classes.size), n_init=task.n_init, seed=task.seed
            )
            if basis is not None:  # the span path (the module docstring of actcode.probes)
                task.params["columns"][scope.name][f"span_rank_{s}"] = basis.rank
                if s == task.train:  # logistic regression reuses it
                    scope.span_bases[s] = basis
            task.rows += [
                (s, scope.name, "kmeans_majority_accuracy", km.majority_accuracy_),
                (s, scope.name, "kmeans_hungarian_accuracy", km.hungarian_accuracy_),
                (s, scope.name, "kmeans_approximate", float(plan.approximate)),
            ]
            task.params["kmeans"]["n_init_used"] = km.n_init_
        task.params["seconds"][f"{scope.name}/kmeans"] = round(time.perf_counter() - t0, 3)


register_probe("kmeans", KMeansCategorization())
