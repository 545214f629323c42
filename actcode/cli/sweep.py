"""``actcode sweep``: run a study's grid from a TOML spec, resumable, locally, on SLURM or on Ray."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
import typer._click as click
from rich.table import Table
from typer.core import TyperGroup

from actcode.cli._common import emit_path, err_console, log, printable, verbosity
from actcode.cli._errors import EPILOG, handle_errors
from actcode.errors import ActcodeError, InvalidParameterError
from actcode.sweep import (
    ExecutorOptions,
    Progress,
    SweepReport,
    SweepSpec,
    load_saved_spec,
    load_spec,
    run_sweep,
    sweep_status,
)
from actcode.sweep.cells import CELL_STATES
from actcode.sweep.executors.slurm import sbatch_script
from actcode.sweep.run import combine
from actcode.sweep.spec import parse_minutes


class _RunByDefault(TyperGroup):
    """``actcode sweep SPEC ...`` is ``actcode sweep run SPEC ...``: a first word that is not a
    subcommand (a spec file, or an option of ``run``) goes to ``run``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Run a study's grid from a TOML spec (sweep run SPEC, or sweep SPEC), or show its state "
    "(sweep status OUT|SPEC).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_SetsOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a spec value: TABLE.KEY=VALUE, such as train.epochs=5."),
]
_GridsOpt = Annotated[
    list[str] | None,
    typer.Option("--grid", help="Set a grid axis: KEY=V1,V2,..., such as width=4,8 (repeatable)."),
]
_OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="The sweep's folder. Default: the spec's 'out', else sweeps/NAME."),
]
_E = "Executor"
#: Damaged manifest lines shown one by one; the rest are counted.
_MAX_NOTES = 5
_S = "SLURM (--executor slurm)"
_R = "Ray (--executor ray)"


@app.command("run", epilog=EPILOG)
@handle_errors("sweep")
def run(
    spec: Annotated[str, typer.Argument(help="The sweep spec (TOML).")],
    out: _OutOpt = None,
    sets: _SetsOpt = None,
    grids: _GridsOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List each cell and its state; run nothing.")
    ] = False,
    executor: Annotated[
        str, typer.Option("--executor", "-x", help="local, slurm (submitit) or ray.", rich_help_panel=_E)
    ] = "local",
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="local: cells run at once.", rich_help_panel=_E)
    ] = 1,
    threads: Annotated[
        int,
        typer.Option(help="CPU threads per cell; 0 = the cores divided by --jobs.", rich_help_panel=_E),
    ] = 0,
    retries: Annotated[int, typer.Option(help="Retry a failed cell N times.", rich_help_panel=_E)] = 0,
    partition: Annotated[str | None, typer.Option(help="SLURM partition.", rich_help_panel=_S)] = None,
    time: Annotated[
        str | None, typer.Option(help="Wall time per cell: minutes or [D-]HH:MM[:SS].", rich_help_panel=_S)
    ] = None,
    gpus_per_task: Annotated[int | None, typer.Option(help="GPUs per cell.", rich_help_panel=_S)] = None,
    cpus_per_task: Annotated[int | None, typer.Option(help="CPUs per cell.", rich_help_panel=_S)] = None,
    mem: Annotated[str | None, typer.Option(help="Memory per cell, such as 16G.", rich_help_panel=_S)] = None,
    array_parallelism: Annotated[
        int | None, typer.Option(help="Cells of the job array run at once.", rich_help_panel=_S)
    ] = None,
    sbatch: Annotated[
        list[str] | None,
        typer.Option(help="An extra sbatch line, such as --qos=high (repeatable).", rich_help_panel=_S),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="Ray address. Default: $RAY_ADDRESS, else a local Ray.", rich_help_panel=_R),
    ] = None,
    num_cpus: Annotated[float | None, typer.Option(help="CPUs per Ray task.", rich_help_panel=_R)] = None,
    num_gpus: Annotated[float | None, typer.Option(help="GPUs per Ray task.", rich_help_panel=_R)] = None,
) -> None:
    """Run a study's grid: for each cell, train, then extract, measure and probe every checkpoint.

    The spec is TOML: a [train] table of fixed `actcode train` options, a [grid] table of lists
    (their product is the set of cells), optional [extract], [measure], [probe] and [regions]
    tables, and `stages` (default train, extract, measure, probe; add regions to run it). Every
    option of every table is checked before anything runs, --dry-run included. A cell is
    identified by train's run hash, so a rerun does only the cells that are not done, and a
    cell finished by hand (`actcode train --out OUT/runs ... | actcode extract | actcode
    measure | actcode probe`) counts as done. Checkpoints and code
    files go to OUT/runs, a log per cell to OUT/logs, one record per attempt to OUT/sweep.jsonl.

    stdout: the code files of every done cell, in grid order, for `actcode chart`. stderr: live
    progress, then a summary table. `actcode sweep status OUT` prints the table of states;
    `actcode sweep SPEC` is `actcode sweep run SPEC`.
    Exit codes: the first failed cell's code; 130 on Ctrl-C or SIGTERM (running cells are
    cancelled, finished ones kept: run again to resume).
    """
    if jobs < 1 or threads < 0:
        msg = f"--jobs must be >= 1 and --threads >= 0. Got --jobs {jobs}, --threads {threads} instead."
        raise InvalidParameterError(msg)
    parsed = load_spec(spec, out=out, sets=sets or [], grids=grids or [])
    slurm = _overrides(
        parsed.slurm,
        partition=partition,
        time=_minutes(time) if time is not None else None,
        gpus_per_task=gpus_per_task,
        cpus_per_task=cpus_per_task,
        mem=mem,
        array_parallelism=array_parallelism,
        sbatch=[*parsed.slurm.get("sbatch", []), *(sbatch or [])] or None,
    )
    ray = _overrides(parsed.ray, address=address, num_cpus=num_cpus, num_gpus=num_gpus)
    options = ExecutorOptions(jobs=jobs, threads=threads, slurm=slurm, ray=ray)
    if dry_run:
        _dry_run(parsed, executor, slurm)
        return
    whole = _whole_spec(spec, out, sets or []) if grids else parsed
    with _live(parsed) as on_progress, _epochs(parsed):
        try:
            report = run_sweep(
                parsed, executor=executor, options=options, retries=retries, progress=on_progress, log=log,
                whole=whole,
            )  # fmt: skip
        except KeyboardInterrupt:
            log("actcode sweep: cancelled the queued and running cells; finished ones are kept: rerun.")
            _emit_done(parsed)
            raise
    _summary(combine(sweep_status(whole or parsed), report), ran_only=False, after_run=True)
    for path in report.paths:
        emit_path(path)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _whole_spec(spec: str, out: Path | None, sets: list[str]) -> SweepSpec | None:
    """The spec without the command line's --grid axes (what ``sweep status OUT`` shows); None if invalid."""
    try:
        return load_spec(spec, out=out, sets=sets)
    except ActcodeError:
        return None


def _emit_done(spec: SweepSpec) -> None:
    """On an interrupt: the files of the cells that are done, on stdout, for the pipe."""
    try:
        paths = sweep_status(spec).paths
    except (ActcodeError, OSError):
        return
    for path in paths:
        emit_path(path)


@app.command("status", epilog=EPILOG)
@handle_errors("sweep")
def status(
    target: Annotated[str, typer.Argument(help="The sweep folder (OUT) or its spec.", show_default=False)],
    out: _OutOpt = None,
    sets: _SetsOpt = None,
    grids: _GridsOpt = None,
) -> None:
    """Print the state of every cell of a sweep: done, partial, pending or failed.

    TARGET is the sweep's folder (the spec it ran is kept there) or its spec file (with the
    same --out, --set and --grid as the run).
    """
    p = Path(target)
    spec = load_saved_spec(p) if p.is_dir() else load_spec(p, out=out, sets=sets or [], grids=grids or [])
    _summary(sweep_status(spec), ran_only=False, force=True)


def _overrides(base: dict[str, Any], **values: Any) -> dict[str, Any]:
    return {**base, **{k: v for k, v in values.items() if v is not None}}


def _minutes(text: str) -> int:
    return parse_minutes(text, "--time")


def _dry_run(spec: SweepSpec, executor: str, slurm: dict[str, Any]) -> None:
    report = sweep_status(spec)
    _summary(report, ran_only=False, force=True)
    err_console.print(f"{report.trainings_to_run()} training(s) to run")
    if executor == "slurm":
        todo = sum(1 for c in report.cells if c.state != "done")
        script = sbatch_script(slurm, f"actcode-{spec.name}", max(1, todo), spec.out / "submitit")
        err_console.print(f"\nthe job array's sbatch script ({todo} cells):\n", markup=False)
        err_console.print(script, markup=False, highlight=False)


def _summary(report: SweepReport, *, ran_only: bool, force: bool = False, after_run: bool = False) -> None:
    """The table of cells on stderr: every cell, or with ``ran_only`` the ones this run tried."""
    if verbosity() < 0 and not force:
        return
    for line in report.damaged[:_MAX_NOTES]:  # reported, skipped; the other lines are kept
        err_console.print(f"actcode sweep: warning: skipped a damaged manifest line: {printable(line)}")
    if len(report.damaged) > _MAX_NOTES:
        more = len(report.damaged) - _MAX_NOTES
        err_console.print(f"actcode sweep: warning: {more} more damaged manifest lines skipped")
    ran = {r["cell"]: r for r in report.ran}
    rows = [c for c in report.cells if not ran_only or c.cell.key in ran or c.state != "done"]
    counts = ", ".join(f"{report.count(s)} {s}" for s in CELL_STATES if report.count(s))
    title = f"actcode sweep {report.spec.name}: {len(report.cells)} cells, {counts} ({report.spec.out})"
    if after_run and not report.ran:
        title += "; nothing ran"
    if not rows:
        err_console.print(f"{title}; nothing ran", markup=False)
        return
    table = Table(title=printable(title), title_justify="left")
    for col, just in (("#", "right"), ("cell", "left"), ("run", "left"), ("state", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    table.add_column("seconds", justify="right")
    table.add_column("error", overflow="fold")
    for c in rows:
        rec = ran.get(c.cell.key) or c.record or {}
        secs = rec.get("seconds")
        err = rec.get("error", "") if c.state == "failed" else "; ".join(rec.get("notes") or [])
        code = f" (exit {rec.get('exit_code')})" if err and rec.get("exit_code") else ""
        table.add_row(
            str(c.cell.index), printable(c.cell.label), c.cell.key, c.state, f"{secs:.1f}" if secs else "",
            printable(err + code),
        )  # fmt: skip
    err_console.print(table)


def _clock(seconds: float | None) -> str:
    """``h:mm:ss``, or ``-:--:--`` when unknown."""
    if seconds is None:
        return "-:--:--"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class _Eta:
    """The ETA of a running sweep, from the cells finished in this run (rate = finished / elapsed)."""

    def __init__(self) -> None:
        import time

        self.start = time.monotonic()
        self.finished = 0
        self.remaining = 0
        self.at = self.start
        self.left: float | None = None

    def update(self, p: Progress) -> None:
        import time

        from actcode.sweep.run import eta_seconds

        if p.record is not None:
            self.finished += 1
        self.at = time.monotonic()
        self.remaining = max(0, p.total - p.done - p.failed)
        self.left = eta_seconds(self.at - self.start, self.finished, self.remaining)

    def now(self) -> float | None:
        """Seconds left now: the estimate counted down since the last cell ended."""
        import time

        return None if self.left is None else max(0.0, self.left - (time.monotonic() - self.at))


@contextlib.contextmanager
def _live(spec: SweepSpec) -> Iterator[Any]:
    """A live progress display on a terminal; one log line per finished cell otherwise."""
    eta = _Eta()
    if verbosity() < 0:
        yield None
        return
    if not err_console.is_terminal:

        def line(p: Progress) -> None:
            eta.update(p)
            if p.record is not None and p.cell is not None:
                secs = p.record.get("seconds")
                said = p.record.get("error") or "; ".join(p.record.get("notes") or [])
                extra = f": {said}" if said else ""
                took = f" in {secs:.1f} s" if secs else ""
                left = f", ETA {_clock(eta.now())}" if eta.remaining else ""
                log(f"cell {p.cell.label}: {p.record['state']}{took}{extra} ({p.done}/{p.total} done{left})")

        yield line
        return
    with _bar(spec, eta) as update:
        yield update


@contextlib.contextmanager
def _bar(spec: SweepSpec, eta: _Eta) -> Iterator[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar
    from rich.text import Text

    class EtaColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"ETA {_clock(eta.now())}", style="progress.remaining")

    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        EtaColumn(),
        console=err_console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with bar:
        task = bar.add_task(f"sweep {printable(spec.name)}", total=None, state="")

        def update(p: Progress) -> None:
            eta.update(p)
            bar.update(task, total=p.total, completed=p.done, state=f"{p.failed} failed, {p.running} running")

        yield update


@contextlib.contextmanager
def _epochs(spec: SweepSpec) -> Iterator[None]:
    """With -v, the new epoch lines of the running cells' logs, every 2 s, on stderr."""
    if verbosity() < 1:
        yield
        return
    import threading

    from actcode.sweep.run import follow_epochs

    stop = threading.Event()
    offsets: dict[str, int] = {}
    follow_epochs(spec.out, offsets)  # start at the logs' ends: only this run's epochs

    def watch() -> None:
        while not stop.wait(2.0):
            try:
                lines = follow_epochs(spec.out, offsets)
            except OSError:
                continue
            for text in lines:
                log(text, level=1)

    thread = threading.Thread(target=watch, name="actcode-sweep-epochs", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
