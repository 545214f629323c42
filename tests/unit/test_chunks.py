"""Chunks deflated in threads and stored directly: the same stored bytes as HDF5 writing the rows itself."""

from __future__ import annotations

import tempfile
import threading
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actcode.codes import LayerInfo, layout_layers, row_bytes
from actcode.io import CodeWriter, make_provenance, open_codes, spec
from actcode.io.chunks import ChunkStream, deflate_pool
from actcode.io.codes import chunk_rows


def _plain_h5py(path: Path, blocks: list[np.ndarray], width: int) -> None:
    """The code matrix as CodeWriter stored it before: HDF5 deflates the rows inside its writes."""
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(
            "codes", shape=(0, width), maxshape=(None, width), dtype=np.uint8,
            chunks=(chunk_rows(width), width), compression="gzip", compression_opts=spec.COMPRESSION_LEVEL,
        )  # fmt: skip
        start = 0
        for b in blocks:
            ds.resize(start + b.shape[0], axis=0)
            ds[start : start + b.shape[0]] = b
            start += b.shape[0]


def _chunks(ds: h5py.Dataset) -> list[tuple[int, bytes]]:
    """Every stored chunk of a 2-D dataset: filter mask and deflated bytes, in row order."""
    return [ds.id.read_direct_chunk((r, 0)) for r in range(0, ds.shape[0], ds.chunks[0])]


def _write(path: Path, blocks: list[np.ndarray], units: int, compression: str | None = "gzip") -> None:
    layers = [LayerInfo("a", "ReLU", (units,))]
    with CodeWriter(path, layers, make_provenance(command="t"), compression=compression) as w:
        for b in blocks:
            w.append("train", b, np.zeros(b.shape[0], np.int64))


@settings(max_examples=12, deadline=None)
@given(
    units=st.sampled_from([8 * 2048, 8 * 5000 - 3, 8 * 120_000]),
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=5),
    density=st.sampled_from([0.0, 0.02, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_stored_chunks_equal_hdf5s_own(units: int, sizes: list[int], density: float, seed: int) -> None:
    # blocks that fill chunks partly, exactly and across several chunks; an edge chunk at the end
    rng = np.random.default_rng(seed)
    width = row_bytes(layout_layers([LayerInfo("a", "ReLU", (units,))]))
    sizes = [min(s, max(1, (4 << 20) // width)) for s in sizes]  # a few MiB a block at most
    mask = np.packbits(np.arange(8 * width) < units).reshape(1, width)  # pad bits stay 0
    blocks = [np.packbits(rng.random((s, 8 * width)) < density, axis=1) & mask for s in sizes]
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp) / "ours.h5", Path(tmp) / "theirs.h5"
        _write(ours, blocks, units)
        _plain_h5py(theirs, blocks, width)
        with h5py.File(ours) as fo, h5py.File(theirs) as ft:
            a, b = fo["splits/train/codes"], ft["codes"]
            assert (a.shape, a.chunks, a.compression, a.compression_opts, a.shuffle, a.fletcher32) == (
                b.shape, b.chunks, b.compression, b.compression_opts, b.shuffle, b.fletcher32,
            )  # fmt: skip
            assert a.id.get_create_plist().get_nfilters() == b.id.get_create_plist().get_nfilters() == 1
            ca, cb = _chunks(a), _chunks(b)
            assert [m for m, _ in ca] == [m for m, _ in cb] == [0] * len(ca)
            for (_, x), (_, y) in zip(ca, cb, strict=True):  # the edge chunk's zero padding included
                assert zlib.decompress(x) == zlib.decompress(y)
            np.testing.assert_array_equal(a[()], np.concatenate(blocks))


def test_auto_keeps_its_rule_and_a_file_reads_back(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (700, 2048), dtype=np.uint8)
    sparse = np.packbits(rng.random((700, 8 * 2048)) < 0.02, axis=1)
    layers = [LayerInfo("a", "ReLU", (8 * 2048,))]
    with CodeWriter(tmp_path / "c.h5", layers, make_provenance(command="t"), compression="auto") as w:
        for s in range(0, 700, 300):
            w.append("noise", noise[s : s + 300], np.zeros(noise[s : s + 300].shape[0], np.int64))
            w.append("sparse", sparse[s : s + 300], np.zeros(sparse[s : s + 300].shape[0], np.int64))
    assert w.chosen == {"noise": None, "sparse": "gzip"}
    with open_codes(tmp_path / "c.h5") as cf:
        np.testing.assert_array_equal(cf.codes("noise"), noise)
        np.testing.assert_array_equal(cf.codes("sparse"), sparse)
    with h5py.File(tmp_path / "c.h5") as f:
        assert f["splits/noise/codes"].compression is None
        assert f["splits/sparse/codes"].compression == "gzip"


def _deflate_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("actcode-deflate")]


def test_an_aborted_writer_stops_its_threads_and_leaves_no_file(tmp_path: Path) -> None:
    rows = np.packbits(np.random.default_rng(2).random((900, 8 * 4096)) < 0.1, axis=1)
    layers = [LayerInfo("a", "ReLU", (8 * 4096,))]
    w = CodeWriter(tmp_path / "k.h5", layers, make_provenance(command="t"), compression="gzip")
    w.append("train", rows, np.zeros(900, np.int64))  # three whole chunks go to the threads
    assert _deflate_threads()
    w.abort()  # as on an interrupt or a kill signal
    assert not _deflate_threads()
    assert list(tmp_path.iterdir()) == []


def test_a_stream_refuses_a_dataset_it_would_store_differently(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "s.h5", "w") as f, deflate_pool(1) as pool:
        shuffled = f.create_dataset("a", (0, 8), np.uint8, maxshape=(None, 8), chunks=(4, 8), shuffle=True,
                                    compression="gzip")  # fmt: skip
        with pytest.raises(ValueError, match="deflate filter alone"):
            ChunkStream(shuffled, pool, 1, 2)
        plain = f.create_dataset("b", (0, 8), np.uint8, maxshape=(None, 8), chunks=(4, 8))
        with pytest.raises(ValueError, match="deflate filter alone"):
            ChunkStream(plain, pool, 1, 2)
