"""The Numba kernels agree with their NumPy references in actcode._reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actcode import _reference as ref
from actcode import kernels as K
from actcode.testing.strategies import CodeSet, code_sets

SETTINGS = settings(max_examples=40, deadline=None)


def _blocks(words: np.ndarray, size: int) -> list[tuple[int, np.ndarray]]:
    return [(s, words[s : s + size]) for s in range(0, words.shape[0], size)]


@SETTINGS
@given(cs=code_sets(min_rows=2))
def test_hamming_block_matches_reference(cs: CodeSet) -> None:
    w = K.to_words(cs.codes)
    half = cs.codes.shape[0] // 2
    np.testing.assert_array_equal(
        K.hamming_block(w[:half], w[half:]), ref.hamming_block(cs.codes[:half], cs.codes[half:])
    )
    assert (K.hamming_block(w, w).diagonal() == 0).all()


@SETTINGS
@given(cs=code_sets(min_rows=1), data=st.data())
def test_topk_matches_reference_in_any_blocking(cs: CodeSet, data: st.DataObject) -> None:
    n = cs.codes.shape[0]
    k = data.draw(st.integers(1, n + 2))
    nq = data.draw(st.integers(1, n))
    block = data.draw(st.integers(1, n))
    w = K.to_words(cs.codes)
    d, i = K.topk_hamming(w[:nq], _blocks(w, block), k)
    rd, ri = ref.topk_hamming(cs.codes[:nq], cs.codes, k)
    np.testing.assert_array_equal(d, rd)
    np.testing.assert_array_equal(i, ri)
    # excluding each query's own row, blocks visited in reverse order: same answer as the reference
    ex = np.arange(nq)
    d, i = K.topk_hamming(w[:nq], _blocks(w, block)[::-1], k, exclude=ex)
    rd, ri = ref.topk_hamming(cs.codes[:nq], cs.codes, k, ex)
    np.testing.assert_array_equal(d, rd)
    np.testing.assert_array_equal(i, ri)


def test_topk_wide_rows_and_ties_by_index() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (70, 260), dtype=np.uint8)  # 33 words: the one-query kernel
    codes[40] = codes[5]
    codes[50] = codes[5]
    w = K.to_words(codes)
    d, i = K.topk_hamming(w[:9], w, 4)
    rd, ri = ref.topk_hamming(codes[:9], codes, 4)
    np.testing.assert_array_equal(d, rd)
    np.testing.assert_array_equal(i, ri)
    assert i[5, :3].tolist() == [5, 40, 50]  # equal distances 0: smaller index first
    same = np.zeros((6, 3), np.uint8)
    d, i = K.topk_hamming(K.to_words(same[:1]), K.to_words(same), 6)
    assert i.tolist() == [[0, 1, 2, 3, 4, 5]]


def test_wide_rows_in_class_distances_and_average_precision() -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (45, 230), dtype=np.uint8)  # 29 words: the one-query kernels
    codes[30] = codes[2]
    labels = rng.integers(0, 3, 45)
    w = K.to_words(codes)
    qi = np.arange(0, 45, 2)
    within, between = K.nearest_class_distances(
        w[qi], labels[qi], qi, [(0, w[:20], labels[:20]), (20, w[20:], labels[20:])]
    )
    rw, rb = ref.nearest_class_distances(codes, labels, qi)
    np.testing.assert_array_equal(within, rw)
    np.testing.assert_array_equal(between, rb)
    ap = K.average_precision(w[:21], labels[:21], w, labels, 8 * 230)
    np.testing.assert_allclose(ap, ref.average_precision(codes[:21], labels[:21], codes, labels))


def test_topk_reports_missing_neighbours() -> None:
    w = K.to_words(np.array([[1], [2]], np.uint8))
    d, i = K.topk_hamming(w[:1], w, 3, exclude=np.array([0]))
    assert i.tolist() == [[1, K.NO_INDEX, K.NO_INDEX]]
    assert d[0, 0] == 2
    assert d[0, 1] == K.NO_DISTANCE


@SETTINGS
@given(cs=code_sets(), data=st.data())
def test_groups_are_exact_and_in_first_occurrence_order(cs: CodeSet, data: st.DataObject) -> None:
    w = K.to_words(cs.codes)
    expected = ref.group_ids(cs.codes)
    np.testing.assert_array_equal(K.group_rows(w), expected)
    block = data.draw(st.integers(1, cs.codes.shape[0]))
    np.testing.assert_array_equal(K.group_rows_blocked(lambda: _blocks(w, block), w.shape[0]), expected)
    n_distinct = K.group_rows(w).max() + 1
    assert n_distinct == np.unique(cs.bits, axis=0).shape[0]


@SETTINGS
@given(cs=code_sets(min_rows=2, kinds=("any", "duplicates")), data=st.data())
def test_grouper_survives_hash_collisions(cs: CodeSet, data: st.DataObject) -> None:
    # Force every row to the same hash: the verify pass must find the conflicts and the
    # resolve pass must still give exact groups.
    w = K.to_words(cs.codes)
    block = data.draw(st.integers(1, w.shape[0]))
    g = K.BlockedGrouper(w.shape[0])
    for start, b in _blocks(w, block):
        g.add_hashes(start, b)
    g.hashes[:] = 7
    assert g.prepare()
    for start, b in _blocks(w, block):
        g.verify(start, b)
    rows = g.conflict_rows()
    distinct_rows = np.unique(cs.codes, axis=0).shape[0]
    assert (rows.size > 0) == (distinct_rows > 1)
    g.resolve(w[rows])
    np.testing.assert_array_equal(g.group_ids(), ref.group_ids(cs.codes))


@SETTINGS
@given(cs=code_sets(min_rows=2, kinds=("any", "duplicates")), h=st.sampled_from(["same", "slot"]))
def test_group_rows_survives_hash_collisions(cs: CodeSet, h: str) -> None:
    # A hash must give equal rows equal values. "same": every row has one hash (equal hashes,
    # different words); "slot": a few small hashes, which all land in slot 0 of the table
    # (long probe chains past rows of other hashes).
    from actcode.kernels import groups

    w = K.to_words(cs.codes)
    expected = ref.group_ids(cs.codes)
    fake = np.full(w.shape[0], 7, np.uint64) if h == "same" else (expected % 5).astype(np.uint64)
    original = groups.row_hashes
    groups.row_hashes = lambda _w: fake  # type: ignore[assignment]
    try:
        got = K.group_rows(w)
    finally:
        groups.row_hashes = original
    np.testing.assert_array_equal(got, expected)


def test_group_rows_edge_cases() -> None:
    assert K.group_rows(np.zeros((0, 1), np.uint64)).shape == (0,)
    np.testing.assert_array_equal(K.group_rows(K.to_words(np.zeros((4, 3), np.uint8))), [0, 0, 0, 0])
    np.testing.assert_array_equal(
        K.group_rows(K.to_words(np.arange(5, dtype=np.uint8)[:, None])), np.arange(5)
    )


@SETTINGS
@given(cs=code_sets())
def test_bit_counts_match_reference(cs: CodeSet) -> None:
    np.testing.assert_array_equal(K.bit_counts(cs.codes), ref.bit_counts(cs.codes))


def test_bit_counts_many_rows_uses_all_chunks() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (3001, 5), dtype=np.uint8)
    np.testing.assert_array_equal(K.bit_counts(codes), ref.bit_counts(codes))


def test_bit_counts_long_rows_count_by_column_blocks() -> None:
    # 5000 bytes per row: the column-block kernel, with a last block of 904 columns
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (37, 5000), dtype=np.uint8)
    codes[:, 7] = 0
    codes[:, -1] = 255
    got = K.bit_counts(codes)
    np.testing.assert_array_equal(got, ref.bit_counts(codes))
    np.testing.assert_array_equal(got, np.unpackbits(codes, axis=1).sum(axis=0))


@SETTINGS
@given(cs=code_sets(min_rows=2), data=st.data())
def test_nearest_class_distances_match_reference(cs: CodeSet, data: st.DataObject) -> None:
    n = cs.codes.shape[0]
    qi = np.unique(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n)))
    block = data.draw(st.integers(1, n))
    w = K.to_words(cs.codes)
    rows = [(s, b, cs.labels[s : s + b.shape[0]]) for s, b in _blocks(w, block)]
    within, between = K.nearest_class_distances(w[qi], cs.labels[qi], qi, rows)
    rw, rb = ref.nearest_class_distances(cs.codes, cs.labels, qi)
    np.testing.assert_array_equal(within, rw)
    np.testing.assert_array_equal(between, rb)


def _symmetric(
    w: np.ndarray, labels: np.ndarray, qi: np.ndarray, blocks: list[tuple[int, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """The symmetric search fed one block a call through ``state``, as measure feeds it."""
    state = None
    for s, b in blocks:
        state = K.nearest_class_distances(
            w[qi], labels[qi], qi, [(s, b, labels[s : s + b.shape[0]])], state=state, symmetric=True
        )
    assert state is not None
    return state


@SETTINGS
@given(cs=code_sets(min_rows=2, max_rows=60), data=st.data())
def test_symmetric_nearest_class_distances_equal_the_one_sided_search(
    cs: CodeSet, data: st.DataObject
) -> None:
    # every row a query (measure's default) or a sample; any blocking, blocks in any order;
    # equal and duplicate rows give many ties
    n = cs.codes.shape[0]
    sample = np.unique(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n)))
    qi = np.arange(n) if data.draw(st.booleans()) else sample
    block = data.draw(st.integers(1, n))
    w = K.to_words(cs.codes)
    blocks = _blocks(w, block)
    order = data.draw(st.permutations(range(len(blocks))))
    within, between = _symmetric(w, cs.labels, qi, [blocks[i] for i in order])
    rows = [(s, b, cs.labels[s : s + b.shape[0]]) for s, b in blocks]
    ow, ob = K.nearest_class_distances(w[qi], cs.labels[qi], qi, rows)
    rw, rb = ref.nearest_class_distances(cs.codes, cs.labels, qi)
    np.testing.assert_array_equal(within, ow)
    np.testing.assert_array_equal(between, ob)
    np.testing.assert_array_equal(within, rw)
    np.testing.assert_array_equal(between, rb)


@pytest.mark.parametrize("n_bytes", [40, 230])  # 5 words (four-query tiles) and 29 words (row pairs)
def test_symmetric_search_on_many_rows_with_ties(n_bytes: int) -> None:
    # enough rows for several tiles per worker, odd sizes for the tails, many duplicate rows
    rng = np.random.default_rng(n_bytes)
    n = 300
    mask = rng.integers(0, 256, (1, n_bytes), dtype=np.uint8)  # some columns always off: closer rows
    codes = rng.integers(0, 256, (n, n_bytes), dtype=np.uint8) & mask
    codes[rng.integers(0, n, 100)] = codes[rng.integers(0, n, 100)]
    labels = rng.integers(0, 4, n)
    w = K.to_words(codes)
    for qi in (np.arange(n), np.sort(rng.choice(n, 61, replace=False))):
        within, between = _symmetric(w, labels, qi, _blocks(w, 61)[::-1])
        rw, rb = ref.nearest_class_distances(codes, labels, qi)
        np.testing.assert_array_equal(within, rw)
        np.testing.assert_array_equal(between, rb)
    with pytest.raises(ValueError, match="strictly increasing"):
        K.nearest_class_distances(w[:2], labels[:2], np.array([1, 0]), [(0, w, labels)], symmetric=True)


@SETTINGS
@given(cs=code_sets(min_rows=2), data=st.data())
def test_average_precision_matches_reference(cs: CodeSet, data: st.DataObject) -> None:
    n = cs.codes.shape[0]
    nq = data.draw(st.integers(1, n))
    w = K.to_words(cs.codes)
    n_bits = 8 * cs.codes.shape[1]
    ap = K.average_precision(w[:nq], cs.labels[:nq], w, cs.labels, n_bits)
    np.testing.assert_allclose(ap, ref.average_precision(cs.codes[:nq], cs.labels[:nq], cs.codes, cs.labels))


def test_average_precision_ties_are_ranked_by_index() -> None:
    # all train rows at distance 0: ranking = index order; relevant rows at ranks 2 and 3
    t = np.zeros((3, 1), np.uint8)
    ap = K.average_precision(K.to_words(t[:1]), np.array([1]), K.to_words(t), np.array([0, 1, 1]), 8)
    assert ap[0] == pytest.approx((1 / 2 + 2 / 3) / 2)
    ap = K.average_precision(K.to_words(t[:1]), np.array([5]), K.to_words(t), np.array([0, 1, 1]), 8)
    assert np.isnan(ap[0])


@SETTINGS
@given(cs=code_sets(), data=st.data())
def test_unpack_columns_matches_unpackbits(cs: CodeSet, data: st.DataObject) -> None:
    n_bits = 8 * cs.codes.shape[1]
    cols = np.array(data.draw(st.lists(st.integers(0, n_bits - 1), max_size=20)), np.int64)
    np.testing.assert_array_equal(
        K.unpack_columns(cs.codes, cols), ref.unpack(cs.codes)[:, cols].astype(np.float32)
    )


def test_to_words_pads_with_zero_and_rejects_bad_input() -> None:
    w = K.to_words(np.array([[1, 2, 3]], np.uint8))
    assert w.shape == (1, 1)
    assert w.view(np.uint8).ravel().tolist() == [1, 2, 3, 0, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="2-D uint8"):
        K.to_words(np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="uint64 word array"):
        K.hamming_block(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="same number of words"):
        K.hamming_block(np.zeros((1, 1), np.uint64), np.zeros((1, 2), np.uint64))
    with pytest.raises(ValueError, match="k must be at least 1"):
        K.topk_hamming(np.zeros((1, 1), np.uint64), np.zeros((1, 1), np.uint64), 0)


def test_popcount() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**63, 50, dtype=np.uint64)
    a = K.to_words(x.view(np.uint8).reshape(50, 8))
    z = np.zeros((1, 1), np.uint64)
    np.testing.assert_array_equal(K.hamming_block(a, z)[:, 0], np.bitwise_count(x))
