"""Running a sweep: the cells that are not done, on an executor, with retries, resumable at any point."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcode.errors import ActcodeFileNotFoundError, InvalidParameterError, OutputError
from actcode.sweep.cells import Cell, CellTask, StageOptions, cell_files, cell_state, make_cells
from actcode.sweep.executors import EXECUTORS, Backend, ExecutorOptions
from actcode.sweep.manifest import MANIFEST, append_record, attempt_record, last_records, read_manifest
from actcode.sweep.spec import SweepSpec

#: The resolved spec a sweep's folder keeps, so that ``sweep status OUT`` needs no spec file.
SAVED_SPEC = "sweep.spec.json"


@dataclass(frozen=True)
class CellReport:
    """A cell, its state, its last finished manifest record and the files it has when done."""

    cell: Cell
    state: str
    record: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class SweepReport:
    """The state of every cell of a sweep, in grid order, and what this run did."""

    spec: SweepSpec
    cells: list[CellReport]
    ran: list[dict[str, Any]] = field(default_factory=list)

    def count(self, state: str) -> int:
        """How many cells are in ``state``."""
        return sum(1 for c in self.cells if c.state == state)

    @property
    def paths(self) -> list[Path]:
        """The files of every done cell, in grid order (checkpoints when the sweep stops at train)."""
        return [p for c in self.cells if c.state == "done" for p in c.files]

    @property
    def exit_code(self) -> int:
        """0 when no cell failed, else the exit code of the first failed cell in grid order."""
        for c in self.cells:
            if c.state == "failed":
                return int((c.record or {}).get("exit_code") or 1)
        return 0

    def trainings_to_run(self) -> int:
        """Cells whose training has not produced every checkpoint yet."""
        from actcode.sweep.cells import checkpoints

        runs = self.spec.runs_dir
        n = 0
        for c in self.cells:
            if c.state != "done":
                n += any(p is None for p in checkpoints(runs, c.cell, _finished(c.record)).values())
        return n


@dataclass(frozen=True)
class Progress:
    """What a running sweep reports after each cell: counts, and the record that just arrived."""

    total: int
    done: int
    failed: int
    running: int
    record: dict[str, Any] | None = None
    cell: Cell | None = None


def _finished(record: dict[str, Any] | None) -> dict[str, Any] | None:
    return record if record and record.get("state") == "done" else None


def sweep_status(spec: SweepSpec) -> SweepReport:
    """Every cell's state, from the files on disk and the manifest; runs nothing."""
    stages = StageOptions.of(spec)
    last = last_records(read_manifest(spec.out / MANIFEST))
    reports = []
    for cell in make_cells(spec):
        rec = last.get(cell.key)
        state = cell_state(spec.runs_dir, cell, stages, rec)
        files = cell_files(spec.runs_dir, cell, stages, _finished(rec)) if state == "done" else []
        reports.append(CellReport(cell, state, rec, files))
    return SweepReport(spec, reports)


def make_backend(
    executor: str, options: ExecutorOptions, spec: SweepSpec, log: Callable[[str], None] | None = None
) -> Backend:
    """The executor named ``executor`` (see :data:`~actcode.sweep.executors.EXECUTORS`)."""
    if executor == "local":
        from actcode.sweep.executors.local import LocalBackend

        return LocalBackend(options, log)
    if executor == "slurm":
        from actcode.sweep.executors.slurm import SlurmBackend

        return SlurmBackend(options, log, folder=spec.out / "submitit", sweep_name=spec.name)
    if executor == "ray":
        from actcode.sweep.executors.ray import RayBackend

        return RayBackend(options, log)
    msg = f"--executor must be one of {', '.join(EXECUTORS)}. Got {executor!r} instead."
    raise InvalidParameterError(msg)


def run_sweep(
    spec: SweepSpec,
    *,
    executor: str = "local",
    options: ExecutorOptions | None = None,
    retries: int = 0,
    progress: Callable[[Progress], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """Run every cell of ``spec`` that is not done; return the final state of all cells.

    A cell that fails is recorded and does not stop the others; it is tried up to
    ``retries`` more times. Ctrl-C or SIGTERM (KeyboardInterrupt) cancels the queued and
    running cells through the executor, records them as ``cancelled`` and re-raises; the
    finished cells are kept, and a rerun resumes.
    """
    if retries < 0:
        msg = f"--retries must be >= 0. Got {retries} instead."
        raise InvalidParameterError(msg)
    options = options or ExecutorOptions()
    backend = make_backend(executor, options, spec, log)
    _prepare_out(spec)
    before = sweep_status(spec)
    todo = [c.cell for c in before.cells if c.state != "done"]
    finished = {c.cell.key: _finished(c.record) for c in before.cells}
    counts = {"done": before.count("done"), "failed": 0}
    ran: list[dict[str, Any]] = []
    in_flight: dict[str, CellTask] = {}
    n_records = len(read_manifest(spec.out / MANIFEST))
    try:
        for attempt in range(1, retries + 2):
            if not todo:
                break
            stages = StageOptions.of(spec)
            tasks = [CellTask(c, stages, spec.out, attempt, finished=finished[c.key]) for c in todo]
            in_flight = {t.cell.key: t for t in tasks}
            todo = []
            running = backend.parallelism(len(tasks))
            _report(progress, spec, counts, min(running, len(in_flight)))
            for task, rec in backend.run(tasks):
                in_flight.pop(task.cell.key, None)
                ran.append(rec)
                if rec.get("state") == "done":
                    counts["done"] += 1
                elif attempt <= retries:
                    todo.append(task.cell)
                else:
                    counts["failed"] += 1
                _report(progress, spec, counts, min(running, len(in_flight)), rec, task.cell)
    except KeyboardInterrupt:
        backend.cancel()
        ended = _ended_since(spec, n_records)
        for task in in_flight.values():
            if task.cell.key in ended:  # its worker finished (or recorded its cancellation) itself
                continue
            c = task.cell
            rec = attempt_record(c.key, c.index, c.point, "cancelled", attempt=task.attempt)
            append_record(task.manifest, rec)
        raise
    finally:
        backend.close()
    return dataclasses.replace(sweep_status(spec), ran=ran)


def _ended_since(spec: SweepSpec, n_records: int) -> set[str]:
    """Cells with a final record (done, failed, cancelled) among the manifest's records after the first n."""
    records = read_manifest(spec.out / MANIFEST)[n_records:]
    return {r["cell"] for r in records if r.get("state") != "running"}


def _report(
    progress: Callable[[Progress], None] | None,
    spec: SweepSpec,
    counts: dict[str, int],
    running: int,
    record: dict[str, Any] | None = None,
    cell: Cell | None = None,
) -> None:
    if progress is not None:
        total = len(spec.grid_points())
        progress(Progress(total, counts["done"], counts["failed"], running, record, cell))


def _prepare_out(spec: SweepSpec) -> None:
    """Create the sweep's folders and keep the resolved spec for ``sweep status OUT``."""
    from actcode.io.atomic import atomic_output

    try:
        for d in (spec.out, spec.runs_dir, spec.out / "logs"):
            d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create the sweep folder {spec.out}: {exc.strerror or exc}."
        raise OutputError(msg) from None
    with atomic_output(spec.out / SAVED_SPEC) as tmp:
        tmp.write_text(json.dumps(spec_to_dict(spec), indent=1) + "\n", encoding="utf-8")


def spec_to_dict(spec: SweepSpec) -> dict[str, Any]:
    """The resolved spec as JSON-safe data (paths as text)."""
    d = dataclasses.asdict(spec)
    d["path"], d["out"], d["stages"] = str(spec.path), str(spec.out), list(spec.stages)
    return d


def load_saved_spec(out: str | Path) -> SweepSpec:
    """The spec a sweep folder keeps (written by :func:`run_sweep`)."""
    p = Path(out) / SAVED_SPEC
    if not p.is_file():
        msg = (
            f"{out} is not a sweep folder: it has no {SAVED_SPEC}. "
            "Give the spec file, or a folder a sweep ran in."
        )
        raise ActcodeFileNotFoundError(msg)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        d["path"], d["out"], d["stages"] = Path(d["path"]), Path(out), tuple(d["stages"])
        return SweepSpec(**d)
    except (ValueError, TypeError, KeyError) as exc:
        msg = f"{p} is damaged ({exc}); run the sweep again from its spec to rewrite it."
        raise InvalidParameterError(msg) from None


__all__ = [
    "SAVED_SPEC",
    "CellReport",
    "Progress",
    "SweepReport",
    "load_saved_spec",
    "make_backend",
    "run_sweep",
    "spec_to_dict",
    "sweep_status",
]
