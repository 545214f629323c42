"""`regions` on files whose own records lie (issue 19, class 8, the regions part).

A generator sets each provenance field that regions builds from (the extraction seed and
random count, the site mode, the checkpoint, the input files, the data source and folder) to
hostile values, and the split indices out of range. Every case gives exit 3 and one line
that names the file and the field, or (for a value that is legal, if unusual) runs; never a
traceback. `--directions` above the input dimension is one line with exit 5.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from actcode.cli._errors import error_line
from actcode.errors import ActcodeError, exit_code_for
from actcode.regions.api import RegionsConfig, regions_file
from tests.reliability._run import error_lines, run

#: Values no field that regions reads may hold: the wrong type, out of range, or absurd in size.
HOSTILE: dict[str, Any] = {
    "string": "7",
    "negative": -1,
    "int64-max": 2**63 - 1,
    "float": 1.5,
    "bool": True,
    "list": [1, 2],
    "object": {"a": 1},
    "long-string": "x" * 5000,
    "long-name": "y" * 2000,  # within the reader's bound, but longer than any file name
    "nul": "a\x00b",
}
#: Fields regions reads, and which of the values are legal there: a string is a path or a name
#: that may be wrong (then the recorded input file is used, or the dataset is not found, or the
#: checkpoint's hash differs: each its own one line), never a traceback.
FIELDS: dict[str, set[str]] = {
    "extract.seed": set(),
    "extract.random": set(),
    "extract.sites": set(),
    "checkpoint.path": {"string", "long-name"},
    "checkpoint": {"object"},  # an object without a path: the recorded input file is used
    "data.name": {"string", "long-name"},
    "data.root": {"string", "long-name"},
    "inputs.0.sha256": {"string"},
}
CASES = [(f, v, v in legal) for f, legal in FIELDS.items() for v in HOSTILE]


def _set(record: dict[str, Any], field: str, value: Any) -> None:
    keys = field.split(".")
    node: Any = record
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    node[int(keys[-1]) if isinstance(node, list) else keys[-1]] = value


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("records")
    t = run(
        "-q", "train", "--width", "8", "--depth", "1", "--epochs", "1", "--save-at", "1", "-o", d / "runs"
    )
    assert t.returncode == 0, t.stderr
    e = run("-q", "extract", "--random", "12", "--splits", "test,random", stdin=t.stdout)
    assert e.returncode == 0, e.stderr
    return Path(e.stdout.strip())


def _edited(good: Path, tmp: Path, edit: Callable[[h5py.File], None]) -> Path:
    bad = tmp / "bad.h5"
    shutil.copy(good, bad)
    with h5py.File(bad, "r+") as f:
        edit(f)
    return bad


def _provenance(field: str, value: Any) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        record = json.loads(f.attrs["provenance"])
        _set(record, field, value)
        f.attrs["provenance"] = json.dumps(record)

    return edit


def _outcome(path: Path, tmp: Path) -> tuple[int, str]:
    cfg = RegionsConfig(analyses=("lines", "local"), segments=1, max_rows=4, directions=2, device="cpu")
    try:
        regions_file(path, cfg, output=tmp / "out.h5")
    except ActcodeError as exc:
        return exit_code_for(exc), error_line("regions", exc)
    return 0, ""


def test_the_generator_has_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize(("field", "value", "legal"), CASES)
def test_a_lying_provenance_field_is_exit_3_naming_the_file_and_field(
    good: Path, tmp_path: Path, field: str, value: str, legal: bool
) -> None:
    bad = _edited(good, tmp_path, _provenance(field, HOSTILE[value]))
    code, line = _outcome(bad, tmp_path)  # any other exception is a bug, and fails the test
    if legal:
        assert code in (0, 4, 5), line
        assert "\n" not in line
        return
    assert code == 3, line
    assert str(bad) in line
    assert field.split(".")[-1] in line or field.replace(".", "/") in line
    assert "\n" not in line


@pytest.mark.parametrize("value", [2**40, 2**62])
def test_a_huge_random_count_draws_only_the_rows_the_file_holds(
    good: Path, tmp_path: Path, value: int
) -> None:
    bad = _edited(good, tmp_path, _provenance("extract.random", value))
    assert _outcome(bad, tmp_path) == (0, "")


@pytest.mark.parametrize("split", ["test", "random"])
@pytest.mark.parametrize("index", [-1, -(2**40), 10**6, 2**62])
def test_an_index_outside_the_source_is_exit_3_naming_the_split(
    good: Path, tmp_path: Path, split: str, index: int
) -> None:
    def edit(f: h5py.File) -> None:
        col = f[f"splits/{split}/indices"]
        values = np.asarray(col[...])
        values[len(values) // 2] = index
        col[...] = values

    bad = _edited(good, tmp_path, edit)
    code, line = _outcome(bad, tmp_path)
    assert code == 3, line
    assert str(bad) in line
    assert "indices" in line or "index" in line
    if split == "test" and index >= 0:
        assert "must lie in" in line


def test_a_source_that_cannot_be_rebuilt_is_refused_naming_it(good: Path, tmp_path: Path) -> None:
    bad = _edited(good, tmp_path, _provenance("data.name", "stream:python iterable"))
    code, line = _outcome(bad, tmp_path)
    assert code == 5
    assert "'stream:python iterable' cannot be rebuilt" in line


def test_the_cli_prints_one_line_for_a_lying_record_and_for_too_many_directions(
    good: Path, tmp_path: Path
) -> None:
    bad = _edited(good, tmp_path, _provenance("extract.seed", "7"))
    r = run("regions", bad, "--analyses", "lines", "--segments", "1", "-o", tmp_path / "o.h5")
    assert r.returncode == 3
    assert len(error_lines(r.stderr, "regions")) == 1
    assert "Traceback" not in r.stderr
    assert "'extract.seed'" in r.stderr
    d = run("regions", good, "--analyses", "local", "--directions", "65", "-o", tmp_path / "d.h5")
    assert d.returncode == 5
    (line,) = error_lines(d.stderr, "regions")
    assert "--directions must be at most the input dimension 64" in line
    assert "Traceback" not in d.stderr
