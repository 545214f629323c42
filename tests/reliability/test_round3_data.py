"""Round 3 (issue 19), classes 7 and 8 for what a user brings to ``extract``: code, arrays,
image folders and weights. Each generated instance runs as a command line; one interpreter runs
them all (:mod:`tests.reliability._batch`), and each case is then checked on its own.

- 19.7: a model that prints (import, factory, forward, a thread) leaves stdout to the paths; a
  model that exits fails its input with one line (exit 5) instead of ending actcode with 0.
- 19.8: npy inputs and labels that are complex, truncated, lying or out of the class range, a
  FIFO among the images of a folder (with and without --skip-bad), and weights archives that
  inflate far beyond their size are refused with one line, never a hang, SIGBUS or a blow-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actcode.io import open_codes
from tests.reliability._batch import stderr_by_case
from tests.reliability.corpus_round3_files import (
    image_cases,
    image_folder,
    npy_cases,
    user_code_cases,
    user_model_source,
    weights_cases,
    write_npy,
    write_weights,
)

FACTORY = """import math
from torch import nn
def make(input_shape, n_classes):
    d = math.prod(input_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, 6), nn.ReLU(), nn.Linear(6, n_classes))
"""

NPY, IMAGES, WEIGHTS, USER = npy_cases(), image_cases(), weights_cases(), user_code_cases()


class Batch:
    """The cases' command lines, and after the run their exit codes, stderr and stdout."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cases: list[dict[str, Any]] = []
        self.outputs: dict[str, Path] = {}
        self.results: dict[str, dict[str, Any]] = {}
        self.stderr: dict[str, str] = {}
        self.stdout: list[str] = []

    def add(self, case_id: str, *args: str | Path, output: Path | None = None) -> None:
        self.cases.append({"id": case_id, "args": [str(a) for a in args]})
        if output is not None:
            self.outputs[case_id] = output

    def run(self) -> None:
        cases, results = self.folder / "cases.json", self.folder / "results.json"
        cases.write_text(json.dumps(self.cases))
        p = subprocess.run(
            [sys.executable, "-m", "tests.reliability._batch", str(cases), str(results)],
            capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert p.returncode == 0, p.stderr[-3000:]
        self.results = json.loads(results.read_text())
        self.stderr = stderr_by_case(p.stderr)
        self.stdout = p.stdout.splitlines()

    def one_line_error(self, case_id: str, code: int | tuple[int, ...]) -> str:
        got = self.results[case_id]["code"]
        err = self.stderr[case_id]
        assert got in ((code,) if isinstance(code, int) else code), f"{case_id}: exit {got}\n{err}"
        lines = [ln for ln in err.splitlines() if ln.startswith("actcode extract: error: ")]
        assert len(lines) == 1, err
        assert "Traceback" not in err
        assert case_id not in self.outputs or not self.outputs[case_id].exists()
        return lines[0]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    d = tmp_path_factory.mktemp("round3-data")
    b = Batch(d)
    (d / "m.py").write_text(FACTORY)
    model = f"{d / 'm.py'}:make"
    x = d / "x.npy"
    np.save(x, np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32))
    for i, (name, case) in enumerate(NPY.items()):
        xi = write_npy(d / f"npy{i}-x.npy", case["x"])
        labels: list[str | Path] = []
        if case["y"] is not None:
            labels = ["--labels", write_npy(d / f"npy{i}-y.npy", case["y"])]
        out = d / f"npy{i}.h5"
        b.add(
            f"npy:{name}",
            "extract",
            "--model",
            model,
            "--dataset",
            f"npy:{xi}",
            *labels,
            "-o",
            out,
            output=out,
        )
    for i, (name, (layout, fifo, skip)) in enumerate(IMAGES.items()):
        root = d / f"img{i}"
        image_folder(root, layout, fifo)
        out = d / f"img{i}.h5"
        args = ["extract", "--model", model, "--dataset", f"imagefolder:{root}", "--input-size", "8"]
        b.add(
            f"img:{name}", *args, "--workers", "0", *(["--skip-bad"] if skip else []), "-o", out, output=out
        )
    for i, (name, spec) in enumerate(WEIGHTS.items()):
        w = write_weights(d / f"w{i}.pt", spec)
        out = d / f"w{i}.h5"
        args = ["extract", "--model", model, "--weights", str(w), "--dataset", f"npy:{x}"]
        b.add(f"weights:{name}", *args, "-o", out, output=out)
        b.add(f"checkpoint:{name}", "extract", w, "-o", d / f"c{i}.h5", output=d / f"c{i}.h5")
    for i, (name, (where, action)) in enumerate(USER.items()):
        src = d / f"user{i}.py"
        src.write_text(user_model_source(where, action))
        out = d / f"user{i}.h5"
        b.add(
            f"user:{name}",
            "extract",
            "--model",
            f"{src}:make",
            "--dataset",
            f"npy:{x}",
            "-o",
            out,
            output=out,
        )
    b.run()
    return b


def test_every_generator_has_50_cases() -> None:
    assert min(len(NPY), len(IMAGES), len(WEIGHTS), len(USER)) >= 50


@pytest.mark.parametrize("name", list(NPY))
def test_npy_files_are_refused_with_one_line(batch: Batch, name: str) -> None:
    line = batch.one_line_error(f"npy:{name}", (3, 4))
    assert ".npy" in line


@pytest.mark.parametrize("name", list(IMAGES))
def test_a_fifo_among_images_is_refused_or_skipped(batch: Batch, name: str) -> None:
    layout, fifo, skip = IMAGES[name]
    case = f"img:{name}"
    if not skip:
        line = batch.one_line_error(case, 3)
        assert fifo in line
        assert "not a regular file" in line
        return
    assert batch.results[case]["code"] == 0, batch.stderr[case]
    out = batch.outputs[case]
    assert str(out) in batch.stdout
    with open_codes(out) as cf:
        skipped = [
            s for split in cf.provenance["extract"]["split_info"].values() for s in split.get("skipped", [])
        ]
        assert [Path(s["file"]).name for s in skipped] == [fifo]
        assert "not a regular file" in skipped[0]["error"]


@pytest.mark.parametrize("name", list(WEIGHTS))
@pytest.mark.parametrize("how", ["weights", "checkpoint"])
def test_weights_that_inflate_are_refused_before_loading(batch: Batch, name: str, how: str) -> None:
    batch.one_line_error(f"{how}:{name}", 3)


@pytest.mark.parametrize("name", list(USER))
def test_user_code_keeps_stdout_for_paths_and_cannot_exit(batch: Batch, name: str) -> None:
    where, action = USER[name]
    case = f"user:{name}"
    assert not any("NOISE" in line for line in batch.stdout)  # stdout holds only paths
    if action.startswith(("exit", "raise")) and not where.endswith("thread"):
        line = batch.one_line_error(case, 5)
        assert "sys.exit" in line
        return
    assert batch.results[case]["code"] == 0, batch.stderr[case]
    assert str(batch.outputs[case]) in batch.stdout
    if not where.endswith("thread"):
        assert "NOISE" in batch.stderr[case]  # what the model printed went to stderr
