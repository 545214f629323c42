"""The measurement itself: scopes, the passes over the row blocks, and the result rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actcode import __version__
from actcode import kernels as K
from actcode.codes import LayerInfo
from actcode.measures.stats import bit_stats, hash_lookup, nn_stats, refine, split_groups
from actcode.metrics import needs_labels
from actcode.results import SCOPE_ALL, ResultTable, layer_scope, upto_scope

__all__ = ["NN_SAMPLE_DEFAULT", "NN_SAMPLE_THRESHOLD", "Measurement", "measure_source"]

#: Splits up to this many rows use every row as a nearest-neighbour query.
NN_SAMPLE_THRESHOLD = 20000
#: Query rows drawn (seeded, without replacement) from a larger split.
NN_SAMPLE_DEFAULT = 10000


@dataclass
class Measurement:
    """Results of :func:`measure_codes`: the table, the arrays and the parameters."""

    table: ResultTable
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Scope:
    name: str
    lo: int  # byte range of the scope in a row
    hi: int
    units: np.ndarray  # bit positions of the scope's units in a row


def _scopes(
    layers: list[LayerInfo], selected: list[LayerInfo], per_layer: bool, prefixes: bool
) -> list[_Scope]:
    def units(ls: list[LayerInfo]) -> np.ndarray:
        return np.concatenate([8 * layer.byte_offset + np.arange(layer.n_units) for layer in ls])

    out = [_Scope(SCOPE_ALL, 0, layers[-1].byte_stop, units(layers))]
    pos = {layer.name: i for i, layer in enumerate(layers)}
    for layer in selected:
        if per_layer:
            out.append(_Scope(layer_scope(layer.name), layer.byte_offset, layer.byte_stop, units([layer])))
        if prefixes:
            out.append(
                _Scope(upto_scope(layer.name), 0, layer.byte_stop, units(layers[: pos[layer.name] + 1]))
            )
    return out


def _nn_queries(n: int, nn_sample: int | None, seed: int) -> np.ndarray:
    if nn_sample is None:
        m = n if n <= NN_SAMPLE_THRESHOLD else NN_SAMPLE_DEFAULT
    else:
        m = n if nn_sample == 0 else min(n, nn_sample)
    if m >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, m, replace=False)).astype(np.int64)


def _query_words(qrows: np.ndarray, lo: int, hi: int, width: int) -> np.ndarray:
    """Words of the query rows' bytes lo:hi; a view for the whole row (its padding is zero)."""
    if lo == 0 and hi == width:
        return qrows.view(np.uint64)
    return K.to_words(qrows[:, lo:hi])


def _nearest_torch(
    engine: Any,
    qdev: dict[tuple[str, tuple[int, int]], Any],
    qrows: np.ndarray,
    rng: tuple[int, int],
    key: tuple[str, tuple[int, int]],
    q_ids: np.ndarray,
    lab: np.ndarray,
    start: int,
    block: np.ndarray,
    state: dict[tuple[str, tuple[int, int]], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    from actcode.search import nearest_class_distances_torch, queries_on_device

    if key not in qdev:
        for old in [k for k in qdev if k[0] != key[0]]:  # the query rows of one split at a time
            del qdev[old]
        qdev[key] = queries_on_device(qrows[:, rng[0] : rng[1]], engine)
    rows = [(start, block[:, rng[0] : rng[1]], lab[start : start + block.shape[0]])]
    return nearest_class_distances_torch(
        qdev[key], lab[q_ids], q_ids, rows, engine, state=state.get(key)
    )


def measure_source(
    source: Any,
    layers: list[LayerInfo],
    *,
    splits: list[str],
    selected: list[LayerInfo],
    per_layer: bool,
    prefixes: bool,
    nn: bool,
    nn_sample: int | None,
    seed: int,
    engine: Any = None,
) -> Measurement:
    """Measure the rows of an ArraySource or FileSource (see :func:`actcode.measures.measure_codes`).

    Pass 1 over the row blocks hashes every layer segment (or scope, without prefixes),
    counts bits and collects the nearest-neighbour query rows. Pass 2 checks equal hashes
    exactly and scans the rows for the nearest neighbours of the queries. Pass 3, only when
    two different rows share a 64-bit hash, loads those rows and groups them exactly.
    Prefix and whole-code groups are refinements of the per-layer groups (two rows are equal
    on a concatenation of segments exactly when they are equal on every segment).
    With ``engine`` (an :class:`actcode.search.TorchHamming`), the nearest-neighbour scan runs
    as torch products on its device; the distances are the same.
    """
    scopes = _scopes(layers, selected, per_layer, prefixes)
    # rows of every split grouped together, so that equal codes across splits share an id
    group_splits = list(splits) + (["train"] if "train" in source.splits and "train" not in splits else [])
    offsets: dict[str, int] = {}
    total = 0
    for s in group_splits:
        offsets[s] = total
        total += source.n_rows(s)
    # exact groups are computed per "atom" byte range; prefixes and "all" then follow by refinement
    if prefixes:
        atoms = [(layer.byte_offset, layer.byte_stop) for layer in layers]
    else:
        atoms = list(dict.fromkeys((sc.lo, sc.hi) for sc in scopes))
    groupers = {rng: K.BlockedGrouper(total) for rng in atoms}
    counts = {s: np.zeros(8 * layers[-1].byte_stop, np.int64) for s in splits}
    nn_ranges = list(dict.fromkeys((sc.lo, sc.hi) for sc in scopes)) if nn else []
    queries = {s: _nn_queries(source.n_rows(s), nn_sample, seed) for s in splits} if nn else {}
    width = layers[-1].byte_stop
    # query rows padded to whole words, so the whole-code scope reads them as words without a copy
    qrows = {s: np.zeros((q.size, -(-width // 8) * 8), np.uint8) for s, q in queries.items()}

    for s in group_splits:  # pass 1: hashes, bit counts, query rows
        for start, block in source.blocks(s):
            for (lo, hi), g in groupers.items():
                g.add_hashes(offsets[s] + start, K.to_words(block[:, lo:hi]))
            if s in counts:
                counts[s] += K.bit_counts(block)
            if s in queries:
                q = queries[s]
                sel = q[(q >= start) & (q < start + block.shape[0])]
                qrows[s][np.searchsorted(q, sel), :width] = block[sel - start]
    verify = {rng for rng, g in groupers.items() if g.prepare()}
    nn_state: dict[tuple[str, tuple[int, int]], tuple[np.ndarray, np.ndarray]] = {}
    qdev: dict[tuple[str, tuple[int, int]], Any] = {}  # query rows on the engine's device
    if verify or nn_ranges:  # pass 2: exact check of equal hashes, nearest neighbours
        for s in group_splits:
            lab = source.labels(s)
            for start, block in source.blocks(s):
                for (lo, hi), g in groupers.items():
                    if (lo, hi) in verify:
                        g.verify(offsets[s] + start, K.to_words(block[:, lo:hi]))
                if s not in queries:
                    continue
                rows = block.shape[0]
                for lo, hi in nn_ranges:
                    key = (s, (lo, hi))
                    if engine is not None:
                        nn_state[key] = _nearest_torch(
                            engine, qdev, qrows[s], (lo, hi), key, queries[s], lab, start, block, nn_state
                        )
                        continue
                    nn_state[key] = K.nearest_class_distances(
                        _query_words(qrows[s], lo, hi, width),
                        lab[queries[s]],
                        queries[s],
                        [(start, K.to_words(block[:, lo:hi]), lab[start : start + rows])],
                        state=nn_state.get(key),
                    )
    conflicts = {rng: g.conflict_rows() for rng, g in groupers.items()}
    if any(r.size for r in conflicts.values()):  # pass 3 (two different rows with one 64-bit hash)
        picked: dict[tuple[int, int], list[np.ndarray]] = {rng: [] for rng in groupers}
        for s in group_splits:
            for start, block in source.blocks(s):
                g0 = offsets[s] + start
                for rng, rows in conflicts.items():
                    sel = rows[(rows >= g0) & (rows < g0 + block.shape[0])]
                    picked[rng].append(K.to_words(block[sel - g0, rng[0] : rng[1]]))
        for rng, g in groupers.items():
            if conflicts[rng].size:
                g.resolve(np.concatenate(picked[rng]))

    ids: dict[tuple[int, int], np.ndarray] = {rng: g.group_ids() for rng, g in groupers.items()}
    if prefixes:
        running: np.ndarray | None = None
        for layer in layers:
            cur = ids[(layer.byte_offset, layer.byte_stop)]
            running = cur if running is None else refine(running, cur)
            ids[(0, layer.byte_stop)] = running

    rows_out: list[tuple[str, str, str, float]] = []
    arrays: dict[str, np.ndarray] = {}
    for s in splits:
        n = source.n_rows(s)
        lab = source.labels(s)
        sl = slice(offsets[s], offsets[s] + n)
        for sc in scopes:
            sid = ids[(sc.lo, sc.hi)]
            metrics: dict[str, float] = {"n_samples": n, "n_units": sc.units.size}
            grp = split_groups(sid[sl], lab)
            metrics.update({k: v for k, v in grp.items() if not isinstance(v, np.ndarray)})
            if s != "train" and "train" in offsets:
                tsl = slice(offsets["train"], offsets["train"] + source.n_rows("train"))
                metrics.update(hash_lookup(sid[sl], lab, sid[tsl], source.labels("train")))
            if nn:
                metrics.update(nn_stats(*nn_state[(s, (sc.lo, sc.hi))], sc.units.size))
            if not (lab >= 0).any():  # no labels (random inputs): label-based metrics are undefined
                metrics.update({m: float("nan") for m in needs_labels(metrics)})
            bit, frac = bit_stats(counts[s], n, sc.units)
            metrics.update(bit)
            rows_out.extend((s, sc.name, m, float(v)) for m, v in metrics.items())
            if sc.name == SCOPE_ALL:
                arrays[f"{s}/collision_sizes"] = grp["collision_sizes"]
                arrays[f"{s}/mixed_groups"] = grp["mixed_groups"]
                arrays[f"{s}/bit_on_fraction"] = frac
    params = {
        "actcode_version": __version__,
        "splits": list(splits),
        "layers": [layer.name for layer in selected],
        "scopes": [sc.name for sc in scopes],
        "per_layer": per_layer,
        "prefixes": prefixes,
        "nn": nn,
        "nn_sample": nn_sample,
        "nn_sample_policy": (
            f"all rows if N <= {NN_SAMPLE_THRESHOLD}, else {NN_SAMPLE_DEFAULT} seeded; 0 = all rows"
        ),
        "nn_queries": {s: int(q.size) for s, q in queries.items()},
        "seed": seed,
        "uniqueness": "64-bit row hash (splitmix64 over words), exact comparison within equal hashes",
        "hash_lookup": "majority label of the equal train rows, ties to the smallest label",
        "mixed_groups_columns": ["first_row", "size", "n_labels"],
    }
    return Measurement(ResultTable.from_rows(rows_out), arrays, params)
