"""Issue 19 (round 3), the sweep's classes: files it trusts, sizes, special files, locks, identities.

Each class runs its generated instances (``corpus_round3.py``) through the library, then
through the commands as a user runs them (``sweep``, ``sweep status``, ``sweep --dry-run``):
no traceback, no hang, the documented exit code, one line naming the file, field or limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actcode.errors import FormatError, InvalidParameterError, LockTimeoutError, OutputError
from actcode.sizes import MAX_CELLS, MAX_SPEC_NESTING
from actcode.sweep import load_saved_spec, load_spec
from actcode.sweep.manifest import append_record, attempt_record, read_manifest
from actcode.sweep.run import SAVED_SPEC, _prepare_out, eta_seconds, follow_epochs, spec_to_dict, sweep_lock
from tests.reliability._run import error_lines, run
from tests.reliability.corpus_round3 import (
    GOOD_RECORD,
    SPECIAL_KINDS,
    SWEEP_FILES,
    manifest_lines,
    snapshots,
    spec_sizes,
    stale_temps,
)

SPEC = 'name = "r3"\n[train]\nepochs = 1\nsample_size = 60\n[grid]\nwidth = [4]\n'
LINES = manifest_lines()
SIZES = spec_sizes()


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr[-2000:]


@pytest.fixture
def sweep_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A spec file and a sweep folder that keeps its snapshot (as a run leaves it), nothing trained."""
    spec = tmp_path / "r3.toml"
    spec.write_text(SPEC, encoding="utf-8")
    out = tmp_path / "out"
    _prepare_out(load_spec(spec, out=out), load_spec(spec, out=out))
    return spec, out


# -- class 1: manifest lines, spec snapshots -------------------------------------------------


def test_the_generators_make_at_least_50_instances_per_class() -> None:
    assert len(LINES) >= 50
    assert len(SIZES) >= 30
    assert len(SPECIAL_KINDS) * len(SWEEP_FILES) >= 30
    assert sum(map(len, stale_temps(2**22 + 7))) >= 40


def test_each_damaged_manifest_line_is_skipped_and_reported_and_no_other_line_is_lost(tmp_path: Path) -> None:
    manifest = tmp_path / "sweep.jsonl"
    good = [json.dumps({**GOOD_RECORD, "index": i}) for i in range(len(LINES) + 1)]
    lines = [x for pair in zip(good, LINES.values(), strict=False) for x in pair] + [good[-1]]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    damaged: list[str] = []
    records = read_manifest(manifest, damaged)
    assert [r["index"] for r in records] == list(range(len(LINES) + 1))
    assert len(damaged) == len(LINES)
    for i, reason in enumerate(damaged):
        assert reason.startswith(f"{manifest} line {2 * i + 2}: "), reason
        assert "\n" not in reason


@pytest.mark.parametrize("name", ["seconds-num-0", "seconds-num-2", "seconds-num-4", "nested-list-100000"])
def test_a_damaged_line_alone_names_its_field(tmp_path: Path, name: str) -> None:
    manifest = tmp_path / "sweep.jsonl"
    manifest.write_text(LINES[name] + "\n", encoding="utf-8")
    damaged: list[str] = []
    assert read_manifest(manifest, damaged) == []
    assert ("'seconds'" in damaged[0]) == name.startswith("seconds"), damaged
    assert ("nested 100001 deep" in damaged[0]) == name.startswith("nested"), damaged


def test_sweep_status_and_dry_run_skip_every_damaged_line_and_escape_errors(
    sweep_dir: tuple[Path, Path],
) -> None:
    spec, out = sweep_dir
    key = _cell_key(spec, out)
    failed = attempt_record(
        key, 0, {"width": 4}, "failed", error="boom \x1b]0;PWNED\x07 \x1b[31mred", exit_code=3
    )
    text = "\n".join([*LINES.values(), json.dumps(failed)]) + "\n"
    (out / "sweep.jsonl").write_text(text, encoding="utf-8", errors="surrogateescape")
    commands: list[list[str | Path]] = [["sweep", "status", out], ["sweep", spec, "--out", out, "--dry-run"]]
    for args in commands:
        r = run(*args, timeout=120)
        _no_traceback(r.stderr)
        assert r.returncode == 0, r.stderr
        assert r.stdout == ""
        assert "\x1b" not in r.stderr
        assert "\x07" not in r.stderr
        assert "\\x1b]0;PWNED\\x07" in r.stderr  # shown, escaped
        assert "failed" in r.stderr  # the good line is kept
        assert r.stderr.count("skipped a damaged manifest line") == 5
        assert f"{len(LINES) - 5} more damaged manifest lines skipped" in r.stderr


def _cell_key(spec: Path, out: Path) -> str:
    from actcode.sweep.cells import make_cells

    return make_cells(load_spec(spec, out=out))[0].key


def test_each_damaged_spec_snapshot_is_exit_3_naming_the_file(sweep_dir: tuple[Path, Path]) -> None:
    spec, out = sweep_dir
    good = spec_to_dict(load_spec(spec, out=out))
    cases = snapshots(good)
    assert len(cases) >= 40
    for name, text in cases.items():
        (out / SAVED_SPEC).write_text(text, encoding="utf-8")
        with pytest.raises(FormatError) as info:
            load_saved_spec(out)
        assert str(out / SAVED_SPEC) in str(info.value), name
        assert info.value.exit_code == 3
    for name in ("nested", "grid-3", "stages-0", "train-3"):
        (out / SAVED_SPEC).write_text(cases[name], encoding="utf-8")
        r = run("sweep", "status", out, timeout=120)
        _no_traceback(r.stderr)
        assert r.returncode == 3, (name, r.stderr)
        assert len(error_lines(r.stderr, "sweep")) == 1
        assert SAVED_SPEC in r.stderr


# -- class 2: sizes --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SIZES))
def test_each_oversized_spec_is_refused_before_anything_is_built(tmp_path: Path, name: str) -> None:
    spec = tmp_path / "big.toml"
    spec.write_text(SIZES[name], encoding="utf-8")
    with pytest.raises(InvalidParameterError) as info:
        load_spec(spec, out=tmp_path / "out")
    text = str(info.value)
    assert str(spec) in text
    assert "limit" in text, text
    assert not (tmp_path / "out").exists()


def test_size_messages_name_the_number_and_the_limit(tmp_path: Path) -> None:
    spec = tmp_path / "big.toml"
    spec.write_text(SIZES["array-100000"], encoding="utf-8")
    with pytest.raises(InvalidParameterError, match=f"100,000, more than the limit of {MAX_SPEC_NESTING}"):
        load_spec(spec)
    spec.write_text(SIZES["grid-3x1000"], encoding="utf-8")
    with pytest.raises(InvalidParameterError, match=f"1,000,000,000, more than the limit of {MAX_CELLS:,}"):
        load_spec(spec)


@pytest.mark.parametrize("name", ["grid-3x1000", "array-100000", "table-100000", "width-1000000000000"])
def test_the_cli_refuses_oversized_specs_with_one_line(tmp_path: Path, name: str) -> None:
    spec = tmp_path / "big.toml"
    spec.write_text(SIZES[name], encoding="utf-8")
    r = run("sweep", spec, "--out", tmp_path / "out", "--dry-run", timeout=120)
    _no_traceback(r.stderr)
    assert r.returncode == 5, r.stderr
    assert len(error_lines(r.stderr, "sweep")) == 1
    assert "limit" in r.stderr


# -- class 3: special files and full disks in OUT --------------------------------------------


@pytest.mark.parametrize("where", SWEEP_FILES)
@pytest.mark.parametrize("kind", sorted(SPECIAL_KINDS))
def test_a_special_file_where_the_sweep_writes_is_refused(
    sweep_dir: tuple[Path, Path], where: str, kind: str
) -> None:
    from actcode.sweep import run_sweep

    spec, out = sweep_dir
    target = out / where
    if target.exists():
        target.unlink()
    SPECIAL_KINDS[kind](target)
    with pytest.raises(OutputError) as info:
        run_sweep(load_spec(spec, out=out))
    assert str(target) in str(info.value)
    assert info.value.exit_code == 7


@pytest.mark.parametrize("where", ["sweep.jsonl", "logs/workers.stderr", "logs/width=4-x.log"])
def test_the_cli_refuses_a_fifo_in_out_without_hanging(sweep_dir: tuple[Path, Path], where: str) -> None:
    spec, out = sweep_dir
    os.mkfifo(out / where)
    r = run("sweep", spec, "--out", out, timeout=120)
    _no_traceback(r.stderr)
    assert r.returncode == 7, r.stderr
    assert len(error_lines(r.stderr, "sweep")) == 1
    assert "FIFO" in r.stderr


@pytest.mark.parametrize("kind", sorted(SPECIAL_KINDS))
def test_the_manifest_writer_never_blocks_on_a_special_file(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "sweep.jsonl"
    SPECIAL_KINDS[kind](target)
    with pytest.raises(OutputError, match="regular file|FIFO|folder|directory"):
        append_record(target, dict(GOOD_RECORD))
    with pytest.raises(FormatError):
        read_manifest(target)


def test_a_full_disk_under_the_manifest_is_exit_7(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OutputError, match="no space left") as info:
        append_record(tmp_path / "sweep.jsonl", dict(GOOD_RECORD))
    assert info.value.exit_code == 7


# -- class 7: one sweep per folder; run identities -------------------------------------------


def test_a_second_sweep_on_the_same_folder_is_refused(sweep_dir: tuple[Path, Path]) -> None:
    spec, out = sweep_dir
    with sweep_lock(out):
        with pytest.raises(LockTimeoutError, match="another sweep"), sweep_lock(out):
            pass
        r = run("sweep", spec, "--out", out, timeout=120)
    _no_traceback(r.stderr)
    assert r.returncode == 8, r.stderr
    assert len(error_lines(r.stderr, "sweep")) == 1
    assert f"pid {os.getpid()}" in r.stderr
    assert read_manifest(out / "sweep.jsonl") == []  # it trained nothing, recorded nothing
    with sweep_lock(out):  # released: the next one takes it
        pass


def test_runs_that_share_the_old_8_digit_hash_are_told_apart(tmp_path: Path) -> None:
    from actcode.config import TrainConfig
    from actcode.sweep.cells import Cell, checkpoints
    from actcode.training import train

    a = TrainConfig(seed=24, batch_size=713, epochs=1, sample_size=60, out=str(tmp_path))
    b = TrainConfig(seed=104, batch_size=462, epochs=1, sample_size=60, out=str(tmp_path))
    old = TrainConfig(seed=24, batch_size=713).run_hash(8)
    assert old == TrainConfig(seed=104, batch_size=462).run_hash(8) == "ee652e47"
    assert a.run_hash() != b.run_hash()
    assert len(a.run_hash()) == 16
    (ckpt,) = train(a)
    legacy = ckpt.with_name(ckpt.name.replace(a.run_hash(), a.run_hash(8)))  # as an old version named it
    ckpt.rename(legacy)
    mine = Cell(0, {}, {}, a.run_hash(), a.save_epochs())
    # another run whose 16 digits share the first 8 (what b is to a without sample_size and epochs)
    other_key = a.run_hash(8) + ("0" * 8 if not a.run_hash().endswith("0" * 8) else "1" * 8)
    other = Cell(1, {}, {}, other_key, a.save_epochs())
    assert checkpoints(tmp_path, mine) == {1: legacy}  # old names stay readable
    assert checkpoints(tmp_path, other) == {1: None}  # the collision is detected by the stored options
    assert checkpoints(tmp_path, Cell(2, {}, {}, b.run_hash(), b.save_epochs())) == {1: None}


# -- class 9: stale temporary files ----------------------------------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporary_files_of_dead_writers_are_removed_and_others_kept(tmp_path: Path) -> None:
    from actcode.io.atomic import atomic_output, remove_stale_temps

    stale, keep = stale_temps(_dead_pid())
    for name in stale + keep:
        (tmp_path / name).write_bytes(b"x")
    with atomic_output(tmp_path / "m.h5") as tmp:  # a writer removes the stale ones of its own name
        tmp.write_bytes(b"new")
    assert not any(p.name.startswith(".m.h5.tmp-") and p.name in stale for p in tmp_path.iterdir())
    removed = remove_stale_temps(tmp_path)
    left = {p.name for p in tmp_path.iterdir()}
    assert {p.name for p in removed} == {n for n in stale if not n.startswith(".m.h5.")}
    assert not left & set(stale)
    assert set(keep) <= left
    assert (tmp_path / "m.h5").read_bytes() == b"new"


# -- issue 20, item 7: a sweep that reports as it goes ----------------------------------------


def test_the_eta_comes_from_the_finished_cells() -> None:
    assert eta_seconds(1200.0, 0, 10) is None
    assert eta_seconds(1200.0, 1, 9) == pytest.approx(10800.0)
    assert eta_seconds(600.0, 3, 0) == 0.0


def test_follow_epochs_reports_only_new_epoch_lines(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "width=4-abc.log"
    log.write_text("2026-01-01 00:00:00 epoch 1/3: loss 1\n", encoding="utf-8")
    os.mkfifo(logs / "trap.log")  # never opened
    offsets: dict[str, int] = {}
    assert follow_epochs(tmp_path, offsets) == []  # starts at the end
    with log.open("a", encoding="utf-8") as f:
        f.write("2026-01-01 00:00:01 epoch 2/3: loss 0.5\n2026-01-01 00:00:02 extracted x.h5\n2026-01-01 00:")
    assert follow_epochs(tmp_path, offsets) == ["width=4-abc: epoch 2/3: loss 0.5"]
    with log.open("a", encoding="utf-8") as f:
        f.write("00:03 epoch 3/3: loss 0.2\n")
    (logs / "width=8-def.log").write_text("2026-01-01 00:00:04 epoch 1/3: loss 2\n", encoding="utf-8")
    assert sorted(follow_epochs(tmp_path, offsets)) == [
        "width=4-abc: epoch 3/3: loss 0.2",
        "width=8-def: epoch 1/3: loss 2",  # a log that appeared since: from its start
    ]


def test_a_line_longer_than_the_bound_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    from actcode.sweep.manifest import MAX_LINE_BYTES

    manifest = tmp_path / "sweep.jsonl"
    good = json.dumps(GOOD_RECORD)
    with manifest.open("w", encoding="utf-8") as f:
        f.write(good + "\n" + '{"cell": "' + "x" * (3 * MAX_LINE_BYTES) + '"}\n' + good + "\n")
    damaged: list[str] = []
    assert len(read_manifest(manifest, damaged)) == 2
    assert damaged == [f"{manifest} line 2: longer than {MAX_LINE_BYTES} bytes; not a manifest record."]
