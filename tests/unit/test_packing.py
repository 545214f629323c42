"""Device bit packing (actcode.extraction.packing) against np.packbits and actcode.codes.pack_bits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from actcode.codes import LayerInfo, layout_layers, pack_bits, unpack_bits
from actcode.extraction.packing import pack_padded, pack_rows, pad_bits, padded_width


@pytest.mark.parametrize("n_bits", [8, 16, 56, 64, 72, 128, 200, 1024, 4104])
@pytest.mark.parametrize("fill", ["random", "ones", "zeros", "alternate"])
def test_pack_padded_equals_numpy_packbits(n_bits: int, fill: str) -> None:
    rng = np.random.default_rng(n_bits)
    rows = 9
    if fill == "random":
        bits = rng.integers(0, 2, (rows, n_bits)).astype(bool)
    elif fill == "ones":
        bits = np.ones((rows, n_bits), bool)
    elif fill == "zeros":
        bits = np.zeros((rows, n_bits), bool)
    else:
        bits = (np.arange(n_bits) % 2 == 0)[None, :].repeat(rows, 0)
    got = pack_padded(torch.from_numpy(bits))
    assert got.dtype == torch.uint8
    assert got.shape == (rows, n_bits // 8)
    np.testing.assert_array_equal(got.numpy(), np.packbits(bits, axis=1, bitorder="big"))


def test_pack_padded_single_bit_positions() -> None:
    # each of the 64 positions of one word alone: catches any carry or ordering slip of the magic multiply
    eye = torch.eye(64, dtype=torch.bool)
    expected = np.packbits(eye.numpy(), axis=1, bitorder="big")
    np.testing.assert_array_equal(pack_padded(eye).numpy(), expected)
    np.testing.assert_array_equal(
        pack_padded(~eye).numpy(), np.packbits(~eye.numpy(), axis=1, bitorder="big")
    )


def test_pack_padded_accepts_uint8_and_noncontiguous() -> None:
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, (20, 48)).astype(np.uint8)
    t = torch.from_numpy(bits)
    np.testing.assert_array_equal(pack_padded(t).numpy(), np.packbits(bits, axis=1))
    wide = torch.from_numpy(rng.integers(0, 2, (20, 96)).astype(bool))
    view = wide[:, 16:64]  # not contiguous
    np.testing.assert_array_equal(pack_padded(view).numpy(), np.packbits(view.numpy(), axis=1))


def test_pack_padded_unaligned_storage_offset() -> None:
    flat = torch.from_numpy(np.random.default_rng(2).integers(0, 2, 3 + 4 * 24).astype(bool))
    bits = flat[3:].view(4, 24)  # contiguous, but starts 3 bytes into its storage
    assert bits.is_contiguous()
    assert bits.storage_offset() == 3
    np.testing.assert_array_equal(pack_padded(bits).numpy(), np.packbits(bits.numpy(), axis=1))


def test_pack_padded_rejects_widths_not_multiple_of_8() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        pack_padded(torch.zeros((2, 12), dtype=torch.bool))


def test_pack_padded_empty() -> None:
    assert pack_padded(torch.zeros((0, 16), dtype=torch.bool)).shape == (0, 2)
    assert pack_padded(torch.zeros((3, 0), dtype=torch.bool)).shape == (3, 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 70), min_size=1, max_size=6),
    st.integers(1, 7),
    st.integers(0, 2**32 - 1),
)
def test_pack_rows_equals_codes_pack_bits(n_units: list[int], rows: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (rows, sum(n_units))).astype(bool)
    layers = layout_layers([LayerInfo(f"s{i}", "ReLU", (n,)) for i, n in enumerate(n_units)])
    expected = pack_bits(bits, layers)
    got = pack_rows(torch.from_numpy(bits), n_units).numpy()
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(unpack_bits(got, layers).astype(bool), bits)


def test_pad_bits_layout() -> None:
    bits = torch.ones((2, 3 + 8 + 9), dtype=torch.bool)
    padded = pad_bits(bits, [3, 8, 9])
    assert padded.shape == (2, padded_width([3, 8, 9])) == (2, 32)
    row = padded[0].int().tolist()
    assert row == [1] * 3 + [0] * 5 + [1] * 8 + [1] * 9 + [0] * 7
    assert pad_bits(bits[:, :16], [8, 8]) is not None
    with pytest.raises(ValueError, match="segments totalling"):
        pad_bits(bits, [3, 8])
