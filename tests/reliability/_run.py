"""Run actcode as a user does: a subprocess with stdin, stdout and stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ACTCODE = [sys.executable, "-m", "actcode"]


def run(
    *args: str | Path, stdin: str | None = None, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``actcode ARGS`` and return the completed process (text mode)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.run(
        [*ACTCODE, *map(str, args)],
        input=stdin if stdin is not None else "",
        capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout,
    )  # fmt: skip


def error_lines(stderr: str, command: str) -> list[str]:
    """The one-line errors a command printed."""
    return [line for line in stderr.splitlines() if line.startswith(f"actcode {command}: error: ")]
