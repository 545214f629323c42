"""Probes: Hamming K-NN against scikit-learn, K-Means mappings, logistic regression, memory plans, files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsOneClassifier
from sklearn.neighbors import KNeighborsClassifier

from actcode import _reference as ref
from actcode import kernels as K
from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.errors import InvalidParameterError, ProbeError
from actcode.probes import (
    HammingKNNClassifier,
    KMeansProbe,
    hamming_map,
    hungarian_accuracy,
    majority_accuracy,
    probe_codes,
    run_probes,
)
from actcode.probes.dense import dense_matrix, plan_columns
from actcode.testing import synthetic_bits
from actcode.testing.helpers import write_code_file


def _task(
    n_train: int, n_test: int, n_bits: int, *, n_classes: int = 3, flip: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    b, y, protos = synthetic_bits(n_train, n_bits, n_classes=n_classes, flip=flip, seed=seed)
    bt, yt, _ = synthetic_bits(
        n_test, n_bits, n_classes=n_classes, flip=flip, seed=seed + 1, prototypes=protos
    )
    return b, y, bt, yt


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10**6), k=st.integers(1, 12), n_bits=st.integers(5, 90), n_classes=st.integers(2, 5)
)
def test_knn_equals_sklearn_where_no_distance_tie_at_kth(
    seed: int, k: int, n_bits: int, n_classes: int
) -> None:
    b, y, bt, yt = _task(60, 40, n_bits, n_classes=n_classes, flip=0.35, seed=seed)
    X, Q = np.packbits(b, axis=1), np.packbits(bt, axis=1)
    ours = HammingKNNClassifier(k, tie_break="label").fit(X, y)
    sk = KNeighborsClassifier(n_neighbors=k, metric="hamming", algorithm="brute").fit(b.astype(np.float64), y)
    d, _ = K.topk_hamming(K.to_words(Q), K.to_words(X), k + 1)
    clean = d[:, k - 1] < d[:, k]  # the k-th neighbour is not tied with the (k+1)-th
    np.testing.assert_array_equal(ours.predict(Q)[clean], sk.predict(bt.astype(np.float64))[clean])
    sk_d, _ = sk.kneighbors(bt.astype(np.float64))
    np.testing.assert_allclose(ours.kneighbors(Q)[0], np.rint(sk_d * n_bits))
    # the default tie break differs only where the vote is tied
    votes = np.stack([(y[ours.kneighbors(Q, return_distance=False)] == c).sum(1) for c in np.unique(y)], 1)
    untied = (votes == votes.max(1, keepdims=True)).sum(1) == 1
    default = HammingKNNClassifier(k).fit(X, y).predict(Q)
    np.testing.assert_array_equal(default[untied], ours.predict(Q)[untied])


def test_knn_vote_ties_by_summed_distance_then_label() -> None:
    X = np.packbits(np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]], bool), axis=1)
    q = np.packbits(np.array([[0, 0, 0, 0]], bool), axis=1)
    y = np.array([5, 2, 7])
    # k=2: neighbours rows 0 (label 5, d=0) and 2 (label 7, d=1): one vote each
    assert HammingKNNClassifier(2).fit(X, y).predict(q).tolist() == [5]  # smaller summed distance
    assert HammingKNNClassifier(2, tie_break="label").fit(X, y).predict(q).tolist() == [5]
    y2 = np.array([9, 2, 3])
    assert HammingKNNClassifier(2).fit(X, y2).predict(q).tolist() == [9]
    assert HammingKNNClassifier(2, tie_break="label").fit(X, y2).predict(q).tolist() == [3]
    # equal summed distances: smallest label
    X3 = np.packbits(np.array([[1, 0, 0, 0], [0, 1, 0, 0]], bool), axis=1)
    assert HammingKNNClassifier(2).fit(X3, np.array([4, 1])).predict(q).tolist() == [1]


def test_probe_codes_knn_ties_rule_is_chosen_and_recorded() -> None:
    layers = layout_layers([LayerInfo("a", "ReLU", (4,))])
    codes = {
        "train": pack_bits(np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]]), layers),
        "test": pack_bits(np.array([[0, 0, 0, 0], [1, 0, 0, 1]]), layers),
    }
    # k=2 ties both queries' votes: query 0 between 9 (d=0) and 3 (d=1); query 1 between 9
    # (d=2) and 3 (d=1). By distance sum: 9 then 3; by label alone: 3 and 3.
    labels = {"train": np.array([9, 2, 3]), "test": np.array([9, 3])}
    acc = {}
    for rule in ("distance", "label"):
        r = probe_codes(codes, labels, layers, probes=["knn"], k=2, knn_map=False, knn_ties=rule)
        acc[rule] = r.table.get("test", "all", "knn_accuracy")
        assert r.params["knn"]["tie_break"] == rule
    assert acc == {"distance": 1.0, "label": 0.5}
    with pytest.raises(InvalidParameterError, match="--knn-ties must be one of distance, label"):
        probe_codes(codes, labels, layers, probes=["knn"], knn_ties="first")


def test_knn_rejects_bad_parameters() -> None:
    X = np.zeros((3, 2), np.uint8)
    with pytest.raises(InvalidParameterError, match="larger than the 3 training rows"):
        HammingKNNClassifier(4).fit(X, np.arange(3))
    with pytest.raises(InvalidParameterError, match="tie_break"):
        HammingKNNClassifier(1, tie_break="vote").fit(X, np.arange(3))
    with pytest.raises(InvalidParameterError, match="packed codes"):
        HammingKNNClassifier(1).fit(X.astype(np.float32), np.arange(3))
    with pytest.raises(InvalidParameterError, match="bytes per row"):
        HammingKNNClassifier(1).fit(X, np.arange(3)).predict(np.zeros((1, 3), np.uint8))
    assert HammingKNNClassifier(1).fit(X, np.arange(3)).score(X, np.arange(3)) == pytest.approx(1 / 3)


def test_hamming_map_matches_reference() -> None:
    b, y, bt, yt = _task(50, 20, 23, seed=3)
    X, Q = np.packbits(b, axis=1), np.packbits(bt, axis=1)
    expected = np.nanmean(ref.average_precision(Q, yt, X, y))
    assert hamming_map(X, y, Q, yt, block_rows=7) == pytest.approx(expected)
    assert np.isnan(hamming_map(X, y, Q[:2], np.array([99, 98])))


def test_majority_and_hungarian_mappings_by_hand() -> None:
    clusters = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    labels = np.array([1, 1, 2, 1, 1, 1, 0, 0])
    # majority: cluster0->1 (2), cluster1->1 (3), cluster2->0 (2): 7/8
    assert majority_accuracy(clusters, labels) == 7 / 8
    # one-to-one: cluster1->1 (3), cluster2->0 (2), cluster0->2 (1): 6/8
    assert hungarian_accuracy(clusters, labels) == 6 / 8
    # a relabelled perfect clustering scores 1 under both
    assert majority_accuracy(np.array([2, 2, 0, 1]), np.array([7, 7, 8, 9])) == 1.0
    assert hungarian_accuracy(np.array([2, 2, 0, 1]), np.array([7, 7, 8, 9])) == 1.0
    # more clusters than labels: majority keeps both, Hungarian wastes one
    assert majority_accuracy(np.array([0, 0, 1, 1]), np.array([3, 3, 3, 3])) == 1.0
    assert hungarian_accuracy(np.array([0, 0, 1, 1]), np.array([3, 3, 3, 3])) == 0.5


def test_kmeans_probe_on_separated_clusters() -> None:
    b, y, _, _ = _task(90, 1, 60, n_classes=3, flip=0.02, seed=8)
    km = KMeansProbe(3, n_init=3, random_state=9).fit(b.astype(np.float32), y)
    assert km.majority_accuracy_ == 1.0
    assert km.hungarian_accuracy_ == 1.0
    assert km.n_init_ == 3


def test_plan_drops_constant_columns_and_subsamples_over_budget() -> None:
    codes = pack_bits(
        np.array([[1, 0, 1, 0, 1], [1, 0, 0, 1, 1], [1, 0, 1, 1, 1]]),
        layout_layers([LayerInfo("a", "ReLU", (5,))]),
    )
    counts = K.bit_counts(codes)
    units = np.arange(5)
    plan = plan_columns(units, counts, 3, 3, 1 << 20, 0)
    assert plan.columns.tolist() == [2, 3]
    assert plan.n_constant == 3
    assert not plan.approximate
    np.testing.assert_array_equal(dense_matrix(codes, plan), [[1, 0], [0, 1], [1, 1]])
    small = plan_columns(units, counts, 3, 3, 8 * 3 * 1, 5)  # room for one float64 column
    assert small.approximate
    assert small.columns.size == 1
    assert small.columns[0] in (2, 3)


def _codes(b: np.ndarray, bt: np.ndarray, layers: list[LayerInfo]) -> dict[str, np.ndarray]:
    return {"train": pack_bits(b, layers), "test": pack_bits(bt, layers)}


def test_probe_codes_matches_direct_sklearn_calls() -> None:
    layers = layout_layers([LayerInfo("a", "ReLU", (20,)), LayerInfo("b", "ReLU", (13,))])
    b, y, bt, yt = _task(150, 60, 33, flip=0.25, seed=2)
    b[:, 4] = True  # an always-on unit, dropped before K-Means and LR
    bt[:, 4] = True
    r = probe_codes(_codes(b, bt, layers), {"train": y, "test": yt}, layers, ovo=True, network={"test": 0.5})
    t = r.table
    keep = [i for i in range(33) if i != 4]
    Xtr, Xte = b[:, keep].astype(np.float32), bt[:, keep].astype(np.float32)
    lr = OneVsOneClassifier(LogisticRegression(random_state=9)).fit(Xtr, y)
    assert t.get("test", "all", "logreg_accuracy") == pytest.approx((lr.predict(Xte) == yt).mean())
    assert t.get("train", "all", "logreg_accuracy") == pytest.approx((lr.predict(Xtr) == y).mean())
    km = KMeansProbe(3, random_state=9).fit(Xte.astype(np.float64), yt)
    assert t.get("test", "all", "kmeans_majority_accuracy") == km.majority_accuracy_
    knn = KNeighborsClassifier(9, metric="hamming").fit(b, y)
    assert abs(t.get("test", "all", "knn_accuracy") - (knn.predict(bt) == yt).mean()) <= 0.05
    assert t.get("test", "all", "network_accuracy") == 0.5
    assert r.params["columns"]["all"]["n_constant_dropped"] == 1
    assert t.get("train", "all", "kmeans_approximate") == 0
    assert set(t.metrics) == {
        "knn_accuracy",
        "knn_map",
        "kmeans_majority_accuracy",
        "kmeans_hungarian_accuracy",
        "kmeans_approximate",
        "logreg_accuracy",
        "logreg_approximate",
        "network_accuracy",
    }


def test_probe_codes_budget_layers_and_errors() -> None:
    layers = layout_layers([LayerInfo("a", "ReLU", (20,)), LayerInfo("b", "ReLU", (13,))])
    b, y, bt, yt = _task(80, 30, 33, seed=4)
    codes, labels = _codes(b, bt, layers), {"train": y, "test": yt}
    r = probe_codes(codes, labels, layers, probes=["kmeans", "logreg"], max_memory=80 * 8 * 5, scopes=layers)
    assert r.table.scopes == ["layer:a", "layer:b"]
    assert r.table.get("test", "layer:b", "logreg_approximate") == 1.0
    assert r.params["columns"]["layer:a"]["n_columns_used"] == 5
    with pytest.raises(InvalidParameterError, match="--k = 81"):
        probe_codes(codes, labels, layers, k=81)
    with pytest.raises(InvalidParameterError, match="--probes"):
        probe_codes(codes, labels, layers, probes=["svm"])
    one = {"train": np.zeros(80, np.int64), "test": yt}
    with pytest.raises(ProbeError, match="K-Means probe cannot run.*single class"):
        probe_codes(codes, one, layers)
    with pytest.raises(ProbeError, match="logistic regression probe cannot run"):
        probe_codes(codes, one, layers, probes=["logreg"])
    assert probe_codes(codes, one, layers, probes=["knn"]).table.get(
        "test", "all", "knn_accuracy"
    ) == np.mean(yt == 0)


def test_run_probes_on_a_file_keeps_codes(tmp_path: Path) -> None:
    from actcode.io import open_codes

    layers = layout_layers([LayerInfo("fc0", "ReLU", (25,))])
    b, y, bt, yt = _task(100, 40, 25, seed=6)
    path = write_code_file(tmp_path / "c.h5", {"train": b, "test": bt}, {"train": y, "test": yt}, layers)
    with h5py.File(path, "r") as f:
        before = f["splits"]["train"]["codes"][()].tobytes()
    out, table = run_probes(path, probes=["knn", "kmeans"], k=3)
    assert out == path
    with open_codes(path) as cf:
        assert cf.results("probe") == table
        assert cf.result_params("probe")["knn"]["n_neighbors"] == 3
        assert cf.codes("train").tobytes() == before
    assert table.get("test", "all", "network_accuracy") == 1.0  # predictions = labels in the helper
    with pytest.raises(InvalidParameterError, match="has no split 'random'"):
        run_probes(path, splits=["train", "random"])


def test_splits_without_labels_are_skipped_or_refused() -> None:
    layers = layout_layers([LayerInfo("a", "ReLU", (16,))])
    b, y, bt, yt = _task(60, 20, 16, seed=7)
    codes = {"train": pack_bits(b, layers), "test": pack_bits(bt, layers), "random": pack_bits(bt, layers)}
    labels = {"train": y, "test": yt, "random": np.full(20, -1)}
    r = probe_codes(codes, labels, layers, probes=["knn", "kmeans"])
    assert r.table.splits == ["train", "test"]
    assert r.params["skipped_splits"] == {"random": "no labels (all -1)"}
    with pytest.raises(ProbeError, match="has no labels"):
        probe_codes(codes, labels, layers, train_split="random")
