"""The ``knn`` probe: Hamming K-NN fit on the training split, accuracy (and mAP) on every other split."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from actcode.errors import InvalidParameterError
from actcode.metrics import METRICS, Metric
from actcode.probes.knn import TIE_RULES, HammingKNNClassifier, hamming_map
from actcode.probes.registry import ProbeTask, ScopeCodes, register_probe


class KNNProbe:
    """:class:`~actcode.probes.knn.HammingKNNClassifier` with ``task.k`` neighbours."""

    title: str = "K-NN"
    order: int = 10
    metrics: tuple[Metric, ...] = (METRICS["knn_accuracy"], METRICS["knn_map"])
    dense_itemsize: int = 0
    uses_search: bool = True

    def check(self, task: ProbeTask, codes: Mapping[str, np.ndarray]) -> None:
        n = codes[task.train].shape[0]
        if not (1 <= task.k <= n):
            msg = f"--k = {task.k} must be between 1 and the {n} rows of the training split {task.train!r}."
            raise InvalidParameterError(msg)

    def params(self, task: ProbeTask) -> dict[str, Any]:
        return {
            "n_neighbors": task.k,
            "metric": "hamming",
            "tie_break": task.knn_ties,
            "tie_rule": TIE_RULES[task.knn_ties],
            "map": task.knn_map,
            "map_ties": "stable by training index",
            "fit_split": task.train,
            "search": "numba popcount" if task.engine is None else task.engine.describe(),
        }

    def run(self, task: ProbeTask, scope: ScopeCodes) -> None:
        t0 = time.perf_counter()
        train, sc, lab = task.train, scope.codes, scope.labels
        task.say(f"{scope.name}: K-NN (k={task.k}) on {sc[train].shape[0]} training rows")
        knn = HammingKNNClassifier(task.k, tie_break=task.knn_ties, engine=task.engine)
        knn.fit(sc[train], lab[train])
        for s in task.splits[1:]:
            task.rows.append((s, scope.name, "knn_accuracy", float((knn.predict(sc[s]) == lab[s]).mean())))
            if task.knn_map:
                m = hamming_map(
                    sc[train],
                    lab[train],
                    sc[s],
                    lab[s],
                    n_bits=scope.n_bits,
                    train_words=knn.train_words_,
                    engine=task.engine,
                )
                task.rows.append((s, scope.name, "knn_map", m))
        task.params["seconds"][f"{scope.name}/knn"] = round(time.perf_counter() - t0, 3)


register_probe("knn", KNNProbe())
