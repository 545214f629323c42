"""SIGKILL and SIGINT at several points of train, extract, measure and probe.

After each kill: the inputs are unchanged (by hash), nothing partial sits under a final name
(every output present is complete and valid), and a rerun succeeds. Ctrl-C exits promptly
with exit code 130 and a short message.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import time
from pathlib import Path

import pytest

from actcode.checkpoints import load_checkpoint
from actcode.io import open_codes, validate
from tests.reliability._run import ACTCODE, run

#: Seconds after the start at which the command is killed: during imports, during the
#: set-up, and in the middle of the work (the commands below take a few seconds).
KILL_POINTS = (1.0, 2.5, 4.0)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One checkpoint and its code file, made once for the module."""
    folder = tmp_path_factory.mktemp("trained")
    r = run("-q", "train", "--width", "16", "--epochs", "2", "--out", folder)
    assert r.returncode == 0, r.stderr
    ckpt = Path(r.stdout.split()[-1])
    r = run("-q", "extract", "--random", "200", ckpt)
    assert r.returncode == 0, r.stderr
    return ckpt


def _kill_at(args: list[str], when: float, sig: signal.Signals, cwd: Path) -> subprocess.Popen[str]:
    p = subprocess.Popen([*ACTCODE, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=cwd)  # fmt: skip
    time.sleep(when)
    if p.poll() is None:
        p.send_signal(sig)
    return p


def _finish(p: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    start = time.monotonic()
    try:
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    if sig == signal.SIGINT and p.returncode == -signal.SIGINT:
        # the signal came while the interpreter was starting or shutting down, outside
        # actcode's handlers: no traceback, and the callers check that nothing is partial
        assert "Traceback" not in err
    elif sig == signal.SIGINT and p.returncode != 0:
        assert time.monotonic() - start < 30, "Ctrl-C did not stop the command promptly"
        assert p.returncode == 130, err
        assert "Traceback" not in err
        assert "interrupted" in err
    return p.returncode, err


def _no_temp_left(folder: Path, sig: signal.Signals) -> None:
    if sig == signal.SIGINT:
        assert not [q.name for q in folder.iterdir() if ".tmp-" in q.name]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["KILL", "INT"])
def test_kill_train(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "runs"
    args = ["-q", "train", "--width", "32", "--epochs", "30", "--save-at", "0,10,20,30", "--out", str(out)]
    for when in KILL_POINTS:
        p = _kill_at(args, when, sig, tmp_path)
        _finish(p, sig)
        if out.exists():
            for ckpt in out.glob("*.pt"):  # every checkpoint under a final name is complete
                assert load_checkpoint(ckpt).epoch in (0, 10, 20, 30)
            _no_temp_left(out, sig)
    r = run(*args)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split()) == 4


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["KILL", "INT"])
def test_kill_extract(tmp_path: Path, trained: Path, sig: signal.Signals) -> None:
    before = _sha(trained)
    target = tmp_path / "codes.h5"
    args = ["-q", "extract", "--random", "20000", "-o", str(target), str(trained)]
    for when in KILL_POINTS:
        p = _kill_at(args, when, sig, tmp_path)
        _finish(p, sig)
        assert _sha(trained) == before
        if target.exists():
            validate(target)
        _no_temp_left(tmp_path, sig)
    r = run(*args)
    assert r.returncode == 0, r.stderr
    validate(target)


@pytest.mark.parametrize("command", ["measure", "probe"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["KILL", "INT"])
def test_kill_measure_and_probe(tmp_path: Path, trained: Path, command: str, sig: signal.Signals) -> None:
    codes = trained.with_suffix(".h5")
    work = tmp_path / "codes.h5"
    for when in KILL_POINTS:
        work.write_bytes(codes.read_bytes())
        before = _sha(work)
        p = _kill_at(["-q", command, str(work)], when, sig, tmp_path)
        _finish(p, sig)
        # the file is either untouched, or complete with the new results (the kill may come
        # after the rename, before the process exits)
        if _sha(work) != before:
            with open_codes(work) as cf:
                assert command in cf.result_kinds
        validate(work)
        _no_temp_left(tmp_path, sig)
        assert not (tmp_path / "codes.h5.lock").exists() or sig == signal.SIGKILL
    r = run(command, work)
    assert r.returncode == 0, r.stderr
    with open_codes(work) as cf:
        assert command in cf.result_kinds
