"""The slurm executor through submitit: the job array's sbatch script; a run on submitit's local executor."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from actcode.errors import InvalidParameterError
from actcode.sweep import ExecutorOptions, Progress, load_spec, run_sweep
from actcode.sweep.executors.slurm import SlurmBackend, parse_sbatch_lines, sbatch_parameters, sbatch_script
from actcode.sweep.manifest import read_manifest

from .conftest import SweptGrid, actcode, contents, final_states

SLURM = {
    "partition": "gpu",
    "time": 240,
    "gpus_per_task": 1,
    "cpus_per_task": 4,
    "mem": "16G",
    "array_parallelism": 2,
    "sbatch": ["--qos=high", "#SBATCH --exclusive", "--account acme"],
    "setup": ["module load cuda", "export ACTCODE_DATA=$HOME/data"],
}


def test_the_job_array_script_carries_every_option(tmp_path: Path) -> None:
    script = sbatch_script(SLURM, "actcode-grid", 4, tmp_path / "submitit")
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    for flag in (
        "#SBATCH --array=0-3%2",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=240",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=16G",
        "#SBATCH --job-name=actcode-grid",
        "#SBATCH --qos=high",
        "#SBATCH --exclusive",
        "#SBATCH --account=acme",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --nodes=1",
    ):
        assert flag in lines, flag
    assert lines.index("module load cuda") < lines.index("export ACTCODE_DATA=$HOME/data")
    command = next(line for line in lines if line.startswith("srun "))
    assert command.endswith(f"{sys.executable} -u -m submitit.core._submit {tmp_path / 'submitit'}")
    assert f"--output {tmp_path / 'submitit'}/%A_%a_%t_log.out" in command


def test_sbatch_lines_and_parameters() -> None:
    lines = parse_sbatch_lines(["--constraint=a100", "#SBATCH --requeue"])
    assert lines == {"constraint": "a100", "requeue": True}
    with pytest.raises(InvalidParameterError, match="expected an sbatch option"):
        parse_sbatch_lines(["qos high"])
    params = sbatch_parameters({"time": 30}, "x")
    assert params == {"name": "x", "timeout_min": 30, "tasks_per_node": 1, "nodes": 1}


def test_dry_run_prints_the_sbatch_script(swept: SweptGrid) -> None:
    r = actcode(
        "sweep", swept.spec, "--out", swept.out, "--dry-run", "--executor", "slurm", "--grid", "width=4,8,16",
        "--partition", "gpu", "--time", "1:30:00", "--sbatch", "--qos=low",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "#SBATCH --array=0-1%2" in r.stderr  # 2 cells to run: width=16, seeds 0 and 1
    assert "#SBATCH --time=90" in r.stderr
    assert "#SBATCH --partition=gpu" in r.stderr
    assert "#SBATCH --qos=low" in r.stderr


def test_submitit_local_executor_gives_the_same_files(swept: SweptGrid, tmp_path: Path) -> None:
    assert SlurmBackend.cluster() == "local"  # no SLURM here: submitit's local executor
    spec = load_spec(swept.spec, out=tmp_path / "out")
    report = run_sweep(spec, executor="slurm", options=ExecutorOptions(jobs=2, slurm={"time": 20}))
    assert report.exit_code == 0
    assert [p.name for p in report.paths] == [p.name for p in swept.paths]
    assert contents(report.paths) == swept.contents()
    records = read_manifest(tmp_path / "out" / "sweep.jsonl")
    assert sorted(r["state"] for r in records) == ["done"] * 4 + ["running"] * 4
    assert len({r["pid"] for r in records}) == 4  # one submitit job (process) per cell
    assert len(list((tmp_path / "out" / "submitit").glob("*_result.pkl"))) == 4


def test_without_submitit_the_executor_says_what_to_install(
    swept: SweptGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "submitit", None)
    spec = load_spec(swept.spec, out=tmp_path / "out", grids=["width=5"])
    with pytest.raises(InvalidParameterError, match=r"pip install 'actcode\[slurm\]'"):
        run_sweep(spec, executor="slurm")


def test_interrupting_a_submitit_sweep_cancels_its_jobs(swept: SweptGrid, tmp_path: Path) -> None:
    # a short cell and a long one: the long one is still running when the short one ends
    grids, sets = ["epochs=1,3000", "width=4", "seed=5"], ["stages=['train']", "train.save_at=[1]"]
    spec = load_spec(swept.spec, out=tmp_path / "out", grids=grids, sets=sets)

    def interrupt(p: Progress) -> None:
        if p.record is not None:  # Ctrl-C as the first cell ends: the other job is still running
            raise KeyboardInterrupt

    options = ExecutorOptions(jobs=2, slurm={"time": 20})
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, executor="slurm", options=options, progress=interrupt)
    records = read_manifest(tmp_path / "out" / "sweep.jsonl")
    assert final_states(tmp_path / "out") == {1: {"done"}, 3000: {"cancelled"}}
    running = {r["pid"] for r in records if r["state"] == "running"}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(_alive(pid) for pid in running):
        time.sleep(0.2)
    assert not [pid for pid in running if _alive(pid)], "a cancelled job's process is still running"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
