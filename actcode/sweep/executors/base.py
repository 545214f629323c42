"""What every executor does: run cell tasks somewhere, report each record as it ends, cancel the rest."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from actcode.errors import InvalidParameterError
from actcode.sweep.cells import CellTask

#: ``--executor`` choices.
EXECUTORS = ("local", "slurm", "ray")


@dataclass(frozen=True)
class ExecutorOptions:
    """Options of the executors (the command line's, over the spec's ``[slurm]`` and ``[ray]``).

    Attributes
    ----------
    jobs : int
        local: cells run at once. submitit's local fallback: the same.
    threads : int
        CPU threads per cell (torch, Numba, BLAS); 0: the machine's cores divided by ``jobs``.
    slurm : dict
        partition, time (minutes), gpus_per_task, cpus_per_task, mem, array_parallelism,
        sbatch (extra ``#SBATCH`` lines) and setup (shell lines before the job).
    ray : dict
        address, num_cpus, num_gpus.
    """

    jobs: int = 1
    threads: int = 0
    slurm: dict[str, Any] | None = None
    ray: dict[str, Any] | None = None


class Backend(abc.ABC):
    """An engine that runs :func:`~actcode.sweep.cells.run_cell` on tasks."""

    #: Name of the executor (``--executor``).
    name = ""

    def __init__(self, options: ExecutorOptions, log: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.log = log or (lambda message: None)

    @abc.abstractmethod
    def run(self, tasks: Sequence[CellTask]) -> Iterator[tuple[CellTask, dict[str, Any]]]:
        """Run the tasks; yield each task with its manifest record as it ends (in any order)."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Cancel every task not finished (queued or running); safe to call more than once."""

    def parallelism(self, n_tasks: int) -> int:
        """How many tasks may run at once (for the progress display)."""
        return max(1, min(n_tasks, self.options.jobs))

    def close(self) -> None:  # noqa: B027 - most engines hold nothing to release
        """Release what the engine holds (a Ray started here is shut down)."""


def failed_record(task: CellTask, error: str, exit_code: int = 1) -> dict[str, Any]:
    """The record of a task whose worker died or was lost (the worker could not write its own)."""
    from actcode.sweep.manifest import append_record, attempt_record

    cell = task.cell
    rec = attempt_record(
        cell.key, cell.index, cell.point, "failed", attempt=task.attempt, error=error, exit_code=exit_code
    )
    append_record(task.manifest, rec)
    return rec


#: The engine (package) of each optional executor, and the extra that installs it.
ENGINES = {"slurm": ("submitit", "slurm"), "ray": ("ray", "ray")}


def missing_extra(executor: str) -> InvalidParameterError:
    """The one-line error for an executor whose engine is not installed."""
    package, extra = ENGINES[executor]
    msg = (
        f"--executor {executor} needs {package}, which is not installed: "
        f"pip install 'actcode[{extra}]' (or pip install {package})."
    )
    return InvalidParameterError(msg)


__all__ = ["ENGINES", "Backend", "ExecutorOptions", "failed_record", "missing_extra"]
