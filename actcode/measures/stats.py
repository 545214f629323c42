"""Per-split statistics from exact group ids, bit counts and nearest-neighbour distances."""

from __future__ import annotations

from typing import Any

import numpy as np

from actcode import kernels as K

__all__ = ["bit_stats", "first_occurrence_ids", "hash_lookup", "nn_stats", "refine", "split_groups"]


def first_occurrence_ids(keys: np.ndarray) -> np.ndarray:
    _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inv.reshape(-1)]


def refine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Ids of the pairs (a_i, b_i): rows equal on two segments are equal on their concatenation."""
    return first_occurrence_ids(a * (int(b.max(initial=0)) + 1) + b)


def split_groups(ids: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Collision statistics of one split from its rows' group ids."""
    n = ids.size
    local = first_occurrence_ids(ids)
    sizes = np.bincount(local)
    n_groups = sizes.size
    lab0 = labels - labels.min(initial=0)
    n_labels = int(lab0.max(initial=0)) + 1
    pairs = np.unique(local * n_labels + lab0)
    labels_per_group = np.bincount(pairs // n_labels, minlength=n_groups)
    mixed = labels_per_group > 1
    first_row = np.zeros(n_groups, np.int64)
    first_row[local[::-1]] = np.arange(n)[::-1]
    coll = sizes >= 2
    return {
        "n_distinct": n_groups,
        "redundancy": (n - n_groups) / n,
        "n_collision_groups": int(coll.sum()),
        "largest_group": int(sizes.max(initial=0)),
        "n_mixed_groups": int(mixed.sum()),
        "rows_in_mixed_groups": int(sizes[mixed].sum()),
        "collision_sizes": np.bincount(sizes, minlength=2).astype(np.int64),
        "mixed_groups": np.stack([first_row[mixed], sizes[mixed], labels_per_group[mixed]], axis=1).astype(
            np.int64
        ),
    }


def hash_lookup(
    ids: np.ndarray, labels: np.ndarray, train_ids: np.ndarray, train_labels: np.ndarray
) -> dict[str, float]:
    n_ids = int(max(ids.max(initial=0), train_ids.max(initial=0))) + 1
    # majority train label of every train group (ties: smallest label)
    order = np.lexsort((train_labels, train_ids))
    g, lab = train_ids[order], train_labels[order]
    new_pair = np.r_[True, (g[1:] != g[:-1]) | (lab[1:] != lab[:-1])]
    starts = np.flatnonzero(new_pair)
    counts = np.diff(np.r_[starts, g.size])
    pg, pl = g[starts], lab[starts]
    best = np.lexsort((pl, -counts, pg))
    first = np.r_[True, pg[best][1:] != pg[best][:-1]]
    majority = np.full(n_ids, np.iinfo(np.int64).min, np.int64)
    majority[pg[best][first]] = pl[best][first]
    in_train = np.zeros(n_ids, bool)
    in_train[train_ids] = True
    hit = in_train[ids]
    n_hits = int(hit.sum())
    acc = float((majority[ids[hit]] == labels[hit]).mean()) if n_hits else float("nan")
    return {"hash_hits": n_hits, "hash_hit_rate": n_hits / ids.size, "hash_lookup_accuracy": acc}


def bit_stats(counts: np.ndarray, n: int, units: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    c = counts[units]
    p = c / n
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(p < 1, (1 - p) * np.log2(1 - p), 0.0))
    stats = {
        "dead_units": int((c == 0).sum()),
        "always_on_units": int((c == n).sum()),
        "mean_bit_entropy": float(h.mean()) if h.size else float("nan"),
    }
    return stats, p.astype(np.float32)


def nn_stats(within: np.ndarray, between: np.ndarray, n_units: int) -> dict[str, float]:
    out: dict[str, float] = {"nn_queries": float(within.size)}
    nn = np.minimum(within, between)
    for name, d in (("nn_within", within), ("nn_between", between), ("nn", nn)):
        v = d[d < K.NO_DISTANCE].astype(np.float64)
        mean = float(v.mean()) if v.size else float("nan")
        median = float(np.median(v)) if v.size else float("nan")
        out[f"{name}_mean"] = mean
        out[f"{name}_median"] = median
        out[f"{name}_mean_norm"] = mean / n_units
        out[f"{name}_median_norm"] = median / n_units
    return out
