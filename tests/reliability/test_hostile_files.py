"""Classes 2, 4 (files) and 6 of issue 11: files that read elsewhere, break a MUST, or lie.

The generated corpus (``corpus_round2.py``) goes through every command that reads code files,
as one batch per command, as a user runs it: each file must end with exactly one line naming
it and exit code 3, no traceback, nothing on stdout, every input unchanged by hash, nothing
written anywhere (the folder listing is unchanged) and, for external storage, the secret
file's bytes never appear in any output. Then: control characters in strings from a file are
escaped on the terminal, a file held open for writing is "in use" (exit 8), and a path with a
line break is refused (exit 5).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from actcode.errors import FormatError
from actcode.io import validate
from tests.reliability._run import error_lines, run
from tests.reliability.corpus import valid_code_file
from tests.reliability.corpus_round2 import BROKEN_MUSTS, OUTSIDE, SECRET, write_round2

HOSTILE = {**OUTSIDE, **BROKEN_MUSTS}

COMMANDS = {
    "info": [],
    "validate": [],
    "measure": ["--no-nn"],
    "probe": ["--probes", "knn"],
    "chart": ["curves", "--x", "epoch", "--y", "redundancy_train", "-o", "{tmp}/c.png"],
}


def _listing(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_round2(tmp_path_factory.mktemp("hostile"), HOSTILE)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_reader_refuses_each_file(hostile: dict[str, Path], name: str) -> None:
    with pytest.raises(FormatError) as info:
        validate(hostile[name])
    assert info.value.exit_code == 3
    assert str(hostile[name]) in str(info.value)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_refuses_the_whole_corpus_one_line_each(
    command: str, hostile: dict[str, Path], tmp_path: Path
) -> None:
    # info reads metadata and labels only: like pad bits, predictions are checked where they are read
    files = [hostile[n] for n in sorted(HOSTILE) if not (command == "info" and n == "predictions-10^12")]
    folder = files[0].parent
    before = _listing(folder)
    r = run(command, *[a.format(tmp=tmp_path) for a in COMMANDS[command]], *files)
    assert r.returncode == 3, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    lines = error_lines(r.stderr, command)
    if command == "chart":  # chart reads every file first and stops at the first bad one
        assert len(lines) >= 1
    else:
        assert len(lines) == len(files), "\n".join(lines)
        for line, path in zip(lines, files, strict=True):
            assert f"{path}:" in line
    assert r.stdout == ""
    assert _listing(folder) == before  # inputs unchanged, nothing added or removed
    assert list(tmp_path.iterdir()) == []
    secret = SECRET.read_text().strip()
    if len(secret) >= 6:
        assert secret not in r.stderr  # the external file's bytes were never read into an output


def test_measure_to_another_folder_from_a_relative_external_link(
    hostile: dict[str, Path], tmp_path: Path
) -> None:
    src = hostile["external-link:splits.train.codes"]
    (tmp_path / "other").mkdir()
    r = run("measure", "--no-nn", "-o", tmp_path / "other" / "out.h5", src)
    assert r.returncode == 3
    assert len(error_lines(r.stderr, "measure")) == 1
    assert r.stdout == ""
    assert list((tmp_path / "other").iterdir()) == []


def test_control_characters_from_a_file_are_escaped(tmp_path: Path) -> None:
    path = valid_code_file(tmp_path / "names.h5")
    hostile = "fc0\x1b]0;PWNED\x07\x1b[2J[bold]x[/bold]\r\n"
    with h5py.File(path, "r+") as f:
        f["layers/name"][0] = hostile
        f["layers/kind"][1] = "Re\x9bLU\x01"
    r = run("info", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{path}\n"
    for raw in ("\x1b", "\x07", "\x9b", "\x01", "\r"):
        assert raw not in r.stderr, repr(raw)
    assert "\\x1b]0;PWNED\\x07" in r.stderr
    assert "[bold]x" in r.stderr  # markup shown as typed, not interpreted
    r = run("measure", "--no-nn", path)  # per-layer scopes carry the name into the table
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stderr
    assert "\x07" not in r.stderr


def test_an_error_message_holding_a_file_string_is_escaped(tmp_path: Path) -> None:
    path = valid_code_file(tmp_path / "bad.h5")
    with h5py.File(path, "r+") as f:
        f["layers/name"][1] = f["layers/name"][0]  # a duplicate name: the error quotes it
        f["layers/name"][0] = "x\x1b[31m"
        f["layers/name"][1] = "x\x1b[31m"
    r = run("validate", path)
    assert r.returncode == 3
    lines = error_lines(r.stderr, "validate")
    assert len(lines) == 1
    assert "\x1b" not in r.stderr


_HOLD = """
import sys, time, h5py
f = h5py.File(sys.argv[1], "a")
print("open", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("command", ["info", "measure"])
def test_a_file_open_for_writing_is_in_use_exit_8(tmp_path: Path, command: str) -> None:
    path = valid_code_file(tmp_path / "busy.h5")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        r = run(command, *(["--no-nn"] if command == "measure" else []), path)
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 8, r.stderr
    lines = error_lines(r.stderr, command)
    assert len(lines) == 1
    assert "in use" in lines[0]
    assert "damaged" not in lines[0]


@pytest.mark.parametrize("where", ["argument", "output"])
def test_a_path_with_a_line_break_is_refused(tmp_path: Path, where: str) -> None:
    good = valid_code_file(tmp_path / "good.h5")
    odd = tmp_path / "two\nlines.h5"
    odd.write_bytes(good.read_bytes())
    args = [odd] if where == "argument" else ["-o", tmp_path / "out\n.h5", good]
    before = _listing(tmp_path)
    r = run("measure", "--no-nn", *args)
    assert r.returncode == 5, r.stderr
    assert len(error_lines(r.stderr, "measure")) == 1
    assert "line break" in r.stderr
    assert r.stdout == ""
    assert _listing(tmp_path) == before
