"""Exact walks along segments: every point where the neural code changes, and the bits that flip there.

Along ``x0 + t·u``, t in [0, 1], the walk keeps the current affine piece (see
:class:`~actcode.regions.affine.PieceRunner`). On it every pre-activation is ``a + s·b``, so
the next place where a bit can flip is the smallest positive root ``s = -a/b`` among the
units that move towards zero (and the nearest max-pool switch, which changes the piece
but not the code). The walk steps there, reads the pattern just after the point, and
checks the flipped bits against the predicted ones:

- every flipped bit was predicted: accepted. Predicted bits that did not flip touched 0
  without changing sign (they are not boundaries) and are counted as ``touches``;
- some bit flipped that the piece did not predict (rounding, or a unit whose
  pre-activation was identically 0 on the piece): the walk bisects between the previous
  point and this one until the first change is located to within ``tau``.

Points where no bit flips (a touch, a max-pool switch) are not breakpoints. Breakpoints
closer than ``tau`` (in t) are resolved as one. Everything runs in float64, batched over
segments, on the runner's device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from actcode.regions.affine import Piece, PieceRunner

__all__ = ["DEFAULT_TAU", "WalkProgress", "WalkResult", "walk_segments"]

#: Resolution of the walk in t (segment fraction): breakpoints closer than this are one.
DEFAULT_TAU = 1e-9


@dataclass
class WalkResult:
    """Breakpoints of a batch of segments.

    Attributes
    ----------
    n_breakpoints : ndarray of shape (n_segments,), dtype=np.int64
        Points in (0, 1) where the code changes; the segment crosses ``n + 1`` regions.
    site_breakpoints : ndarray of shape (n_segments, n_sites), dtype=np.int64
        Breakpoints at which at least one unit of the site flips.
    segment, t : ndarray of shape (n_total,)
        Each breakpoint's segment and position, sorted by segment then t.
    flip_offsets : ndarray of shape (n_total + 1,), dtype=np.int64
    flips : ndarray, dtype=np.int64
        Unit indices (into the flattened pattern of all sites) flipped at breakpoint i are
        ``flips[flip_offsets[i]:flip_offsets[i + 1]]``.
    points : int
        Network evaluations (rows of stacked forward passes) the walk needed.
    steps, touches, bisections, switches : int
        Walk steps, predicted bits that touched 0 without flipping, steps that had to
        bisect, and steps that were max-pool switches only.
    """

    n_breakpoints: np.ndarray
    site_breakpoints: np.ndarray
    segment: np.ndarray
    t: np.ndarray
    flip_offsets: np.ndarray
    flips: np.ndarray
    points: int = 0
    steps: int = 0
    touches: int = 0
    bisections: int = 0
    switches: int = 0
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def n_regions(self) -> np.ndarray:
        """Regions crossed by each segment (breakpoints + 1)."""
        return self.n_breakpoints + 1

    def flipped(self, i: int) -> np.ndarray:
        """Unit indices flipped at breakpoint ``i``."""
        return self.flips[self.flip_offsets[i] : self.flip_offsets[i + 1]]


@dataclass(frozen=True)
class WalkProgress:
    """Where a walk stands: what :func:`walk_segments` hands its ``progress`` callback.

    Attributes
    ----------
    segments : int
        Segments in the walk.
    done : int
        Segments that reached t = 1.
    breakpoints : int
        Breakpoints found so far, all segments together.
    steps : int
        Walk steps so far (one per active segment per stacked pass, as ``WalkResult.steps``).
    projected_breakpoints : float
        An estimate of the walk's total breakpoints from those seen so far: each finished
        segment's count, each started segment's count divided by the fraction t of it walked,
        and for a segment not started yet the mean of those. It assumes the breakpoints seen
        so far on a segment are as dense as those ahead; it is not a bound. Exact once
        ``done == segments``.
    """

    segments: int
    done: int
    breakpoints: int
    steps: int
    projected_breakpoints: float


def _roots(p: Piece, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row the smallest step to a zero (or max-pool switch), and which units reach zero there."""
    a, b, bits = p.a, p.b[0], p.bits
    towards = (bits & (b < 0)) | (~bits & (b > 0))
    s = torch.where(towards, -a / torch.where(towards, b, torch.ones_like(b)), torch.full_like(a, math.inf))
    s = torch.where(s > 0, s, torch.full_like(s, math.inf))  # numerically behind us: not ahead
    # a max-pool switch at (or behind) the current point is not ahead either: a switch of 0 would
    # give zero-length steps until max_steps
    switch = torch.where(p.switch > 0, p.switch, torch.full_like(p.switch, math.inf))
    smin = torch.minimum(s.amin(dim=1), switch)
    predicted = s <= (smin + tau).unsqueeze(1)
    return smin, predicted


class _Recorder:
    def __init__(self, n_seg: int, offsets: np.ndarray) -> None:
        self.offsets = torch.as_tensor(offsets)
        self.seg: list[np.ndarray] = []
        self.t: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.flips: list[np.ndarray] = []
        self.n_seg = n_seg
        self.n_sites = len(offsets) - 1
        self.per_segment = np.zeros(n_seg, np.int64)  # breakpoints so far, for progress

    def add(self, seg: torch.Tensor, t: torch.Tensor, flipped: torch.Tensor) -> None:
        if seg.numel() == 0:
            return
        f = flipped.cpu()
        segs = seg.cpu().numpy()
        self.per_segment[segs] += 1  # a segment takes at most one step per pass: no repeats
        self.seg.append(segs)
        self.t.append(t.cpu().numpy())
        self.counts.append(f.sum(dim=1).numpy())
        self.flips.append(torch.nonzero(f)[:, 1].numpy())

    def result(self) -> WalkResult:
        seg = np.concatenate(self.seg) if self.seg else np.zeros(0, np.int64)
        t = np.concatenate(self.t) if self.t else np.zeros(0)
        counts = np.concatenate(self.counts) if self.counts else np.zeros(0, np.int64)
        flips = np.concatenate(self.flips) if self.flips else np.zeros(0, np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        order = np.lexsort((t, seg))
        pieces = [flips[starts[i] : starts[i + 1]] for i in order]
        flips_sorted = np.concatenate(pieces).astype(np.int64) if pieces else np.zeros(0, np.int64)
        offs = np.concatenate([[0], np.cumsum(counts[order])]).astype(np.int64)
        seg, t = seg[order].astype(np.int64), t[order]
        site_of = np.searchsorted(self.offsets.numpy(), flips_sorted, side="right") - 1
        per_bp = np.repeat(np.arange(seg.size), np.diff(offs))
        hit = np.zeros((seg.size, self.n_sites), bool)
        hit[per_bp, site_of] = True
        site_bp = np.zeros((self.n_seg, self.n_sites), np.int64)
        np.add.at(site_bp, seg, hit.astype(np.int64))
        return WalkResult(
            n_breakpoints=np.bincount(seg, minlength=self.n_seg).astype(np.int64),
            site_breakpoints=site_bp,
            segment=seg,
            t=t,
            flip_offsets=offs,
            flips=flips_sorted,
        )


class _Tracker:
    """Which segments are done, and the :class:`WalkProgress` after each step (when asked for)."""

    def __init__(
        self, rec: _Recorder, totals: dict[str, int], callback: Callable[[WalkProgress], None]
    ) -> None:
        self.rec, self.totals, self.callback = rec, totals, callback
        self.finished = np.zeros(rec.n_seg, bool)

    def step(self, left: torch.Tensor, seg: torch.Tensor, t: torch.Tensor) -> None:
        """Segments ``left`` reached t = 1; segments ``seg`` are active at positions ``t``."""
        self.finished[left.cpu().numpy()] = True
        counts = self.rec.per_segment
        self.callback(
            WalkProgress(
                segments=self.rec.n_seg,
                done=int(self.finished.sum()),
                breakpoints=int(counts.sum()),
                steps=self.totals["steps"],
                projected_breakpoints=self._projection(seg.cpu().numpy(), t.cpu().numpy()),
            )
        )

    def _projection(self, seg: np.ndarray, t: np.ndarray) -> float:
        counts = self.rec.per_segment.astype(np.float64)
        started = seg[t > 0]
        est = counts.copy()
        est[started] = counts[started] / t[t > 0]
        known = self.finished.copy()
        known[started] = True
        if not known.any():
            return 0.0
        return float(est[known].sum() + est[known].mean() * (~known).sum())


def _bisect(
    run: PieceRunner,
    x0: torch.Tensor,
    u: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    prev: torch.Tensor,
    piece_hi: Piece,
    tau: float,
) -> tuple[torch.Tensor, Piece]:
    """Locate the first pattern change in (lo, hi] to within ``tau``; return hi and the piece there."""
    a, b, bits, sw = piece_hi.a.clone(), piece_hi.b.clone(), piece_hi.bits.clone(), piece_hi.switch.clone()
    n_iter = max(1, math.ceil(math.log2(max(float((hi - lo).max()), tau) / tau)) + 1)
    for _ in range(n_iter):
        live = (hi - lo) > tau
        if not bool(live.any()):
            break
        idx = torch.nonzero(live).squeeze(1)
        mid = (lo[idx] + hi[idx]) / 2
        p = run(x0[idx] + _bc(mid, x0) * u[idx], u[idx].unsqueeze(0), tau=tau, switches=True)
        same = (p.bits == prev[idx]).all(dim=1)
        lo[idx[same]] = mid[same]
        moved = idx[~same]
        hi[moved] = mid[~same]
        a[moved], b[:, moved], bits[moved], sw[moved] = (
            p.a[~same],
            p.b[:, ~same],
            p.bits[~same],
            p.switch[~same],
        )
    return hi, Piece(a, b, bits, piece_hi.out_a, piece_hi.out_b, sw)


def _bc(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.reshape((-1,) + (1,) * (like.ndim - 1))


def walk_segments(
    run: PieceRunner,
    x0: torch.Tensor,
    u: torch.Tensor,
    *,
    tau: float = DEFAULT_TAU,
    batch: int = 256,
    max_steps: int = 1_000_000,
    progress: Callable[[WalkProgress], None] | None = None,
) -> WalkResult:
    """Walk the segments ``x0[i] + t·u[i]``, t in [0, 1], exactly; see the module docstring.

    Up to ``batch`` segments are active at once: each step is one stacked float64 pass for
    all of them. A segment leaves the batch when it reaches t = 1, and a waiting segment
    takes its place in the next pass (its first piece is evaluated in that same pass), so
    the batch stays full while segments wait, whatever their lengths.

    Parameters
    ----------
    run : PieceRunner
        Open (``with PieceRunner(...) as run``).
    x0, u : Tensor of shape (n_segments, *input_shape)
    tau : float
        Resolution in t.
    batch : int
        Segments walked together.
    max_steps : int
        Steps of any one segment before the walk gives up (RuntimeError).
    progress : callable, optional
        Called as ``progress(WalkProgress)`` once before the first pass (all counts 0), after
        every stacked pass, and once at the end with the walk's final counts; that last call,
        and only it, has ``done == segments`` (when there are segments). For displays: the walk
        does not depend on it.

    Returns
    -------
    WalkResult
    """
    n = int(x0.shape[0])
    rec = _Recorder(n, run.offsets)
    totals = {"steps": 0, "touches": 0, "bisections": 0, "switches": 0}
    start_points = run.points
    track = _Tracker(rec, totals, progress) if progress is not None else None
    if progress is not None:
        progress(WalkProgress(n, 0, 0, 0, 0.0))
    if n:
        _walk_all(run, x0, u, rec, totals, tau, max(1, batch), max_steps, track)
    res = rec.result()
    res.points = run.points - start_points
    res.steps, res.touches = totals["steps"], totals["touches"]
    res.bisections, res.switches = totals["bisections"], totals["switches"]
    if progress is not None:
        total = int(res.n_breakpoints.sum())
        progress(WalkProgress(n, n, total, res.steps, float(total)))
    return res


@dataclass
class _Active:
    """The segments being walked: ids, base points, directions, positions and current pieces."""

    seg: torch.Tensor
    x0: torch.Tensor
    u: torch.Tensor
    t: torch.Tensor
    p: Piece
    steps: torch.Tensor


def _take(p: Piece, keep: torch.Tensor) -> Piece:
    return Piece(p.a[keep], p.b[:, keep], p.bits[keep], p.out_a[keep], p.out_b[:, keep], p.switch[keep])


def _cat(p: Piece, q: Piece) -> Piece:
    return Piece(
        torch.cat([p.a, q.a]), torch.cat([p.b, q.b], 1), torch.cat([p.bits, q.bits]),
        torch.cat([p.out_a, q.out_a]), torch.cat([p.out_b, q.out_b], 1), torch.cat([p.switch, q.switch]),
    )  # fmt: skip


def _walk_all(
    run: PieceRunner,
    x0_all: torch.Tensor,
    u_all: torch.Tensor,
    rec: _Recorder,
    totals: dict[str, int],
    tau: float,
    batch: int,
    max_steps: int,
    track: _Tracker | None = None,
) -> None:
    """Continuous batching: one pass per step for the active segments and the newcomers."""
    n = int(x0_all.shape[0])
    dev, f64 = run.device, torch.float64
    first = min(n, batch)
    x0, u = x0_all[:first].to(dev, f64), u_all[:first].to(dev, f64)
    zeros = torch.zeros(first, dtype=f64, device=dev)
    p0 = run(x0, u.unsqueeze(0), tau=tau, switches=True)
    ids = torch.arange(first, device=dev)
    st = _Active(ids, x0, u, zeros, p0, torch.zeros_like(ids))
    nxt = first
    while st.seg.numel() or nxt < n:
        smin, predicted = _roots(st.p, tau)
        t_next = st.t + smin
        go = t_next < 1.0
        left = st.seg[~go]
        k = min(n - nxt, batch - int(go.sum()))
        if not bool(go.any()) and k <= 0:
            return
        seg, x0, u, t_prev, prev = st.seg[go], st.x0[go], st.u[go], st.t[go], st.p.bits[go]
        predicted, t, steps = predicted[go], t_next[go], st.steps[go] + 1
        if bool((steps > max_steps).any()):
            msg = f"the walk did not finish within {max_steps} steps."
            raise RuntimeError(msg)
        xn, un = x0_all[nxt : nxt + k].to(dev, f64), u_all[nxt : nxt + k].to(dev, f64)
        pts = torch.cat([x0 + _bc(t, x0) * u, xn])
        both = run(pts, torch.cat([u, un]).unsqueeze(0), tau=tau, switches=True)
        m = int(seg.numel())
        p = _take(both, torch.arange(m, device=dev))
        _advance(run, x0, u, t_prev, t, prev, predicted, p, seg, rec, totals, tau)
        new = torch.arange(nxt, nxt + k, device=dev)
        st = _Active(torch.cat([seg, new]), torch.cat([x0, xn]), torch.cat([u, un]),
                     torch.cat([t, torch.zeros(k, dtype=f64, device=dev)]),
                     _cat(p, _take(both, torch.arange(m, m + k, device=dev))),
                     torch.cat([steps, torch.zeros(k, dtype=torch.int64, device=dev)]))  # fmt: skip
        nxt += k
        if track is not None:
            track.step(left, st.seg, st.t)


def _advance(
    run: PieceRunner,
    x0: torch.Tensor,
    u: torch.Tensor,
    t_prev: torch.Tensor,
    t: torch.Tensor,
    prev: torch.Tensor,
    predicted: torch.Tensor,
    p: Piece,
    seg: torch.Tensor,
    rec: _Recorder,
    totals: dict[str, int],
    tau: float,
) -> None:
    """Check one step's flips against the predicted ones (bisect where some were not), record them.

    ``t`` and ``p`` are updated in place where a bisection moved the point back.
    """
    totals["steps"] += int(t.numel())
    flipped = p.bits ^ prev
    bad = (flipped & ~predicted).any(dim=1)
    if bool(bad.any()):
        idx = torch.nonzero(bad).squeeze(1)
        totals["bisections"] += int(idx.numel())
        sub = _take(p, idx)
        hi, q = _bisect(run, x0[idx], u[idx], t_prev[idx].clone(), t[idx].clone(), prev[idx], sub, tau)
        t[idx] = hi
        p.a[idx], p.b[:, idx], p.bits[idx], p.switch[idx] = q.a, q.b, q.bits, q.switch
        flipped = p.bits ^ prev
        predicted[idx] = flipped[idx]
    totals["touches"] += int((predicted & ~flipped).sum())
    crossed = flipped.any(dim=1)
    totals["switches"] += int((~crossed).sum())
    rec.add(seg[crossed], t[crossed], flipped[crossed])
