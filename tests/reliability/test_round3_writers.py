"""Round 3 (issue 19), class 7: writers that keep part of a file's results merge under the lock.

Two ``regions`` runs on one file at once both exited 0, but the file kept only one run's rows:
each read the rows to keep before taking the results lock. ``add_results(merge=...)`` reads
them under the lock, from the file as it is then.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from actcode.io import CodeFile, add_results, open_codes
from actcode.io.results_io import Merge
from actcode.results import ResultTable
from tests.reliability._run import ACTCODE, run
from tests.reliability.corpus import valid_code_file

#: (writers at once, rows per writer): 50 instances.
WRITERS = [(n, rows) for n in (2, 3, 4, 5, 6) for rows in (1, 2, 3, 5, 8, 13, 21, 34, 55, 89)]


def _keep_others(prefix: str, mine: list[tuple[str, str, str, float]]) -> Merge:
    def merge(cf: CodeFile) -> tuple[ResultTable, None, dict[str, Any]]:
        old = cf.results("regions")
        kept = [r for r in (old.rows() if old is not None else ()) if not r[2].startswith(prefix)]
        return ResultTable.from_rows(kept + mine), None, {}

    return merge


@pytest.mark.parametrize(("n", "rows"), WRITERS)
def test_writers_at_once_keep_every_writers_rows(tmp_path: Path, n: int, rows: int) -> None:
    f = valid_code_file(tmp_path / "c.h5")
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def write(k: int) -> None:
        mine = [("train", "all", f"w{k}_m{i}", float(k * 1000 + i)) for i in range(rows)]
        start.wait()
        try:
            add_results(f, "regions", ResultTable(), params={}, merge=_keep_others(f"w{k}_", mine))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_codes(f) as cf:
        table = cf.results("regions")
    assert table is not None
    assert sorted(table.metric) == sorted(f"w{k}_m{i}" for k in range(n) for i in range(rows))


def test_two_regions_runs_at_once_keep_both(tmp_path: Path) -> None:
    t = run(
        "-q", "train", "--width", "8", "--depth", "2", "--epochs", "1", "--save-at", "1", "-o", tmp_path / "r"
    )
    assert t.returncode == 0, t.stderr
    e = run("-q", "extract", "--splits", "test", stdin=t.stdout)
    assert e.returncode == 0, e.stderr
    (code,) = e.stdout.split()
    common = ["-q", "regions", "--segments", "2", "--max-rows", "6", "--directions", "2", "--batch", "8"]
    procs = [
        subprocess.Popen(
            [*ACTCODE, *common, "--analyses", a, code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        for a in ("lines", "kernel")
    ]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert out.split() == [code]
    with open_codes(code) as cf:
        table = cf.results("regions")
        params = cf.result_params("regions")
    assert table is not None
    assert any(m.startswith("lines_") for m in table.metric)
    assert any(m.startswith("kernel_") for m in table.metric)
    assert set(params["analyses"]) == {"lines", "kernel"}
