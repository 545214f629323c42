"""The ``ray`` executor: one Ray task per cell, on a running cluster or a Ray started here."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

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


@dataclass(frozen=True)
class RayOptions:
    """The ``[ray]`` table (and ``--address``, ``--num-cpus``, ``--num-gpus``)."""

    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0


@register_executor
class RayBackend(Backend):
    """``ray.remote(run_cell).options(num_cpus=..., num_gpus=...)``, one task per cell.

    Connects to ``address`` (``--address``) or ``RAY_ADDRESS``; with neither, and no Ray
    already initialised in this process, starts a local Ray (shut down at the end). Each cell
    runs with ``num_cpus`` threads. Cancelling calls ``ray.cancel(force=True)`` on every
    unfinished task.
    """

    name = "ray"
    order = 30
    Options = RayOptions

    @classmethod
    def create(
        cls, options: ExecutorOptions, spec: SweepSpec, log: Callable[[str], None] | None = None
    ) -> Backend:
        options_from_mapping(RayOptions, options.ray or {}, f"{spec.path} [ray]")
        return cls(options, log)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refs: dict[Any, CellTask] = {}
        self._started = False
        self._ray: Any = None

    def _connect(self) -> Any:
        try:
            import ray
        except ImportError:
            err = missing_extra("ray")
            raise err from None
        opts = self.options.ray or {}
        if not ray.is_initialized():
            address = opts.get("address") or os.environ.get("RAY_ADDRESS") or None
            self.log(f"ray: connecting to {address}" if address else "ray: starting a local Ray")
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            self._started = True
        self._ray = ray
        return ray

    def parallelism(self, n_tasks: int) -> int:
        if self._ray is None:
            return n_tasks
        cpus = float(self._ray.available_resources().get("CPU", 1))
        per = float((self.options.ray or {}).get("num_cpus") or 1)
        return max(1, min(n_tasks, int(cpus // per) or 1))

    def run(self, tasks: Sequence[CellTask]) -> Iterator[tuple[CellTask, dict[str, Any]]]:
        if not tasks:
            return
        ray = self._connect()
        opts = self.options.ray or {}
        num_cpus = float(opts.get("num_cpus") or 1)
        num_gpus = float(opts.get("num_gpus") or 0)
        remote = ray.remote(run_cell).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)
        threads = max(1, int(num_cpus))
        self._refs = {remote.remote(replace(t, threads=threads)): t for t in tasks}
        self.log(f"ray: {len(tasks)} task(s), {num_cpus:g} CPU and {num_gpus:g} GPU each")
        pending = list(self._refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in done:
                task = self._refs.pop(ref)
                try:
                    yield task, ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died or the task was cancelled
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    yield task, failed_record(task, f"ray task failed: {first}")

    def cancel(self) -> None:
        if self._ray is None:
            return
        for ref in list(self._refs):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001, S110 - best effort: the others must still be cancelled
                pass
        self._refs.clear()

    def close(self) -> None:
        if self._started and self._ray is not None:
            self._ray.shutdown()
            self._started = False


__all__ = ["RayBackend"]
