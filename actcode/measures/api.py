"""``measure_codes`` (codes in memory) and ``measure_file`` (a code file, results stored in it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from actcode.codes import LayerInfo
from actcode.devices import HammingSearch, accelerated, hamming_search
from actcode.errors import InvalidParameterError
from actcode.measures.compute import Measurement, measure_source
from actcode.measures.sources import ArraySource, FileSource, RowSource
from actcode.results import ResultTable
from actcode.scopes import DEFAULT_MAX_MEMORY, check_max_memory, check_splits


def measure_codes(
    codes: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray],
    layers: list[LayerInfo],
    *,
    splits: list[str] | None = None,
    select: list[LayerInfo] | None = None,
    per_layer: bool = True,
    prefixes: bool = True,
    nn: bool = True,
    nn_sample: int | None = None,
    seed: int = 0,
    block_rows: int | None = None,
    engine: HammingSearch | None = None,
) -> Measurement:
    """Measure packed codes held in memory.

    Parameters
    ----------
    codes : mapping of str to ndarray of shape (n_samples, n_bytes), dtype=np.uint8
        Packed rows per split (layout of ``layers``; pad bits zero).
    labels : mapping of str to ndarray of shape (n_samples,)
    layers : list of LayerInfo
        The laid-out layer table of the rows.
    splits : list of str, optional
        Splits to report (default: all). ``"train"``, when present, is always used for hash lookup.
    select : list of LayerInfo, optional
        Sites that get ``layer:`` and ``upto:`` scopes (default: all).
    per_layer, prefixes, nn : bool
        Which scopes and whether to compute nearest-neighbour statistics.
    nn_sample : int, optional
        Query rows per split for the neighbour statistics (None: the default policy; 0: all).
    seed : int
        Seed of the query sample.
    block_rows : int, optional
        Rows per block (smaller blocks use less memory).
    engine : HammingSearch, optional
        Nearest-neighbour scan with torch products on this device (same distances).

    Returns
    -------
    Measurement

    Examples
    --------
    >>> from actcode.codes import LayerInfo, layout_layers, pack_bits
    >>> layers = layout_layers([LayerInfo("fc", "ReLU", (3,))])
    >>> codes = pack_bits(np.array([[1, 0, 1], [1, 0, 1], [0, 0, 1]]), layers)
    >>> m = measure_codes({"train": codes}, {"train": np.array([0, 1, 1])}, layers)
    >>> m.table.get("train", "all", "redundancy"), m.table.get("train", "all", "n_mixed_groups")
    (0.3333333333333333, 1.0)
    """
    if not layers:
        msg = "measure_codes needs a non-empty layer table."
        raise InvalidParameterError(msg)
    source = ArraySource(codes, labels, block_rows)
    chosen = check_splits(source.splits, splits, "the arrays")
    return measure_source(
        source,
        layers,
        splits=chosen,
        selected=list(select) if select is not None else list(layers),
        per_layer=per_layer,
        prefixes=prefixes,
        nn=nn,
        nn_sample=nn_sample,
        seed=seed,
        engine=engine,
    )


def measure_file(
    path: str | Path,
    *,
    splits: list[str] | None = None,
    layers: list[str] | str | None = None,
    prefixes: bool = True,
    per_layer: bool = True,
    nn: bool = True,
    nn_sample: int | None = None,
    seed: int = 0,
    max_memory: int = DEFAULT_MAX_MEMORY,
    output: str | Path | None = None,
    device: str = "cpu",
) -> tuple[Path, ResultTable]:
    """Measure a neural-code file and store the results in it (copy-on-write).

    The codes are held in memory when all measured splits fit in ``max_memory`` bytes;
    otherwise they are streamed from the file in blocks of about ``max_memory / 8``.
    Results go to ``/results/measure`` of ``path`` (replacing older measure results), or of a
    copy written to ``output``; see :func:`actcode.io.add_results`.

    Parameters
    ----------
    layers : list of str or str, optional
        Sites (names, globs or indices) that get ``layer:`` and ``upto:`` scopes (default: all).
        The ``"all"`` scope is always the whole code.
    device : str
        Where the nearest-neighbour scan runs: ``"cpu"`` (Numba kernels), ``"cuda"``,
        ``"cuda:N"``, ``"mps"`` (torch products, :mod:`actcode.search`) or ``"auto"``.

    Returns
    -------
    path : Path
        The file that holds the results.
    table : ResultTable
    """
    from actcode.io import add_results, open_codes

    # the device is resolved once, here; the Numba kernels need no engine (and no torch)
    engine = accelerated(hamming_search(device)) if nn else None
    if nn_sample is not None and nn_sample < 0:
        msg = f"--nn-sample must be 0 (all rows) or a positive number of rows. Got {nn_sample} instead."
        raise InvalidParameterError(msg)
    check_max_memory(max_memory)
    with open_codes(path) as cf:
        chosen = check_splits(cf.splits, splits, str(cf.path))
        selected = cf.select_layers(layers)
        group_splits = chosen + (["train"] if "train" in cf.splits and "train" not in chosen else [])
        size = sum(cf.n_rows(s) for s in group_splits) * cf.n_bytes
        if size <= max_memory:
            source: RowSource = ArraySource(
                {s: cf.codes(s) for s in group_splits}, {s: cf.labels(s) for s in group_splits}
            )
        else:
            source = FileSource(cf, group_splits, max(1, max_memory // 8 // cf.n_bytes))
        m = measure_source(
            source,
            cf.layers,
            splits=chosen,
            selected=selected,
            per_layer=per_layer,
            prefixes=prefixes,
            nn=nn,
            nn_sample=nn_sample,
            seed=seed,
            engine=engine,
        )
        m.params.update(
            {
                "in_memory": size <= max_memory,
                "max_memory": max_memory,
                "block_rows": source.block_rows,
                "nn_search": "numba popcount" if engine is None else engine.describe(),
            }
        )
    out = add_results(path, "measure", m.table, params=m.params, arrays=m.arrays, output=output)
    return out, m.table


__all__ = ["DEFAULT_MAX_MEMORY", "measure_codes", "measure_file"]
