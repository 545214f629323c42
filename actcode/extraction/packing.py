"""Bit packing in torch, on the device where the masks are: byte-aligned segments, bitorder "big"."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch

#: ``sum_j 2**(9 j)`` for j = 0..7, as a signed 64-bit number. Multiplying a little-endian word
#: that holds eight 0/1 bytes b0..b7 by it puts ``b0 b1 ... b7`` (b0 most significant) into the
#: top byte, with no carries between the partial products (see :func:`pack_padded`).
_MAGIC_BIG = 0x8040201008040201 - (1 << 64)


def padded_width(n_units: Sequence[int]) -> int:
    """Bit columns of the padded layout: each segment rounded up to a multiple of 8.

    Examples
    --------
    >>> padded_width([3, 8, 9])
    32
    """
    return sum(-(-int(n) // 8) * 8 for n in n_units)


def pad_bits(bits: torch.Tensor, n_units: Sequence[int]) -> torch.Tensor:
    """Insert zero columns after each segment so that every segment fills whole bytes.

    Parameters
    ----------
    bits : Tensor of shape (n_rows, sum(n_units)), dtype=torch.bool
    n_units : sequence of int
        Units of each segment, in column order.

    Returns
    -------
    Tensor of shape (n_rows, padded_width(n_units)), dtype=torch.bool
    """
    if bits.ndim != 2 or bits.shape[1] != sum(int(n) for n in n_units):
        msg = f"pad_bits got bits of shape {tuple(bits.shape)} for segments totalling {sum(n_units)} units."
        raise ValueError(msg)
    if all(int(n) % 8 == 0 for n in n_units):
        return bits
    parts: list[torch.Tensor] = []
    start = 0
    for n in n_units:
        n = int(n)
        parts.append(bits[:, start : start + n])
        if n % 8:
            parts.append(bits.new_zeros((bits.shape[0], 8 - n % 8)))
        start += n
    return torch.cat(parts, dim=1)


def pack_padded(bits: torch.Tensor) -> torch.Tensor:
    """Pack a 0/1 matrix whose width is a multiple of 8 into bytes, bitorder "big".

    Equal to ``np.packbits(bits, axis=1, bitorder="big")``, computed with torch ops on the
    tensor's own device, without copying the bits: the row's bools (one byte each) are viewed
    as little-endian int64 words of eight units, and each word times a magic constant holds
    its packed byte in its top byte (no carries between the partial products). Integer
    multiplication wraps modulo 2**64 on torch's back ends, which is what the trick needs;
    the unit tests compare it with NumPy on random, single-bit and all-ones rows.

    Parameters
    ----------
    bits : Tensor of shape (n_rows, n_bits), dtype=torch.bool or torch.uint8 holding 0/1
        ``n_bits`` must be a multiple of 8.

    Returns
    -------
    Tensor of shape (n_rows, n_bits // 8), dtype=torch.uint8, on ``bits.device``

    Examples
    --------
    >>> pack_padded(torch.tensor([[1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]], dtype=torch.bool))
    tensor([[129,  64]], dtype=torch.uint8)
    """
    if bits.ndim != 2 or bits.shape[1] % 8:
        msg = f"pack_padded needs a 2-D matrix whose width is a multiple of 8; got shape {tuple(bits.shape)}."
        raise ValueError(msg)
    n_rows, n_bits = bits.shape
    n_bytes = n_bits // 8
    if n_rows == 0 or n_bits == 0:
        return torch.zeros((n_rows, n_bytes), dtype=torch.uint8, device=bits.device)
    u8 = bits.contiguous()
    u8 = u8.view(torch.uint8) if u8.dtype == torch.bool else u8.to(torch.uint8)  # bool is one 0/1 byte
    if u8.storage_offset() % 8:  # an int64 view needs an aligned start
        u8 = u8.clone()
    if sys.byteorder != "little":  # pragma: no cover - no big-endian torch build is in use
        weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8, device=u8.device)
        return (u8.view(n_rows, n_bytes, 8) * weights).sum(-1, dtype=torch.uint8)
    words = u8.view(torch.int64)  # (n_rows, n_bytes): 8 units per word, unit 0 in the low byte
    packed = torch.bitwise_right_shift(words * _MAGIC_BIG, 56)  # arithmetic shift: the low byte is exact
    return (packed & 0xFF).to(torch.uint8)


def pack_rows(bits: torch.Tensor, n_units: Sequence[int]) -> torch.Tensor:
    """Pack concatenated unit bits into code rows with byte-aligned segments.

    The torch counterpart of :func:`actcode.codes.pack_bits`, on the device of ``bits``.

    Parameters
    ----------
    bits : Tensor of shape (n_rows, sum(n_units)), dtype=torch.bool
    n_units : sequence of int
        Units of each segment (activation site) in column order.

    Returns
    -------
    Tensor of shape (n_rows, sum(ceil(n / 8) for n in n_units)), dtype=torch.uint8

    Examples
    --------
    >>> pack_rows(torch.tensor([[True, False, True, True, True]]), [3, 2])
    tensor([[160, 192]], dtype=torch.uint8)
    """
    return pack_padded(pad_bits(bits, n_units))


__all__ = ["pack_padded", "pack_rows", "pad_bits", "padded_width"]
