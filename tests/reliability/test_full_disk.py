"""Class 3 of issue 11 (disks): a full disk ends in exit 7 and one line, never a crash or a leftover.

Two ways, both run in CI:

- **Injected ENOSPC**, in process: the writes of the HDF5 writers fail after a generated
  number of bytes (every point from the first byte to the end of the file), and
  ``torch.save``/``savefig`` meet a full disk at generated points. Each must raise
  OutputError (exit 7), leave no temporary file, and leave the previous output as it was.
- **A real 2 MiB tmpfs**, mounted in a private mount namespace (``unshare --mount``, as root;
  ``unshare --map-root-user --mount`` otherwise), with the commands run as a user runs them:
  the SIGBUS/SIGSEGV reproductions of the issue, an already full disk, ``measure`` whose copy
  does not fit, ``train`` and ``chart``. If the namespace cannot be made, the test fails
  and says why: it is never skipped.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actcode.errors import OutputError
from actcode.io.results_io import add_results
from actcode.results import ResultTable
from actcode.testing.helpers import tiny_layers, write_code_file
from tests.reliability._run import ACTCODE, error_lines, run
from tests.reliability.corpus import valid_code_file


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fail_after(monkeypatch: pytest.MonkeyPatch, budget: int) -> list[int]:
    """Make every write through the guarded HDF5 file fail with ENOSPC after ``budget`` bytes."""
    written = [0]
    real = os.pwrite

    def pwrite(fd: int, data: Any, offset: int) -> int:
        if written[0] + len(data) > budget:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written[0] += len(data)
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    return written


def _codes(path: Path) -> Path:
    rng = np.random.default_rng(1)
    bits = {"train": rng.integers(0, 2, (3000, 40)), "test": rng.integers(0, 2, (500, 40))}
    labels = {"train": np.arange(3000) % 4, "test": np.arange(500) % 4}
    return write_code_file(path, bits, labels, tiny_layers((16, 24)), block_rows=500)


#: Points of failure, as the fraction of the file written before the disk is full.
FRACTIONS = [0.0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97, 0.999]


def _bytes_written(write: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> int:
    """How many bytes a write that succeeds sends through the guarded file."""
    with monkeypatch.context() as m:
        written = _fail_after(m, 1 << 40)
        write()
    return written[0]


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_code_writer_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fraction: float) -> None:
    full = _bytes_written(lambda: _codes(tmp_path / "first.h5"), monkeypatch)
    (tmp_path / "first.h5").unlink()
    old = tmp_path / "c.h5"
    old.write_bytes(b"the previous output")
    _fail_after(monkeypatch, int(fraction * full))
    with pytest.raises(OutputError, match="no space left") as info:
        _codes(old)
    assert info.value.exit_code == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]
    assert old.read_bytes() == b"the previous output"


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_results_copy_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fraction: float
) -> None:
    src = _codes(tmp_path / "c.h5")
    table = ResultTable.from_rows([("train", "all", "redundancy", 0.25)])
    arrays = {"train/x": np.arange(5000)}
    first = tmp_path / "first.h5"
    full = _bytes_written(
        lambda: add_results(src, "measure", table, params={}, arrays=arrays, output=first), monkeypatch
    )
    first.unlink()
    before = _sha(src)
    _fail_after(monkeypatch, int(fraction * full))
    with pytest.raises(OutputError, match="no space left") as info:
        add_results(src, "measure", table, params={}, arrays=arrays)
    assert info.value.exit_code == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]
    assert _sha(src) == before


def _full_file_writes(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """Python file objects opened for writing fail with ENOSPC after ``after`` bytes."""
    import io

    real_open = io.open

    class Full(io.FileIO):
        left = after

        def write(self, b: Any) -> int:
            n = len(memoryview(b))
            if n > Full.left:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            Full.left -= n
            return super().write(b)

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode and ".tmp-" in str(file):
            raw = Full(file, "w")
            return io.BufferedWriter(raw) if "b" in mode else io.TextIOWrapper(io.BufferedWriter(raw))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)


def _checkpoint(path: Path) -> None:
    import torch

    from actcode.checkpoints import write_checkpoint

    write_checkpoint(path, {"format": "actcode.checkpoint", "state_dict": {"w": torch.zeros(20_000)}})


def _figure(path: Path) -> None:
    from matplotlib.figure import Figure

    from actcode.charts import save_figure

    fig = Figure()
    fig.subplots().plot(np.arange(100) ** 2)
    save_figure(fig, path)


WRITERS: dict[str, Callable[[Path], None]] = {"checkpoint": _checkpoint, "figure": _figure}


@pytest.mark.parametrize("after", [0, 1, 100, 1000, 5000])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_torch_save_and_savefig_on_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str, after: int
) -> None:
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    _full_file_writes(monkeypatch, after)
    with pytest.raises(OutputError) as info:
        WRITERS[writer](out)
    monkeypatch.undo()
    assert info.value.exit_code == 7
    assert "space" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert out.read_bytes() == b"old"


# -- a real small file system ----------------------------------------------------------------

_SCRIPT = r"""
set -u
mount -t tmpfs -o size=2m actcode-test "$SMALL" || { echo "MOUNT-FAILED"; exit 99; }
step() {  # step NAME COMMAND...: run, then report the status and what is left on the disk
  name=$1; shift
  "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
  echo "$name $? $(ls -A "$SMALL" | tr '\n' ' ')"
}
step sigbus $ACTCODE extract --compression none --random 500000 -o "$SMALL/x.h5" "$CKPT"
step gzip $ACTCODE extract --splits test --random 300000 -o "$SMALL/x.h5" "$CKPT"
cp "$CODES" "$SMALL/m.h5"
avail=$(df -B1 --output=avail "$SMALL" | tail -1)
head -c $(( avail - $(stat -c %s "$SMALL/m.h5") / 2 )) /dev/zero > "$SMALL/fill"  # the copy cannot fit
before=$(sha256sum < "$SMALL/m.h5")
step measure $ACTCODE measure --no-nn "$SMALL/m.h5"
[ "$before" = "$(sha256sum < "$SMALL/m.h5")" ] || echo "INPUT-CHANGED"
cat /dev/zero > "$SMALL/fill" 2>/dev/null  # the disk is now full
step full $ACTCODE extract -o "$SMALL/e.h5" "$CKPT"
step train $ACTCODE train --width 64 --epochs 1 --save-at 0 --out "$SMALL/runs"
step chart $ACTCODE chart curves --x epoch --y redundancy_test -o "$SMALL/c.png" "$SMALL/m.h5"
"""


def _namespace() -> list[str]:
    unshare = shutil.which("unshare")
    assert unshare is not None, "unshare (util-linux) is needed for the tmpfs test"
    return [unshare, "--mount", "--propagation", "private"] if os.geteuid() == 0 else [
        unshare, "--map-root-user", "--mount", "--propagation", "private"]  # fmt: skip


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("made")
    # 128 units: random inputs give codes that deflate cannot squeeze into the small disk
    r = run("-q", "train", "--width", "128", "--epochs", "1", "--save-at", "1", "--out", folder)
    assert r.returncode == 0, r.stderr
    codes = valid_code_file(folder / "codes.h5", n_train=3000, n_test=1000)
    add_results(codes, "measure", ResultTable.from_rows([("test", "all", "redundancy", 0.5)]), params={})
    return Path(r.stdout.split()[-1]), codes


def test_commands_on_a_real_two_mib_tmpfs(tmp_path: Path, made: tuple[Path, Path]) -> None:
    ckpt, codes = made
    small, out = tmp_path / "small", tmp_path / "out"
    small.mkdir()
    out.mkdir()
    inputs = {p: _sha(p) for p in (ckpt, codes)}
    env = {**os.environ, "SMALL": str(small), "OUT": str(out), "CKPT": str(ckpt), "CODES": str(codes),
           "ACTCODE": " ".join(shlex.quote(a) for a in ACTCODE), "COLUMNS": "200"}  # fmt: skip
    cmd = [*_namespace(), "bash", "-c", _SCRIPT]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert "MOUNT-FAILED" not in r.stdout, f"cannot mount a tmpfs here: {r.stderr}"
    assert "INPUT-CHANGED" not in r.stdout
    assert r.returncode == 0, r.stderr
    steps = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()}
    assert list(steps) == ["sigbus", "gzip", "measure", "full", "train", "chart"]
    for name, (status, *left) in steps.items():
        err = (out / f"{name}.err").read_text()
        command = "chart" if name == "chart" else "train" if name == "train" else (
            "measure" if name == "measure" else "extract")  # fmt: skip
        assert status == "7", f"{name}: exit {status}\n{err[-3000:]}"
        assert "Traceback" not in err, f"{name}:\n{err[-3000:]}"
        assert len(error_lines(err, command)) == 1, f"{name}:\n{err[-3000:]}"
        assert "space" in error_lines(err, command)[0]
        assert (out / f"{name}.out").read_text() == ""
        assert not [f for f in left if ".tmp-" in f], f"{name} left {left}"
        assert set(left) <= {"m.h5", "fill", "runs"}, f"{name} left {left}"  # runs: train's --out folder
    assert not list((small / "runs").iterdir()) if (small / "runs").exists() else True
    assert {p: _sha(p) for p in inputs} == inputs
    assert not (small / "m.h5").exists()  # the tmpfs went away with the namespace
    assert sys.platform.startswith("linux")
