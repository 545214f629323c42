"""K-Means probe: cluster codes into as many clusters as classes, then map clusters to labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator
from sklearn.cluster import KMeans

from actcode.probes.dense import ColumnPlan, dense_matrix
from actcode.probes.span import SpanBasis

__all__ = ["KMeansProbe", "contingency", "fit_kmeans_codes", "hungarian_accuracy", "majority_accuracy"]

#: scikit-learn's ``KMeans(tol=...)`` default.
KMEANS_TOL = 1e-4


def contingency(clusters: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of rows per (cluster, label).

    Returns
    -------
    table : ndarray of shape (n_clusters_present, n_labels_present), dtype=np.int64
    label_values : ndarray of shape (n_labels_present,)
    """
    cl, ci = np.unique(clusters, return_inverse=True)
    lv, li = np.unique(labels, return_inverse=True)
    table = np.zeros((cl.size, lv.size), np.int64)
    np.add.at(table, (ci.ravel(), li.ravel()), 1)
    return table, lv


def majority_accuracy(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy when each cluster predicts its most frequent label (cluster purity).

    Several clusters may map to one label. This is the study's MNIST/CIFAR-10 scripts'
    ``compute_clustering_accuracy``.

    Examples
    --------
    >>> majority_accuracy(np.array([0, 0, 0, 1, 1, 2]), np.array([5, 5, 6, 6, 6, 6]))
    0.8333333333333334
    """
    table, _ = contingency(clusters, labels)
    return float(table.max(axis=1).sum() / max(1, len(labels)))


def hungarian_accuracy(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the best one-to-one matching of clusters to labels (Hungarian algorithm).

    Clusters left without a label (more clusters than labels) predict nothing correctly.

    Examples
    --------
    >>> hungarian_accuracy(np.array([0, 0, 0, 1, 1, 2]), np.array([5, 5, 6, 6, 6, 6]))
    0.6666666666666666
    >>> hungarian_accuracy(np.array([0, 0, 1, 1]), np.array([7, 7, 7, 7]))
    0.5
    """
    table, _ = contingency(clusters, labels)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / max(1, len(labels)))


class KMeansProbe(BaseEstimator):  # type: ignore[misc]  # scikit-learn ships no types
    """scikit-learn K-Means on dense 0/1 codes, scored by majority and by Hungarian mapping.

    Parameters
    ----------
    n_clusters : int
        The number of classes.
    n_init : int or "auto", default="auto"
        Passed to :class:`sklearn.cluster.KMeans` ("auto" is 1 run with k-means++; the
        study's scikit-learn of 2021 defaulted to 10).
    random_state : int, default=9
        The study's seed.
    max_iter : int, default=300
    tol : float, default=1e-4
        Passed to :class:`sklearn.cluster.KMeans`, which scales it by the mean variance of
        the columns (see :func:`fit_kmeans_codes` for the span coordinates).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each row.
    majority_accuracy_, hungarian_accuracy_ : float
        Set by :meth:`score_labels` (called by :meth:`fit` when ``y`` is given).
    n_iter_, inertia_ : as in KMeans
    """

    def __init__(
        self,
        n_clusters: int = 10,
        n_init: int | str = "auto",
        random_state: int = 9,
        max_iter: int = 300,
        tol: float = KMEANS_TOL,
    ):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.random_state = random_state
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> KMeansProbe:
        """Cluster ``X`` (n_samples, n_features) float; with ``y``, score the two mappings.

        ``X`` may be modified during the fit and restored (``copy_x=False``, to save memory).
        """
        km = KMeans(
            n_clusters=self.n_clusters,
            n_init=self.n_init,
            random_state=self.random_state,
            max_iter=self.max_iter,
            tol=self.tol,
            copy_x=False,
        )
        km.fit(X)
        self.labels_ = km.labels_
        self.n_iter_ = int(km.n_iter_)
        self.inertia_ = float(km.inertia_)
        self.n_init_ = int(getattr(km, "_n_init", 0) or (self.n_init if isinstance(self.n_init, int) else 0))
        if y is not None:
            self.score_labels(y)
        return self

    def score_labels(self, y: np.ndarray) -> dict[str, Any]:
        """Majority and Hungarian accuracies of the fitted clusters against labels ``y``."""
        self.majority_accuracy_ = majority_accuracy(self.labels_, y)
        self.hungarian_accuracy_ = hungarian_accuracy(self.labels_, y)
        return {"majority": self.majority_accuracy_, "hungarian": self.hungarian_accuracy_}


def fit_kmeans_codes(
    codes: np.ndarray, labels: np.ndarray, plan: ColumnPlan, *, n_clusters: int, n_init: int | str, seed: int
) -> tuple[KMeansProbe, SpanBasis | None]:
    """:class:`KMeansProbe` on the planned columns of packed rows; the span basis, or None when dense.

    On the span path (``plan.span``) the same estimator runs on the rows' coordinates in their
    span (:class:`actcode.probes.span.SpanBasis`): every distance is the dense one. Only the
    stopping tolerance needs care: scikit-learn multiplies ``tol`` by the *mean* variance of the
    columns, the total variance (equal in both coordinates) over D columns densely and over
    ``rank`` here, so ``tol`` is scaled by ``rank / D``.
    """
    if not plan.span:
        X = dense_matrix(codes, plan, np.float64)
        return KMeansProbe(n_clusters, n_init=n_init, random_state=seed).fit(X, labels), None
    basis = SpanBasis.fit(codes, plan.columns)
    tol = KMEANS_TOL * basis.rank / max(1, plan.columns.size)
    km = KMeansProbe(n_clusters, n_init=n_init, random_state=seed, tol=tol).fit(basis.coords, labels)
    return km, basis
