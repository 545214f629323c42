"""A sweep that reports as it goes (issue 20, item 7) and survives what issue 19 threw at it.

- The final summary and ``sweep status OUT`` show the spec's whole grid, not a ``--grid`` subset.
- A damaged checkpoint in OUT/runs is named, kept aside and trained again.
- Ctrl-C at the terminal (SIGINT to the foreground process group) reaches the sweep alone: the
  workers are cancelled by the sweep, once, and stdout still lists the cells that are done.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from actcode.checkpoints import load_checkpoint
from actcode.sweep.manifest import read_manifest

from .conftest import ACTCODE, SweptGrid, actcode
from .test_resume import wait_for

SLOW = """\
name = "slow"

[train]
sample_size = 60
batch_size = 30

[grid]
epochs = [1, 400]

[measure]
nn = false

[probe]
probes = ["knn"]
"""


def _cells(stderr: str) -> list[str]:
    return [c[2].strip() for c in (line.split("│") for line in stderr.splitlines()) if len(c) > 5]


def test_the_summary_and_status_show_the_whole_grid_after_a_grid_subset(
    swept: SweptGrid, tmp_path: Path
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(swept.out, out)
    r = actcode("sweep", swept.spec, "--out", out, "--grid", "width=4", "--grid", "seed=0")
    assert r.returncode == 0, r.stderr
    assert "4 cells, 4 done" in r.stderr  # the final summary: every cell of the spec
    assert "nothing ran" in r.stderr
    assert len(_cells(r.stderr)) == 4
    subset = [out / "runs" / p.name for p in swept.paths if "-w4-" in p.name and "-s0-" in p.name]
    assert r.stdout.split() == [str(p) for p in subset]  # stdout: the files of the cells asked for
    status = actcode("sweep", "status", out)
    assert status.returncode == 0, status.stderr
    assert sorted(_cells(status.stderr)) == [
        "width=4 seed=0",
        "width=4 seed=1",
        "width=8 seed=0",
        "width=8 seed=1",
    ]


def test_a_damaged_checkpoint_is_named_kept_aside_and_trained_again(swept: SweptGrid, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(swept.out, out)
    ckpt = sorted((out / "runs").glob("*-w4-*-s0-*-e0001.pt"))[0]
    ckpt.write_bytes(ckpt.read_bytes()[:100])  # truncated
    ckpt.with_suffix(".h5").unlink()  # its code file must be made again, from the checkpoint
    r = actcode("sweep", swept.spec, "--out", out)
    assert r.returncode == 0, r.stderr
    assert f"damaged checkpoint {ckpt.name}" in r.stderr
    assert ckpt.with_name(ckpt.name + ".damaged").is_file()  # kept, never deleted
    assert load_checkpoint(ckpt).epoch == 1
    assert ckpt.with_suffix(".h5").is_file()
    assert str(ckpt.with_suffix(".h5")) in r.stdout.split()


def test_ctrl_c_reaches_the_sweep_alone_and_stdout_keeps_the_done_cells(tmp_path: Path) -> None:
    spec = tmp_path / "slow.toml"
    spec.write_text(SLOW, encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*ACTCODE, "-v", "sweep", str(spec), "--out", str(out), "--jobs", "1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )  # fmt: skip
    try:
        wait_for(out / "sweep.jsonl", "done", 1, proc)
        wait_for(out / "sweep.jsonl", "running", 2, proc)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    done = [r for r in read_manifest(out / "sweep.jsonl") if r["state"] == "done"]
    assert len(done) == 1
    assert stdout.split() == done[0]["files"]  # the done cell's paths reach the pipe
    assert "cancelled" in {r["state"] for r in read_manifest(out / "sweep.jsonl")}
    workers = (out / "logs" / "workers.stderr").read_text(encoding="utf-8")
    assert "interrupted again" not in workers + stderr
    assert "epoch " in stderr  # -v: the running cell's epochs
