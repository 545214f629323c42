"""Class 1 of issue 11: an output never destroys what it replaces.

Every writer of actcode (the generic atomic output, the code-file writer of ``extract``, the
copy-on-write of ``measure``/``probe``, the figures of ``chart``, the checkpoints of
``train``) goes through one layer, ``actcode.io.atomic``. The matrix below generates each
hostile output path for each writer and checks the contract: the documented exception and
exit code, the node at the path left exactly as it was (type and bytes), no file left
behind, and inputs unchanged by hash. A few CLI runs then check the same through the
commands, as a user runs them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from actcode.errors import InvalidParameterError, OutputError
from actcode.io import CodeWriter, make_provenance
from actcode.io.atomic import atomic_output
from actcode.io.results_io import add_results
from actcode.results import ResultTable
from actcode.testing.helpers import tiny_layers
from tests.reliability._run import error_lines, run
from tests.reliability.corpus import valid_code_file


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _node(path: Path) -> tuple[int, str]:
    """What a path is, to compare before and after: its file type and, for a file, its hash."""
    st = path.lstat()
    return stat.S_IFMT(st.st_mode), _sha(path) if stat.S_ISREG(st.st_mode) else ""


def _write_atomic(final: Path, src: Path) -> None:
    with atomic_output(final, inputs=[src]) as tmp:
        tmp.write_bytes(b"new content")


def _write_codes(final: Path, src: Path) -> None:
    layers = tiny_layers((5,))
    record = make_provenance(command="test", inputs=[{"path": str(src), "sha256": "0" * 64}])
    with CodeWriter(final, layers, record) as w:
        w.append("train", np.zeros((4, 1), np.uint8), labels=np.arange(4))


def _write_results(final: Path, src: Path) -> None:
    table = ResultTable.from_rows([("train", "all", "redundancy", 0.5)])
    add_results(src, "measure", table, params={}, output=final)


def _write_figure(final: Path, src: Path) -> None:
    from matplotlib.figure import Figure

    from actcode.charts import save_figure

    fig = Figure()
    fig.subplots().plot([0, 1])
    save_figure(fig, final, inputs=[src])


def _write_checkpoint(final: Path, src: Path) -> None:
    import torch

    from actcode.checkpoints import write_checkpoint

    write_checkpoint(final, {"format": "actcode.checkpoint", "state_dict": {"w": torch.zeros(3)}})


#: Every writer, and whether it knows its inputs (a checkpoint has none but its data).
WRITERS: dict[str, tuple[Callable[[Path, Path], None], bool]] = {
    "atomic_output": (_write_atomic, True),
    "CodeWriter": (_write_codes, True),
    "add_results": (_write_results, True),
    "save_figure": (_write_figure, True),
    "write_checkpoint": (_write_checkpoint, False),
}


def _make_socket(path: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()


#: Hostile existing outputs that are not regular files: each must be refused with exit 7.
def _link_to_fifo(p: Path) -> None:
    os.mkfifo(p.with_name("real-fifo"))
    p.symlink_to("real-fifo")


SPECIAL: dict[str, Callable[[Path], None]] = {
    "char-device": lambda p: os.mknod(p, stat.S_IFCHR | 0o666, os.makedev(1, 3)),
    "fifo": os.mkfifo,
    "socket": _make_socket,
    "folder": Path.mkdir,
    "link-to-char-device": lambda p: p.symlink_to("/dev/null"),
    "link-to-fifo": _link_to_fifo,
}


@pytest.fixture
def src(tmp_path: Path) -> Path:
    return valid_code_file(tmp_path / "input.h5")


@contextlib.contextmanager
def _folder_unchanged_except(folder: Path, *allowed: str) -> Iterator[None]:
    before = {p.name: _node(p) for p in folder.iterdir()}
    yield
    after = {p.name: _node(p) for p in folder.iterdir()}
    changed = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)} - set(allowed)
    assert not changed, f"touched outside the named outputs: {sorted(changed)}"
    assert not [n for n in after if ".tmp-" in n], "a temporary file was left behind"


@pytest.mark.parametrize("kind", sorted(SPECIAL))
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_path_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, src: Path, writer: str, kind: str
) -> None:
    out = tmp_path / "out.png"
    SPECIAL[kind](out)
    with _folder_unchanged_except(tmp_path), pytest.raises(OutputError) as info:
        WRITERS[writer][0](out, src)
    assert info.value.exit_code == 7
    assert "cannot write" in str(info.value)


@pytest.mark.parametrize("name", ["-", "a\nb.png", "a\rb.png", "tab\there.png", "esc\x1b[2J.png"])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_stdout_and_control_characters_are_refused(tmp_path: Path, src: Path, writer: str, name: str) -> None:
    out = Path(name) if name == "-" else tmp_path / name
    with _folder_unchanged_except(tmp_path), pytest.raises(InvalidParameterError) as info:
        WRITERS[writer][0](out, src)
    assert info.value.exit_code == 5
    assert not Path("-").exists()


#: Ways an output can name an input: the same path, a hard link, a symlink, a relative path.
def _hard(folder: Path, s: Path) -> Path:
    (folder / "hard.png").hardlink_to(s)
    return folder / "hard.png"


def _soft(folder: Path, s: Path) -> Path:
    (folder / "soft.png").symlink_to(s)
    return folder / "soft.png"


SAME_AS_INPUT: dict[str, Callable[[Path, Path], Path]] = {
    "same-path": lambda folder, s: s,
    "hard-link": _hard,
    "symlink": _soft,
    "dot-path": lambda folder, s: folder / "." / s.name,
}


@pytest.mark.parametrize("how", sorted(SAME_AS_INPUT))
@pytest.mark.parametrize("writer", sorted(w for w, (_, knows) in WRITERS.items() if knows))
def test_an_output_that_is_an_input_is_refused(tmp_path: Path, src: Path, writer: str, how: str) -> None:
    out = SAME_AS_INPUT[how](tmp_path, src)
    with _folder_unchanged_except(tmp_path), pytest.raises(InvalidParameterError) as info:
        WRITERS[writer][0](out, src)
    assert info.value.exit_code == 5
    assert "input" in str(info.value)


@pytest.mark.parametrize("dangling", [False, True], ids=["link", "dangling-link"])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_symlink_is_written_through_and_kept(
    tmp_path: Path, src: Path, writer: str, dangling: bool
) -> None:
    real = tmp_path / "data" / "real.png"
    real.parent.mkdir()
    if not dangling:
        real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(Path("data") / "real.png")
    with _folder_unchanged_except(tmp_path):  # the link itself is unchanged
        WRITERS[writer][0](link, src)
    assert link.is_symlink()
    assert link.readlink() == Path("data") / "real.png"
    assert real.is_file()
    assert real.read_bytes() != b"old"
    assert [p.name for p in real.parent.iterdir()] == ["real.png"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o444, 0o755])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_the_mode_of_a_replaced_file_is_kept(tmp_path: Path, src: Path, writer: str, mode: int) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    out.chmod(mode)
    WRITERS[writer][0](out, src)
    assert out.read_bytes() != b"old"
    assert stat.S_IMODE(out.stat().st_mode) == mode


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_new_file_gets_the_umask_mode(tmp_path: Path, src: Path, writer: str) -> None:
    old = os.umask(0o027)
    try:
        WRITERS[writer][0](tmp_path / "new.png", src)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.png").stat().st_mode) == 0o640


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_hard_links_keep_the_old_content_as_documented(tmp_path: Path, src: Path, writer: str) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    other = tmp_path / "other-name.png"
    other.hardlink_to(out)
    WRITERS[writer][0](out, src)
    assert out.read_bytes() != b"old"
    assert other.read_bytes() == b"old"  # the README: a replaced file's other hard links keep the old copy
    assert out.stat().st_ino != other.stat().st_ino


# -- the same through the commands, as a user runs them ---------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ckpt")
    r = run("-q", "train", "--width", "6", "--epochs", "1", "--save-at", "1", "--out", folder)
    assert r.returncode == 0, r.stderr
    return Path(r.stdout.split()[-1])


def _contract(r: object, command: str, code: int) -> str:
    import subprocess

    assert isinstance(r, subprocess.CompletedProcess)
    assert r.returncode == code, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = error_lines(r.stderr, command)
    assert len(lines) == 1, r.stderr
    assert r.stdout == ""
    return lines[0]


def test_extract_never_replaces_its_checkpoint(tmp_path: Path, checkpoint: Path) -> None:
    ck = tmp_path / "v.pt"
    ck.write_bytes(checkpoint.read_bytes())
    before = _sha(ck)
    with _folder_unchanged_except(tmp_path):
        line = _contract(run("extract", "-o", ck, ck), "extract", 5)
    assert "input" in line
    assert _sha(ck) == before


def test_commands_refuse_devices_fifos_and_stdout(tmp_path: Path, checkpoint: Path, src: Path) -> None:
    dev = tmp_path / "dev.png"
    os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    fifo = tmp_path / "fifo.h5"
    os.mkfifo(fifo)
    before = _sha(src)
    with _folder_unchanged_except(tmp_path):
        _contract(run("extract", "-o", dev, checkpoint), "extract", 7)
        _contract(run("measure", "--no-nn", "-o", fifo, src), "measure", 7)
        _contract(run("probe", "--probes", "knn", "-o", "-", src), "probe", 5)
        chart: list[str | Path] = ["chart", "curves", "--x", "epoch", "--y", "redundancy_train", src]
        _contract(run(*chart, "-o", dev), "chart", 7)
    assert stat.S_ISCHR(dev.lstat().st_mode)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert _sha(src) == before


def test_measure_through_a_link_keeps_the_link_and_the_mode(tmp_path: Path, src: Path) -> None:
    from actcode.io import open_codes

    src.chmod(0o600)
    link = tmp_path / "link.h5"
    link.symlink_to(src.name)
    r = run("-q", "measure", "--no-nn", link)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [str(link)]
    assert link.is_symlink()
    assert stat.S_IMODE(src.stat().st_mode) == 0o600
    with open_codes(src) as cf:
        assert "measure" in cf.result_kinds


def test_extract_refuses_an_output_path_with_a_newline(tmp_path: Path, checkpoint: Path) -> None:
    with _folder_unchanged_except(tmp_path):
        line = _contract(run("extract", "-o", tmp_path / "a\nb.h5", checkpoint), "extract", 5)
    assert "line break" in line
