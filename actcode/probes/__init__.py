"""Categorization probes on neural codes: K-Means, Hamming K-NN and logistic regression, as in the study.

- **K-Means** (``kmeans``): scikit-learn ``KMeans(n_clusters=#classes, random_state=seed)``
  fit *separately* on each split's codes; clusters are mapped to labels by majority
  (``kmeans_majority_accuracy``, the study's MNIST/CIFAR scripts) and one-to-one by
  Hungarian matching (``kmeans_hungarian_accuracy``).
- **K-NN** (``knn``): :class:`HammingKNNClassifier` with K = 9 fit on the training split,
  accuracy on every other split (``knn_accuracy``), a tied vote broken by ``knn_ties``
  (:data:`actcode.probes.knn.TIE_RULES`), plus ``knn_map``, the mAP of ranking all
  training rows by Hamming distance (ties by index).
- **Logistic regression** (``logreg``): multinomial, or one-vs-one with ``ovo`` as in the
  study; fit on the training split, accuracy on every split (``logreg_accuracy``).
- ``network_accuracy``: the network's own accuracy on each split.

A split without labels (all -1, as random inputs) is not probed (``skipped_splits`` in the
parameters); a training split without labels is a :class:`~actcode.errors.ProbeError`.

Memory. K-NN and mAP work on packed codes (1 bit per unit). K-Means and logistic
regression drop constant units (over all probed rows) first, as the study did. When the
largest probed split has fewer rows N than remaining columns D and its Gram matrix fits
``max_memory`` (about 64 N² bytes), they run in the span of the rows
(:mod:`actcode.probes.span`: exact popcount inner products, the same estimators on
N-dimensional coordinates, other rows mapped in tiles of inner products), on every remaining
column. Otherwise they need a dense matrix (float64 for K-Means, whose k-means++ in
scikit-learn is several times slower on float32; float32 for logistic regression). When its
columns for the largest split would exceed ``max_memory`` bytes, a seeded random subset of
the columns that fits is used instead (an approximation of the Hamming geometry: distances on
a random subset of bits are proportional in expectation), and the rows ``kmeans_approximate`` /
``logreg_approximate`` are 1 and the ``columns`` parameters say how many columns were used.
Peak memory is about the packed codes plus twice ``max_memory`` (scikit-learn's K-Means takes
a variance over the matrix). The ``columns`` parameters record the path (``span`` or ``dense``).
"""

from __future__ import annotations

from actcode.probes.api import DEFAULT_MAX_MEMORY, PROBES, ProbeResult, probe_codes, run_probes
from actcode.probes.kmeans import KMeansProbe, hungarian_accuracy, majority_accuracy
from actcode.probes.knn import HammingKNNClassifier, hamming_map

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "PROBES",
    "HammingKNNClassifier",
    "KMeansProbe",
    "ProbeResult",
    "hamming_map",
    "hungarian_accuracy",
    "majority_accuracy",
    "probe_codes",
    "run_probes",
]
