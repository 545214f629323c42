"""One small digits grid, swept once with the local executor and shared by the sweep tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actcode.testing.helpers import code_file_content

ACTCODE = [sys.executable, "-m", "actcode"]

#: 4 cells (2 widths x 2 seeds) of 2 epochs on digits, saved at epochs 1 and 2; K-NN probe only.
GRID_SPEC = """\
name = "grid"

[train]
epochs = 2
save-at = [1, 2]
batch_size = 128

[grid]
width = [4, 8]
seed = [0, 1]

[measure]
nn = false

[probe]
probes = ["knn"]
"""


def actcode(
    *args: str | Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m actcode ARGS`` as a user runs it (stdin empty, text output)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [*ACTCODE, *map(str, args)], input="", capture_output=True, text=True, env=env, timeout=timeout
    )


def contents(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """The content of each code file, keyed by file name."""
    return {p.name: code_file_content(p) for p in paths}


def final_states(out: Path) -> dict[int, set[str]]:
    """The end states recorded for each cell of a sweep over ``epochs`` (worker and sweep may both record)."""
    from actcode.sweep.manifest import read_manifest

    states: dict[int, set[str]] = {}
    for r in read_manifest(out / "sweep.jsonl"):
        if r["state"] != "running":
            states.setdefault(r["options"]["epochs"], set()).add(r["state"])
    return states


@dataclass(frozen=True)
class SweptGrid:
    """The shared grid: its spec file, its folder, the paths printed, the run's stderr."""

    spec: Path
    out: Path
    paths: list[Path]
    stderr: str

    def contents(self) -> dict[str, dict[str, Any]]:
        """The content of every code file of the grid."""
        return contents(self.paths)


@pytest.fixture(scope="session")
def grid_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grid's spec file."""
    p = tmp_path_factory.mktemp("spec") / "grid.toml"
    p.write_text(GRID_SPEC, encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def swept(grid_spec: Path, tmp_path_factory: pytest.TempPathFactory) -> SweptGrid:
    """The grid swept with ``--executor local --jobs 2``, uninterrupted."""
    out = tmp_path_factory.mktemp("swept") / "out"
    r = actcode("sweep", grid_spec, "--out", out, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    return SweptGrid(grid_spec, out, [Path(p) for p in r.stdout.split()], r.stderr)
