"""The ``local`` executor: a process pool on this machine, one GPU per worker round-robin."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from actcode.sweep.cells import CellTask, run_cell
from actcode.sweep.executors.base import Backend, failed_record, register_executor

#: Environment variables that size the thread pools of OpenMP, BLAS and Numba in a worker.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def visible_gpus() -> list[str]:
    """The GPUs a job may use: ``CUDA_VISIBLE_DEVICES`` when set, else those ``nvidia-smi`` lists.

    Found without importing torch, so the sweep's own process stays light.
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()]


def threads_per_job(jobs: int, threads: int = 0) -> int:
    """``threads``, or the machine's cores (those this process may use) shared by ``jobs``."""
    if threads > 0:
        return threads
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, jobs))


def _init_worker(slots: Any, gpus: list[str], threads: int, log: str) -> None:
    """Start of a worker: its GPU (by slot), its thread pools, dying with the sweep, signals.

    The worker's stderr goes to ``log`` (``OUT/logs/workers.stderr``): a worker interrupted at any
    moment (in an import, say) must not print a traceback on the sweep's terminal, whose stderr
    carries only the sweep's own lines.
    """
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # its own process group: the terminal's Ctrl-C reaches the sweep alone
    from actcode.io.atomic import open_regular

    fd = open_regular(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # a FIFO there would block
    os.dup2(fd, 2)
    os.close(fd)
    slot = int(slots.get())
    if gpus:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    with contextlib.suppress(OSError, AttributeError):  # Linux: end with the sweep, even on SIGKILL
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    from actcode.io.atomic import install_signal_handlers

    install_signal_handlers()
    in_cell = signal.getsignal(signal.SIGTERM)

    def on_signal(signum: int, frame: Any) -> None:
        if _STATE["in_cell"] and callable(in_cell):
            in_cell(signum, frame)  # unwind the cell: temporary outputs are removed, "cancelled" recorded
        os._exit(128 + signum)  # an idle worker leaves quietly

    signal.signal(signal.SIGTERM, on_signal)  # the sweep cancels a worker with SIGTERM, once
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's signal is the sweep's alone


_STATE = {"in_cell": False}


def _run_in_worker(task: CellTask) -> dict[str, Any]:
    _STATE["in_cell"] = True
    try:
        return run_cell(task)
    finally:
        _STATE["in_cell"] = False


@register_executor
class LocalBackend(Backend):
    """``concurrent.futures.ProcessPoolExecutor`` with ``jobs`` spawned workers.

    Each worker takes a slot at start; with GPUs, slot ``i`` sees GPU ``i mod n_gpus`` alone
    (``CUDA_VISIBLE_DEVICES``). Each cell runs with ``threads`` CPU threads (default: the cores
    divided by ``jobs``), so that ``jobs`` cells do not oversubscribe the machine.
    """

    name = "local"
    order = 10

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[dict[str, Any]], CellTask] = {}

    def run(self, tasks: Sequence[CellTask]) -> Iterator[tuple[CellTask, dict[str, Any]]]:
        if not tasks:
            return
        jobs = self.parallelism(len(tasks))
        threads = threads_per_job(jobs, self.options.threads)
        gpus = visible_gpus()
        ctx = multiprocessing.get_context("spawn")
        slots = ctx.Queue()
        for i in range(jobs):
            slots.put(i)
        self.log(
            f"local: {jobs} worker(s), {threads} thread(s) each"
            + (f", GPUs {','.join(gpus)} round-robin" if gpus else "")
        )
        logs = tasks[0].out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self._pool = ProcessPoolExecutor(
            jobs, mp_context=ctx, initializer=_init_worker,
            initargs=(slots, gpus, threads, str(logs / "workers.stderr")),
        )  # fmt: skip
        with _sigint_blocked():  # workers start (spawn) with SIGINT blocked, inherited across exec
            self._futures = {self._pool.submit(_run_in_worker, _with_threads(t, threads)): t for t in tasks}
        pending = set(self._futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=lambda f: self._futures[f].cell.index):
                task = self._futures[fut]
                exc = fut.exception()
                if exc is None:
                    yield task, fut.result()
                elif isinstance(exc, KeyboardInterrupt):
                    raise KeyboardInterrupt
                else:  # the worker died (killed, out of memory): the cell could not record it
                    yield task, failed_record(task, f"the worker process ended: {exc}")
        self._pool.shutdown(wait=True)
        self._pool = None

    def cancel(self) -> None:
        if self._pool is None:
            return
        for fut in self._futures:
            fut.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
        workers = multiprocessing.active_children()
        for p in workers:
            p.terminate()  # SIGTERM: the cell unwinds, removes its temporary files, records "cancelled"
        for p in workers:
            p.join(10)
            if p.is_alive():
                p.kill()
        self._pool = None

    def close(self) -> None:
        """A pool still running here means the sweep stopped on an error: stop its workers too."""
        self.cancel()


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while workers are spawned: they inherit the mask, so a Ctrl-C
    at the terminal never reaches a worker (the sweep cancels them). A Ctrl-C meanwhile is
    delivered to the sweep when the block ends."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _with_threads(task: CellTask, threads: int) -> CellTask:
    from dataclasses import replace

    return replace(task, threads=threads)


__all__ = ["THREAD_VARIABLES", "LocalBackend", "threads_per_job", "visible_gpus"]
