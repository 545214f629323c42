"""``chart curves --x sample_size`` over an early-stopped sample-size study, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PY = [sys.executable, "-m", "actcode"]


def run(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PY, *args], capture_output=True, text=True, timeout=300, input=stdin, env=os.environ.copy()
    )


def test_an_early_stopped_sample_size_study_is_charted(tmp_path: Path) -> None:
    ckpts = []
    for n in ("30", "300"):  # on digits, n=300 stops early (epoch 27) and n=30 trains all 40 epochs
        args = ["-q", "train", "--dataset", "digits", "--width", "8", "--epochs", "40", "--early-stop", "2"]
        proc = run([*args, "--sample-size", n, "--save-at", "40", "-o", str(tmp_path / "runs")])
        assert proc.returncode == 0, proc.stderr
        ckpts.append(proc.stdout)
    epochs = sorted(int(p.strip()[-6:-3]) for p in ckpts)
    assert epochs[0] < 40 == epochs[1], epochs  # the study's premise: the runs stopped at different epochs
    extracted = run(["-q", "extract", "--splits", "test"], stdin="".join(ckpts))
    assert extracted.returncode == 0, extracted.stderr
    measured = run(["-q", "measure"], stdin=extracted.stdout)
    assert measured.returncode == 0, measured.stderr
    out = tmp_path / "n.png"
    chart = run(["chart", "curves", "--x", "sample_size", "--y", "redundancy_test", "-o", str(out), "--json"],
                stdin=measured.stdout)  # fmt: skip
    assert chart.returncode == 0, chart.stderr
    record = json.loads(chart.stdout)
    assert record["at"] == "final (default: the epochs differ only by early stopping)"
    assert [s["x"] for s in record["series"]] == [[30, 300]]
    assert out.stat().st_size > 0
    # one epoch of each run, where a run that stopped before it counts with its final model
    at = run(["chart", "curves", "--x", "sample_size", "--y", "redundancy_test", "-o", str(out), "--at", "35",
              "--json"], stdin=measured.stdout)  # fmt: skip
    assert at.returncode == 5, at.stderr
    assert "--at 35:" in at.stderr
    assert "hold the epochs 40, not 35" in at.stderr
