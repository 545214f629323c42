"""The engines a sweep runs on: a local process pool, SLURM through submitit, and Ray."""

from __future__ import annotations

from actcode.sweep.executors.base import Backend, ExecutorOptions

#: ``--executor`` choices.
EXECUTORS = ("local", "slurm", "ray")

__all__ = ["EXECUTORS", "Backend", "ExecutorOptions"]
