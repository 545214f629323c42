"""The ``logreg`` probe: logistic regression fit on the training split, accuracy on every split."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from actcode.metrics import METRICS, Metric
from actcode.probes.builtin._checks import check_two_classes
from actcode.probes.dense import dense_blocks, dense_matrix
from actcode.probes.linear import accuracy_by_blocks, fit_logreg
from actcode.probes.registry import ProbeTask, ScopeCodes, register_probe


class LogRegProbe:
    """Multinomial (or, with ``task.ovo``, one-vs-one) logistic regression on float32 columns."""

    title: str = "logistic regression"
    order: int = 30
    metrics: tuple[Metric, ...] = (METRICS["logreg_accuracy"], METRICS["logreg_approximate"])
    dense_itemsize: int = 4
    uses_search: bool = False

    def check(self, task: ProbeTask, codes: Mapping[str, np.ndarray]) -> None:
        check_two_classes(self.title, task)

    def params(self, task: ProbeTask) -> dict[str, Any]:
        ovo = "OneVsOneClassifier(LogisticRegression)"
        return {
            "model": ovo if task.ovo else "LogisticRegression (multinomial)",
            "solver": "lbfgs",
            "C": 1.0,
            "max_iter": 100,
            "random_state": task.seed,
            "fit_split": task.train,
        }

    def run(self, task: ProbeTask, scope: ScopeCodes) -> None:
        assert scope.plan is not None  # dense_itemsize > 0
        t0 = time.perf_counter()
        train, plan, sc, lab = task.train, scope.plan, scope.codes, scope.labels
        task.say(f"{scope.name}: logistic regression on {train} ({sc[train].shape[0]} x {plan.columns.size})")
        model, notes = fit_logreg(dense_matrix(sc[train], plan), lab[train], ovo=task.ovo, seed=task.seed)
        task.params["warnings"] += [f"{scope.name} logreg: {n}" for n in notes]
        block = max(1, int(task.max_memory // (4 * max(1, plan.columns.size))) // 8)
        for s in task.splits:
            acc = accuracy_by_blocks(model, dense_blocks(sc[s], plan, block), lab[s])
            task.rows += [
                (s, scope.name, "logreg_accuracy", acc),
                (s, scope.name, "logreg_approximate", float(plan.approximate)),
            ]
        task.params["seconds"][f"{scope.name}/logreg"] = round(time.perf_counter() - t0, 3)


register_probe("logreg", LogRegProbe())
