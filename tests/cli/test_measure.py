"""`actcode measure` as a user runs it: pipes, JSON, in-place results, errors and exit codes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from actcode import _reference as ref
from actcode.codes import LayerInfo, layout_layers
from actcode.io import open_codes, validate
from actcode.testing import synthetic_bits
from actcode.testing.helpers import write_code_file


def run(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actcode", *args], input=stdin, capture_output=True, text=True, timeout=timeout
    )


def codes_digest(path: Path) -> str:
    h = hashlib.sha256()
    with h5py.File(path, "r") as f:
        for s in f["splits"]:
            for name in ("codes", "labels", "predictions", "indices"):
                h.update(f["splits"][s][name][()].tobytes())
    return h.hexdigest()


@pytest.fixture
def code_file(tmp_path: Path) -> Path:
    layers = layout_layers([LayerInfo("fc0.relu", "ReLU", (21,)), LayerInfo("fc1.relu", "ReLU", (10,))])
    b, y, protos = synthetic_bits(200, 31, n_classes=3, flip=0.1, duplicates=0.1, seed=1)
    bt, yt, _ = synthetic_bits(60, 31, n_classes=3, flip=0.1, seed=2, prototypes=protos)
    bt[:4], yt[:4] = b[:4], y[:4]
    return write_code_file(tmp_path / "codes.h5", {"train": b, "test": bt}, {"train": y, "test": yt}, layers)


def test_measure_from_stdin_prints_path_and_stores_results(code_file: Path) -> None:
    before = codes_digest(code_file)
    r = run("measure", stdin=f"{code_file}\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{code_file}\n"
    assert "redundancy" not in r.stdout
    assert "R" in r.stderr
    assert "layer:fc1.relu" in r.stderr
    assert codes_digest(code_file) == before
    with open_codes(code_file) as cf:
        table = cf.results("measure")
        bits = np.unpackbits(cf.codes("train"), axis=1)
    assert table is not None
    assert table.get("train", "all", "redundancy") == ref.redundancy(bits)
    assert table.get("test", "all", "hash_hits") >= 4


def test_measure_json_records(code_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy.h5"
    r = run(
        "measure",
        str(code_file),
        "--json",
        "--splits",
        "test",
        "--no-prefixes",
        "--nn-sample",
        "10",
        "-o",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert {rec["path"] for rec in recs} == {str(out)}
    assert {rec["kind"] for rec in recs} == {"measure"}
    assert {rec["split"] for rec in recs} == {"test"}
    assert {rec["scope"] for rec in recs} == {"all", "layer:fc0.relu", "layer:fc1.relu"}
    nn = [rec["value"] for rec in recs if rec["metric"] == "nn_queries"]
    assert nn
    assert all(v == 10 for v in nn)
    with open_codes(code_file) as cf:
        assert cf.results("measure") is None  # --output left the input alone
    with open_codes(out) as cf:
        assert len(cf.results("measure")) == len(recs)


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["{bad}"], 3, "not an HDF5 file"),
        (["{missing}"], 4, "no such file"),
        (["{good}", "--splits", "train,random"], 5, "has no split 'random'"),
        (["{good}", "{good}", "-o", "{out}"], 5, "--output writes one file"),
        (["{good}", "--max-memory", "lots"], 5, "--max-memory must be a positive size"),
        (["{good}", "--layers", "conv*"], 5, "no layer matches 'conv*'"),
    ],
)
def test_measure_errors_are_one_line(
    code_file: Path, tmp_path: Path, args: list[str], code: int, text: str
) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5\n")
    names = {"bad": bad, "missing": tmp_path / "nope.h5", "good": code_file, "out": tmp_path / "o.h5"}
    r = run("measure", *[a.format(**names) for a in args])
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("actcode measure: error:")
    assert text in lines[0]
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


def test_measure_batch_goes_on_after_a_bad_file(code_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"")
    r = run("measure", "-", stdin=f"{bad}\n{code_file}\n")
    assert r.returncode == 3
    assert r.stdout == f"{code_file}\n"
    assert r.stderr.count("actcode measure: error:") == 1


def test_sigkill_during_results_write_leaves_codes_intact(code_file: Path, tmp_path: Path) -> None:
    # Block add_results inside the copy (after the results table is written to the temporary
    # file), kill the process there, and check that the input is byte-for-byte unchanged.
    marker = tmp_path / "in-write"
    script = textwrap.dedent(
        f"""
        import sys, time
        import actcode.io.results_io as r
        original = r._write_table
        def slow(group, table):
            original(group, table)
            open({str(marker)!r}, "w").close()
            time.sleep(120)
        r._write_table = slow
        from actcode.cli.main import main
        sys.argv = ["actcode", "measure", {str(code_file)!r}, "--no-nn"]
        main()
        """
    )
    before = code_file.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert code_file.read_bytes() == before
    validate(code_file)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".codes.h5.tmp")]
    assert all(name.startswith(".") for name in leftovers)  # hidden temporary only, never the final name
    r = run("measure", str(code_file), "--no-nn")  # the lock of the killed process does not block
    assert r.returncode == 0, r.stderr
    with open_codes(code_file) as cf:
        assert cf.results("measure") is not None
