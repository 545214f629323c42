"""The pipe protocol under stress: | head -1, empty stdin, spaces in paths, a missing path mid-batch."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability._run import error_lines, run
from tests.reliability.corpus import valid_code_file


def _shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACTCODE": f"{shlex.quote(sys.executable)} -m actcode"}
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


@pytest.mark.parametrize("command", ["validate", "info"])
def test_head_closes_the_pipe_early_and_the_command_exits_cleanly(tmp_path: Path, command: str) -> None:
    f = valid_code_file(tmp_path / "c.h5")
    listing = tmp_path / "many.txt"
    listing.write_text("".join(f"{f}\n" for _ in range(400)))
    r = _shell(f'$ACTCODE -q {command} < many.txt | head -1; echo "status=${{PIPESTATUS[0]}}"', tmp_path)
    out = r.stdout.splitlines()
    assert out[0] == str(f)
    assert out[-1] == "status=0"
    assert "Traceback" not in r.stderr
    assert "BrokenPipe" not in r.stderr


@pytest.mark.parametrize(
    "command",
    ["extract", "measure", "probe", "info", "validate", "chart curves --x epoch --y redundancy_train"],
)
def test_empty_stdin_is_a_clear_error(command: str, tmp_path: Path) -> None:
    r = run(*command.split(), stdin="", cwd=tmp_path)
    name = command.split()[0]
    assert r.returncode == 5, r.stderr
    lines = error_lines(r.stderr, name)
    assert len(lines) == 1, r.stderr
    assert "stdin was empty" in lines[0], r.stderr
    assert r.stdout == ""


def test_paths_with_spaces_flow_through_the_pipeline(tmp_path: Path) -> None:
    folder = tmp_path / "my runs" / "width 8"
    folder.mkdir(parents=True)
    r = _shell(
        f"$ACTCODE -q train --width 8 --epochs 1 --out {shlex.quote(str(folder))} "
        "| $ACTCODE -q extract | $ACTCODE -q measure --no-nn | $ACTCODE -q info",
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    (path,) = r.stdout.splitlines()
    assert path.startswith(str(folder))
    assert path.endswith(".h5")
    assert " " in path
    assert Path(path).is_file()


def test_missing_path_mid_batch_goes_on_and_fails_at_the_end(tmp_path: Path) -> None:
    """Documented policy: every input is tried; the exit code is that of the first failure."""
    a = valid_code_file(tmp_path / "a.h5")
    b = shutil.copy(a, tmp_path / "b.h5")
    missing = tmp_path / "nope.h5"
    r = run("measure", "--no-nn", "--splits", "train", stdin=f"{a}\n{missing}\n{b}\n")
    assert r.returncode == 4
    assert r.stdout.splitlines() == [str(a), str(b)]
    lines = error_lines(r.stderr, "measure")
    assert len(lines) == 1
    assert str(missing) in lines[0]
