"""The engines a sweep runs on: a local process pool, SLURM through submitit, and Ray."""

from __future__ import annotations

from actcode.sweep.executors.base import (
    EXECUTORS,
    Backend,
    ExecutorOptions,
    executor_names,
    make_backend,
    register_executor,
)

__all__ = ["EXECUTORS", "Backend", "ExecutorOptions", "executor_names", "make_backend", "register_executor"]
