"""Running a sweep: the cells that are not done, on an executor, with retries, resumable at any point."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcode.errors import ActcodeFileNotFoundError, FormatError, InvalidParameterError, OutputError
from actcode.io.atomic import disk_full_error
from actcode.sweep.cells import Cell, CellTask, StageOptions, cell_files, cell_state, make_cells
from actcode.sweep.executors import Backend, ExecutorOptions, make_backend
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
    damaged: list[str] = field(default_factory=list)

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
    damaged: list[str] = []
    last = last_records(read_manifest(spec.out / MANIFEST, damaged))
    reports = []
    for cell in make_cells(spec):
        rec = last.get(cell.key)
        state = cell_state(spec.runs_dir, cell, stages, rec)
        files = cell_files(spec.runs_dir, cell, stages, _finished(rec)) if state == "done" else []
        reports.append(CellReport(cell, state, rec, files))
    return SweepReport(spec, reports, damaged=damaged)


def run_sweep(
    spec: SweepSpec,
    *,
    executor: str = "local",
    options: ExecutorOptions | None = None,
    retries: int = 0,
    progress: Callable[[Progress], None] | None = None,
    log: Callable[[str], None] | None = None,
    whole: SweepSpec | None = None,
) -> SweepReport:
    """Run every cell of ``spec`` that is not done; return the final state of all cells.

    A cell that fails is recorded and does not stop the others; it is tried up to
    ``retries`` more times. Ctrl-C or SIGTERM (KeyboardInterrupt) cancels the queued and
    running cells through the executor, records them as ``cancelled`` and re-raises; the
    finished cells are kept, and a rerun resumes. One sweep at a time runs in a folder
    (:func:`sweep_lock`): a second one is refused (exit 8) instead of training every cell
    again. ``whole`` is the spec without the command line's ``--grid`` axes: the folder
    keeps it, so that ``sweep status OUT`` shows the whole grid.
    """
    if retries < 0:
        msg = f"--retries must be >= 0. Got {retries} instead."
        raise InvalidParameterError(msg)
    backend = make_backend(executor, options or ExecutorOptions(), spec, log)
    _prepare_out(spec, whole or spec)
    with sweep_lock(spec.out):
        return _run_locked(spec, backend, retries, progress)


def _run_locked(
    spec: SweepSpec, backend: Backend, retries: int, progress: Callable[[Progress], None] | None
) -> SweepReport:
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


def _prepare_out(spec: SweepSpec, whole: SweepSpec) -> None:
    """Create the sweep's folders, refuse special files there, keep the whole spec for ``sweep status``."""
    from actcode.io.atomic import atomic_output, remove_stale_temps

    try:
        for d in (spec.out, spec.runs_dir, spec.out / "logs"):
            d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        full = disk_full_error(exc, spec.out)
        if full is not None:
            raise full from None
        msg = f"cannot create the sweep folder {spec.out}: {exc.strerror or exc}."
        raise OutputError(msg) from None
    _refuse_special_files(spec)
    for d in (spec.out, spec.runs_dir):
        remove_stale_temps(d)
    with atomic_output(spec.out / SAVED_SPEC) as tmp:
        tmp.write_text(json.dumps(spec_to_dict(whole), indent=1) + "\n", encoding="utf-8")


#: The most entries of OUT/logs that are checked before a run (a sweep has one log per cell).
_MAX_LOG_ENTRIES = 1_000_000


def _refuse_special_files(spec: SweepSpec) -> None:
    """Refuse (exit 7) a FIFO, device, socket or folder where the sweep writes a file (it would block)."""
    import itertools
    import stat

    logs = spec.out / "logs"
    with os.scandir(logs) as entries:
        paths = [Path(e.path) for e in itertools.islice(entries, _MAX_LOG_ENTRIES)]
    for p in [spec.out / MANIFEST, spec.out / SAVED_SPEC, spec.out / LOCK, *paths]:
        try:
            mode = p.stat().st_mode
        except OSError:
            continue
        if not stat.S_ISREG(mode):
            from actcode.io.atomic import kind_of

            msg = f"cannot run the sweep in {spec.out}: {p} is {kind_of(mode)}; the sweep writes a file here."
            raise OutputError(msg)


#: The lock file of a sweep's folder: one sweep at a time runs in it.
LOCK = ".sweep.lock"


@contextlib.contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """Hold the folder's exclusive lock while a sweep runs; refuse (exit 8) when another sweep holds it.

    Two sweeps on one folder would both train every cell and record each twice. The lock is
    ``flock`` on ``OUT/.sweep.lock``, released by the kernel when the process ends, however it ends.
    """
    import fcntl

    from actcode.errors import LockTimeoutError
    from actcode.io.atomic import open_regular

    fd = open_regular(out / LOCK, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            msg = (
                f"another sweep (pid {holder}) is running in {out}; wait for it to end, or give another "
                "--out. "
                "Both would train every cell."
            )
            raise LockTimeoutError(msg) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def spec_to_dict(spec: SweepSpec) -> dict[str, Any]:
    """The resolved spec as JSON-safe data (paths as text)."""
    d = dataclasses.asdict(spec)
    d["path"], d["out"], d["stages"] = str(spec.path), str(spec.out), list(spec.stages)
    return d


def eta_seconds(elapsed: float, finished: int, remaining: int) -> float | None:
    """Seconds left, from the cells finished so far in this run: ``remaining / (finished / elapsed)``.

    The rate counts every cell that ended (done or failed) since the run started, so it
    already includes the parallelism of the executor. None before the first cell ends.

    >>> eta_seconds(600.0, 2, 8)
    2400.0
    >>> eta_seconds(10.0, 0, 8) is None
    True
    """
    if finished <= 0 or elapsed <= 0 or remaining < 0:
        return None
    return remaining * elapsed / finished


def combine(whole: SweepReport, run: SweepReport) -> SweepReport:
    """Every cell of the whole spec, then the cells of ``run`` outside it; ``run``'s records and notes."""
    keys = {c.cell.key for c in whole.cells}
    cells = [*whole.cells, *(c for c in run.cells if c.cell.key not in keys)]
    damaged = list(dict.fromkeys([*run.damaged, *whole.damaged]))
    return SweepReport(run.spec, cells, ran=run.ran, damaged=damaged)


#: The most bytes of a cell log read per look (a log grows by one line per epoch).
_MAX_FOLLOW = 1 << 16


def follow_epochs(out: Path, offsets: dict[str, int]) -> list[str]:
    """New epoch lines of the cells' logs (``OUT/logs/*.log``) since the last call.

    ``offsets`` holds how far each log was read, and is updated. The first call only notes
    where the logs end, so that only new epochs are reported; a log that appears later is
    read from its start. Special files are skipped.
    """
    import stat

    lines: list[str] = []
    logs = out / "logs"
    first = not offsets
    offsets.setdefault("", 0)  # marks the first call as made
    if not logs.is_dir():
        return lines
    with os.scandir(logs) as entries:
        for e in entries:
            if not e.name.endswith(".log") or not stat.S_ISREG(e.stat().st_mode):
                continue
            size, start = e.stat().st_size, offsets.get(e.name, 0)
            if first or start > size:
                offsets[e.name] = size
                continue
            with open(e.path, "rb") as f:
                f.seek(start)
                data = f.read(min(size - start, _MAX_FOLLOW))
            cut = data.rfind(b"\n") + 1
            offsets[e.name] = start + cut
            name = e.name.removesuffix(".log")
            for raw in data[:cut].decode("utf-8", "replace").splitlines():
                text = raw.split(" ", 2)[-1] if raw[:2].isdigit() else raw
                if text.startswith("epoch "):
                    lines.append(f"{name}: {text}")
    return lines


def load_saved_spec(out: str | Path) -> SweepSpec:
    """The spec a sweep folder keeps (written by :func:`run_sweep`), checked as a spec file is.

    It is read through the bounded reader and every value is checked by the spec's own rules;
    a damaged or edited snapshot is a FormatError (exit 3) naming the file and the field.
    """
    from actcode.io.atomic import open_regular
    from actcode.io.bounded import Fields, parse_json
    from actcode.sweep.spec import STAGE_OPTIONS, _build

    p = Path(out) / SAVED_SPEC
    if not p.is_file():
        msg = (
            f"{out} is not a sweep folder: it has no {SAVED_SPEC}. "
            "Give the spec file, or a folder a sweep ran in."
        )
        raise ActcodeFileNotFoundError(msg)
    try:
        with os.fdopen(open_regular(p, os.O_RDONLY), "rb") as f:
            text = f.read(_MAX_SNAPSHOT + 1)
    except OutputError as exc:
        raise FormatError(str(exc)) from None
    if len(text) > _MAX_SNAPSHOT:
        msg = f"{p}: larger than {_MAX_SNAPSHOT} bytes; not a spec snapshot. Run the sweep from its spec."
        raise FormatError(msg)
    d = Fields(parse_json(text, str(p)), str(p))
    raw: dict[str, Any] = {"name": d.text("name"), "stages": d.texts("stages")}
    for table in ("train", "grid", *STAGE_OPTIONS, "slurm", "ray"):  # every stage's table, regions too
        raw[table] = dict(d.table(table, default={}).data)
    source = Path(d.text("path", default=str(p)))
    try:
        return _build(raw, source, Path(out))
    except InvalidParameterError as exc:
        msg = f"{p} (the sweep folder's spec snapshot) is damaged: {exc} Run the sweep again from its spec."
        raise FormatError(msg) from None


#: The largest spec snapshot read (a spec is a few KiB).
_MAX_SNAPSHOT = 16 << 20


__all__ = [
    "SAVED_SPEC",
    "CellReport",
    "Progress",
    "SweepReport",
    "combine",
    "eta_seconds",
    "follow_epochs",
    "load_saved_spec",
    "make_backend",
    "run_sweep",
    "spec_to_dict",
    "sweep_status",
]
