"""Logistic-regression probe: multinomial by default, one-vs-one as in the study."""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsOneClassifier

__all__ = ["accuracy_by_blocks", "fit_logreg", "logreg_model"]


def logreg_model(*, ovo: bool, seed: int) -> LogisticRegression | OneVsOneClassifier:
    """The estimator: ``LogisticRegression(random_state=seed)`` (multinomial, lbfgs, C=1, L2,
    max_iter=100), or the study's ``OneVsOneClassifier(LogisticRegression(random_state=seed))``."""
    base = LogisticRegression(random_state=seed)
    return OneVsOneClassifier(base) if ovo else base


def fit_logreg(X: np.ndarray, y: np.ndarray, *, ovo: bool, seed: int) -> tuple[object, list[str]]:
    """Fit the probe on dense codes ``X`` (n_samples, n_features); return it and any warnings."""
    model = logreg_model(ovo=ovo, seed=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    notes = sorted({f"{w.category.__name__}: {' '.join(str(w.message).split())[:160]}" for w in caught})
    return model, notes


def accuracy_by_blocks(model: object, blocks: Iterable[np.ndarray], labels: np.ndarray) -> float:
    """Accuracy of ``model.predict`` over dense row blocks, in order, against ``labels``."""
    preds = [np.asarray(model.predict(b)) for b in blocks]  # type: ignore[attr-defined]
    pred = np.concatenate(preds) if preds else np.zeros(0, labels.dtype)
    return float((pred == labels).mean()) if labels.size else float("nan")
