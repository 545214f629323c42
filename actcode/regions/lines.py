"""``lines``: regions crossed along chords between examples and along short random segments through them.

Three relations of segments, each seeded:

- ``same``: chords x_i -> x_j between two examples of the same class;
- ``different``: chords between examples of different classes;
- ``random``: segments of length ``radius`` in uniformly random directions, centred on an example.

Each segment is walked exactly (:func:`~actcode.regions.walk.walk_segments`). Per relation the
table holds the mean, median and quantiles of the regions crossed (breakpoints + 1) and of the
regions per unit length (regions / Euclidean length of the segment in input space), for the
whole code (scope ``all``) and per selected site (scope ``layer:<site>``: the breakpoints at
which some unit of that site flips, + 1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from actcode.regions.affine import PieceRunner
from actcode.regions.walk import DEFAULT_TAU, WalkProgress, WalkResult, walk_segments
from actcode.results import SCOPE_ALL, layer_scope

__all__ = ["QUANTILES", "RELATIONS", "Segments", "chord_pairs", "lines_rows", "make_segments", "summarize"]

#: Segment relations, in table order.
RELATIONS = ("same", "different", "random")
#: Quantiles stored besides the mean and the median.
QUANTILES = (0.1, 0.25, 0.75, 0.9)


@dataclass
class Segments:
    """Segments ``x0 + t·u``, t in [0, 1], of one relation, with the example rows they came from."""

    relation: str
    x0: torch.Tensor
    u: torch.Tensor
    rows: np.ndarray  # (n, 2) rows of the split (i, j); j = -1 for random segments

    @property
    def lengths(self) -> np.ndarray:
        """Euclidean length of each segment in input space."""
        out: np.ndarray = self.u.flatten(1).norm(dim=1).cpu().numpy()
        return out


def chord_pairs(labels: np.ndarray, n: int, *, same: bool, rng: np.random.Generator) -> np.ndarray:
    """``n`` seeded pairs of distinct rows with equal (``same``) or different labels; fewer if impossible.

    Examples
    --------
    >>> p = chord_pairs(np.array([0, 0, 1, 1, 1]), 4, same=False, rng=np.random.default_rng(0))
    >>> p.shape, bool(all(np.array([0, 0, 1, 1, 1])[p[:, 0]] != np.array([0, 0, 1, 1, 1])[p[:, 1]]))
    ((4, 2), True)
    """
    labels = np.asarray(labels)
    valid = np.flatnonzero(labels >= 0)
    out: list[tuple[int, int]] = []
    if valid.size < 2:
        return np.zeros((0, 2), np.int64)
    for _ in range(50 * max(1, n)):
        if len(out) >= n:
            break
        i, j = rng.choice(valid, 2, replace=False)
        if (labels[i] == labels[j]) == same:
            out.append((int(i), int(j)))
    return np.asarray(out, np.int64).reshape(-1, 2)


def make_segments(x: torch.Tensor, labels: np.ndarray, *, n: int, radius: float, seed: int) -> list[Segments]:
    """The ``same``, ``different`` and ``random`` segments of a split's inputs (seeded).

    Parameters
    ----------
    x : Tensor of shape (n_rows, *input_shape)
    labels : ndarray of shape (n_rows,)
        -1 for rows without a label (no chords are drawn among them).
    n : int
        Segments per relation.
    radius : float
        Length of the random segments.
    """
    rng = np.random.default_rng(seed)
    x = x.to(torch.float64)
    out = []
    for rel in ("same", "different"):
        pairs = chord_pairs(labels, n, same=rel == "same", rng=rng)
        if pairs.shape[0]:
            i, j = torch.as_tensor(pairs[:, 0]), torch.as_tensor(pairs[:, 1])
            out.append(Segments(rel, x[i], x[j] - x[i], pairs))
    rows = (
        rng.choice(x.shape[0], size=min(n, x.shape[0]), replace=n > x.shape[0]) if n > 0 else np.zeros(0, int)
    )
    v = torch.as_tensor(rng.standard_normal((rows.size, int(np.prod(x.shape[1:])))))
    v = (v / v.norm(dim=1, keepdim=True)).reshape(rows.size, *x.shape[1:]) * radius
    xi = x[torch.as_tensor(rows, dtype=torch.int64)]
    out.append(
        Segments("random", xi - v / 2, v, np.stack([rows, np.full(rows.size, -1)], 1).astype(np.int64))
    )
    return out


def _stats(prefix: str, v: np.ndarray) -> dict[str, float]:
    if v.size == 0:
        return {}
    out = {f"{prefix}_mean": float(v.mean()), f"{prefix}_median": float(np.median(v))}
    for q in QUANTILES:
        out[f"{prefix}_q{round(q * 100):02d}"] = float(np.quantile(v, q))
    return out


def summarize(
    relation: str, res: WalkResult, lengths: np.ndarray, site_names: Sequence[str], selected: Sequence[int]
) -> list[tuple[str, str, float]]:
    """(scope, metric, value) rows of one relation: regions and regions per unit length, all and per site."""
    rows: list[tuple[str, str, float]] = []
    safe = np.where(lengths > 0, lengths, np.nan)
    scopes: list[tuple[str, np.ndarray]] = [(SCOPE_ALL, res.n_regions)]
    scopes += [(layer_scope(site_names[k]), res.site_breakpoints[:, k] + 1) for k in selected]
    for scope, regions in scopes:
        stats = {f"lines_{relation}_segments": float(regions.size)}
        stats.update(_stats(f"lines_{relation}_regions", regions.astype(np.float64)))
        dens = regions / safe
        stats.update(_stats(f"lines_{relation}_density", dens[np.isfinite(dens)]))
        rows.extend((scope, m, v) for m, v in stats.items())
    return rows


def lines_rows(
    run: PieceRunner,
    x: torch.Tensor,
    labels: np.ndarray,
    *,
    n: int,
    radius: float,
    seed: int,
    selected: Sequence[int],
    tau: float = DEFAULT_TAU,
    batch: int = 256,
    progress: Callable[[str, WalkProgress], None] | None = None,
) -> tuple[list[tuple[str, str, float]], dict[str, np.ndarray], dict[str, Any]]:
    """Walk one split's segments; return its table rows, arrays and walk statistics.

    ``progress``, when given, is called as ``progress(relation, WalkProgress)`` during each
    relation's walk (see :func:`~actcode.regions.walk.walk_segments`).

    Arrays per relation: ``regions`` (per segment), ``lengths``, ``rows`` (the example rows
    of the split), and the breakpoints (``bp_segment``, ``bp_t``, ``bp_flip_offsets``,
    ``bp_flips``: unit indices into the whole code, all sites in forward order).
    """
    names = [s.name for s in run.sites]
    rows: list[tuple[str, str, float]] = []
    arrays: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {}
    points = crossings = 0
    for segs in make_segments(x, labels, n=n, radius=radius, seed=seed):
        report = partial(progress, segs.relation) if progress is not None else None
        res = walk_segments(run, segs.x0, segs.u, tau=tau, batch=batch, progress=report)
        rows.extend(summarize(segs.relation, res, segs.lengths, names, selected))
        r = segs.relation
        arrays.update(
            {
                f"lines/{r}/regions": res.n_regions,
                f"lines/{r}/lengths": segs.lengths,
                f"lines/{r}/rows": segs.rows,
                f"lines/{r}/bp_segment": res.segment,
                f"lines/{r}/bp_t": res.t,
                f"lines/{r}/bp_flip_offsets": res.flip_offsets,
                f"lines/{r}/bp_flips": res.flips,
            }
        )
        info[r] = {
            "steps": res.steps,
            "touches": res.touches,
            "bisections": res.bisections,
            "silent_steps": res.switches,
            "points": res.points,
        }
        points += res.points
        crossings += int(res.n_breakpoints.sum())
    rows.append((SCOPE_ALL, "lines_points_per_breakpoint", points / crossings if crossings else float("nan")))
    return rows, arrays, info
