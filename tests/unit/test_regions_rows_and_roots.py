"""Reading only some rows of a split (``CodeFile.codes_at``), the walk's step to a max-pool switch,
and the regions summary columns from the metric registry (review fixes 3, 4 and 6)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.errors import InvalidParameterError
from actcode.io import CodeWriter, make_provenance, open_codes
from actcode.metrics import METRICS, table_columns
from actcode.regions.affine import Piece
from actcode.regions.walk import _roots


@pytest.fixture(scope="module")
def code_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rows") / "c.h5"
    layers = layout_layers([LayerInfo("a", "ReLU", (5,)), LayerInfo("b", "ReLU", (11,))])
    bits = np.random.default_rng(0).random((300, 16)) < 0.5
    with CodeWriter(path, layers, make_provenance(command="test")) as w:
        for start in range(0, 300, 70):  # several appends: rows span writes
            chunk = bits[start : start + 70]
            w.append("test", pack_bits(chunk, layers), labels=np.arange(chunk.shape[0]) % 3)
    return path


@pytest.mark.parametrize(
    "rows", [[0], [299], list(range(5, 37)), [0, 3, 70, 71, 140, 299], np.arange(0, 300, 7), []]
)
def test_codes_at_gives_the_same_rows_as_the_whole_split(code_file: Path, rows: list[int]) -> None:
    with open_codes(code_file) as cf:
        whole = cf.codes("test")
        got = cf.codes_at("test", np.asarray(rows, np.int64))
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, whole[np.asarray(rows, np.int64)])


@pytest.mark.parametrize("rows", [[3, 2], [4, 4], [-1, 2], [300], [[1, 2]], [0.0, 1.0]])
def test_codes_at_refuses_unsorted_repeated_or_out_of_range_rows(code_file: Path, rows: list[int]) -> None:
    with open_codes(code_file) as cf, pytest.raises(InvalidParameterError, match="rows must be"):
        cf.codes_at("test", np.asarray(rows))


def _piece(a: list[float], b: list[float], switch: float) -> Piece:
    at = torch.tensor([a], dtype=torch.float64)
    bt = torch.tensor([[b]], dtype=torch.float64)
    bits = at > 0
    out = torch.zeros(1, 1, dtype=torch.float64)
    return Piece(at, bt, bits, out, out.unsqueeze(0), torch.tensor([switch], dtype=torch.float64))


@pytest.mark.parametrize("switch", [0.0, -0.25, -0.0])
def test_a_switch_at_or_behind_the_point_is_not_the_next_step(switch: float) -> None:
    # unit 0 (on, falling) reaches zero at s = 0.5; unit 1 (off, falling) never does
    smin, predicted = _roots(_piece([1.0, -1.0], [-2.0, -1.0], switch), 1e-9)
    assert smin.item() == pytest.approx(0.5)
    assert predicted.tolist() == [[True, False]]
    smin, _ = _roots(_piece([1.0, -1.0], [1.0, -1.0], switch), 1e-9)  # no root ahead at all
    assert math.isinf(smin.item())


def test_a_switch_ahead_is_still_the_next_step() -> None:
    smin, predicted = _roots(_piece([1.0, -1.0], [-2.0, -1.0], 0.125), 1e-9)
    assert smin.item() == pytest.approx(0.125)
    assert predicted.tolist() == [[False, False]]


def test_regions_summary_columns_come_from_the_registry() -> None:
    cols = dict(table_columns("regions"))
    assert list(cols) == [
        "lines_different_regions_mean", "local_complexity_mean", "naswot", "tenas_distinct", "plane_regions"
    ]  # fmt: skip
    assert all(METRICS[m].stage == "regions" and h for m, h in cols.items())
