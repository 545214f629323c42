"""The engines a sweep runs on: a local process pool, SLURM through submitit, and Ray."""

from __future__ import annotations

from actcode.sweep.executors.base import EXECUTORS, Backend, ExecutorOptions

__all__ = ["EXECUTORS", "Backend", "ExecutorOptions"]
