"""A sweep killed with SIGKILL resumes to the same files; Ctrl-C cancels the running cells and exits 130."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from actcode.checkpoints import load_checkpoint
from actcode.io import open_codes
from actcode.sweep.manifest import read_manifest

from .conftest import ACTCODE, SweptGrid, actcode, contents


def start(*args: str | Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [*ACTCODE, *map(str, args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(manifest: Path, state: str, n: int, proc: subprocess.Popen[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(r["state"] == state for r in read_manifest(manifest)) >= n:
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.1)
    proc.kill()
    msg = f"no {n} {state!r} records in {manifest} after {timeout} s"
    raise AssertionError(msg)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie of an ended process is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    return True


def wait_dead(pids: set[int], timeout: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    return {p for p in pids if alive(p)}


def check_no_partial_file(runs: Path) -> None:
    """Every file under a final name is complete; only hidden temporary files may be left."""
    for p in runs.iterdir():
        if p.name.startswith("."):
            assert ".tmp-" in p.name
        elif p.suffix == ".pt":
            load_checkpoint(p)
        elif p.suffix == ".h5":
            with open_codes(p) as cf:
                for split in cf.splits:
                    cf.codes(split)
        else:
            assert p.suffix == ".lock", p


def test_sigkill_then_rerun_gives_the_same_files_and_runs_only_the_missing_cells(
    swept: SweptGrid, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    manifest = out / "sweep.jsonl"
    proc = start("sweep", swept.spec, "--out", out, "--jobs", "1")
    wait_for(manifest, "done", 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    first = read_manifest(manifest)
    workers = {r["pid"] for r in first}
    assert not wait_dead(workers), "a worker outlived the killed sweep"
    check_no_partial_file(out / "runs")
    done_before = {r["cell"] for r in first if r["state"] == "done"}
    assert done_before

    r = actcode("sweep", swept.spec, "--out", out, "--jobs", "1")
    assert r.returncode == 0, r.stderr
    paths = [Path(p) for p in r.stdout.split()]
    assert [p.name for p in paths] == [p.name for p in swept.paths]
    assert contents(paths) == swept.contents()  # codes, labels, predictions, indices and results, bit for bit
    second = read_manifest(manifest)[len(first) :]
    assert {x["cell"] for x in second if x["state"] == "running"} == {
        c for c in {x["cell"] for x in read_manifest(swept.out / "sweep.jsonl")} if c not in done_before
    }
    assert all(x["state"] in ("running", "done") for x in second)
    check_no_partial_file(out / "runs")
    assert not any(p.name.startswith(".") and ".tmp-" not in p.name for p in (out / "runs").iterdir())


def test_sigint_cancels_the_running_cells_and_exits_130(swept: SweptGrid, tmp_path: Path) -> None:
    out = tmp_path / "out"
    manifest = out / "sweep.jsonl"
    proc = start("sweep", swept.spec, "--out", out, "--jobs", "2")
    wait_for(manifest, "running", 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "cancelled the queued and running cells" in err
    assert "Traceback" not in err
    records = read_manifest(manifest)
    running = {r["cell"] for r in records if r["state"] == "running"}
    ended = {r["cell"] for r in records if r["state"] in ("done", "cancelled")}
    assert running <= ended
    assert any(r["state"] == "cancelled" for r in records)
    assert not wait_dead({r["pid"] for r in records}), "a worker outlived the cancelled sweep"
    check_no_partial_file(out / "runs")
    status = actcode("sweep", "status", out)
    assert status.returncode == 0
    states = [c[4].strip() for c in (line.split("│") for line in status.stderr.splitlines()) if len(c) > 5]
    assert len(states) == 4
    assert set(states) <= {"done", "partial", "pending"}
    assert set(states) != {"done"}
