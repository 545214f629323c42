"""The torch Hamming search (the GPU path, run here on the CPU) against the Numba kernels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from actcode import kernels as K
from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.io import open_codes
from actcode.measures import measure_codes
from actcode.probes import HammingKNNClassifier, probe_codes
from actcode.results import ResultTable
from actcode.search import (
    METHODS,
    TorchHamming,
    average_precision_torch,
    hamming_block_torch,
    nearest_class_distances_torch,
    topk_hamming_torch,
)
from actcode.testing import synthetic_bits

CPU = torch.device("cpu")


def engines(tile: int = 32, chunk_bits: int = 128) -> list[TorchHamming]:
    """Every method with small tiles and chunks, so that tiles, chunks and merges all occur."""
    return [TorchHamming(CPU, m, tile, chunk_bits) for m in METHODS]


def packed(rng: np.random.Generator, n: int, d: int, p: float = 0.5) -> np.ndarray:
    return np.packbits(rng.random((n, d)) < p, axis=1)


def clustered(rng: np.random.Generator, n: int, d: int, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    protos = rng.random((n_classes, d)) < 0.5
    y = rng.integers(0, n_classes, n)
    bits = protos[y] ^ (rng.random((n, d)) < 0.2)
    return np.packbits(bits, axis=1), y


@pytest.mark.parametrize("d", [1, 7, 16, 63, 65, 200, 1001])
@pytest.mark.parametrize("eng", engines(), ids=list(METHODS))
def test_distances_equal_numba(d: int, eng: TorchHamming) -> None:
    rng = np.random.default_rng(d)
    a, b = packed(rng, 45, d), packed(rng, 70, d)
    ref = K.hamming_block(K.to_words(a), K.to_words(b))
    got = hamming_block_torch(a, b, eng)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("eng", engines(tile=24, chunk_bits=64), ids=list(METHODS))
def test_products_exact_beyond_float16_range(eng: TorchHamming) -> None:
    # 4099 ones: the dot product 4099 is not a float16 number (spacing 4 above 4096), so a
    # product not chunked to <= 2048 bits would round it
    d = 4099
    ones = np.packbits(np.ones((30, d), bool), axis=1)
    zeros = np.zeros_like(ones)
    got = hamming_block_torch(np.concatenate([ones, zeros]), ones, eng)
    np.testing.assert_array_equal(got[:30], 0)
    np.testing.assert_array_equal(got[30:], d)
    big = TorchHamming(CPU, eng.method, 24, 1 << 30)
    assert 8 * big.chunk_bytes <= METHODS[eng.method]
    np.testing.assert_array_equal(hamming_block_torch(ones, zeros, big), d)


@pytest.mark.parametrize(("d", "p"), [(16, 0.5), (16, 0.9), (100, 0.5), (1001, 0.3)])
@pytest.mark.parametrize("eng", engines(), ids=list(METHODS))
def test_topk_equal_numba_with_ties_and_exclusion(d: int, p: float, eng: TorchHamming) -> None:
    # D = 16 over 150 rows: every distance is shared by many rows, so the index tie rule
    # decides most neighbours, within a train tile and across the merge of tiles
    rng = np.random.default_rng(d)
    train = packed(rng, 150, d, p)
    queries = train[::3].copy()
    exclude = np.arange(0, 150, 3, dtype=np.int64)
    for k in (1, 9, 40):
        ref = K.topk_hamming(K.to_words(queries), K.to_words(train), k, exclude=exclude)
        got = topk_hamming_torch(queries, train, k, eng, exclude=exclude)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
        assert not (got[1] == exclude[:, None]).any()


@pytest.mark.parametrize("eng", engines(), ids=list(METHODS))
def test_topk_more_neighbours_than_rows_and_streamed_blocks(eng: TorchHamming) -> None:
    rng = np.random.default_rng(3)
    train = packed(rng, 50, 77)
    queries = packed(rng, 33, 77)
    queries[:5] = train[:5]
    exclude = np.full(33, -1, np.int64)
    exclude[:5] = np.arange(5)
    k = 53  # more than the 50 train rows: the tail is NO_DISTANCE / NO_INDEX
    ref = K.topk_hamming(K.to_words(queries), K.to_words(train), k, exclude=exclude)
    blocks = [(0, train[:20]), (20, train[20:21]), (21, train[21:])]
    state = (np.full((33, k), K.NO_DISTANCE), np.full((33, k), K.NO_INDEX))
    got = topk_hamming_torch(queries, iter(blocks), k, eng, exclude=exclude, state=state)
    assert got[0] is state[0]  # merged in place, like the kernel
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    assert (got[1][:5, -4:] == K.NO_INDEX).all()
    assert (got[1][5:, -3:] == K.NO_INDEX).all()
    # a second call merges into the first: splitting the train set over calls changes nothing
    half = topk_hamming_torch(queries, train[:25], k, eng, exclude=exclude)
    both = topk_hamming_torch(queries, [(25, train[25:])], k, eng, exclude=exclude, state=half)
    np.testing.assert_array_equal(both[1], ref[1])


@pytest.mark.parametrize("eng", engines(), ids=list(METHODS))
def test_nearest_class_equal_numba(eng: TorchHamming) -> None:
    # 12 classes over 120 rows of 16 bits: ties everywhere, and some classes have one row
    rng = np.random.default_rng(5)
    codes = packed(rng, 120, 16)
    labels = rng.integers(0, 12, 120)
    labels[:3] = [20, 21, 22]  # singleton classes: within-class distance has no row
    q_ids = np.arange(0, 120, 2, dtype=np.int64)
    queries = codes[q_ids]
    rows_np = [(s, K.to_words(codes[s : s + 35]), labels[s : s + 35]) for s in range(0, 120, 35)]
    ref = K.nearest_class_distances(K.to_words(queries), labels[q_ids], q_ids, rows_np)
    rows = [(s, codes[s : s + 35], labels[s : s + 35]) for s in range(0, 120, 35)]
    got = nearest_class_distances_torch(queries, labels[q_ids], q_ids, rows, eng)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    assert got[0][0] == K.NO_DISTANCE  # row 0 is alone in its class


@pytest.mark.parametrize("d", [16, 203])
@pytest.mark.parametrize("eng", engines(), ids=list(METHODS))
def test_average_precision_equal_numba(d: int, eng: TorchHamming) -> None:
    rng = np.random.default_rng(d)
    train, y = clustered(rng, 130, d, 6)
    queries, yq = clustered(rng, 40, d, 6)
    yq[0] = 99  # no relevant row: NaN in both
    ref = K.average_precision(K.to_words(queries), yq, K.to_words(train), y, d)
    got = average_precision_torch(queries, yq, train, y, eng, max_memory=24 * 130 * 7)
    assert np.isnan(got[0])
    assert np.isnan(ref[0])
    np.testing.assert_allclose(got[1:], ref[1:], rtol=0, atol=1e-12)


def test_bad_inputs() -> None:
    eng = TorchHamming.for_device("cpu")
    with pytest.raises(ValueError, match="packed codes"):
        topk_hamming_torch(np.zeros((2, 2), np.int64), np.zeros((2, 2), np.uint8), 1, eng)
    with pytest.raises(ValueError, match="bytes but queries have"):
        topk_hamming_torch(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8), 1, eng)
    with pytest.raises(ValueError, match="method"):
        TorchHamming.for_device("cpu", "bfloat16")


# -- probe and measure with the torch search (the --device cuda path, on the CPU) ---------------


def _layered_codes(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[LayerInfo]]:
    layers = layout_layers([LayerInfo("a", "ReLU", (13,)), LayerInfo("b", "ReLU", (70,))])
    b, y, protos = synthetic_bits(160, 83, n_classes=4, flip=0.3, duplicates=0.1, seed=seed)
    bt, yt, _ = synthetic_bits(60, 83, n_classes=4, flip=0.3, seed=seed + 1, prototypes=protos)
    y[:2] = [7, 8]  # classes with one row: k = 9 is larger than them
    codes = {"train": pack_bits(b, layers), "test": pack_bits(bt, layers)}
    return codes, {"train": y, "test": yt}, layers


def _same_table(got: ResultTable, ref: ResultTable) -> None:
    """Same rows; mAP (a float sum in another order) to 1e-12, every other value exactly."""
    a, b = list(got.rows()), list(ref.rows())
    assert [r[:3] for r in a] == [r[:3] for r in b]
    for x, y in zip(a, b, strict=True):
        if x[2] == "knn_map":
            assert x[3] == pytest.approx(y[3], abs=1e-12)
        else:
            np.testing.assert_equal(x[3], y[3])


def test_probe_with_torch_search_equals_numba() -> None:
    codes, labels, layers = _layered_codes(11)
    eng = TorchHamming(CPU, "int8", 40, 64)
    for scopes in (None, layers):
        ref = probe_codes(codes, labels, layers, probes=["knn"], scopes=scopes)
        got = probe_codes(codes, labels, layers, probes=["knn"], scopes=scopes, engine=eng)
        _same_table(got.table, ref.table)
        assert got.params["knn"]["search"] == "torch int8 on cpu"
    knn_ref = HammingKNNClassifier(9).fit(codes["train"], labels["train"])
    knn = HammingKNNClassifier(9, engine=eng).fit(codes["train"], labels["train"])
    for a, b in zip(knn.kneighbors(codes["test"]), knn_ref.kneighbors(codes["test"]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_measure_with_torch_search_equals_numba() -> None:
    codes, labels, layers = _layered_codes(12)
    eng = TorchHamming(CPU, "float16", 50, 48)
    ref = measure_codes(codes, labels, layers, block_rows=37)
    got = measure_codes(codes, labels, layers, block_rows=37, engine=eng)
    nn_rows = [r for r in ref.table.rows() if r[2].startswith("nn") and np.isfinite(r[3])]
    assert len(nn_rows) > 20
    _same_table(got.table, ref.table)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actcode", *args], capture_output=True, text=True, timeout=180
    )


def test_cli_device(code_file: Path) -> None:
    for cmd in ("probe", "measure"):
        r = _cli(cmd, str(code_file), "--device", "cuda")
        if torch.cuda.is_available():  # a GPU machine runs the torch search there
            assert r.returncode == 0, r.stderr
            continue
        assert r.returncode != 0
        assert r.stderr.strip().splitlines() == [
            f"actcode {cmd}: error: --device cuda: CUDA is not available on this machine; "
            "use --device auto or cpu."
        ]
    r = _cli("measure", str(code_file), "--device", "cpu", "--json")
    assert r.returncode == 0, r.stderr
    with open_codes(code_file) as cf:
        assert cf.result_params("measure")["nn_search"] == "numba popcount"
