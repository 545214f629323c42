"""Several processes at once: different files, the same file, the same output folder."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from actcode.io import open_codes, validate
from tests.reliability._run import ACTCODE, run
from tests.reliability.corpus import valid_code_file

_PROCS: list[subprocess.Popen[str]] = []


def _start(*args: str | Path) -> subprocess.Popen[str]:
    p = subprocess.Popen([*ACTCODE, *map(str, args)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)  # fmt: skip
    _PROCS.append(p)
    return p


@pytest.fixture(autouse=True)
def _no_orphans() -> Iterator[None]:
    yield
    while _PROCS:
        _PROCS.pop().kill()


def test_several_measure_processes_on_different_files(tmp_path: Path) -> None:
    files = [valid_code_file(tmp_path / f"c{i}.h5", n_train=300, seed=i) for i in range(3)]
    procs = [_start("-q", "measure", f) for f in files]
    for p, f in zip(procs, files, strict=True):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.strip() == str(f)
        with open_codes(f) as cf:
            assert cf.results("measure") is not None


def test_reading_while_another_process_adds_results(tmp_path: Path) -> None:
    """A reader never sees a broken file: it reads the old or the new file, both valid."""
    f = valid_code_file(tmp_path / "c.h5", n_train=2000)
    writer = _start("-q", "measure", f)
    reads = 0
    while writer.poll() is None or reads == 0:
        validate(f)
        with open_codes(f) as cf:
            cf.codes("train")
            kinds = cf.result_kinds
            assert kinds in ([], ["measure"])
        reads += 1
    _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    with open_codes(f) as cf:
        assert cf.result_kinds == ["measure"]
    assert reads >= 1


def test_two_writers_on_one_file_keep_both_results(tmp_path: Path) -> None:
    """measure and probe add results to the same file at once: the lock serialises them."""
    f = valid_code_file(tmp_path / "c.h5", n_train=600)
    a = _start("-q", "measure", f)
    b = _start("-q", "probe", "--probes", "knn,logreg", f)
    for p in (a, b):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with open_codes(f) as cf:
        assert sorted(cf.result_kinds) == ["measure", "probe"]
    assert not (tmp_path / "c.h5.lock").exists()


def test_train_and_extract_write_into_one_folder_at_once(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    r = run("-q", "train", "--width", "8", "--epochs", "1", "--out", out)
    assert r.returncode == 0, r.stderr
    (first,) = r.stdout.split()
    t = _start("-q", "train", "--width", "12", "--epochs", "3", "--save-at", "1,2,3", "--out", out)
    time.sleep(0.1)
    e = _start("-q", "extract", "--out-dir", out, first)
    t_out, t_err = t.communicate(timeout=300)
    e_out, e_err = e.communicate(timeout=300)
    assert t.returncode == 0, t_err
    assert e.returncode == 0, e_err
    assert len(t_out.split()) == 3
    validate(e_out.strip())
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 1 + 3 + 1
    assert len(set(names)) == 5
