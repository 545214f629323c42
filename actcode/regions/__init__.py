"""Exact geometry of the linear regions around the data: walks, local complexity, kernels, 2-D slices."""

from __future__ import annotations

from actcode.regions.affine import NotPiecewiseAffineError, Piece, PieceRunner, site_offsets
from actcode.regions.api import ANALYSES, RegionsConfig, regions_file
from actcode.regions.plane import PlanePartition, partition_plane
from actcode.regions.walk import DEFAULT_TAU, WalkProgress, WalkResult, walk_segments

__all__ = [
    "ANALYSES",
    "DEFAULT_TAU",
    "NotPiecewiseAffineError",
    "Piece",
    "PieceRunner",
    "PlanePartition",
    "RegionsConfig",
    "WalkProgress",
    "WalkResult",
    "partition_plane",
    "regions_file",
    "site_offsets",
    "walk_segments",
]
