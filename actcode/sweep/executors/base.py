"""What every executor does: run cell tasks somewhere, report each record as it ends, cancel the rest.

Executors form a registry (:data:`EXECUTORS`): each module of this package that defines a
:class:`Backend` subclass registers it with :func:`register_executor`, so adding a built-in
executor is one new module here; plugins are :class:`Backend` subclasses named by entry points
of the group ``actcode.executors``. Each executor has its own options dataclass
(``Backend.Options``, as hydra's launchers have), read from the spec table of its name.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from actcode.errors import InvalidParameterError
from actcode.registry import Registry
from actcode.sweep.cells import CellTask

if TYPE_CHECKING:
    from actcode.sweep.spec import SweepSpec

OptionsT = TypeVar("OptionsT")


def options_from_mapping(cls: type[OptionsT], table: Mapping[str, Any], where: str) -> OptionsT:
    """An executor's options dataclass from a spec table; an unknown key is refused, naming it."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    unknown = [k for k in table if k not in names]
    if unknown:
        msg = f"{where}: unknown option {unknown[0]!r}; the options are {', '.join(names) or '(none)'}."
        raise InvalidParameterError(msg)
    return cls(**dict(table))


@dataclass(frozen=True)
class NoOptions:
    """The options of an executor that has none of its own."""


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
    #: Built-ins are listed in this order; plugins after them.
    order: ClassVar[int] = 100
    #: Its own options: a dataclass read from the spec table ``[NAME]`` (see :func:`options_from_mapping`).
    Options: ClassVar[type] = NoOptions

    @classmethod
    def create(
        cls, options: ExecutorOptions, spec: SweepSpec, log: Callable[[str], None] | None = None
    ) -> Backend:
        """The engine for a sweep (an executor that needs the spec, such as its folder, overrides this)."""
        return cls(options, log)

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


def _accept(name: str, obj: object) -> type[Backend]:
    if not (isinstance(obj, type) and issubclass(obj, Backend)):
        msg = f"the entry point {name!r} is not an executor: it must name a subclass of Backend"
        raise TypeError(msg)
    return obj


#: Executors by name: the modules of this package, then the ``actcode.executors`` plugins.
EXECUTORS: Registry[type[Backend]] = Registry(
    "executor",
    "actcode.executors",
    builtins="actcode.sweep.executors",
    accept=_accept,
    order=lambda b: b.order,
)

B = TypeVar("B", bound=type[Backend])


def register_executor(backend: B) -> B:
    """Class decorator: register a built-in executor under its ``name``."""
    EXECUTORS.register(backend.name, backend)
    return backend


def executor_names() -> tuple[str, ...]:
    """Every executor: the built-ins, then the installed plugins (``--executor`` choices)."""
    return EXECUTORS.names()


def make_backend(
    executor: str, options: ExecutorOptions, spec: SweepSpec, log: Callable[[str], None] | None = None
) -> Backend:
    """The engine of the executor named ``executor`` (a built-in or a plugin)."""
    return EXECUTORS.get(executor, option="--executor").create(options, spec, log)


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


__all__ = [
    "ENGINES",
    "EXECUTORS",
    "Backend",
    "ExecutorOptions",
    "NoOptions",
    "executor_names",
    "failed_record",
    "make_backend",
    "missing_extra",
    "options_from_mapping",
    "register_executor",
]
