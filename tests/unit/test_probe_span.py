"""Probes in the span of the rows: exact Gram kernels, the span basis, and equality with the dense path.

Tolerances, and why. The span path sees the same distances and inner products as the dense
path, so:

- logistic regression fit to convergence predicts the same class for every row (multinomial
  and one-vs-one). At the probe's defaults (``tol=1e-4``, ``max_iter=100``) L-BFGS stops on its
  largest gradient *component*, which is not invariant under the change of coordinates: the
  two fits may stop at different iterates of the same descent, and rows near the boundary may
  differ. Measured on the generated cases below: accuracies equal at D = 3000; at most 3 of
  40 test rows (0.075) apart at D = 700. The stated tolerance is 0.1 of accuracy.
- K-Means: integer distances tie exactly on 0/1 rows (a row equidistant from two k-means++
  centres, which are rows). The dense path breaks such ties by the smaller cluster index, the
  span path by rounding (1e-12), and Lloyd's iterations may then reach another local optimum.
  Measured: 0–4 of 60–140 rows apart, accuracies within 0.02. The stated tolerance is 5 % of
  the rows and 0.05 of accuracy; well-separated clusters agree exactly.
"""

from __future__ import annotations

import dataclasses
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actcode import kernels as K
from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.kernels.gram import column_mask, cross_gram, gram
from actcode.probes import probe_codes
from actcode.probes.dense import ColumnPlan, plan_columns
from actcode.probes.kmeans import fit_kmeans_codes
from actcode.probes.linear import CodesLogreg
from actcode.probes.span import SPAN_BYTES_PER_PAIR, SpanBasis
from actcode.testing import synthetic_bits

SETTINGS = settings(max_examples=30, deadline=None)


def _ref_products(a: np.ndarray, b: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """NumPy reference: inner products of unpacked 0/1 rows over the chosen bit columns."""
    ua = np.unpackbits(a, axis=1)[:, columns].astype(np.int64)
    ub = np.unpackbits(b, axis=1)[:, columns].astype(np.int64)
    out: np.ndarray = ua @ ub.T
    return out


@st.composite
def _packed(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_bytes = draw(st.integers(1, 80))
    na, nb = draw(st.integers(0, 70)), draw(st.integers(0, 9))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.05, 0.5, 0.95]))
    rng = np.random.default_rng(seed)
    a = np.packbits(rng.random((na, 8 * n_bytes)) < density, axis=1)
    b = np.packbits(rng.random((nb, 8 * n_bytes)) < density, axis=1)
    cols = np.flatnonzero(rng.random(8 * n_bytes) < draw(st.sampled_from([0.1, 0.7, 1.0])))
    return a, b, cols


@given(_packed())
@SETTINGS
def test_gram_and_cross_products_equal_the_numpy_reference(
    case: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    a, b, cols = case
    mask = column_mask(cols, a.shape[1])
    np.testing.assert_array_equal(gram(K.to_words(a), mask), _ref_products(a, a, cols))
    np.testing.assert_array_equal(cross_gram(K.to_words(a), K.to_words(b), mask), _ref_products(a, b, cols))


def test_column_mask_is_laid_out_as_to_words() -> None:
    cols = np.array([0, 7, 8, 63, 64, 70])
    bits = np.zeros((1, 72), bool)
    bits[0, cols] = True
    np.testing.assert_array_equal(column_mask(cols, 9), K.to_words(np.packbits(bits, axis=1))[0])
    with pytest.raises(ValueError, match="columns must lie"):
        column_mask(np.array([72]), 9)
    with pytest.raises(ValueError, match="mask must be"):
        gram(K.to_words(np.zeros((2, 9), np.uint8)), np.zeros(1, np.uint64))


def test_span_basis_keeps_inner_products_and_drops_null_directions() -> None:
    rng = np.random.default_rng(3)
    bits = rng.random((30, 500)) < 0.4
    bits[10:20] = bits[:10]  # duplicates: rank 20
    test = rng.random((7, 500)) < 0.4
    codes, tcodes = np.packbits(bits, axis=1), np.packbits(test, axis=1)
    cols = np.arange(0, 500, 3)
    basis = SpanBasis.fit(codes, cols)
    x, t = bits[:, cols].astype(float), test[:, cols].astype(float)
    assert basis.rank == np.linalg.matrix_rank(x) == 20
    np.testing.assert_allclose(basis.coords @ basis.coords.T, x @ x.T, atol=1e-8)
    for budget in (1, 1 << 20):  # one row per tile, or all at once
        z = basis.transform(tcodes, budget)
        np.testing.assert_allclose(z @ basis.coords.T, t @ x.T, atol=1e-8)
    zero = SpanBasis.fit(np.zeros((4, 3), np.uint8), np.arange(24))
    assert zero.rank == 1
    assert not zero.coords.any()
    assert not zero.transform(codes[:, :3], 1 << 20).any()


def _case(
    seed: int, n: int, n_bits: int, flip: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    c = 3 + seed % 4
    b, y, protos = synthetic_bits(n, n_bits, n_classes=c, flip=flip, seed=seed)
    bt, yt, _ = synthetic_bits(40, n_bits, n_classes=c, flip=flip, seed=seed + 100, prototypes=protos)
    layers = layout_layers([LayerInfo("a", "ReLU", (n_bits,))])
    return pack_bits(b, layers), y, pack_bits(bt, layers), yt


def _plans(train: np.ndarray, test: np.ndarray, n_bits: int) -> tuple[ColumnPlan, ColumnPlan]:
    n = train.shape[0] + test.shape[0]
    counts = K.bit_counts(train) + K.bit_counts(test)
    plan = plan_columns(np.arange(n_bits), counts, n, train.shape[0], 1 << 30, 0)
    assert plan.span
    return plan, dataclasses.replace(plan, span=False)


@pytest.mark.parametrize("ovo", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_logreg_in_the_span_predicts_as_the_dense_fit(seed: int, ovo: bool) -> None:
    train, y, test, yt = _case(seed, 60 + 7 * seed, 300 + 50 * seed, [0.2, 0.35, 0.45][seed % 3])
    span, dense = _plans(train, test, 300 + 50 * seed)
    fits = [
        CodesLogreg(p, ovo=ovo, seed=9, max_memory=1 << 30, tol=1e-8, max_iter=2000) for p in (span, dense)
    ]
    for f in fits:
        f.fit(train, y)
    s, d = fits
    assert s.rank_ is not None
    assert d.rank_ is None
    np.testing.assert_array_equal(s.predict(train), d.predict(train))
    np.testing.assert_array_equal(s.predict(test), d.predict(test))
    np.testing.assert_array_equal(s.predict(test.copy()), d.predict(test))  # through inner products
    defaults = [CodesLogreg(p, ovo=ovo, seed=9, max_memory=1 << 30) for p in (span, dense)]
    for f in defaults:
        f.fit(train, y)
    assert abs(defaults[0].accuracy(test, yt) - defaults[1].accuracy(test, yt)) <= 0.1


@pytest.mark.parametrize("seed", range(8))
def test_kmeans_in_the_span_clusters_as_the_dense_fit(seed: int) -> None:
    flip = [0.2, 0.35, 0.45][seed % 3]
    train, y, test, _ = _case(seed, 60 + 7 * seed, 300 + 50 * seed, flip)
    span, dense = _plans(train, test, 300 + 50 * seed)
    c = int(np.unique(y).size)
    ks, basis = fit_kmeans_codes(train, y, span, n_clusters=c, n_init="auto", seed=9)
    kd, none = fit_kmeans_codes(train, y, dense, n_clusters=c, n_init="auto", seed=9)
    assert basis is not None
    assert none is None
    assert (ks.labels_ != kd.labels_).mean() <= 0.05
    assert abs(ks.majority_accuracy_ - kd.majority_accuracy_) <= 0.05
    assert abs(ks.hungarian_accuracy_ - kd.hungarian_accuracy_) <= 0.05


@pytest.mark.parametrize("seed", range(4))
def test_kmeans_in_the_span_equals_dense_on_separated_clusters(seed: int) -> None:
    train, y, test, _ = _case(seed, 90, 800, 0.1)
    span, dense = _plans(train, test, 800)
    c = int(np.unique(y).size)
    ks, _ = fit_kmeans_codes(train, y, span, n_clusters=c, n_init=3, seed=seed)
    kd, _ = fit_kmeans_codes(train, y, dense, n_clusters=c, n_init=3, seed=seed)
    np.testing.assert_array_equal(ks.labels_, kd.labels_)
    assert ks.inertia_ == pytest.approx(kd.inertia_, rel=1e-9)
    assert (ks.majority_accuracy_, ks.hungarian_accuracy_) == (kd.majority_accuracy_, kd.hungarian_accuracy_)


def test_plan_chooses_the_span_when_rows_are_fewer_than_columns() -> None:
    units = np.arange(100)
    counts = np.full(100, 5)
    span = plan_columns(units, counts, 10, 10, SPAN_BYTES_PER_PAIR * 100, 0, 8)
    assert span.span
    assert span.columns.size == 100
    assert not span.approximate
    assert span.as_params()["path"] == "span"
    over = plan_columns(units, counts, 10, 10, SPAN_BYTES_PER_PAIR * 100 - 1, 0, 8)  # Gram over budget
    assert not over.span
    assert over.approximate
    assert over.as_params()["path"] == "dense"
    tall = plan_columns(units, np.full(100, 50), 200, 200, 1 << 30, 0, 8)  # N >= D
    assert not tall.span
    assert tall.columns.size == 100


def test_probe_codes_records_the_span_path_and_ranks() -> None:
    train, y, test, yt = _case(1, 50, 2000, 0.3)
    layers = layout_layers([LayerInfo("a", "ReLU", (2000,))])
    r = probe_codes(
        {"train": train, "test": test}, {"train": y, "test": yt}, layers, probes=["kmeans", "logreg"]
    )
    cols = r.params["columns"]["all"]
    assert cols["path"] == "span"
    for split, codes in (("train", train), ("test", test)):  # synthetic rows repeat: rank < rows
        assert cols[f"span_rank_{split}"] == np.linalg.matrix_rank(np.unpackbits(codes, axis=1).astype(float))
    assert r.table.get("test", "all", "kmeans_approximate") == 0.0
    plan = plan_columns(np.arange(2000), K.bit_counts(train) + K.bit_counts(test), 90, 50, 1 << 30, 9, 8)
    lr = CodesLogreg(plan, ovo=False, seed=9, max_memory=1 << 30)
    lr.fit(train, y)
    assert r.table.get("test", "all", "logreg_accuracy") == lr.accuracy(test, yt)


def test_logreg_reuses_the_kmeans_basis_of_the_training_split_per_scope() -> None:
    # two sites probed one by one: each scope has its own basis cache (ScopeCodes.span_bases)
    b, y, protos = synthetic_bits(50, 3600, n_classes=4, flip=0.3, seed=3)
    bt, yt, _ = synthetic_bits(40, 3600, n_classes=4, flip=0.3, seed=103, prototypes=protos)
    layers = layout_layers([LayerInfo("a", "ReLU", (2000,)), LayerInfo("b", "ReLU", (1600,))])
    codes = {"train": pack_bits(b, layers), "test": pack_bits(bt, layers)}
    labels = {"train": y, "test": yt}
    fits = []

    def counted(codes: np.ndarray, columns: np.ndarray) -> SpanBasis:
        fits.append(codes.shape[0])
        return real(codes, columns)

    real = SpanBasis.fit
    with mock.patch.object(SpanBasis, "fit", side_effect=counted):
        both = probe_codes(codes, labels, layers, scopes=layers, probes=["kmeans", "logreg"])
        assert sorted(fits) == [40, 40, 50, 50]  # K-Means on each split and scope; LR counts none
        alone = probe_codes(codes, labels, layers, scopes=layers, probes=["logreg"])
        assert sorted(fits[4:]) == [50, 50]  # without K-Means, LR computes the training basis
    for scope in ("layer:a", "layer:b"):
        assert both.params["columns"][scope]["path"] == "span"
        for s in ("train", "test"):
            got = both.table.get(s, scope, "logreg_accuracy")
            assert got == alone.table.get(s, scope, "logreg_accuracy")
