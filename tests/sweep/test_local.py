"""``actcode sweep`` with the local executor, run as a user runs it: outputs, reruns, states, failures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from actcode.extraction import extract
from actcode.io import open_codes
from actcode.measures import measure_file
from actcode.probes import run_probes
from actcode.sweep.manifest import read_manifest

from .conftest import SweptGrid, actcode


def test_a_sweep_prints_every_code_file_in_grid_order_with_results(swept: SweptGrid) -> None:
    names = [p.name for p in swept.paths]
    assert len(names) == 8  # 4 cells x epochs 1 and 2
    order = [(n.split("-w")[1].split("-")[0], n.split("-s")[-1].split("-")[0], n[-7:-3]) for n in names]
    assert order == [(w, s, e) for w in ("4", "8") for s in ("0", "1") for e in ("0001", "0002")]
    for p in swept.paths:
        with open_codes(p) as cf:
            assert cf.splits == ["train", "test"]
            assert cf.result_kinds == ["measure", "probe"]
            assert cf.factors["epoch"] == int(p.stem[-4:])
    records = read_manifest(swept.out / "sweep.jsonl")
    assert sorted(r["state"] for r in records) == ["done"] * 4 + ["running"] * 4
    for r in records:
        if r["state"] == "done":
            assert r["ran"] == ["train", "extract", "measure", "probe"]
            assert r["host"]
            assert r["seconds"] > 0
            assert len(r["files"]) == 2
    assert len(list((swept.out / "logs").glob("*.log"))) == 4
    assert "4 cells, 4 done" in swept.stderr


def test_a_second_run_does_nothing_and_prints_the_same_paths(swept: SweptGrid, tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(swept.out, out)
    before = (out / "sweep.jsonl").read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    r = actcode("sweep", swept.spec, "--out", out, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert [Path(p).name for p in r.stdout.split()] == [p.name for p in swept.paths]
    assert (out / "sweep.jsonl").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == stamps


def test_dry_run_and_status_show_each_state_and_a_hand_run_cell_counts_as_done(
    swept: SweptGrid, tmp_path: Path
) -> None:
    out = tmp_path / "copy"
    shutil.copytree(swept.out, out)
    swept_codes = sorted((out / "runs").glob("*.h5"))
    swept_codes[0].unlink()  # width=4 seed=0 loses its epoch-1 code file: partial
    grid = ["--grid", "width=4,8,12", "--grid", "seed=0,1"]
    r = actcode("sweep", swept.spec, "--out", out, "--dry-run", *grid)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    states = _states(r.stderr)
    assert states == {
        "width=4 seed=0": "partial",
        "width=4 seed=1": "done",
        "width=8 seed=0": "done",
        "width=8 seed=1": "done",
        "width=12 seed=0": "pending",
        "width=12 seed=1": "pending",
    }
    assert "2 training(s) to run" in r.stderr

    # width=12 seed=0 by hand, with the same options as the spec: a plain pipeline
    train = actcode(
        "-q", "train", "--width", "12", "--epochs", "2", "--save-at", "1,2", "--batch-size", "128",
        "--seed", "0", "--out", out / "runs",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    for ckpt in train.stdout.split():  # then extract | measure --no-nn | probe --probes knn, by the API
        code = extract(ckpt)
        measure_file(code, nn=False)
        run_probes(code, probes=["knn"])
    r = actcode("sweep", "status", swept.spec, "--out", out, *grid)
    assert _states(r.stderr)["width=12 seed=0"] == "done"
    # status of the folder uses the spec the last sweep kept there (the 4-cell grid)
    r = actcode("sweep", "status", out)
    assert r.returncode == 0, r.stderr
    assert _states(r.stderr) == {k: v for k, v in states.items() if not k.startswith("width=12")}


def _states(table: str) -> dict[str, str]:
    out = {}
    for line in table.splitlines():
        cols = [c.strip() for c in line.split("│")]
        if len(cols) > 5 and cols[1].isdigit():
            out[cols[2]] = cols[4]
    return out


def test_a_failing_cell_is_recorded_and_the_others_finish(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(
        'stages = ["train"]\n[train]\nepochs = 1\nwidth = 4\n[grid]\nsample_size = [100, 5000]\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    # two workers, two GPUs: each worker sees one of them alone (round-robin by worker)
    gpus = {"CUDA_VISIBLE_DEVICES": "3,5"}
    r = actcode("sweep", spec, "--out", out, "--retries", "1", "--jobs", "2", env=gpus)
    assert r.returncode == 5, r.stderr  # InvalidParameterError: the sample size exceeds the data
    paths = r.stdout.split()
    assert len(paths) == 1
    assert "-n100-" in paths[0]
    assert paths[0].endswith("-e0001.pt")  # a sweep that stops at train prints checkpoints
    assert "failed" in r.stderr
    assert "5000" in r.stderr
    assert "(exit 5)" in r.stderr
    failed = [x for x in read_manifest(out / "sweep.jsonl") if x["state"] == "failed"]
    assert [x["attempt"] for x in failed] == [1, 2]  # --retries 1: tried twice
    assert all(x["options"] == {"sample_size": 5000} and x["exit_code"] == 5 for x in failed)
    assert "5000" in failed[0]["error"]
    assert {x["gpus"] for x in read_manifest(out / "sweep.jsonl")} <= {"3", "5"}
    log = (out / "logs" / next(p.name for p in (out / "logs").iterdir() if "5000" in p.name)).read_text()
    assert "failed (exit code 5)" in log
    status = actcode("sweep", "status", out)
    assert _states(status.stderr) == {"sample_size=100": "done", "sample_size=5000": "failed"}
    assert json.loads((out / "sweep.spec.json").read_text())["stages"] == ["train"]
