"""Round 3 (issue 19), classes 4, 5 and 7 for the readers of many code files: table and chart.

- 19.4: generated hostile text (formulas, owned columns, lone surrogates, mixed types) never
  reaches a CSV cell as a formula, never sets a column that table owns, and never gives a
  traceback in any writer; memory does not grow with the number of files.
- 19.5: with few free file descriptors, table and chart read any number of files.
- 19.7: a Ctrl-C while they read ends them with exit 130, never SystemError, never ignored.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import resource
import shutil
import signal
import subprocess
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from actcode.charts.runs import load_runs
from actcode.io import atomic
from actcode.results import ResultTable
from actcode.table import FORMULA_START, OWNED_COLUMNS, table_files
from tests.reliability._run import ACTCODE, error_lines, run
from tests.reliability.corpus_round2 import valid_with_results
from tests.reliability.corpus_round3_files import fd_cases, table_cases, table_file

CASES = table_cases()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One code file per case of :func:`table_cases`."""
    d = tmp_path_factory.mktemp("hostile")
    return {name: table_file(d / f"{i:03d}.h5", case, seed=i) for i, (name, case) in enumerate(CASES.items())}


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_there_are_at_least_50_cases_per_generator() -> None:
    assert len(CASES) >= 50
    assert len(fd_cases()) >= 50


@pytest.mark.parametrize("wide", [False, True])
def test_csv_cells_are_never_formulas_and_owned_columns_are_tables_own(
    hostile: dict[str, Path], tmp_path: Path, wide: bool
) -> None:
    out = tmp_path / "t.csv"
    r = run("table", *(["--wide"] if wide else []), *hostile.values(), "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [str(out)]
    assert "Traceback" not in r.stderr
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    for cell in [*header, *(c for row in body for c in row)]:
        assert not cell.startswith(FORMULA_START) or _is_number(cell), cell
    assert header[0] == "file"
    files = {str(p) for p in hostile.values()}
    assert {row[0] for row in body} == files  # every row names the file table read, and only that
    if not wide:
        assert header[-5:] == ["stage", "split", "scope", "metric", "value"]
        for row in body:
            assert row[-5] in ("measure", "probe", "network")
    for name, case in CASES.items():  # an owned column in a file's factors is moved aside
        for key in case["factors"]:
            if key in OWNED_COLUMNS:
                assert f"factor:{key}" in header, name


def test_raw_csv_and_json_lines_keep_the_files_values(hostile: dict[str, Path], tmp_path: Path) -> None:
    raw, jl = tmp_path / "raw.csv", tmp_path / "t.jsonl"
    r = run("table", *hostile.values(), "--raw-csv", "-o", raw)
    assert r.returncode == 0, r.stderr
    j = run("table", *hostile.values(), "-o", jl)
    assert j.returncode == 0, j.stderr
    records = [json.loads(line) for line in jl.read_text(encoding="utf-8").splitlines()]
    by_file: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_file.setdefault(rec["file"], []).append(rec)
    with open(raw, newline="", encoding="utf-8", errors="replace") as f:  # keep CRs as written
        raw_text = f.read()
    for name, path in hostile.items():
        recs = by_file[str(path)]
        note = CASES[name]["factors"].get("note")
        if isinstance(note, str):
            assert {rec["note"] for rec in recs} == {note}, name  # JSON: raw, surrogates included
            if name.startswith("formula"):
                assert note.replace('"', '""') in raw_text or note in raw_text, name
        for _split, _scope, metric, _value in CASES[name]["rows"]:
            assert metric in {rec["metric"] for rec in recs}, name


@pytest.mark.parametrize("wide", [False, True])
def test_parquet_takes_surrogates_and_mixed_types(
    hostile: dict[str, Path], tmp_path: Path, wide: bool
) -> None:
    out = tmp_path / "t.parquet"
    r = run("table", *(["--wide"] if wide else []), *hostile.values(), "-o", out)
    assert r.returncode == 0, r.stderr
    df = pd.read_parquet(out)
    assert set(df["file"]) == {str(p) for p in hostile.values()}
    assert pd.api.types.is_string_dtype(df["mixed"])  # numbers in some files, text in others: text
    mixed = {str(v) for v in df["mixed"].dropna()}
    assert {"three", "3", "2.5"} <= mixed
    assert df["flag"].dropna().tolist() == [True]  # a boolean column stays boolean


def test_chart_reads_the_same_hostile_files(hostile: dict[str, Path], tmp_path: Path) -> None:
    """Lines labelled by hostile text are drawn in every format; all the files at once are
    refused with one line (too many factors vary), never a traceback."""
    notes = [str(p) for name, p in hostile.items() if set(CASES[name]["factors"]) == {"note"}]
    assert len(notes) >= 29
    for fmt in ("png", "svg", "pdf"):
        out = tmp_path / f"c.{fmt}"
        r = run("chart", "curves", *notes, "--x", "seed", "--y", "redundancy", "--hue", "note", "-o", out)
        assert "Traceback" not in r.stderr
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == [str(out)]
    r = run(
        "chart", "curves", *hostile.values(), "--x", "seed", "--y", "redundancy", "-o", tmp_path / "all.png"
    )
    assert "Traceback" not in r.stderr
    assert r.returncode in (0, 5), r.stderr
    assert r.returncode == 0 or len(error_lines(r.stderr, "chart")) == 1


def _many(folder: Path, n: int, rows: int = 0) -> list[Path]:
    folder.mkdir(exist_ok=True)
    first = valid_with_results(folder / "f0000.h5")
    if rows:
        from actcode.io.results_io import add_results

        big = ResultTable.from_rows([("train", f"layer:l{i}", "redundancy", i / rows) for i in range(rows)])
        add_results(first, "probe", big, params={})
    paths = [first]
    for i in range(1, n):
        paths.append(folder / f"f{i:04d}.h5")
        shutil.copy(first, paths[-1])
    return paths


def test_table_memory_does_not_grow_with_the_number_of_files(tmp_path: Path) -> None:
    """Each file holds 2,000 rows; 40 files must not need much more memory than 8."""
    paths = _many(tmp_path / "many", 40, rows=2000)
    peaks = []
    for n in (8, 40):
        tracemalloc.start()
        _, rows = table_files(paths[:n], tmp_path / f"t{n}.csv", wide=n == 40)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert rows == n * (2002 if n == 8 else 2)
    assert peaks[1] < 2 * peaks[0], peaks  # held in memory, 40 files would need about 5 times 8


@pytest.fixture(scope="module")
def distinct(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """80 code files with measure results that differ in their seed (chart needs that)."""
    d = tmp_path_factory.mktemp("distinct")
    return [table_file(d / f"s{i:03d}.h5", {"factors": {}, "rows": []}, seed=i) for i in range(80)]


@contextlib.contextmanager
def free_descriptors(free: int) -> Iterator[None]:
    """Lower this process's limit on open files to those open now plus ``free``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(list(Path("/proc/self/fd").iterdir())) + free, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize(("free", "n", "reader"), list(fd_cases().values()), ids=list(fd_cases()))
def test_few_free_descriptors_and_many_files(
    distinct: list[Path], tmp_path: Path, free: int, n: int, reader: str
) -> None:
    import pyarrow.parquet  # noqa: F401  (imported before the limit, as the command does at its start)

    paths = distinct[:n]
    assert len(paths) == n > free
    with free_descriptors(free):
        if reader == "chart":
            runs = load_runs(paths)
        else:
            fmt, _, wide = reader.partition("-")
            _, rows = table_files(paths, tmp_path / f"t.{fmt}", wide=bool(wide))
    if reader == "chart":
        assert [r.path for r in runs] == paths
    else:
        assert rows == n  # one measure row (train, all, redundancy) per file, in either form


def _chart_args(files: list[str], out: Path) -> list[str]:
    return ["chart", "curves", *files, "--x", "seed", "--y", "redundancy", "-o", str(out)]


def test_table_and_chart_under_ulimit_64(
    hostile: dict[str, Path], distinct: list[Path], tmp_path: Path
) -> None:
    assert len(hostile) > 64
    assert len(distinct) > 64
    table = ["table", "--wide", *map(str, hostile.values()), "-o", str(tmp_path / "t.parquet")]
    for args in (table, _chart_args([str(p) for p in distinct], tmp_path / "c.png")):
        cmd = " ".join(["ulimit -n 64;", *ACTCODE, *(f"'{a}'" for a in args)])
        r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr


#: When the Ctrl-C lands, in seconds after the reading starts: 50 instances.
DELAYS = [round(0.003 * 1.11**k, 4) for k in range(50)]


@pytest.mark.parametrize("delay", DELAYS)
def test_a_ctrl_c_while_reading_is_an_interrupt(distinct: list[Path], tmp_path: Path, delay: float) -> None:
    """Never SystemError, never swallowed: the reading loop ends in KeyboardInterrupt."""
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    atomic.install_signal_handlers()
    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
    reader = ("table", "chart")[DELAYS.index(delay) % 2]
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            _read_until_interrupted(reader, distinct[:20], tmp_path / "t.csv")
    finally:
        timer.cancel()
        atomic._INTERRUPTED["signal"] = 0
        for s, h in old.items():
            signal.signal(s, h)


def _read_until_interrupted(reader: str, paths: list[Path], out: Path) -> None:
    for _ in range(200):  # an interrupt that was swallowed lets the loop run out
        if reader == "chart":
            load_runs(paths)
        else:
            table_files(paths, out)
    pytest.fail("the interrupt was swallowed: 200 rounds of reading ran to their end")


@pytest.mark.parametrize("command", ["table", "chart"])
def test_ctrl_c_ends_table_and_chart_with_130(hostile: dict[str, Path], tmp_path: Path, command: str) -> None:
    files = [str(p) for p in hostile.values()]
    if command == "table":
        args = ["table", *files, "-o", str(tmp_path / "t.csv")]
    else:
        args = _chart_args(files, tmp_path / "c.png")
    p = subprocess.Popen([*ACTCODE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=4)  # reading 114 files takes longer: the Ctrl-C lands while it reads
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    assert "Traceback" not in err
    assert p.returncode in (0, 130), err
    if p.returncode == 130:
        assert len(error_lines(err, command)) == 1, err
        assert out == ""
