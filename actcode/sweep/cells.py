"""A sweep's cells: their identity (train's run hash), their state on disk, and running one in a worker.

A cell is one ``train`` run followed by ``extract``, ``measure``, ``probe`` and ``regions`` (those
the spec's ``stages`` name) of each checkpoint it saves.
Its identity is :meth:`TrainConfig.run_hash`, which is also in the checkpoint names, so
a cell finished by hand (``actcode train --out OUT/runs ... | actcode extract | actcode measure |
actcode probe``) is found and counts as done.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from actcode.errors import ActcodeError, FormatError, exit_code_for
from actcode.io import file_sha256, open_codes
from actcode.io.atomic import open_regular
from actcode.options import ExtractOptions, MeasureOptions, ProbeOptions, RegionsOptions
from actcode.sweep.manifest import MANIFEST, append_record, attempt_record
from actcode.sweep.spec import STAGE_OPTIONS, SweepSpec
from actcode.train_options import train_config

#: States of a cell, as ``sweep --dry-run`` and ``sweep status`` show them.
CELL_STATES = ("done", "partial", "pending", "failed")


@dataclass(frozen=True)
class Cell:
    """One point of the grid.

    Attributes
    ----------
    index : int
        Position in grid order.
    point : dict
        The grid's values at this cell.
    options : dict
        Every ``actcode train`` option of the cell (fixed ones, grid values and ``out``).
    key : str
        The run hash: the cell's identity.
    save_epochs : tuple of int
    early_stop : bool
        Whether training may stop before the last save epoch.
    """

    index: int
    point: dict[str, Any]
    options: dict[str, Any]
    key: str
    save_epochs: tuple[int, ...]
    early_stop: bool = False

    @property
    def label(self) -> str:
        """``width=4 seed=0`` (or ``-`` for a sweep without a grid)."""
        return " ".join(f"{k}={v}" for k, v in self.point.items()) or "-"

    @property
    def log_name(self) -> str:
        """The cell's log file name: its grid values and its hash."""
        stem = re.sub(r"[^A-Za-z0-9.=_-]+", "_", "-".join(f"{k}={v}" for k, v in self.point.items()))
        return f"{stem + '-' if stem else ''}{self.key}.log"


def make_cells(spec: SweepSpec) -> list[Cell]:
    """The spec's cells, in grid order."""
    cells = []
    for i, point in enumerate(spec.grid_points()):
        options = spec.cell_options(point)
        config = train_config(options)
        cells.append(Cell(i, point, options, config.run_hash(), config.save_epochs(), config.early_stop > 0))
    return cells


@dataclass(frozen=True)
class StageOptions:
    """What a cell runs after training: the stages and their options objects (built from the spec)."""

    stages: tuple[str, ...]
    extract: ExtractOptions = field(default_factory=ExtractOptions)
    measure: MeasureOptions = field(default_factory=MeasureOptions)
    probe: ProbeOptions = field(default_factory=ProbeOptions)
    regions: RegionsOptions = field(default_factory=RegionsOptions)

    @classmethod
    def of(cls, spec: SweepSpec) -> StageOptions:
        """The stage options of ``spec`` (InvalidParameterError naming the key and the file if one is bad)."""
        built = {stage: spec.stage_options(stage) for stage in STAGE_OPTIONS}
        return cls(spec.stages, **built)  # type: ignore[arg-type]

    def splits(self) -> list[str]:
        """The splits that ``extract`` writes, in order."""
        return self.extract.checkpoint_splits()

    def result_kinds(self) -> list[str]:
        """The results a code file must hold: ``measure``, ``probe`` and/or ``regions``."""
        return [k for k in ("measure", "probe", "regions") if k in self.stages]


def checkpoints(runs_dir: Path, cell: Cell, finished: dict[str, Any] | None = None) -> dict[int, Path | None]:
    """The cell's checkpoint per expected epoch (``None`` where missing).

    With early stopping, training may end before the last save epoch; the epochs then are
    those of the cell's last ``done`` record in the manifest (``finished``), when there is one.
    """
    found: dict[int, Path] = {}
    if runs_dir.is_dir():
        for p in runs_dir.glob(f"*-{cell.key[:LEGACY_DIGITS]}-e[0-9][0-9][0-9][0-9].pt"):
            if same_run(p, cell.key):  # an old 8-digit name: trusted only if its options match
                found[int(p.stem.rsplit("-e", 1)[1])] = p
        for p in runs_dir.glob(f"*-{cell.key}-e[0-9][0-9][0-9][0-9].pt"):
            found[int(p.stem.rsplit("-e", 1)[1])] = p
    epochs = cell.save_epochs
    if cell.early_stop and finished and finished.get("checkpoints"):
        epochs = tuple(int(Path(c).stem.rsplit("-e", 1)[1]) for c in finished["checkpoints"])
    return {e: found.get(e) for e in epochs}


#: Digits of the run hash in the checkpoint names of runs before 0.9 (a prefix of today's 16).
LEGACY_DIGITS = 8
_SAME_RUN: dict[tuple[str, int, int], str | None] = {}


def same_run(path: Path, key: str) -> bool:
    """Whether the checkpoint ``path`` (an old name, 8 hash digits) was trained with the options of ``key``.

    Compares the full run hash of the options stored in the checkpoint: two runs that share
    the 8 digits are told apart. A checkpoint that cannot be read is not the cell's.
    """
    try:
        st = path.stat()
    except OSError:
        return False
    tag = (str(path), st.st_mtime_ns, st.st_size)
    if tag not in _SAME_RUN:
        from actcode.checkpoints import load_checkpoint
        from actcode.errors import ActcodeError

        try:
            _SAME_RUN[tag] = load_checkpoint(path).config.run_hash()
        except (ActcodeError, OSError, ValueError):
            _SAME_RUN[tag] = None
    return _SAME_RUN[tag] == key


def code_file_ok(path: Path, splits: list[str], kinds: list[str], checkpoint: Path | None = None) -> bool:
    """Whether ``path`` exists, passes the format's structural checks, has the splits and results.

    With ``checkpoint``, also whether the file was extracted from that checkpoint as it is on
    disk now (its SHA-256 among the file's ``provenance.inputs``): a retrained cell overwrites
    its checkpoints, and code files of the old ones must be redone.
    """
    if not path.is_file():
        return False
    try:
        with open_codes(path) as cf:
            ok = set(splits) <= set(cf.splits) and all(cf.results(k) is not None for k in kinds)
            inputs = cf.provenance.get("inputs") or []
        if ok and checkpoint is not None:
            sha = file_sha256(checkpoint)
            ok = any(isinstance(i, dict) and i.get("sha256") == sha for i in inputs)
        return ok
    except (FormatError, OSError):
        return False


def cell_files(
    runs_dir: Path, cell: Cell, stages: StageOptions, finished: dict[str, Any] | None
) -> list[Path]:
    """The files a done cell has: its code files (or its checkpoints when the sweep stops at train)."""
    ckpts = checkpoints(runs_dir, cell, finished)
    if stages.stages == ("train",):
        return [p for p in ckpts.values() if p is not None]
    return [p.with_suffix(".h5") for p in ckpts.values() if p is not None]


def cell_state(runs_dir: Path, cell: Cell, stages: StageOptions, last: dict[str, Any] | None) -> str:
    """``done``, ``failed`` (last attempt failed), ``partial`` (some outputs exist) or ``pending``."""
    finished = last if last and last.get("state") == "done" else None
    ckpts = checkpoints(runs_dir, cell, finished)
    have = [p for p in ckpts.values() if p is not None]
    if len(have) == len(ckpts):
        if stages.stages == ("train",):
            return "done"
        splits, kinds = stages.splits(), stages.result_kinds()
        if all(code_file_ok(p.with_suffix(".h5"), splits, kinds) for p in have):
            return "done"
    if last is not None and last.get("state") == "failed":
        return "failed"
    return "partial" if have else "pending"


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs to run one cell; plain data, so it pickles for any executor.

    ``finished`` is the cell's last ``done`` record, whose checkpoints tell where an early-stopped
    run ended.
    """

    cell: Cell
    stages: StageOptions
    out: Path
    attempt: int = 1
    threads: int = 0
    finished: dict[str, Any] | None = None

    @property
    def runs_dir(self) -> Path:
        """Where the checkpoints and code files go."""
        return self.out / "runs"

    @property
    def manifest(self) -> Path:
        """The sweep's manifest."""
        return self.out / MANIFEST

    @property
    def log_path(self) -> Path:
        """The cell's log file."""
        return self.out / "logs" / self.cell.log_name


def run_cell(task: CellTask) -> dict[str, Any]:
    """Run (or finish) one cell with the library API, in this process; return its manifest record.

    Only what is missing runs: training when a checkpoint is missing, then for each checkpoint
    ``extract`` when its code file is missing or lacks a split, ``measure`` and ``probe`` when
    their results are missing. Every output is written atomically by the library; warnings go
    to the cell's log. A failure becomes a ``failed`` record (with the error's exit code)
    instead of an exception, so one failing cell never stops the others; Ctrl-C or SIGTERM
    records ``cancelled`` and re-raises.
    """
    cell, t0 = task.cell, time.perf_counter()
    task.log_path.parent.mkdir(parents=True, exist_ok=True)
    base: dict[str, Any] = {"attempt": task.attempt}
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        base["gpus"] = os.environ["CUDA_VISIBLE_DEVICES"]  # the GPUs this worker was given
    append_record(task.manifest, attempt_record(cell.key, cell.index, cell.point, "running", **base))
    ran: list[str] = []
    notes: list[str] = []  # what the cell found and repaired (a damaged checkpoint)
    log_fd = open_regular(task.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)  # a FIFO would block
    with os.fdopen(log_fd, "a", encoding="utf-8") as log, _threads(task.threads), warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, category, *_: _say(log, f"{category.__name__}: {message}")
        _say(log, f"cell {cell.label} ({cell.key}), attempt {task.attempt}")
        try:
            ckpts, files = _run_stages(task, log, ran, notes)
        except KeyboardInterrupt:
            _say(log, "cancelled")
            rec = attempt_record(cell.key, cell.index, cell.point, "cancelled", ran=ran, **base)
            append_record(task.manifest, rec)
            raise
        except Exception as exc:  # one failing cell must not stop the sweep: record it
            code = exit_code_for(exc)
            if code == 1 and not isinstance(exc, ActcodeError):
                log.write(traceback.format_exc())
            line = " ".join(str(exc).split()) or type(exc).__name__
            _say(log, f"failed (exit code {code}): {line}")
            rec = attempt_record(
                cell.key, cell.index, cell.point, "failed", ran=ran, error=line, exit_code=code,
                seconds=round(time.perf_counter() - t0, 3), **base,
            )  # fmt: skip
            append_record(task.manifest, rec)
            return rec
        seconds = round(time.perf_counter() - t0, 3)
        _say(log, f"done in {seconds} s: {', '.join(map(str, files))}")
    rec = attempt_record(
        cell.key, cell.index, cell.point, "done", ran=ran, seconds=seconds,
        files=[str(p) for p in files], checkpoints=[str(p) for p in ckpts], **base,
        **({"notes": notes} if notes else {}),
    )  # fmt: skip
    append_record(task.manifest, rec)
    return rec


def _set_aside_damaged(ckpts: list[Path], stages: StageOptions, log: IO[str], notes: list[str]) -> bool:
    """Whether a checkpoint the cell still needs is damaged; each such file is renamed aside and noted.

    A checkpoint whose code file is complete is not read again. A damaged one (truncated,
    not an actcode checkpoint) is kept as ``NAME.damaged`` (never deleted) and the cell trains again.
    """
    from actcode.checkpoints import load_checkpoint
    from actcode.errors import FormatError

    splits, damaged = stages.splits(), False
    for ckpt in ckpts:
        if stages.stages != ("train",) and code_file_ok(ckpt.with_suffix(".h5"), splits, [], checkpoint=ckpt):
            continue
        try:
            load_checkpoint(ckpt)
        except FormatError as exc:
            aside = ckpt.with_name(ckpt.name + ".damaged")
            ckpt.replace(aside)
            reason = " ".join(str(exc).split())[:200]
            note = f"damaged checkpoint {ckpt.name} ({reason}) kept as {aside.name}; retrained"
            _say(log, note)
            notes.append(note)
            damaged = True
    return damaged


def _run_stages(
    task: CellTask, log: IO[str], ran: list[str], notes: list[str] | None = None
) -> tuple[list[Path], list[Path]]:
    notes = [] if notes is None else notes
    cell, stages = task.cell, task.stages
    task.runs_dir.mkdir(parents=True, exist_ok=True)
    found = checkpoints(task.runs_dir, cell, task.finished)
    have = [p for p in found.values() if p is not None]
    if len(have) < len(found) or _set_aside_damaged(have, stages, log, notes):
        ran.append("train")
        ckpts = _train(task, log)
    else:
        ckpts = have
    if stages.stages == ("train",):
        return ckpts, ckpts
    return ckpts, [_code_stages(task, ckpt, log, ran) for ckpt in ckpts]


def _code_stages(task: CellTask, ckpt: Path, log: IO[str], ran: list[str]) -> Path:
    """The stages after training of one checkpoint: each one whose output is missing."""
    cell, stages, code = task.cell, task.stages, ckpt.with_suffix(".h5")
    splits, data_root = stages.splits(), cell.options.get("data_root")
    factory = train_config(cell.options).model.factory  # the user's own model: named in the spec
    if not code_file_ok(code, splits, [], checkpoint=ckpt):
        _stage(ran, "extract")
        from actcode.extraction import extract  # deferred: torch

        extract(ckpt, output=code, data_root=data_root, model=factory, **stages.extract.checkpoint_kwargs())
        _say(log, f"extracted {code}")
    if "measure" in stages.stages and not code_file_ok(code, splits, ["measure"]):
        _stage(ran, "measure")
        from actcode.measures import measure_file  # deferred: Numba

        measure_file(code, **stages.measure.kwargs())
        _say(log, f"measured {code}")
    if "probe" in stages.stages and not code_file_ok(code, splits, ["probe"]):
        _stage(ran, "probe")
        from actcode.probes import run_probes  # deferred: scikit-learn

        run_probes(code, **stages.probe.kwargs(), log=lambda m: _say(log, m))
        _say(log, f"probed {code}")
    if "regions" in stages.stages and not code_file_ok(code, splits, ["regions"]):
        _stage(ran, "regions")
        from actcode.regions.api import RegionsConfig, regions_file  # deferred: torch

        where = replace(stages.regions, model=factory, data_root=data_root).config_kwargs()
        regions_file(code, RegionsConfig(**where), note=lambda m: _say(log, m))
        _say(log, f"regions of {code}")
    return code


def _stage(ran: list[str], name: str) -> None:
    if name not in ran:
        ran.append(name)


def _train(task: CellTask, log: IO[str]) -> list[Path]:
    from actcode.training import EpochReport, train

    config = train_config(task.cell.options)

    def on_epoch(r: EpochReport) -> None:
        rec = r.record
        _say(
            log,
            f"epoch {r.epoch}/{r.epochs}: loss {rec['train_loss']:.4f} acc {rec['train_accuracy']:.4f} "
            f"val_acc {rec['val_accuracy']:.4f}" + (f" -> {r.checkpoint}" if r.checkpoint else ""),
        )

    return train(config, on_epoch=on_epoch)


def _say(log: IO[str], message: str) -> None:
    log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")
    log.flush()


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Limit torch, Numba and the BLAS/OpenMP pools (scikit-learn) to ``n`` threads for the block."""
    if n <= 0:
        yield
        return
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    prev_torch, prev_numba = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, int(numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(prev_torch)
        numba.set_num_threads(prev_numba)


__all__ = [
    "CELL_STATES",
    "Cell",
    "CellTask",
    "StageOptions",
    "cell_files",
    "cell_state",
    "checkpoints",
    "code_file_ok",
    "make_cells",
    "run_cell",
]
