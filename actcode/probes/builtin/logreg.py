"""The ``logreg`` probe: logistic regression fit on the training split, accuracy on every split."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from actcode.metrics import METRICS, Metric
from actcode.probes.builtin._checks import check_two_classes
from actcode.probes.linear import CodesLogreg
from actcode.probes.registry import ProbeTask, ScopeCodes, register_probe


class LogRegProbe:
    """Multinomial (or, with ``task.ovo``, one-vs-one) logistic regression on float32 columns.

    Or in the span of the rows when they are fewer than the columns
    (:class:`~actcode.probes.linear.CodesLogreg`).
    """

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
        model = CodesLogreg(plan, ovo=task.ovo, seed=task.seed, max_memory=task.max_memory)
        notes = model.fit(sc[train], lab[train], scope.span_bases.get(train))
        task.params["warnings"] += [f"{scope.name} logreg: {n}" for n in notes]
        if model.rank_ is not None:  # the span path
            task.params["columns"][scope.name][f"span_rank_{train}"] = model.rank_
        for s in task.splits:
            acc = model.accuracy(sc[s], lab[s])
            task.rows += [
                (s, scope.name, "logreg_accuracy", acc),
                (s, scope.name, "logreg_approximate", float(plan.approximate)),
            ]
        task.params["seconds"][f"{scope.name}/logreg"] = round(time.perf_counter() - t0, 3)


register_probe("logreg", LogRegProbe())
