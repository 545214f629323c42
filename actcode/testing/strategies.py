"""Hypothesis strategies for neural codes: layer tables, 0/1 matrices, packed code sets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from actcode.codes import LayerInfo, layout_layers, pack_bits

__all__ = ["CodeSet", "bool_matrices", "code_sets", "labels_for", "layer_tables"]


@dataclass(frozen=True)
class CodeSet:
    """A drawn example: layer table, unpacked bits, packed rows and labels.

    Attributes
    ----------
    layers : list of LayerInfo
    bits : ndarray of shape (n_samples, n_units_total), dtype=bool
    codes : ndarray of shape (n_samples, n_bytes), dtype=np.uint8
    labels : ndarray of shape (n_samples,), dtype=np.int64
    """

    layers: list[LayerInfo]
    bits: np.ndarray
    codes: np.ndarray
    labels: np.ndarray


@st.composite
def layer_tables(draw: st.DrawFn, *, max_layers: int = 4, max_units: int = 70) -> list[LayerInfo]:
    """Laid-out layer tables whose sites have 1..max_units units (often not a multiple of 8)."""
    sizes = draw(st.lists(st.integers(1, max_units), min_size=1, max_size=max_layers))
    return layout_layers([LayerInfo(f"l{i}.relu", "ReLU", (n,)) for i, n in enumerate(sizes)])


def bool_matrices(n_rows: int, n_units: int, *, kind: str = "any") -> st.SearchStrategy[np.ndarray]:
    """0/1 matrices of shape (n_rows, n_units).

    ``kind``: ``"any"`` (free bits), ``"duplicates"`` (rows drawn from a pool of at most 4
    distinct rows), ``"equal"`` (every row the same), ``"distinct"`` (all rows different
    where ``2**n_units`` allows it, otherwise every possible row at least once).
    """
    if kind == "any":
        return hnp.arrays(np.bool_, (n_rows, n_units))
    if kind == "equal":
        return hnp.arrays(np.bool_, (n_units,)).map(lambda r: np.repeat(r[None, :], n_rows, axis=0))
    if kind == "duplicates":
        pool = hnp.arrays(np.bool_, (4, n_units))
        picks = hnp.arrays(np.int64, (n_rows,), elements=st.integers(0, 3))
        return st.tuples(pool, picks).map(lambda t: t[0][t[1]])
    if kind == "distinct":
        return st.integers(0, 2**32 - 1).map(lambda seed: _distinct(seed, n_rows, n_units))
    msg = f"kind must be 'any', 'duplicates', 'equal' or 'distinct'; got {kind!r}."
    raise ValueError(msg)


def _distinct(seed: int, n_rows: int, n_units: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    width = min(n_units, 30)
    space = 2**width
    if n_rows <= space:
        values = rng.choice(space, size=n_rows, replace=False)
    else:
        values = np.concatenate([rng.permutation(space), rng.integers(0, space, n_rows - space)])
    bits = rng.random((n_rows, n_units)) < 0.5
    bits[:, :width] = ((values[:, None] >> np.arange(width)) & 1).astype(bool)
    return bits


def labels_for(n_rows: int, *, max_classes: int = 4) -> st.SearchStrategy[np.ndarray]:
    """Integer labels in ``0 .. max_classes - 1``."""
    return hnp.arrays(np.int64, (n_rows,), elements=st.integers(0, max_classes - 1))


@st.composite
def code_sets(
    draw: st.DrawFn,
    *,
    min_rows: int = 1,
    max_rows: int = 40,
    max_layers: int = 4,
    max_units: int = 70,
    kinds: tuple[str, ...] = ("any", "duplicates", "equal", "distinct"),
    max_classes: int = 4,
) -> CodeSet:
    """Packed code sets over random layer tables, with duplicates, all-equal or all-distinct rows."""
    layers = draw(layer_tables(max_layers=max_layers, max_units=max_units))
    n_units = sum(layer.n_units for layer in layers)
    n_rows = draw(st.integers(min_rows, max_rows))
    kind = draw(st.sampled_from(kinds))
    bits = draw(bool_matrices(n_rows, n_units, kind=kind))
    labels = draw(labels_for(n_rows, max_classes=max_classes))
    return CodeSet(layers, bits, pack_bits(bits, layers), labels)
