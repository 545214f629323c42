"""measure_codes and measure_file against brute-force definitions on unpacked bits."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actcode import _reference as ref
from actcode.codes import LayerInfo, layout_layers, pack_bits, unpack_bits
from actcode.errors import InvalidParameterError
from actcode.measures import measure_codes, measure_file
from actcode.testing import synthetic_bits
from actcode.testing.helpers import write_code_file
from actcode.testing.strategies import CodeSet, code_sets

SETTINGS = settings(max_examples=25, deadline=None)


def _scope_units(layers: list[LayerInfo], scope: str) -> np.ndarray:
    starts = np.cumsum([0] + [layer.n_units for layer in layers])
    names = [layer.name for layer in layers]
    if scope == "all":
        return np.arange(starts[-1])
    kind, name = scope.split(":", 1)
    i = names.index(name)
    return np.arange(starts[i] if kind == "layer" else 0, starts[i + 1])


def _brute(
    bits: np.ndarray, labels: np.ndarray, train_bits: np.ndarray | None, train_labels: np.ndarray | None
) -> dict[str, Any]:
    """Every measure of one split and scope from its 0/1 rows, with Python dicts."""
    n = bits.shape[0]
    groups: dict[bytes, list[int]] = defaultdict(list)
    for i, row in enumerate(bits):
        groups[row.tobytes()].append(i)
    sizes = [len(g) for g in groups.values()]
    mixed = [g for g in groups.values() if len(set(labels[g].tolist())) > 1]
    out = {
        "n_distinct": len(groups),
        "redundancy": ref.redundancy(bits) if bits.shape[1] else (n - 1) / n,
        "n_collision_groups": sum(s >= 2 for s in sizes),
        "largest_group": max(sizes),
        "n_mixed_groups": len(mixed),
        "rows_in_mixed_groups": sum(len(g) for g in mixed),
        "collision_sizes": np.bincount(sizes, minlength=2),
        "dead_units": int((bits.sum(0) == 0).sum()),
        "always_on_units": int((bits.sum(0) == n).sum()),
    }
    if train_bits is not None:
        assert train_labels is not None
        train_groups: dict[bytes, list[int]] = defaultdict(list)
        for i, row in enumerate(train_bits):
            train_groups[row.tobytes()].append(int(train_labels[i]))
        hits = correct = 0
        for i, row in enumerate(bits):
            if row.tobytes() in train_groups:
                hits += 1
                c = Counter(train_groups[row.tobytes()])
                best = min(c, key=lambda lab: (-c[lab], lab))
                correct += best == labels[i]
        out["hash_hits"] = hits
        out["hash_lookup_accuracy"] = correct / hits if hits else float("nan")
    # nearest neighbours over the scope's bits, packed on their own
    packed = np.packbits(bits, axis=1) if bits.shape[1] else np.zeros((n, 1), np.uint8)
    w, b = ref.nearest_class_distances(packed, labels, np.arange(n))
    for name, d in (("nn_within", w), ("nn_between", b), ("nn", np.minimum(w, b))):
        v = d[d < 2**62]
        out[f"{name}_mean"] = v.mean() if v.size else float("nan")
        out[f"{name}_median"] = np.median(v) if v.size else float("nan")
    return out


@SETTINGS
@given(cs=code_sets(min_rows=2, max_rows=30), data=st.data())
def test_measures_match_brute_force_per_scope(cs: CodeSet, data: st.DataObject) -> None:
    n = cs.codes.shape[0]
    cut = data.draw(st.integers(1, n - 1))
    block_rows = data.draw(st.sampled_from([None, 1, 3]))
    codes = {"train": cs.codes[:cut], "test": cs.codes[cut:]}
    labels = {"train": cs.labels[:cut], "test": cs.labels[cut:]}
    m = measure_codes(codes, labels, cs.layers, block_rows=block_rows)
    bits = cs.bits.astype(np.uint8)
    expected_scopes = ["all"] + [f"{k}:{layer.name}" for layer in cs.layers for k in ("layer", "upto")]
    assert m.table.scopes == expected_scopes
    for split, sl in (("train", slice(0, cut)), ("test", slice(cut, n))):
        for scope in expected_scopes:
            u = _scope_units(cs.layers, scope)
            train = (bits[:cut][:, u], cs.labels[:cut]) if split == "test" else (None, None)
            exp = _brute(bits[sl][:, u], cs.labels[sl], *train)
            got = {
                metric: m.table.get(split, scope, metric)
                for metric in m.table.filter(split=split, scope=scope).metrics
            }
            assert got["n_samples"] == bits[sl].shape[0]
            assert got["n_units"] == u.size
            for key, value in exp.items():
                if key == "collision_sizes":
                    if scope == "all":
                        np.testing.assert_array_equal(m.arrays[f"{split}/collision_sizes"], value)
                    continue
                np.testing.assert_allclose(got[key], value, err_msg=f"{split} {scope} {key}")
            if split == "test":
                assert got["hash_hit_rate"] == pytest.approx(exp["hash_hits"] / (n - cut))
            else:
                assert "hash_hits" not in got


def test_redundancy_equals_np_unique_on_synthetic_codes() -> None:
    layers = layout_layers([LayerInfo("a", "ReLU", (13,)), LayerInfo("b", "ReLU", (9,))])
    bits, labels, _ = synthetic_bits(400, 22, n_classes=3, flip=0.05, duplicates=0.2, seed=4)
    m = measure_codes({"train": pack_bits(bits, layers)}, {"train": labels}, layers, nn=False)
    assert m.table.get("train", "all", "redundancy") == ref.redundancy(bits.astype(np.int8))
    assert m.table.get("train", "layer:b", "redundancy") == ref.redundancy(bits[:, 13:].astype(np.int8))
    assert m.table.get("train", "upto:a", "redundancy") == ref.redundancy(bits[:, :13].astype(np.int8))
    assert m.table.get("train", "all", "n_distinct") == np.unique(bits, axis=0).shape[0]


def test_bit_statistics_and_arrays() -> None:
    layers = layout_layers([LayerInfo("a", "ReLU", (3,)), LayerInfo("b", "ReLU", (2,))])
    bits = np.array([[1, 0, 1, 1, 0], [1, 0, 0, 1, 0], [1, 0, 1, 1, 0], [1, 0, 0, 1, 0]])
    m = measure_codes({"train": pack_bits(bits, layers)}, {"train": np.array([0, 0, 1, 1])}, layers)
    t = m.table
    assert t.get("train", "all", "dead_units") == 2
    assert t.get("train", "all", "always_on_units") == 2
    assert t.get("train", "layer:b", "dead_units") == 1
    assert t.get("train", "layer:b", "always_on_units") == 1
    assert t.get("train", "all", "mean_bit_entropy") == pytest.approx(1 / 5)
    np.testing.assert_allclose(m.arrays["train/bit_on_fraction"], [1, 0, 0.5, 1, 0])
    # two groups of two rows, each mixing labels 0 and 1
    assert t.get("train", "all", "n_mixed_groups") == 2
    assert t.get("train", "all", "rows_in_mixed_groups") == 4
    np.testing.assert_array_equal(m.arrays["train/mixed_groups"], [[0, 2, 2], [1, 2, 2]])
    np.testing.assert_array_equal(m.arrays["train/collision_sizes"], [0, 0, 2])
    # the nearest other row of the same class is at distance 1; of another class, 0
    assert t.get("train", "all", "nn_within_mean") == 1
    assert t.get("train", "all", "nn_between_mean") == 0
    assert t.get("train", "all", "nn_within_mean_norm") == pytest.approx(1 / 5)


def test_nn_sample_policy_and_options() -> None:
    layers = layout_layers([LayerInfo("a", "ReLU", (20,))])
    bits, labels, _ = synthetic_bits(50, 20, n_classes=2, seed=1)
    codes = {"train": pack_bits(bits, layers)}
    m = measure_codes(codes, {"train": labels}, layers, nn_sample=7, seed=3)
    assert m.table.get("train", "all", "nn_queries") == 7
    assert m.params["nn_queries"] == {"train": 7}
    m2 = measure_codes(codes, {"train": labels}, layers, nn_sample=7, seed=3, block_rows=4)
    assert m2.table == m.table
    m = measure_codes(codes, {"train": labels}, layers, nn=False, prefixes=False)
    assert m.table.scopes == ["all", "layer:a"]
    assert "nn_mean" not in m.table.metrics
    m = measure_codes(codes, {"train": labels}, layers, per_layer=False, prefixes=False)
    assert m.table.scopes == ["all"]
    with pytest.raises(InvalidParameterError, match="has no split 'test'"):
        measure_codes(codes, {"train": labels}, layers, splits=["test"])


def test_wide_rows_use_the_one_query_kernels() -> None:
    layers = layout_layers([LayerInfo("a", "ReLU", (1700,))])  # 27 words per row
    bits, labels, _ = synthetic_bits(40, 1700, n_classes=3, flip=0.2, seed=2)
    m = measure_codes({"train": pack_bits(bits, layers)}, {"train": labels}, layers)
    exp = _brute(bits.astype(np.uint8), labels, None, None)
    for key in ("nn_within_mean", "nn_between_median", "nn_mean"):
        assert m.table.get("train", "all", key) == pytest.approx(exp[key])


# -- files ----------------------------------------------------------------------------------


def _codes_digest(path: Path) -> dict[str, bytes]:
    with h5py.File(path, "r") as f:
        return {s: f["splits"][s]["codes"][()].tobytes() for s in f["splits"]}


@pytest.fixture
def code_file(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray], dict[str, np.ndarray], list[LayerInfo]]:
    layers = layout_layers([LayerInfo("fc0.relu", "ReLU", (11,)), LayerInfo("fc1.relu", "ReLU", (6,))])
    b, y, protos = synthetic_bits(120, 17, n_classes=3, flip=0.1, duplicates=0.2, seed=5)
    bt, yt, _ = synthetic_bits(50, 17, n_classes=3, flip=0.1, seed=6, prototypes=protos)
    bt[:5], yt[:5] = b[:5], y[:5]
    bits, labels = {"train": b, "test": bt}, {"train": y, "test": yt}
    return write_code_file(tmp_path / "c.h5", bits, labels, layers), bits, labels, layers


def test_measure_file_stores_results_and_keeps_codes(code_file: tuple[Any, ...]) -> None:
    from actcode.io import open_codes

    path, bits, labels, layers = code_file
    before = _codes_digest(path)
    out, table = measure_file(path)
    assert out == path
    assert _codes_digest(path) == before
    with open_codes(path) as cf:
        stored = cf.results("measure")
        params = cf.result_params("measure")
        arrays = cf.result_arrays("measure")
    assert stored == table
    assert params["in_memory"] is True
    assert params["splits"] == ["train", "test"]
    np.testing.assert_array_equal(
        arrays["test/collision_sizes"],
        measure_codes({s: pack_bits(bits[s], layers) for s in bits}, labels, layers).arrays[
            "test/collision_sizes"
        ],
    )
    assert table.get("test", "all", "hash_hits") >= 5
    assert table.get("train", "all", "redundancy") == ref.redundancy(bits["train"].astype(np.int8))


def test_measure_file_streaming_equals_in_memory(code_file: tuple[Any, ...], tmp_path: Path) -> None:
    path, *_ = code_file
    out1, t1 = measure_file(path, output=tmp_path / "mem.h5")
    out2, t2 = measure_file(path, output=tmp_path / "stream.h5", max_memory=200)
    assert t1 == t2
    assert out2 == tmp_path / "stream.h5"
    from actcode.io import open_codes

    with open_codes(out2) as cf:
        assert cf.result_params("measure")["in_memory"] is False
        assert cf.results("measure") == t2
        assert unpack_bits(cf.codes("train"), cf.layers).shape == (120, 17)


def test_measure_file_splits_layers_and_errors(code_file: tuple[Any, ...]) -> None:
    path, *_ = code_file
    _, t = measure_file(path, splits=["test"], layers=["fc1*"], nn=False)
    assert t.splits == ["test"]
    assert t.scopes == ["all", "layer:fc1.relu", "upto:fc1.relu"]
    assert t.get("test", "all", "hash_hits") >= 5  # train is still used for the lookup
    with pytest.raises(InvalidParameterError, match="has no split 'random'"):
        measure_file(path, splits=["random"])
    with pytest.raises(InvalidParameterError, match="no layer matches"):
        measure_file(path, layers=["conv*"])
    with pytest.raises(InvalidParameterError, match="nn-sample"):
        measure_file(path, nn_sample=-1)


def test_hash_collisions_take_the_exact_third_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # With every row hashed to 0, all rows of a layer are one candidate group; the exact
    # check must split them, in memory and block by block, and give the true counts.
    import actcode.kernels.groups as groups

    layers = layout_layers([LayerInfo("a", "ReLU", (9,)), LayerInfo("b", "ReLU", (4,))])
    bits, labels, _ = synthetic_bits(60, 13, n_classes=2, flip=0.2, duplicates=0.3, seed=9)
    codes = {"train": pack_bits(bits[:40], layers), "test": pack_bits(bits[40:], layers)}
    labs = {"train": labels[:40], "test": labels[40:]}
    honest = measure_codes(codes, labs, layers, nn=False)
    monkeypatch.setattr(groups, "row_hashes", lambda words: np.zeros(words.shape[0], np.uint64))
    for block_rows in (None, 7):
        forced = measure_codes(codes, labs, layers, nn=False, block_rows=block_rows)
        assert forced.table == honest.table
    assert honest.table.get("train", "all", "n_distinct") == np.unique(bits[:40], axis=0).shape[0]


def test_split_without_labels_gets_nan_for_label_metrics() -> None:
    layers = layout_layers([LayerInfo("a", "ReLU", (12,))])
    b, y, _ = synthetic_bits(40, 12, n_classes=2, seed=3)
    r = np.random.default_rng(0).random((15, 12)) < 0.5
    r[:2] = b[:2]
    codes = {"train": pack_bits(b, layers), "random": pack_bits(r, layers)}
    m = measure_codes(codes, {"train": y, "random": np.full(15, -1)}, layers)
    t = m.table
    for metric in ("n_mixed_groups", "hash_lookup_accuracy", "nn_within_mean", "nn_between_median"):
        assert np.isnan(t.get("random", "all", metric))
    assert t.get("random", "all", "hash_hits") >= 2
    exp = _brute(r.astype(np.uint8), np.zeros(15, np.int64), None, None)
    assert t.get("random", "all", "nn_mean") == pytest.approx(exp["nn_mean"])
    assert not np.isnan(t.get("train", "all", "nn_within_mean"))
