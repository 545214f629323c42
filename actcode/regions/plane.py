"""``plane``: the exact partition of a 2-D slice of input space into linear regions, as polygons.

The slice is ``x(q) = origin + q[0]·e1 + q[1]·e2`` for plane coordinates q, inside a convex
window (the triangle of three examples, or a box around it). The partition is built site by
site, in forward order: every polygon is a region of the sites before the current one, so on
it the network is one affine map and each unit of the current site is an affine function of
q, read from one stacked forward pass at the polygon's centroid
(:class:`~actcode.regions.affine.PieceRunner`). The polygon is then cut by the zero line of
each of those units in turn. After the last site every polygon is a region of the whole code;
its code is read at its centroid.

All pieces are convex. Cuts use a tolerance of 1e-10 of the line's scale, so a line through
a vertex does not create a zero-area sliver. Works for any network the runner accepts: MLPs,
and CNNs (conv, BN, residual adds, average pools, ``MaxPool2d`` with any padding and
``ceil_mode``). A max-pool is a stage of its own, in forward order: on a piece every element
of each window is affine in q, so the piece is cut into the cells where each element is the
largest (padding is ``-inf`` and never wins; elements equal on the whole piece do not cut,
and the first of them wins, as in ``max_pool2d``). Without max-pools every piece has a code
of its own; with them, a pool switch changes the affine piece but not the code, so the
*regions* (:attr:`PlanePartition.region`) are the connected unions of pieces with one code
(pieces sharing an edge), and may be non-convex.

Inside each region the logits are affine too, so the cells where each class wins are
computed exactly (``class cells``), and the decision boundary is the set of class-cell edges
with a different class on the other side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from actcode.errors import InvalidParameterError
from actcode.regions.affine import Piece, PieceRunner, PoolWindows

__all__ = [
    "PlanePartition",
    "argmax_cells",
    "code_regions",
    "euler_check",
    "partition_plane",
    "plane_from_points",
    "planar_graph",
    "polygon_area",
    "split_convex",
]

_EPS = 1e-10
#: Pieces evaluated per stacked forward pass (bounds the memory of wide networks).
_CHUNK = 256


def polygon_area(poly: np.ndarray) -> float:
    """Signed area (shoelace; positive counter-clockwise).

    Examples
    --------
    >>> polygon_area(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    0.5
    """
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))


def split_convex(
    poly: np.ndarray, vals: np.ndarray, eps: float
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Cut a convex polygon by the zero line of an affine function with values ``vals`` at its vertices.

    Returns the parts where the function is <= 0 and >= 0 (None when empty or degenerate);
    vertices within ``eps`` of the line belong to both parts.

    Examples
    --------
    >>> sq = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 1.0], [0.0, 1.0]])
    >>> neg, pos = split_convex(sq, sq[:, 0] - 1.0, 1e-12)
    >>> polygon_area(neg), polygon_area(pos)
    (1.0, 1.0)
    """
    neg: list[np.ndarray] = []
    pos: list[np.ndarray] = []
    m = poly.shape[0]
    for i in range(m):
        p, v = poly[i], vals[i]
        q, w = poly[(i + 1) % m], vals[(i + 1) % m]
        if v <= eps:
            neg.append(p)
        if v >= -eps:
            pos.append(p)
        if (v < -eps and w > eps) or (v > eps and w < -eps):
            c = p + (v / (v - w)) * (q - p)
            neg.append(c)
            pos.append(c)

    def ok(pts: list[np.ndarray]) -> np.ndarray | None:
        if len(pts) < 3:
            return None
        a = np.asarray(pts)
        return a if abs(polygon_area(a)) > 0 else None

    return ok(neg), ok(pos)


@dataclass
class PlanePartition:
    """Regions of a 2-D slice.

    Attributes
    ----------
    origin : ndarray of shape (input_dim,)
    basis : ndarray of shape (2, input_dim)
        Orthonormal e1, e2; input ``origin + q @ basis``.
    window : ndarray of shape (m, 2)
    polygons : list of ndarray of shape (m_i, 2)
        Affine pieces, counter-clockwise, in plane coordinates: the regions themselves when
        the network has no max-pools.
    bits : ndarray of shape (n_pieces, n_units), bool
        Each piece's code (all sites, forward order).
    predicted : ndarray of shape (n_pieces,)
        The network's class at each piece's centroid.
    region : ndarray of shape (n_pieces,), int64
        The region of each piece (:func:`code_regions`), numbered from 0.
    cells, cell_class : list of ndarray, ndarray
        Class cells: the parts of the pieces where one class has the largest logit.
    boundary : ndarray of shape (n_edges, 2, 2)
        Class-cell edges with another class across them: the decision boundary.
    points : ndarray of shape (k, 2)
        Plane coordinates of the examples the plane was drawn through.
    """

    origin: np.ndarray
    basis: np.ndarray
    window: np.ndarray
    polygons: list[np.ndarray]
    bits: np.ndarray
    predicted: np.ndarray
    region: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    cells: list[np.ndarray] = field(default_factory=list)
    cell_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    boundary: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, 2)))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def areas(self) -> np.ndarray:
        """Area of each piece."""
        return np.array([polygon_area(p) for p in self.polygons])

    @property
    def n_regions(self) -> int:
        """Number of regions (connected sets of one code)."""
        return int(self.region.max()) + 1 if self.region.size else 0

    @property
    def region_areas(self) -> np.ndarray:
        """Area of each region (the sum of its pieces')."""
        return np.bincount(self.region, weights=self.areas, minlength=self.n_regions)

    def centroids(self) -> np.ndarray:
        """Vertex average of each region (interior: the regions are convex)."""
        return np.array([p.mean(axis=0) for p in self.polygons]).reshape(-1, 2)

    def inputs(self, q: np.ndarray) -> np.ndarray:
        """Input-space points of plane coordinates ``q`` (shape (n, 2)), flattened."""
        out: np.ndarray = self.origin[None, :] + np.asarray(q, np.float64) @ self.basis
        return out


def plane_from_points(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origin, orthonormal basis and plane coordinates of three flattened points.

    Examples
    --------
    >>> o, b, q = plane_from_points(np.array([[0.0, 0, 0], [2, 0, 0], [0, 3, 0]]))
    >>> q.tolist()
    [[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]]
    """
    p = np.asarray(points, np.float64).reshape(3, -1)
    d1, d2 = p[1] - p[0], p[2] - p[0]
    e1 = d1 / np.linalg.norm(d1)
    r = d2 - (d2 @ e1) * e1
    nr = float(np.linalg.norm(r))
    if not np.isfinite(nr) or nr <= 1e-12 * max(1.0, float(np.linalg.norm(d2))) or np.linalg.norm(d1) == 0:
        msg = "the three points of --plane are collinear (or equal); they do not span a plane."
        raise InvalidParameterError(msg)
    basis = np.stack([e1, r / nr])
    return p[0].copy(), basis, (p - p[0]) @ basis.T


def _pieces(
    run: PieceRunner, part: PlanePartition, q: np.ndarray, stage: tuple[str, int] | None = None
) -> Iterator[Piece]:
    """The affine pieces at plane points ``q`` along the plane's basis, ``_CHUNK`` points at a time.

    With ``stage``, only that stage's (:meth:`PieceRunner.stage`: the pass stops there).
    """
    shape = run.input_shape
    for lo in range(0, q.shape[0], _CHUNK):
        x = torch.as_tensor(part.inputs(q[lo : lo + _CHUNK])).reshape(-1, *shape)
        dirs = torch.as_tensor(part.basis).reshape(2, 1, *shape).expand(2, x.shape[0], *shape).contiguous()
        yield run(x, dirs) if stage is None else run.stage(x, dirs, stage)


def _logits(run: PieceRunner, part: PlanePartition, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The logits at ``q`` and their slopes along the basis: (n, C) and (2, n, C)."""
    got = [(p.out_a.cpu().numpy(), p.out_b.cpu().numpy()) for p in _pieces(run, part, q)]
    return np.concatenate([a for a, _ in got]), np.concatenate([b for _, b in got], axis=1)


def _cut_all(polys: list[np.ndarray], a: np.ndarray, b: np.ndarray, cents: np.ndarray) -> list[np.ndarray]:
    """Cut each polygon by the zero lines of its units: value a + (q - centroid) @ b."""
    out: list[np.ndarray] = []
    for f, poly in enumerate(polys):
        A, B, c = a[f], b[:, f, :], cents[f]  # (n,), (2, n)
        diam = float(np.ptp(poly, axis=0).max())
        eps = _EPS * (np.abs(A) + np.abs(B).sum(axis=0) * diam + 1e-300)
        vals = A[None, :] + (poly - c) @ B
        cand = np.flatnonzero((vals.max(axis=0) > eps) & (vals.min(axis=0) < -eps))
        pieces = [poly]
        for j in cand:
            nxt: list[np.ndarray] = []
            for pc in pieces:
                v = A[j] + (pc - c) @ B[:, j]
                if v.max() > eps[j] and v.min() < -eps[j]:
                    nxt.extend(part for part in split_convex(pc, v, eps[j]) if part is not None)
                else:
                    nxt.append(pc)
            pieces = nxt
        out.extend(pieces)
    return out


def argmax_cells(
    poly: np.ndarray, A: np.ndarray, B: np.ndarray, cent: np.ndarray
) -> list[tuple[np.ndarray, int]]:
    """The parts of a convex polygon where each affine function is the largest, with its index.

    Function j is ``A[j] + (q - cent) @ B[:, j]``; ``-inf`` entries never win, and functions
    equal on the whole polygon do not cut it (the first of them wins, as ``argmax`` does).

    Examples
    --------
    >>> sq = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 1.0], [0.0, 1.0]])
    >>> cells = argmax_cells(sq, np.array([0.0, 0.0, -np.inf]), np.array([[1.0, -1.0, 0], [0, 0, 0]]),
    ...                      np.array([1.0, 0.5]))  # fmt: skip
    >>> [(j, polygon_area(p)) for p, j in cells]
    [(0, 1.0), (1, 1.0)]
    """
    finite = np.flatnonzero(np.isfinite(A))
    diam = float(np.ptp(poly, axis=0).max())
    vals = A[finite][None, :] + (poly - cent) @ B[:, finite]  # (m, k) at the vertices
    out: list[tuple[np.ndarray, int]] = []
    for i, j in enumerate(finite):
        if (vals[:, i : i + 1] < vals).all(axis=0).any():  # another one wins on the whole polygon
            continue
        piece: np.ndarray | None = poly
        for k in finite:
            if k == j or piece is None:
                continue
            dA, dB = A[j] - A[k], B[:, j] - B[:, k]
            g = dA + (piece - cent) @ dB  # >= 0 where j beats k
            scale = _EPS * (abs(dA) + np.abs(dB).sum() * diam + 1e-300)
            if np.abs(g).max() <= scale:  # equal on the piece: the first one wins
                piece = piece if j < k else None
            elif g.min() >= -scale:
                continue
            elif g.max() <= scale:
                piece = None
            else:
                _, piece = split_convex(piece, g, scale)
        if piece is not None:
            out.append((piece, int(j)))
    return out


def _cut_pool(polys: list[np.ndarray], win: PoolWindows, cents: np.ndarray) -> list[np.ndarray]:
    """Cut each polygon into the cells where one element of each of a max-pool's windows is the largest."""
    n, c, kk, L = win.a.shape
    wa = win.a.permute(0, 2, 1, 3).reshape(n, kk, c * L).cpu().numpy()
    wb = win.b.permute(0, 1, 3, 2, 4).reshape(2, n, kk, c * L).cpu().numpy()
    out: list[np.ndarray] = []
    for f, poly in enumerate(polys):
        A, B, cent = wa[f], wb[:, f], cents[f]  # (kk, M), (2, kk, M)
        diam = float(np.ptp(poly, axis=0).max())
        vals = A[None] + np.einsum("mi,ikj->mkj", poly - cent, B)  # (m, kk, M); padding stays -inf
        chosen = A.argmax(axis=0)
        at = np.take_along_axis(vals, chosen[None, None, :], axis=1)[:, 0]  # (m, M)
        scale = np.where(np.isfinite(A), np.abs(A), 0).max(axis=0) + np.abs(B).sum(axis=0).max(axis=0) * diam
        cand = np.flatnonzero((vals.max(axis=1) - at > _EPS * (scale + 1e-300)).any(axis=0))
        pieces = [poly]
        for j in cand:
            pieces = [p for pc in pieces for p, _ in argmax_cells(pc, A[:, j], B[:, :, j], cent)]
        out.extend(pieces)
    return out


def code_regions(polygons: Sequence[np.ndarray], bits: np.ndarray, tol: float) -> np.ndarray:
    """The region of each piece: pieces with one code that share an edge (longer than ``tol``) are one.

    Numbered from 0 in the order of their first piece.

    Examples
    --------
    >>> sq = lambda x: np.array([[x, 0.0], [x + 1, 0], [x + 1, 1], [x, 1]])
    >>> code_regions([sq(0), sq(1), sq(3)], np.array([[True], [True], [True]]), 1e-9).tolist()
    [0, 0, 1]
    """
    n = len(polygons)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    _, group = np.unique(np.packbits(bits, axis=1), axis=0, return_inverse=True)
    order = np.argsort(group.reshape(-1), kind="stable")
    starts = np.flatnonzero(np.diff(group.reshape(-1)[order], prepend=-1))
    for members in np.split(order, starts[1:]):
        for a_i, i in enumerate(members):
            for j in members[a_i + 1 :]:
                if _share_edge(polygons[int(i)], polygons[int(j)], tol):
                    parent[root(int(j))] = root(int(i))
    roots = np.array([root(i) for i in range(n)], np.int64)
    _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    out: np.ndarray = rank[inverse.reshape(-1)].astype(np.int64)
    return out


def _share_edge(p: np.ndarray, q: np.ndarray, tol: float) -> bool:
    """Whether two convex polygons share a boundary segment longer than ``tol``."""
    p0, d = p, np.roll(p, -1, axis=0) - p  # p's edges p0 + t d, t in [0, 1]
    length = np.linalg.norm(d, axis=1)[:, None]
    rel = q[None, :, :] - p0[:, None, :]  # (mp, mq, 2)
    dist = np.abs(d[:, None, 0] * rel[..., 1] - d[:, None, 1] * rel[..., 0]) / length
    t = (rel * d[:, None, :]).sum(axis=2) / length**2
    on, t_next = dist < tol, np.roll(t, -1, axis=1)
    both = on & np.roll(on, -1, axis=1)  # q's edge (k, k+1) lies on p's edge line
    overlap = np.minimum(1, np.maximum(t, t_next)) - np.maximum(0, np.minimum(t, t_next))
    return bool((both & (overlap * length > tol)).any())


def partition_plane(
    run: PieceRunner,
    origin: np.ndarray,
    basis: np.ndarray,
    window: np.ndarray,
    *,
    points: np.ndarray | None = None,
    class_cells: bool = True,
    progress: Callable[[int, int, int], None] | None = None,
) -> PlanePartition:
    """Partition the convex ``window`` of the plane ``origin + q @ basis`` into linear regions.

    Parameters
    ----------
    run : PieceRunner
        Open runner of the network.
    origin : ndarray of shape (input_dim,)
    basis : ndarray of shape (2, input_dim)
    window : ndarray of shape (m, 2)
        A convex polygon in plane coordinates.
    points : ndarray of shape (k, 2), optional
        Plane coordinates to mark (the examples).
    class_cells : bool
        Also compute the class cells and the decision boundary.
    progress : callable, optional
        Called after each stage with (stages done, stages, pieces so far).

    Returns
    -------
    PlanePartition
    """
    win = np.asarray(window, np.float64)
    if polygon_area(win) < 0:
        win = win[::-1].copy()
    part = PlanePartition(
        np.asarray(origin, np.float64).reshape(-1),
        np.asarray(basis, np.float64).reshape(2, -1),
        win,
        [win],
        np.zeros((1, run.n_units), bool),
        np.zeros(1, np.int64),
        points=np.zeros((0, 2)) if points is None else np.asarray(points, np.float64),
    )
    stages = _stages(run, part)
    for done, stage in enumerate(stages, 1):
        part.polygons = _cut_stage(run, part, stage)
        if progress is not None:
            progress(done, len(stages), len(part.polygons))
    cents = part.centroids()
    got = [
        (p.bits.cpu().numpy(), p.out_a.cpu().numpy(), p.out_b.cpu().numpy())
        for p in _pieces(run, part, cents)
    ]
    part.bits = np.concatenate([g[0] for g in got])
    oa, ob = np.concatenate([g[1] for g in got]), np.concatenate([g[2] for g in got], axis=1)
    part.predicted = oa.argmax(axis=1).astype(np.int64)
    part.region = (
        code_regions(part.polygons, part.bits, 1e-9 * float(np.ptp(win, axis=0).max()))
        if any(kind == "pool" for kind, _ in stages)
        else np.arange(len(part.polygons), dtype=np.int64)
    )
    if class_cells and oa.shape[1] > 1:
        _class_cells(part, oa, ob, cents)
        _decision_boundary(run, part)
    return part


def _stages(run: PieceRunner, part: PlanePartition) -> tuple[tuple[str, int], ...]:
    """The sites and max-pool calls in forward order (from one evaluation at the window's first vertex)."""
    next(_pieces(run, part, part.window[:1]))
    return run.stages


def _cut_stage(run: PieceRunner, part: PlanePartition, stage: tuple[str, int]) -> list[np.ndarray]:
    """The pieces after one stage: every piece cut by a site's unit zeros or by a max-pool's switches."""
    cents = part.centroids()
    out: list[np.ndarray] = []
    for lo, p in zip(range(0, cents.shape[0], _CHUNK), _pieces(run, part, cents, stage), strict=True):
        polys, c = part.polygons[lo : lo + _CHUNK], cents[lo : lo + _CHUNK]
        if p.windows is not None:
            out.extend(_cut_pool(polys, p.windows, c))
        else:
            out.extend(_cut_all(polys, p.a.cpu().numpy(), p.b.cpu().numpy(), c))
    return out


def _class_cells(part: PlanePartition, oa: np.ndarray, ob: np.ndarray, cents: np.ndarray) -> None:
    cells = [
        (cell, c)
        for f, poly in enumerate(part.polygons)
        for cell, c in argmax_cells(poly, oa[f], ob[:, f], cents[f])
    ]
    part.cells = [cell for cell, _ in cells]
    part.cell_class = np.asarray([c for _, c in cells], np.int64)


def _decision_boundary(run: PieceRunner, part: PlanePartition) -> None:
    """Class-cell edges whose two sides (probed just off the edge's midpoint) have different classes."""
    starts, ends = [], []
    for cell in part.cells:
        starts.append(cell)
        ends.append(np.roll(cell, -1, axis=0))
    if not starts:
        return
    s, e = np.concatenate(starts), np.concatenate(ends)
    d = e - s
    length = np.linalg.norm(d, axis=1)
    keep = length > 0
    s, e, d, length = s[keep], e[keep], d[keep], length[keep]
    normal = np.stack([d[:, 1], -d[:, 0]], axis=1) / length[:, None]
    diam = float(np.ptp(part.window, axis=0).max())
    off = 1e-7 * diam
    mid = (s + e) / 2
    probes = np.concatenate([mid + off * normal, mid - off * normal])
    inside = _inside(part.window, probes)
    m = mid.shape[0]
    both = inside[:m] & inside[m:]
    if not both.any():
        return
    sel = np.concatenate([np.flatnonzero(both), m + np.flatnonzero(both)])
    cls = _logits(run, part, probes[sel])[0].argmax(axis=1)
    k = int(both.sum())
    differ = cls[:k] != cls[k:]
    idx = np.flatnonzero(both)[differ]
    segs = np.stack([s[idx], e[idx]], axis=1)
    # each boundary edge is seen from both of its cells: keep one copy
    key = np.round(np.sort(segs.reshape(-1, 4).reshape(-1, 2, 2), axis=1).reshape(-1, 4) / (1e-9 * diam))
    _, first = np.unique(key, axis=0, return_index=True)
    part.boundary = segs[np.sort(first)]


def _inside(window: np.ndarray, q: np.ndarray) -> np.ndarray:
    inside = np.ones(q.shape[0], bool)
    for i in range(window.shape[0]):
        p, r = window[i], window[(i + 1) % window.shape[0]]
        cross = (r[0] - p[0]) * (q[:, 1] - p[1]) - (r[1] - p[1]) * (q[:, 0] - p[0])
        inside &= cross > 0
    return inside


def planar_graph(
    polygons: Sequence[np.ndarray], tol: float
) -> tuple[np.ndarray, set[tuple[int, int]], list[list[tuple[int, int]]]]:
    """The planar graph of a partition: merged vertices, edges split at T-junctions, each polygon's edges.

    Vertices closer than ``tol`` are one. A polygon side is split at every vertex that lies
    on it, so that a side shared by several smaller neighbours becomes their shared edges.

    Returns
    -------
    vertices : ndarray of shape (V, 2)
    edges : set of (i, j) with i < j
    poly_edges : list (per polygon) of its edges
    """
    allv = np.concatenate(polygons)
    key = np.round(allv / tol).astype(np.int64)
    uniq, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    verts = np.zeros((uniq.shape[0], 2))
    verts[inverse] = allv
    edges: set[tuple[int, int]] = set()
    poly_edges: list[list[tuple[int, int]]] = []
    start = 0
    for poly in polygons:
        ids = inverse[start : start + poly.shape[0]]
        start += poly.shape[0]
        mine: list[tuple[int, int]] = []
        for i in range(len(ids)):
            u, v = int(ids[i]), int(ids[(i + 1) % len(ids)])
            if u == v:
                continue
            pu, pv = verts[u], verts[v]
            d = pv - pu
            L2 = float(d @ d)
            t = ((verts - pu) @ d) / L2
            dist = np.abs((verts[:, 0] - pu[0]) * d[1] - (verts[:, 1] - pu[1]) * d[0]) / np.sqrt(L2)
            on = np.flatnonzero((dist < tol) & (t > 0) & (t < 1))
            chain = [u, *on[np.argsort(t[on])].tolist(), v]
            for x, y in zip(chain[:-1], chain[1:], strict=True):
                if x != y:
                    e = (min(x, y), max(x, y))
                    edges.add(e)
                    mine.append(e)
        poly_edges.append(mine)
    return verts, edges, poly_edges


def euler_check(polygons: Sequence[np.ndarray], tol: float) -> tuple[int, int, int]:
    """(V, E, F) of the partition's planar graph; a partition of a convex window has V - E + F = 1."""
    verts, edges, _ = planar_graph(polygons, tol)
    return int(verts.shape[0]), len(edges), len(polygons)
