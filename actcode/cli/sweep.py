"""``actcode sweep``: run a study's grid from a TOML spec, resumable, locally, on SLURM or on Ray."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from actcode.cli._common import emit_path, err_console, log, verbosity
from actcode.cli._errors import handle_errors
from actcode.errors import InvalidParameterError

if TYPE_CHECKING:
    from actcode.sweep import Progress, SweepReport, SweepSpec

_E = "Executor"
_S = "SLURM (--executor slurm)"
_R = "Ray (--executor ray)"


@handle_errors("sweep")
def command(
    spec: Annotated[
        str, typer.Argument(help="The sweep spec (TOML); or 'status' followed by a sweep folder or spec.")
    ],
    target: Annotated[
        str | None,
        typer.Argument(help="With 'status': the sweep folder (OUT) or its spec.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="The sweep's folder. Default: the spec's 'out', else sweeps/NAME."),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a spec value: TABLE.KEY=VALUE, such as train.epochs=5."),
    ] = None,
    grids: Annotated[
        list[str] | None,
        typer.Option("--grid", help="Set a grid axis: KEY=V1,V2,..., such as width=4,8 (repeatable)."),
    ] = None,
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
    (their product is the set of cells), optional [extract], [measure] and [probe] tables, and
    `stages` to stop early. A cell is identified by train's run hash, so a rerun does only the
    cells that are not done, and a cell finished by hand (`actcode train --out OUT/runs ... |
    actcode extract | actcode measure | actcode probe`) counts as done. Checkpoints and code
    files go to OUT/runs, a log per cell to OUT/logs, one record per attempt to OUT/sweep.jsonl.

    stdout: the code files of every done cell, in grid order, for `actcode chart`. stderr: live
    progress, then a summary table. `actcode sweep status OUT` prints the table of states.
    Exit codes: the first failed cell's code; 130 on Ctrl-C or SIGTERM (running cells are
    cancelled, finished ones kept: run again to resume).
    """
    from actcode.sweep import ExecutorOptions, load_spec, run_sweep

    if spec == "status":
        _status(target, out, sets or [], grids or [])
        return
    if target is not None:
        msg = f"got an extra argument {target!r}; only 'actcode sweep status' takes a second one."
        raise InvalidParameterError(msg)
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
    with _live(parsed) as on_progress:
        try:
            report = run_sweep(
                parsed, executor=executor, options=options, retries=retries, progress=on_progress, log=log
            )
        except KeyboardInterrupt:
            log("actcode sweep: cancelled the queued and running cells; finished ones are kept: rerun.")
            raise
    _summary(report, ran_only=True)
    for path in report.paths:
        emit_path(path)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _overrides(base: dict[str, Any], **values: Any) -> dict[str, Any]:
    return {**base, **{k: v for k, v in values.items() if v is not None}}


def _minutes(text: str) -> int:
    from actcode.sweep.spec import parse_minutes

    return parse_minutes(text, "--time")


def _status(target: str | None, out: Path | None, sets: list[str], grids: list[str]) -> None:
    from actcode.sweep import load_saved_spec, load_spec, sweep_status

    if target is None:
        msg = "'actcode sweep status' needs the sweep folder (OUT) or its spec file."
        raise InvalidParameterError(msg)
    p = Path(target)
    spec = load_saved_spec(p) if p.is_dir() else load_spec(p, out=out, sets=sets, grids=grids)
    _summary(sweep_status(spec), ran_only=False, force=True)


def _dry_run(spec: SweepSpec, executor: str, slurm: dict[str, Any]) -> None:
    from actcode.sweep import sweep_status

    report = sweep_status(spec)
    _summary(report, ran_only=False, force=True)
    err_console.print(f"{report.trainings_to_run()} training(s) to run")
    if executor == "slurm":
        from actcode.sweep.executors.slurm import sbatch_script

        todo = sum(1 for c in report.cells if c.state != "done")
        script = sbatch_script(slurm, f"actcode-{spec.name}", max(1, todo), spec.out / "submitit")
        err_console.print(f"\nthe job array's sbatch script ({todo} cells):\n", markup=False)
        err_console.print(script, markup=False, highlight=False)


def _summary(report: SweepReport, *, ran_only: bool, force: bool = False) -> None:
    """The table of cells on stderr: every cell, or with ``ran_only`` the ones this run tried."""
    if verbosity() < 0 and not force:
        return
    from rich.table import Table

    from actcode.sweep.cells import CELL_STATES

    ran = {r["cell"]: r for r in report.ran}
    rows = [c for c in report.cells if not ran_only or c.cell.key in ran or c.state != "done"]
    counts = ", ".join(f"{report.count(s)} {s}" for s in CELL_STATES if report.count(s))
    title = f"actcode sweep {report.spec.name}: {len(report.cells)} cells, {counts} ({report.spec.out})"
    if not rows:
        err_console.print(f"{title}; nothing ran", markup=False)
        return
    table = Table(title=title, title_justify="left")
    for col, just in (("#", "right"), ("cell", "left"), ("run", "left"), ("state", "left")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    table.add_column("seconds", justify="right")
    table.add_column("error", overflow="fold")
    for c in rows:
        rec = ran.get(c.cell.key) or c.record or {}
        secs = rec.get("seconds")
        err = rec.get("error", "") if c.state == "failed" else ""
        code = f" (exit {rec.get('exit_code')})" if err and rec.get("exit_code") else ""
        table.add_row(
            str(c.cell.index), c.cell.label, c.cell.key, c.state, f"{secs:.1f}" if secs else "", err + code
        )
    err_console.print(table)


@contextlib.contextmanager
def _live(spec: SweepSpec) -> Iterator[Any]:
    """A live progress display on a terminal; one log line per finished cell otherwise."""
    if verbosity() < 0:
        yield None
        return
    if not err_console.is_terminal:

        def line(p: Progress) -> None:
            if p.record is not None and p.cell is not None:
                secs = p.record.get("seconds")
                extra = f": {p.record.get('error')}" if p.record.get("error") else ""
                took = f" in {secs:.1f} s" if secs else ""
                log(f"cell {p.cell.label}: {p.record['state']}{took}{extra} [{p.done}/{p.total} done]")

        yield line
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with bar:
        task = bar.add_task(f"sweep {spec.name}", total=None, state="")

        def update(p: Progress) -> None:
            bar.update(
                task, total=p.total, completed=p.done, state=f"{p.failed} failed, {p.running} running"
            )

        yield update
