"""``actcode table`` on a sweep's output: rows and columns against the stored results; pandas round trips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actcode.factors import FACTOR_KEYS
from actcode.io import open_codes

from .conftest import SweptGrid, actcode


def stored(paths: list[Path]) -> dict[tuple[str, str, str, str], float]:
    """Every stored value, by (file, split, scope, metric), read with the format's reader."""
    out = {}
    for p in paths:
        with open_codes(p) as cf:
            for kind in ("measure", "probe"):
                table = cf.results(kind)
                assert table is not None
                for split, scope, metric, value in table.rows():
                    out[(str(p), split, scope, metric)] = value
            for split in cf.splits:
                for key, value in cf.split_info(split).items():
                    out[(str(p), split, "all", f"net_{key}")] = value
    return out


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_the_long_table_holds_every_stored_result_with_the_factors(swept: SweptGrid, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    r = actcode("table", *swept.paths, "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    df = pd.read_csv(out)
    want = stored(swept.paths)
    assert len(df) == len(want)
    assert list(df.columns[: 1 + len(FACTOR_KEYS)]) == ["file", *FACTOR_KEYS]
    assert list(df.columns[-5:]) == ["stage", "split", "scope", "metric", "value"]
    cols = zip(df.file, df.split, df.scope, df.metric, df.value, strict=True)
    got = {(f, s, c, m): v for f, s, c, m, v in cols}
    assert got.keys() == want.keys()
    assert all(same(got[k], want[k]) for k in want)  # bit for bit through CSV text
    for p in swept.paths:
        with open_codes(p) as cf:
            rows = df[df.file == str(p)]
            for key in ("width", "epoch", "seed", "sample_size"):
                assert set(rows[key]) == {cf.factors[key]}
    assert set(df.stage) == {"measure", "probe", "network"}


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_the_wide_table_has_one_row_per_file_and_split(swept: SweptGrid, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"wide{suffix}"
    r = actcode("table", "--wide", swept.out / "runs", "-o", out)
    assert r.returncode == 0, r.stderr
    df = pd.read_json(out, lines=True, precise_float=True) if suffix == ".jsonl" else pd.read_parquet(out)
    assert len(df) == len(swept.paths) * 2  # train and test
    want = stored(swept.paths)
    for _, row in df.iterrows():
        f, split = row["file"], row["split"]
        assert Path(f) in swept.paths
        for metric, col in (("redundancy", "redundancy"), ("knn_accuracy", "knn_accuracy")):
            value = float("nan") if row[col] is None else float(row[col])
            assert same(value, want.get((f, split, "all", metric), float("nan")))
        scoped = [c for c in df.columns if c.startswith("redundancy@layer:")]
        assert scoped
        assert np.isfinite(row[scoped[0]])


def test_a_bad_suffix_is_refused(swept: SweptGrid, tmp_path: Path) -> None:
    r = actcode("table", swept.paths[0], "-o", tmp_path / "t.xlsx")
    assert r.returncode == 5
    assert "actcode table: error: -o" in r.stderr
    assert not (tmp_path / "t.xlsx").exists()
