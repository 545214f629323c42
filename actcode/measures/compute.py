"""The measurement itself: scopes, the passes over the row blocks, and the result rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actcode import __version__
from actcode import kernels as K
from actcode.codes import LayerInfo
from actcode.measures.sources import RowSource
from actcode.measures.stats import bit_stats, hash_lookup, nn_stats, refine, split_groups
from actcode.metrics import needs_labels
from actcode.results import SCOPE_ALL, ResultTable
from actcode.scopes import Scope, check_scope_sites, layer_scopes, prefix_scope, whole_scope

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


def _scopes(
    layers: list[LayerInfo], selected: list[LayerInfo], per_layer: bool, prefixes: bool
) -> list[Scope]:
    out = [whole_scope(layers)]
    if per_layer or prefixes:
        check_scope_sites(len(selected), "the code file")
    for layer in selected:
        if per_layer:
            out += layer_scopes([layer])
        if prefixes:
            out.append(prefix_scope(layers, layer))
    return out


def _nn_queries(n: int, nn_sample: int | None, seed: int) -> np.ndarray:
    if nn_sample is None:
        m = n if n <= NN_SAMPLE_THRESHOLD else NN_SAMPLE_DEFAULT
    else:
        m = n if nn_sample == 0 else min(n, nn_sample)
    if m >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(n, m, replace=False)).astype(np.int64)


Range = tuple[int, int]


def _query_words(qrows: np.ndarray, lo: int, hi: int, row_bytes: int) -> np.ndarray:
    """Words of the query rows' bytes lo:hi; a view for the whole row (its padding is zero)."""
    if lo == 0 and hi == row_bytes:
        return qrows.view(np.uint64)
    return K.to_words(qrows[:, lo:hi])


@dataclass
class _Passes:
    """State carried across the passes over the row blocks of every split."""

    source: Any
    group_splits: list[str]
    offsets: dict[str, int]
    groupers: dict[Range, K.BlockedGrouper]
    counts: dict[str, np.ndarray]
    nn_ranges: list[Range]
    queries: dict[str, np.ndarray]
    qrows: dict[str, np.ndarray]
    row_bytes: int
    engine: Any = None
    nn_state: dict[tuple[str, Range], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    #: Query rows on the engine's device, one split at a time.
    qdev: dict[tuple[str, Range], Any] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        source: Any,
        layers: list[LayerInfo],
        scopes: list[Scope],
        splits: list[str],
        *,
        prefixes: bool,
        nn: bool,
        nn_sample: int | None,
        seed: int,
        engine: Any = None,
    ) -> _Passes:
        # rows of every split grouped together, so that equal codes across splits share an id
        extra = ["train"] if "train" in source.splits and "train" not in splits else []
        group_splits = list(splits) + extra
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
        queries = {s: _nn_queries(source.n_rows(s), nn_sample, seed) for s in splits} if nn else {}
        row_bytes = layers[-1].byte_stop
        return cls(
            source=source,
            group_splits=group_splits,
            offsets=offsets,
            groupers={rng: K.BlockedGrouper(total) for rng in atoms},
            counts={s: np.zeros(8 * layers[-1].byte_stop, np.int64) for s in splits},
            nn_ranges=list(dict.fromkeys((sc.lo, sc.hi) for sc in scopes)) if nn else [],
            queries=queries,
            # query rows padded to whole words, so the whole-code scope reads them as words without a copy
            qrows={s: np.zeros((q.size, -(-row_bytes // 8) * 8), np.uint8) for s, q in queries.items()},
            row_bytes=row_bytes,
            engine=engine,
        )

    def hashes(self) -> None:
        """Pass 1: row hashes of every atom, bit counts, and the nearest-neighbour query rows."""
        for s in self.group_splits:
            for start, block in self.source.blocks(s):
                for (lo, hi), g in self.groupers.items():
                    g.add_hashes(self.offsets[s] + start, K.to_words(block[:, lo:hi]))
                if s in self.counts:
                    self.counts[s] += K.bit_counts(block)
                if s in self.queries:
                    q = self.queries[s]
                    sel = q[(q >= start) & (q < start + block.shape[0])]
                    self.qrows[s][np.searchsorted(q, sel), : self.row_bytes] = block[sel - start]

    def verify_and_neighbours(self) -> None:
        """Pass 2: exact check of rows with equal hashes, and the nearest-neighbour scan."""
        verify = {rng for rng, g in self.groupers.items() if g.prepare()}
        if not (verify or self.nn_ranges):
            return
        for s in self.group_splits:
            lab = self.source.labels(s)
            for start, block in self.source.blocks(s):
                for (lo, hi), g in self.groupers.items():
                    if (lo, hi) in verify:
                        g.verify(self.offsets[s] + start, K.to_words(block[:, lo:hi]))
                if s in self.queries:
                    self._neighbours(s, start, block, lab[start : start + block.shape[0]])

    def _neighbours(self, s: str, start: int, block: np.ndarray, lab: np.ndarray) -> None:
        q = self.queries[s]
        for lo, hi in self.nn_ranges:
            key = (s, (lo, hi))
            if self.engine is not None:
                self.nn_state[key] = self._nearest_torch(s, (lo, hi), start, block)
                continue
            self.nn_state[key] = K.nearest_class_distances(
                _query_words(self.qrows[s], lo, hi, self.row_bytes),
                self.source.labels(s)[q],
                q,
                [(start, K.to_words(block[:, lo:hi]), lab)],
                state=self.nn_state.get(key),
                symmetric=True,  # the queries are rows of this split: each pair of them once
            )

    def _nearest_torch(
        self, s: str, rng: Range, start: int, block: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        from actcode.search import nearest_class_distances_torch, queries_on_device

        key = (s, rng)
        if key not in self.qdev:
            for old in [k for k in self.qdev if k[0] != s]:  # the query rows of one split at a time
                del self.qdev[old]
            self.qdev[key] = queries_on_device(self.qrows[s][:, rng[0] : rng[1]], self.engine)
        q_ids = self.queries[s]
        lab = self.source.labels(s)
        rows = [(start, block[:, rng[0] : rng[1]], lab[start : start + block.shape[0]])]
        return nearest_class_distances_torch(
            self.qdev[key], lab[q_ids], q_ids, rows, self.engine, state=self.nn_state.get(key)
        )

    def resolve_conflicts(self) -> None:
        """Pass 3, only when two different rows share a 64-bit hash: group those rows exactly."""
        conflicts = {rng: g.conflict_rows() for rng, g in self.groupers.items()}
        if not any(r.size for r in conflicts.values()):
            return
        picked: dict[Range, list[np.ndarray]] = {rng: [] for rng in self.groupers}
        for s in self.group_splits:
            for start, block in self.source.blocks(s):
                g0 = self.offsets[s] + start
                for rng, rows in conflicts.items():
                    sel = rows[(rows >= g0) & (rows < g0 + block.shape[0])]
                    picked[rng].append(K.to_words(block[sel - g0, rng[0] : rng[1]]))
        for rng, g in self.groupers.items():
            if conflicts[rng].size:
                g.resolve(np.concatenate(picked[rng]))

    def group_ids(self, layers: list[LayerInfo], prefixes: bool) -> dict[Range, np.ndarray]:
        """Exact group ids of every row per byte range; prefixes refine the per-layer ids."""
        ids = {rng: g.group_ids() for rng, g in self.groupers.items()}
        if prefixes:
            running: np.ndarray | None = None
            for layer in layers:
                cur = ids[(layer.byte_offset, layer.byte_stop)]
                running = cur if running is None else refine(running, cur)
                ids[(0, layer.byte_stop)] = running
        return ids


def measure_source(
    source: RowSource,
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
    passes = _Passes.start(
        source, layers, scopes, splits, prefixes=prefixes, nn=nn, nn_sample=nn_sample, seed=seed,
        engine=engine,
    )  # fmt: skip
    passes.hashes()
    passes.verify_and_neighbours()
    passes.resolve_conflicts()
    ids = passes.group_ids(layers, prefixes)
    rows_out: list[tuple[str, str, str, float]] = []
    arrays: dict[str, np.ndarray] = {}
    for s in splits:
        for sc in scopes:
            metrics, grp, frac = _scope_metrics(passes, ids[(sc.lo, sc.hi)], s, sc, nn)
            rows_out.extend((s, sc.name, m, float(v)) for m, v in metrics.items())
            if sc.name == SCOPE_ALL:
                arrays[f"{s}/collision_sizes"] = grp["collision_sizes"]
                arrays[f"{s}/mixed_groups"] = grp["mixed_groups"]
                arrays[f"{s}/bit_on_fraction"] = frac
    params = _params(splits, selected, scopes, per_layer, prefixes, nn, nn_sample, passes.queries, seed)
    return Measurement(ResultTable.from_rows(rows_out), arrays, params)


def _scope_metrics(
    passes: _Passes, sid: np.ndarray, s: str, sc: Scope, nn: bool
) -> tuple[dict[str, float], dict[str, Any], np.ndarray]:
    """The metrics of split ``s`` on scope ``sc``, its collision groups and its bits' on-fractions."""
    source, offsets = passes.source, passes.offsets
    n = source.n_rows(s)
    lab = source.labels(s)
    sl = slice(offsets[s], offsets[s] + n)
    metrics: dict[str, float] = {"n_samples": n, "n_units": sc.units.size}
    grp = split_groups(sid[sl], lab)
    metrics.update({k: v for k, v in grp.items() if not isinstance(v, np.ndarray)})
    if s != "train" and "train" in offsets:
        tsl = slice(offsets["train"], offsets["train"] + source.n_rows("train"))
        metrics.update(hash_lookup(sid[sl], lab, sid[tsl], source.labels("train")))
    if nn:
        metrics.update(nn_stats(*passes.nn_state[(s, (sc.lo, sc.hi))], sc.units.size))
    if not (lab >= 0).any():  # no labels (random inputs): label-based metrics are undefined
        metrics.update({m: float("nan") for m in needs_labels(metrics)})
    bit, frac = bit_stats(passes.counts[s], n, sc.units)
    metrics.update(bit)
    return metrics, grp, frac


def _params(
    splits: list[str],
    selected: list[LayerInfo],
    scopes: list[Scope],
    per_layer: bool,
    prefixes: bool,
    nn: bool,
    nn_sample: int | None,
    queries: dict[str, np.ndarray],
    seed: int,
) -> dict[str, Any]:
    return {
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
