"""Helpers for tests and examples: small code files with known contents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.io import CodeWriter, make_provenance


def tiny_layers(sizes: tuple[int, ...] = (5, 12)) -> list[LayerInfo]:
    """A laid-out layer table with one fully connected site per size."""
    return layout_layers([LayerInfo(f"fc{i}.relu", "ReLU", (n,)) for i, n in enumerate(sizes)])


def write_code_file(
    path: str | Path,
    bits: dict[str, np.ndarray],
    labels: dict[str, np.ndarray],
    layers: list[LayerInfo],
    *,
    factors: dict[str, Any] | None = None,
    block_rows: int = 64,
    network: dict[str, float] | None = None,
) -> Path:
    """Write a code file from unpacked 0/1 matrices per split, in blocks of rows.

    Parameters
    ----------
    bits : dict of str to ndarray of shape (n_samples, n_units_total)
    labels : dict of str to ndarray of shape (n_samples,)
    """
    prov = make_provenance(command="testing.write_code_file", factors=factors or {}, network=network or {})
    with CodeWriter(path, layers, prov) as w:
        for split, b in bits.items():
            packed = pack_bits(b, layers)
            lab = np.asarray(labels[split], np.int64)
            for start in range(0, len(packed), block_rows):
                sl = slice(start, start + block_rows)
                w.append(split, packed[sl], lab[sl], predictions=lab[sl], indices=np.arange(len(packed))[sl])
    return Path(path)


def code_file_content(path: str | Path) -> dict[str, Any]:
    """What a code file holds, without its timestamps: every split's packed codes, labels,
    predictions and indices (as bytes), and every results table (as rows).

    Two runs of the same cell give equal contents bit for bit; the files' bytes differ only in
    creation times and timings recorded as attributes.
    """
    from actcode.io import open_codes

    out: dict[str, Any] = {}
    with open_codes(path) as cf:
        for split in cf.splits:
            for name, arr in (
                ("codes", cf.codes(split)),
                ("labels", cf.labels(split)),
                ("predictions", cf.predictions(split)),
                ("indices", cf.indices(split)),
            ):
                out[f"{split}/{name}"] = np.ascontiguousarray(arr).tobytes()
        for kind in cf.result_kinds:
            table = cf.results(kind)
            rows = [] if table is None else table.rows()
            out[f"results/{kind}"] = [(s, c, m, np.float64(v).tobytes()) for s, c, m, v in rows]
    return out
