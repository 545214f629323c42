"""Exact geometry of the linear regions around the data: walks, local complexity, kernels, 2-D slices."""

from __future__ import annotations

from actcode.regions.affine import NotPiecewiseAffineError, Piece, PieceRunner, site_offsets
from actcode.regions.walk import DEFAULT_TAU, WalkResult, walk_segments

__all__ = [
    "DEFAULT_TAU",
    "NotPiecewiseAffineError",
    "Piece",
    "PieceRunner",
    "WalkResult",
    "site_offsets",
    "walk_segments",
]
