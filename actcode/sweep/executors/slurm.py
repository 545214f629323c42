"""The ``slurm`` executor: one submitit job array per sweep (submitit's local executor without SLURM)."""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcode.errors import InvalidParameterError
from actcode.sweep.cells import CellTask, run_cell
from actcode.sweep.executors.base import (
    Backend,
    ExecutorOptions,
    failed_record,
    missing_extra,
    options_from_mapping,
    register_executor,
)

if TYPE_CHECKING:
    from actcode.sweep.spec import SweepSpec

#: Default wall time of one cell, in minutes, when neither ``--time`` nor the spec gives one.
DEFAULT_MINUTES = 24 * 60


@dataclass(frozen=True)
class SlurmOptions:
    """The ``[slurm]`` table (and the command line's SLURM options); see :func:`sbatch_parameters`."""

    partition: str | None = None
    time: int | None = None
    gpus_per_task: int = 0
    cpus_per_task: int = 0
    mem: str | None = None
    array_parallelism: int = 0
    sbatch: Sequence[str] = ()
    setup: Sequence[str] = ()


def sbatch_parameters(slurm: dict[str, Any], name: str) -> dict[str, Any]:
    """submitit ``AutoExecutor.update_parameters`` arguments for the spec's and command line's options.

    ``sbatch`` lines (``--qos=high``, ``#SBATCH --exclusive``) become
    ``slurm_additional_parameters``; ``setup`` lines run in the job before the cell.
    """
    params: dict[str, Any] = {
        "name": name,
        "timeout_min": int(slurm.get("time") or DEFAULT_MINUTES),
        "tasks_per_node": 1,
        "nodes": 1,
    }
    if slurm.get("cpus_per_task"):
        params["cpus_per_task"] = int(slurm["cpus_per_task"])
    if slurm.get("mem"):
        params["slurm_mem"] = str(slurm["mem"])
    if slurm.get("partition"):
        params["slurm_partition"] = str(slurm["partition"])
    if slurm.get("gpus_per_task"):
        params["slurm_gpus_per_task"] = int(slurm["gpus_per_task"])
    if slurm.get("array_parallelism"):
        params["slurm_array_parallelism"] = int(slurm["array_parallelism"])
    extra = parse_sbatch_lines(slurm.get("sbatch") or [])
    if extra:
        params["slurm_additional_parameters"] = extra
    if slurm.get("setup"):
        params["slurm_setup"] = list(slurm["setup"])
    return params


def parse_sbatch_lines(lines: Sequence[str]) -> dict[str, Any]:
    """``["--qos=high", "#SBATCH --exclusive", "--account acme"]`` as ``{"qos": "high", ...}``.

    Examples
    --------
    >>> parse_sbatch_lines(["--qos=high", "#SBATCH --exclusive", "--account acme"])
    {'qos': 'high', 'exclusive': True, 'account': 'acme'}
    """
    out: dict[str, Any] = {}
    for line in lines:
        text = line.strip().removeprefix("#SBATCH").strip()
        if not text.startswith("--") or len(text) < 3:
            msg = f"--sbatch {line!r}: expected an sbatch option such as --qos=high or '#SBATCH --exclusive'."
            raise InvalidParameterError(msg)
        key, sep, value = text[2:].replace(" ", "=", 1).partition("=")
        out[key.strip()] = value.strip() if sep else True
    return out


def sbatch_script(slurm: dict[str, Any], name: str, n_cells: int, folder: str | Path) -> str:
    """The sbatch script submitit writes for a job array of ``n_cells`` cells with these options."""
    try:
        from submitit.slurm.slurm import SlurmExecutor, _make_sbatch_string
    except ImportError:
        err = missing_extra("slurm")
        raise err from None
    params = sbatch_parameters(slurm, name)
    generic = {"name": "job_name", "timeout_min": "time", "cpus_per_task": "cpus_per_task"}
    args: dict[str, Any] = {}
    for key, value in params.items():
        if key in generic:
            args[generic[key]] = value
        elif key.startswith("slurm_"):
            args[key.removeprefix("slurm_")] = value
        elif key == "tasks_per_node":
            args["ntasks_per_node"] = value
        else:
            args[key] = value
    del SlurmExecutor  # imported only to fail early when submitit lacks it
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return str(_make_sbatch_string(command=command, folder=folder, map_count=n_cells, **args))


@register_executor
class SlurmBackend(Backend):
    """submitit's ``AutoExecutor``: ``map_array`` submits the cells as one SLURM job array.

    Without SLURM (no ``srun`` on the PATH) the same calls run through submitit's local
    executor, which starts one process per cell; then at most ``jobs`` (or
    ``array_parallelism``) cells are submitted at a time.
    """

    name = "slurm"
    order = 20
    Options = SlurmOptions

    @classmethod
    def create(
        cls, options: ExecutorOptions, spec: SweepSpec, log: Callable[[str], None] | None = None
    ) -> Backend:
        options_from_mapping(SlurmOptions, options.slurm or {}, f"{spec.path} [slurm]")
        return cls(options, log, folder=spec.out / "submitit", sweep_name=spec.name)

    def __init__(self, *args: Any, folder: Path, sweep_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.folder = folder
        self.sweep_name = sweep_name
        self._jobs: dict[Any, CellTask] = {}

    def parallelism(self, n_tasks: int) -> int:
        slurm = self.options.slurm or {}
        if self.cluster() == "slurm":
            return max(1, min(n_tasks, int(slurm.get("array_parallelism") or n_tasks)))
        return max(1, min(n_tasks, int(slurm.get("array_parallelism") or self.options.jobs)))

    @staticmethod
    def cluster() -> str:
        """``slurm`` where ``srun`` is on the PATH, else ``local``."""
        return "slurm" if shutil.which("srun") else "local"

    def _executor(self) -> Any:
        try:
            import submitit
        except ImportError:
            err = missing_extra("slurm")
            raise err from None
        cluster = self.cluster()
        if cluster == "local":
            self.log("slurm: no SLURM on this machine (no srun): running through submitit's local executor")
        executor = submitit.AutoExecutor(folder=self.folder, cluster=cluster)
        params = sbatch_parameters(self.options.slurm or {}, f"actcode-{self.sweep_name}")
        executor.update_parameters(**params)
        return executor

    def run(self, tasks: Sequence[CellTask]) -> Iterator[tuple[CellTask, dict[str, Any]]]:
        if not tasks:
            return
        executor = self._executor()
        slurm = self.options.slurm or {}
        if self.cluster() == "slurm":
            window, threads = len(tasks), int(slurm.get("cpus_per_task") or 0)
        else:
            from actcode.sweep.executors.local import threads_per_job

            window = self.parallelism(len(tasks))
            threads = threads_per_job(window, self.options.threads)
        queue = [replace(t, threads=threads) for t in tasks]
        while queue or self._jobs:
            if queue and len(self._jobs) < window:
                batch, queue = queue[: window - len(self._jobs)], queue[window - len(self._jobs) :]
                with executor.batch():
                    submitted = [executor.submit(run_cell, t) for t in batch]
                self._jobs.update(zip(submitted, batch, strict=True))
                self.log(f"slurm: submitted {len(batch)} cell(s), job {submitted[0].job_id.split('_')[0]}")
            finished = [j for j in self._jobs if j.done()]
            if not finished:
                time.sleep(0.5)
                continue
            for job in sorted(finished, key=lambda j: self._jobs[j].cell.index):
                task = self._jobs.pop(job)
                try:
                    yield task, job.result()
                except Exception as exc:  # submitit: the job failed, timed out or was cancelled outside
                    first = str(exc).strip().splitlines()
                    yield task, failed_record(task, f"job {job.job_id} failed: {first[0] if first else exc}")

    def cancel(self) -> None:
        for job in list(self._jobs):
            try:
                job.cancel(check=False)  # scancel on SLURM; SIGINT to the local controller
            except Exception:  # noqa: BLE001, S110 - cancelling is best effort; the rest must still go
                pass
        self._jobs.clear()


__all__ = ["DEFAULT_MINUTES", "SlurmBackend", "parse_sbatch_lines", "sbatch_parameters", "sbatch_script"]
