"""Round trips through the writer and reader, with hypothesis-generated layer tables and bits."""

from __future__ import annotations

import tempfile
from pathlib import Path

import h5py
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actcode.codes import LayerInfo, layout_layers, pack_bits, relative_layers, unpack_bits
from actcode.io import CodeWriter, make_provenance, open_codes, validate


@st.composite
def code_sets(draw: st.DrawFn) -> tuple[list[LayerInfo], dict[str, np.ndarray]]:
    shapes = draw(
        st.lists(
            st.one_of(
                st.tuples(st.integers(1, 70)),
                st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)),
            ),
            min_size=1,
            max_size=4,
        )
    )
    layers = layout_layers([LayerInfo(f"site{i}", "ReLU", s) for i, s in enumerate(shapes)])
    d = sum(layer.n_units for layer in layers)
    split_names = draw(
        st.lists(st.sampled_from(["train", "test", "random", "val-1"]), min_size=1, max_size=3, unique=True)
    )
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    splits = {s: rng.integers(0, 2, (draw(st.integers(1, 40)), d)).astype(np.uint8) for s in split_names}
    return layers, splits


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(code_sets(), st.integers(1, 17))
def test_roundtrip_bits_layers_splits(cs: tuple[list[LayerInfo], dict[str, np.ndarray]], block: int) -> None:
    layers, splits = cs
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.h5"
        with CodeWriter(path, layers, make_provenance(command="test")) as w:
            for name, bits in splits.items():
                packed = pack_bits(bits, layers)
                for s in range(0, len(bits), block):
                    n = len(bits[s : s + block])
                    w.append(name, packed[s : s + block], np.full(n, 7), indices=np.arange(s, s + n) * 2)
        validate(path)
        with open_codes(path) as cf:
            assert cf.splits == list(splits)
            assert cf.layers == layers
            assert cf.n_units == sum(layer.n_units for layer in layers)
            for name, bits in splits.items():
                assert np.array_equal(unpack_bits(cf.codes(name), layers), bits)
                assert np.array_equal(cf.indices(name), np.arange(len(bits)) * 2)
                assert np.array_equal(cf.labels(name), np.full(len(bits), 7))
                assert np.array_equal(cf.predictions(name), np.full(len(bits), -1))
                # one layer at a time, from the file's byte slices
                start = 0
                for layer in layers:
                    one = cf.codes(name, [layer])
                    got = unpack_bits(one, relative_layers([layer]))
                    assert np.array_equal(got, bits[:, start : start + layer.n_units])
                    start += layer.n_units
                # blockwise iteration covers every row once, in order
                rows = np.concatenate([b for _, b in cf.iter_codes(name, block_rows=block)])
                assert np.array_equal(rows, cf.codes(name))


def test_plain_h5py_recipe_reads_what_the_spec_says(code_file: Path) -> None:
    """The h5py-only recipe in formats/codes.md gives the same bits as actcode's reader."""
    with open_codes(code_file) as cf:
        expected = unpack_bits(cf.codes("train"), cf.layers)
    with h5py.File(code_file, "r") as f:
        assert f.attrs["encoding-type"] == "actcode.codes"
        offs, nbytes, nunits = f["layers/byte_offset"][()], f["layers/n_bytes"][()], f["layers/n_units"][()]
        codes = f["splits/train/codes"][()]
        bits = np.concatenate(
            [
                np.unpackbits(codes[:, o : o + b], axis=1, count=u)
                for o, b, u in zip(offs, nbytes, nunits, strict=True)
            ],
            axis=1,
        )
        assert f["splits/train/codes"].compression == "gzip"
        assert f["splits/train/codes"].chunks[1] == f.attrs["n_bytes"]
    assert np.array_equal(bits, expected)


def test_layer_selection_by_name_glob_and_index(code_file: Path) -> None:
    with open_codes(code_file) as cf:
        assert [ly.name for ly in cf.select_layers(["fc1.relu"])] == ["fc1.relu"]
        assert [ly.name for ly in cf.select_layers("fc*")] == ["fc0.relu", "fc1.relu"]
        assert [ly.name for ly in cf.select_layers(["-1", "0"])] == ["fc0.relu", "fc1.relu"]
        assert cf.codes("train", cf.select_layers(["1"])).shape == (40, 2)
