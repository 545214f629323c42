"""Shared test fixtures: headless plotting, quiet numba, small code files."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("ACTCODE_DATA", str(Path(__file__).parent / "_no_data_here"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from actcode.testing.helpers import tiny_layers, write_code_file  # noqa: E402


@pytest.fixture
def code_file(tmp_path: Path) -> Path:
    """A valid code file: 2 sites (5 and 12 units), train 40 rows, test 10 rows."""
    rng = np.random.default_rng(0)
    layers = tiny_layers((5, 12))
    bits = {"train": rng.integers(0, 2, (40, 17)), "test": rng.integers(0, 2, (10, 17))}
    labels = {"train": rng.integers(0, 3, 40), "test": rng.integers(0, 3, 10)}
    factors = {"dataset": "synthetic", "model": "mlp", "width": 17, "depth": 2, "epoch": 3, "seed": 0}
    return write_code_file(tmp_path / "codes.h5", bits, labels, layers, factors=factors, block_rows=16)
