"""Layer table entries and the bit packing that defines a neural code row (NumPy only)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np

#: Bit order inside each byte, as ``np.packbits(..., bitorder="big")``: unit 0 of a layer
#: is the most significant bit of the layer's first byte.
BITORDER: Final = "big"

#: Classes of a row: -1 (no label) or 0 .. 2**31 - 1 (formats/codes.md). The bound keeps every
#: statistic exact (label pairs, counts per class) and every allocation by class small.
LABEL_MIN = -1
LABEL_MAX = (1 << 31) - 1


@dataclass(frozen=True)
class LayerInfo:
    """One activation site of a network and where its bits sit in a code row.

    Parameters
    ----------
    name : str
        Site name: the module path, plus ``#k`` for the k-th call when a module runs
        more than once per forward pass (``layer1.0.relu#1``).
    kind : str
        The activation class, for example ``"ReLU"`` or ``"LeakyReLU"``.
    shape : tuple of int
        Shape of the activation for one example, ``(C,)`` or ``(C, H, W)``. Units are
        flattened in C order.
    byte_offset : int
        First byte of the site's segment in a code row.
    call_index : int
        How many times the module had been called before this site in one forward pass.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    byte_offset: int = 0
    call_index: int = 0
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def n_units(self) -> int:
        """Number of units (bits) of the site."""
        return int(math.prod(self.shape))

    @property
    def n_bytes(self) -> int:
        """Bytes of the site's segment: ``ceil(n_units / 8)``."""
        return (self.n_units + 7) // 8

    @property
    def byte_stop(self) -> int:
        """One past the last byte of the segment."""
        return self.byte_offset + self.n_bytes


def layout_layers(layers: list[LayerInfo]) -> list[LayerInfo]:
    """Return ``layers`` with byte offsets assigned back to back, each segment byte-aligned.

    Examples
    --------
    >>> ls = layout_layers([LayerInfo("a", "ReLU", (3,)), LayerInfo("b", "ReLU", (9,))])
    >>> [(layer.byte_offset, layer.n_bytes) for layer in ls]
    [(0, 1), (1, 2)]
    """
    out = []
    offset = 0
    for layer in layers:
        out.append(
            LayerInfo(layer.name, layer.kind, tuple(layer.shape), offset, layer.call_index, layer.extra)
        )
        offset += layer.n_bytes
    return out


def row_bytes(layers: list[LayerInfo]) -> int:
    """Bytes per code row for a laid-out layer table."""
    return layers[-1].byte_stop if layers else 0


def pack_bits(bits: np.ndarray, layers: list[LayerInfo]) -> np.ndarray:
    """Pack a 0/1 matrix of concatenated unit bits into code rows with aligned segments.

    Parameters
    ----------
    bits : ndarray of shape (n_samples, n_units_total)
        Truthy means the unit is on. Columns are the layers' units in table order.
    layers : list of LayerInfo
        Laid-out layer table (see :func:`layout_layers`).

    Returns
    -------
    codes : ndarray of shape (n_samples, n_bytes), dtype=np.uint8

    Examples
    --------
    >>> ls = layout_layers([LayerInfo("a", "ReLU", (3,)), LayerInfo("b", "ReLU", (2,))])
    >>> pack_bits(np.array([[1, 0, 1, 1, 1]]), ls)
    array([[160, 192]], dtype=uint8)
    """
    bits = np.asarray(bits).astype(bool, copy=False)
    parts = []
    start = 0
    for layer in layers:
        seg = bits[:, start : start + layer.n_units]
        parts.append(np.packbits(seg, axis=1, bitorder=BITORDER))
        start += layer.n_units
    if start != bits.shape[1]:
        msg = f"pack_bits got {bits.shape[1]} bit columns but the layer table has {start} units."
        raise ValueError(msg)
    if not parts:
        return np.zeros((bits.shape[0], 0), np.uint8)
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def unpack_bits(codes: np.ndarray, layers: list[LayerInfo]) -> np.ndarray:
    """Unpack code rows into a 0/1 ``uint8`` matrix of shape (n_samples, n_units_total).

    Inverse of :func:`pack_bits`. ``codes`` may hold only the segments of ``layers`` (as
    returned by a layer-selective read) provided the offsets are relative to it.
    """
    parts = [
        np.unpackbits(
            codes[:, layer.byte_offset : layer.byte_stop], axis=1, count=layer.n_units, bitorder=BITORDER
        )
        for layer in layers
    ]
    if not parts:
        return np.zeros((codes.shape[0], 0), np.uint8)
    return np.concatenate(parts, axis=1)


def pad_mask(layers: list[LayerInfo]) -> np.ndarray:
    """Byte mask of shape (n_bytes,) whose set bits are pad bits (which must be zero)."""
    mask = np.zeros(row_bytes(layers), np.uint8)
    for layer in layers:
        rem = layer.n_units % 8
        if rem:
            mask[layer.byte_stop - 1] = (1 << (8 - rem)) - 1
    return mask


def relative_layers(layers: list[LayerInfo]) -> list[LayerInfo]:
    """Layer table for a selection of segments read contiguously (offsets re-based)."""
    return layout_layers(list(layers))
