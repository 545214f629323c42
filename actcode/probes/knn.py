"""K-nearest-neighbour probe with Hamming distance on packed codes, and mAP of the Hamming ranking."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from actcode import kernels as K
from actcode.errors import InvalidParameterError

__all__ = ["TIE_RULES", "HammingKNNClassifier", "check_knn_ties", "hamming_map"]

#: How the K-NN breaks a tied vote (``tie_break``, ``--knn-ties``), name -> rule. Neighbours
#: tied in *distance* at the k-th place are always taken by the smaller training index.
TIE_RULES = {
    "distance": "a tied vote goes to the tied class whose neighbours have the smallest sum of "
    "Hamming distances, then to the smallest label",
    "label": "plain majority: a tied vote goes to the smallest label "
    "(as scikit-learn's KNeighborsClassifier)",
}


def check_knn_ties(rule: str) -> str:
    """``rule`` if it names a tie rule (:data:`TIE_RULES`), else raise InvalidParameterError."""
    if rule not in TIE_RULES:
        msg = f"--knn-ties must be one of {', '.join(TIE_RULES)}. Got {rule!r} instead."
        raise InvalidParameterError(msg)
    return rule


def _check_codes(X: np.ndarray, what: str) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype != np.uint8 or X.ndim != 2:
        msg = f"{what} must be packed codes, a 2-D uint8 array (n_samples, n_bytes). Got {X.dtype} {X.shape}."
        raise InvalidParameterError(msg)
    return X


class HammingKNNClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]  # scikit-learn ships no types
    """k-NN classifier on packed binary codes with the Hamming distance, exact and deterministic.

    Neighbours are the ``n_neighbors`` training rows nearest to the query, ties in distance
    broken by the smaller training index (:func:`actcode.kernels.topk_hamming`). The class
    is the majority vote among them. A tie in votes is broken, with ``tie_break="distance"``
    (default), by the smallest sum of distances of the tied classes' neighbours, then by the
    smallest label; with ``tie_break="label"``, by the smallest label alone, which is what
    scikit-learn's ``KNeighborsClassifier(metric="hamming")`` does (``scipy.stats.mode``).
    scikit-learn breaks ties in *distance* at the k-th neighbour arbitrarily, so both
    classifiers agree on every query without such a tie.

    Parameters
    ----------
    n_neighbors : int, default=9
        The study's K.
    tie_break : {"distance", "label"}, default="distance"
    engine : actcode.search.TorchHamming, optional
        Search with torch matrix products on this device (:func:`actcode.search.hamming_engine`)
        instead of the Numba kernels; same neighbours.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_bytes_ : int
        Bytes per code row.
    train_words_ : ndarray of shape (n_samples, n_words), dtype=np.uint64
        The training codes as words.

    Examples
    --------
    >>> X = np.packbits(np.array([[0, 0, 0], [0, 0, 1], [1, 1, 1], [1, 1, 0]], bool), axis=1)
    >>> knn = HammingKNNClassifier(n_neighbors=1).fit(X, np.array([0, 0, 1, 1]))
    >>> knn.predict(np.packbits(np.array([[1, 1, 1], [1, 0, 1]], bool), axis=1)).tolist()
    [1, 0]

    The second query is at distance 1 from rows 1 and 2; the smaller index (row 1) wins.
    """

    def __init__(self, n_neighbors: int = 9, tie_break: str = "distance", engine: Any = None) -> None:
        self.n_neighbors = n_neighbors
        self.tie_break = tie_break
        self.engine = engine

    def fit(self, X: np.ndarray, y: np.ndarray) -> HammingKNNClassifier:
        """Store the training codes (as uint64 words) and their labels.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_bytes), dtype=np.uint8
        y : ndarray of shape (n_samples,)
        """
        X = _check_codes(X, "X")
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            msg = f"y must have shape ({X.shape[0]},) to match X. Got {y.shape} instead."
            raise InvalidParameterError(msg)
        if self.tie_break not in TIE_RULES:
            msg = f"tie_break must be one of {tuple(TIE_RULES)}. Got {self.tie_break!r} instead."
            raise InvalidParameterError(msg)
        if not isinstance(self.n_neighbors, int | np.integer) or self.n_neighbors < 1:
            msg = f"n_neighbors (--k) must be a positive integer. Got {self.n_neighbors!r} instead."
            raise InvalidParameterError(msg)
        if self.n_neighbors > X.shape[0]:
            msg = (
                f"n_neighbors (--k) = {self.n_neighbors} is larger than the {X.shape[0]} training rows. "
                f"Choose --k {X.shape[0]} or less."
            )
            raise InvalidParameterError(msg)
        self.classes_, self._y = np.unique(y, return_inverse=True)
        self.n_bytes_ = X.shape[1]
        if self.engine is None:
            self._words = K.to_words(X)
        else:  # the torch search reads the packed bytes
            self._words = X
        self.train_words_ = self._words
        return self

    def kneighbors(
        self, X: np.ndarray, n_neighbors: int | None = None, return_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """The nearest training rows of each query, in (distance, index) order.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors), dtype=np.int64
            Hamming distances in bits (not fractions as in scikit-learn).
        indices : ndarray of shape (n_queries, n_neighbors), dtype=np.int64
        """
        check_is_fitted(self, "_words")
        X = _check_codes(X, "X")
        if X.shape[1] != self.n_bytes_:
            msg = f"X has {X.shape[1]} bytes per row but the classifier was fit on {self.n_bytes_}."
            raise InvalidParameterError(msg)
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if self.engine is not None:
            from actcode.search import topk_hamming_torch

            d, i = topk_hamming_torch(X, self._words, k, self.engine)
        else:
            d, i = K.topk_hamming(K.to_words(X), self._words, k)
        return (d, i) if return_distance else i

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Majority class of the neighbours, ties broken as described in the class docstring."""
        d, i = self.kneighbors(X)
        n, k = i.shape
        n_classes = self.classes_.size
        lab = self._y[i]
        votes = np.zeros((n, n_classes), np.int64)
        np.add.at(votes, (np.repeat(np.arange(n), k), lab.ravel()), 1)
        top = votes == votes.max(axis=1, keepdims=True)
        if self.tie_break == "label":
            out: np.ndarray = self.classes_[np.argmax(top, axis=1)]
            return out
        dsum = np.zeros((n, n_classes), np.int64)
        np.add.at(dsum, (np.repeat(np.arange(n), k), lab.ravel()), d.ravel())
        key = np.where(top, dsum, np.iinfo(np.int64).max)
        out = self.classes_[np.argmin(key, axis=1)]
        return out


def hamming_map(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    query_codes: np.ndarray,
    query_labels: np.ndarray,
    *,
    n_bits: int | None = None,
    block_rows: int = 4096,
    train_words: np.ndarray | None = None,
    engine: Any = None,
) -> float:
    """Mean average precision (mAP@R, R = all training rows) of the Hamming ranking.

    Each query ranks every training row by Hamming distance; ties are ranked by training
    index (stable). A training row is relevant when it has the query's label. Queries whose
    label no training row has are left out of the mean (their AP is undefined).

    Parameters
    ----------
    train_codes : ndarray of shape (n_train, n_bytes), dtype=np.uint8
    train_labels : ndarray of shape (n_train,)
    query_codes : ndarray of shape (n_queries, n_bytes), dtype=np.uint8
    query_labels : ndarray of shape (n_queries,)
    train_words : ndarray of shape (n_train, n_words), dtype=np.uint64, optional
        ``to_words(train_codes)`` when the caller already has it (saves a copy).
    engine : actcode.search.TorchHamming, optional
        Rank with torch matrix products on this device instead of the Numba kernels.

    Returns
    -------
    map : float
        NaN when no query has a relevant training row.
    """
    q_codes = _check_codes(query_codes, "query codes")
    if engine is not None:
        from actcode.search import average_precision_torch

        train = _check_codes(train_codes, "train codes")
        ap = average_precision_torch(q_codes, query_labels, train, train_labels, engine)
        ap = ap[~np.isnan(ap)]
        return float(ap.mean()) if ap.size else float("nan")
    t = K.to_words(_check_codes(train_codes, "train codes")) if train_words is None else train_words
    bits = n_bits if n_bits is not None else 8 * q_codes.shape[1]
    aps = [
        K.average_precision(
            K.to_words(q_codes[s : s + block_rows]), query_labels[s : s + block_rows], t, train_labels, bits
        )
        for s in range(0, q_codes.shape[0], block_rows)
    ]
    ap = np.concatenate(aps) if aps else np.zeros(0)
    ap = ap[~np.isnan(ap)]
    return float(ap.mean()) if ap.size else float("nan")
