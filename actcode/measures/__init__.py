"""Encoding properties of neural codes: redundancy, collisions, hash lookup, Hamming neighbours, bit stats.

Every property is computed per split and per scope: the whole code (``"all"``), each
activation site (``"layer:<name>"``) and each cumulative prefix of sites (``"upto:<name>"``).
Rows are read in blocks in two passes (three when two different rows share a 64-bit hash),
so a file larger than memory can be measured. Uniqueness is exact.

Definitions (per split of N rows; see /work/shared/PAPER.md section 1)
------------------------------------------------------------------------
- ``redundancy`` R = (N - #distinct codes) / N, the study's ratio.
- A collision group is a set of >= 2 rows with equal codes. ``collision_sizes[s]`` counts
  groups of size s (index 1 counts rows with a unique code). A group "mixes labels" when
  its rows do not all have the same label.
- ``hash_hits``: rows of a non-train split whose code equals the code of some train row;
  ``hash_lookup_accuracy``: accuracy, over the hits, of predicting the majority label of the
  matching train rows (ties: the smallest label). NaN when there are no hits.
- ``nn_within``: Hamming distance from a row to the nearest *other* row of its class in the
  same split; ``nn_between``: to the nearest row of another class; ``nn``: the smaller of
  the two. Means and medians over the query rows (all rows up to 20 000, otherwise a seeded
  sample of 10 000, see ``nn_sample``); ``*_norm`` divides by the scope's number of units.
  Rows with no qualifying neighbour (a singleton class) are left out of the statistic.
- A split without labels (all -1, as random inputs) gets NaN for the label-based metrics
  (mixed groups, hash lookup accuracy, within/between-class distances); ``nn`` is then the
  distance to the nearest other row.
- ``dead_units`` / ``always_on_units``: units off / on in every row of the split;
  ``mean_bit_entropy``: mean over units of H(p) = -p log2 p - (1-p) log2 (1-p) (bits).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from actcode.codes import LayerInfo
from actcode.errors import InvalidParameterError
from actcode.measures.compute import NN_SAMPLE_DEFAULT, NN_SAMPLE_THRESHOLD, Measurement, measure_source
from actcode.measures.sources import ArraySource, FileSource
from actcode.results import ResultTable

__all__ = [
    "ArraySource",
    "Measurement",
    "measure_codes",
    "measure_file",
    "NN_SAMPLE_DEFAULT",
    "NN_SAMPLE_THRESHOLD",
]

#: Default memory budget (bytes) for holding the codes in memory instead of streaming them.
DEFAULT_MAX_MEMORY = 4 << 30


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
    engine: Any = None,
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
    engine : actcode.search.TorchHamming, optional
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
    chosen = _check_splits(source.splits, splits, "the arrays")
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


def _check_splits(available: list[str], wanted: list[str] | None, where: str) -> list[str]:
    if not wanted:
        return list(available)
    missing = [s for s in wanted if s not in available]
    if missing:
        msg = f"{where}: has no split {missing[0]!r}; it has {available}. Choose among those with --splits."
        raise InvalidParameterError(msg)
    return list(dict.fromkeys(wanted))


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
    from actcode.search import hamming_engine

    engine = hamming_engine(device) if nn else None
    if nn_sample is not None and nn_sample < 0:
        msg = f"--nn-sample must be 0 (all rows) or a positive number of rows. Got {nn_sample} instead."
        raise InvalidParameterError(msg)
    if max_memory <= 0:
        msg = f"--max-memory must be positive. Got {max_memory} bytes instead."
        raise InvalidParameterError(msg)
    with open_codes(path) as cf:
        chosen = _check_splits(cf.splits, splits, str(cf.path))
        selected = cf.select_layers(layers)
        group_splits = chosen + (["train"] if "train" in cf.splits and "train" not in chosen else [])
        size = sum(cf.n_rows(s) for s in group_splits) * cf.n_bytes
        if size <= max_memory:
            source: Any = ArraySource(
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
