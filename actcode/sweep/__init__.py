"""Sweeps: a TOML grid of training runs, each followed by extract, measure and probe, resumable."""

from __future__ import annotations

from actcode.sweep.cells import Cell, CellTask, StageOptions, make_cells, run_cell
from actcode.sweep.executors import EXECUTORS, ExecutorOptions
from actcode.sweep.run import CellReport, Progress, SweepReport, load_saved_spec, run_sweep, sweep_status
from actcode.sweep.spec import STAGES, SweepSpec, load_spec

__all__ = [
    "EXECUTORS",
    "STAGES",
    "Cell",
    "CellReport",
    "CellTask",
    "ExecutorOptions",
    "Progress",
    "StageOptions",
    "SweepReport",
    "SweepSpec",
    "load_saved_spec",
    "load_spec",
    "make_cells",
    "run_cell",
    "run_sweep",
    "sweep_status",
]
