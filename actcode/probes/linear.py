"""Logistic-regression probe: multinomial by default, one-vs-one as in the study."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsOneClassifier

from actcode.probes.dense import ColumnPlan, dense_blocks, dense_matrix
from actcode.probes.span import SpanBasis

__all__ = ["CodesLogreg", "fit_logreg", "logreg_model"]


def logreg_model(
    *, ovo: bool, seed: int, tol: float = 1e-4, max_iter: int = 100
) -> LogisticRegression | OneVsOneClassifier:
    """The estimator: ``LogisticRegression(random_state=seed)`` (multinomial, lbfgs, C=1, L2,
    max_iter=100, tol=1e-4), or the study's ``OneVsOneClassifier(LogisticRegression(...))``."""
    base = LogisticRegression(random_state=seed, tol=tol, max_iter=max_iter)
    return OneVsOneClassifier(base) if ovo else base


def fit_logreg(
    X: np.ndarray, y: np.ndarray, *, ovo: bool, seed: int, tol: float = 1e-4, max_iter: int = 100
) -> tuple[object, list[str]]:
    """Fit the probe on dense codes ``X`` (n_samples, n_features); return it and any warnings."""
    model = logreg_model(ovo=ovo, seed=seed, tol=tol, max_iter=max_iter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X, y)
    notes = sorted({f"{w.category.__name__}: {' '.join(str(w.message).split())[:160]}" for w in caught})
    return model, notes


class CodesLogreg:
    """The logistic-regression probe on the planned columns of packed rows, dense or in the span.

    On the span path (``plan.span``) the estimator is fit on the training rows' coordinates in
    their span (:class:`actcode.probes.span.SpanBasis`), and other rows are mapped there through
    their inner products with the training rows. The L2 penalty and every score are invariant
    under that isometry, and the weights of the dense fit lie in the span, so the fits agree;
    they differ only by rounding and by L-BFGS's stopping test, a largest gradient *component*
    (not invariant under rotation; see ``tests/unit/test_probe_span.py``).

    Parameters
    ----------
    plan : ColumnPlan
    ovo : bool
    seed : int
    max_memory : int
        Bytes for one block of dense test rows, or one tile of inner products.
    tol, max_iter : float, int
        Of :class:`sklearn.linear_model.LogisticRegression` (the probe uses the defaults).
    """

    def __init__(
        self,
        plan: ColumnPlan,
        *,
        ovo: bool,
        seed: int,
        max_memory: int,
        tol: float = 1e-4,
        max_iter: int = 100,
    ) -> None:
        self.plan = plan
        self.ovo = ovo
        self.seed = seed
        self.max_memory = max_memory
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, codes: np.ndarray, y: np.ndarray, basis: SpanBasis | None = None) -> list[str]:
        """Fit on packed training rows (n_samples, n_bytes); return the estimator's warnings.

        ``basis``: the span basis of these rows on the plan's columns, when already computed.
        """
        self.train_codes_ = codes
        if self.plan.span:
            self.basis_: SpanBasis | None = basis or SpanBasis.fit(codes, self.plan.columns)
            self.rank_: int | None = self.basis_.rank
            X = self.basis_.coords
        else:
            self.basis_, self.rank_ = None, None
            X = dense_matrix(codes, self.plan)
        self.model_, notes = fit_logreg(
            X, y, ovo=self.ovo, seed=self.seed, tol=self.tol, max_iter=self.max_iter
        )
        return notes

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """Classes the fitted probe gives packed rows (n_samples, n_bytes)."""
        if self.basis_ is None:
            block = max(1, int(self.max_memory // (4 * max(1, self.plan.columns.size))) // 8)
            blocks = dense_blocks(codes, self.plan, block)
        elif codes is self.train_codes_:
            blocks = iter([self.basis_.coords])
        else:
            blocks = iter([self.basis_.transform(codes, self.max_memory)])
        preds = [np.asarray(self.model_.predict(b)) for b in blocks]  # type: ignore[attr-defined]
        return np.concatenate(preds) if preds else np.zeros(0, np.int64)

    def accuracy(self, codes: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy of the fitted probe on packed rows against ``labels``."""
        return float((self.predict(codes) == labels).mean()) if labels.size else float("nan")
