"""Every code block of the README runs, as a reader would run it, in a fresh folder.

A block may be preceded by one ``<!-- readme-test: KIND: TEXT -->`` line:

- ``skip: REASON``: not run (a cluster, a download, the user's own files, or minutes of
  training); the reason is the skip message;
- ``installed: ...``: the install steps are dropped and what follows ``. .venv/bin/activate &&``
  runs, with the actcode under test;
- ``setup: NAME ...``: the setup function NAME below first writes the files the block reads.

Blocks of other languages (toml) must be skipped with a reason too, so none is forgotten.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"(?:<!-- readme-test: (\w+): (.*?) -->\n)?```(\w+)\n(.*?)```", re.S)
ACTIVATE = ". .venv/bin/activate && "


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    code: str
    kind: str | None
    note: str

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.lang}"


def blocks() -> list[Block]:
    text = README.read_text("utf-8")
    out = []
    for m in BLOCK.finditer(text):
        line = text.count("\n", 0, m.start(3)) + 1
        out.append(Block(line, m.group(3), m.group(4), m.group(1), m.group(2) or ""))
    return out


def _env(tmp: Path) -> dict[str, str]:
    root = str(README.parent)
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    pythonpath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PATH": path, "PYTHONPATH": pythonpath, "MPLBACKEND": "Agg", "HOME": str(tmp)}


def run_block(code: str, lang: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    return subprocess.run(
        cmd, cwd=cwd, env=_env(cwd), capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL
    )


def phase_chart_codes(cwd: Path) -> None:
    """The layout examples/phase_chart.sh leaves, from a small grid: widths 2 and 4, epochs 0, 1, 3."""
    script = (
        "for w in 2 4; do actcode -q train --width $w --epochs 3 --save-at 0,1,3 -o runs; done"
        " | actcode -q extract --splits train,test | actcode -q measure --no-nn | actcode -q probe"
        " > out/phase_chart-digits/epoch.codes.txt"
    )
    (cwd / "out" / "phase_chart-digits").mkdir(parents=True)
    proc = run_block(script, "bash", cwd)
    assert proc.returncode == 0, proc.stderr


SETUPS: dict[str, Callable[[Path], None]] = {"phase_chart_codes": phase_chart_codes}


def test_every_block_is_run_or_skipped_with_a_reason() -> None:
    found = blocks()
    assert len(found) >= 8
    for b in found:
        if b.kind == "skip":
            assert len(b.note) > 10, b.id
        else:
            assert b.lang in ("bash", "python"), f"{b.id}: a {b.lang} block must be skipped with a reason"
        assert b.kind in (None, "skip", "installed", "setup"), b.id
        if b.kind == "setup":
            assert b.note.split()[0] in SETUPS, b.id


@pytest.mark.slow
@pytest.mark.parametrize("block", blocks(), ids=lambda b: b.id)
def test_readme_block_runs(block: Block, tmp_path: Path) -> None:
    if block.kind == "skip":
        pytest.skip(block.note)
    code = block.code
    if block.kind == "installed":
        assert ACTIVATE in code, block.id
        code = code.split(ACTIVATE, 1)[1]
    if block.kind == "setup":
        SETUPS[block.note.split()[0]](tmp_path)
    proc = run_block(code, block.lang, tmp_path)
    assert proc.returncode == 0, f"{block.id} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
