"""The background appender: inline bytes, errors raised in the caller; compression chosen by measurement."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from actcode.codes import LayerInfo
from actcode.errors import InvalidParameterError
from actcode.extraction import extract_codes, find_sites
from actcode.extraction.writing import BackgroundAppender
from actcode.io import CodeWriter, make_provenance, open_codes
from actcode.io.codes import worth_deflating


@pytest.mark.parametrize("threaded", [True, False])
def test_threaded_and_inline_writes_give_the_same_codes(tmp_path: Path, threaded: bool) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 40), nn.ReLU(), nn.Linear(40, 3))
    x = torch.randn(300, 5)
    sites = find_sites(model, x[:2])
    out = {}
    for t in (threaded, not threaded):
        path = tmp_path / f"{t}.h5"
        with CodeWriter(path, [s.layer_info() for s in sites], make_provenance(command="t")) as w:
            extract_codes(model, x, sites, w, "test", batch_size=7, device="cpu", threaded_writes=t)
        with open_codes(path) as cf:
            out[t] = cf.codes("test")
    with torch.inference_mode():
        want = np.packbits((model[0](x) > 0).numpy(), axis=1)
    np.testing.assert_array_equal(out[True], want)
    np.testing.assert_array_equal(out[False], want)


def test_an_error_in_the_worker_reaches_the_caller(tmp_path: Path) -> None:
    layers = [LayerInfo("a", "ReLU", (8,))]
    with CodeWriter(tmp_path / "e.h5", layers, make_provenance(command="t")) as w:
        app = BackgroundAppender(w, "test")
        app.submit(np.zeros((3, 1), np.uint8), np.zeros(3, np.int64), np.zeros(3, np.int64), np.arange(3))
        app.submit(np.zeros((3, 2), np.uint8), np.zeros(3, np.int64), np.zeros(3, np.int64), np.arange(3))
        with pytest.raises(InvalidParameterError, match=r"must be uint8 of shape \(n, 1\)"):
            app.close()
        assert w.rows == {"test": 3}


def test_compression_is_chosen_by_measurement(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (500, 64), dtype=np.uint8)
    sparse = np.packbits(rng.random((500, 512)) < 0.02, axis=1)
    assert not worth_deflating(noise)
    assert worth_deflating(sparse)
    layers = [LayerInfo("a", "ReLU", (512,))]
    with CodeWriter(tmp_path / "c.h5", layers, make_provenance(command="t"), compression="auto") as w:
        w.append("noise", noise, np.zeros(500, np.int64))
        w.append("sparse", sparse, np.zeros(500, np.int64))
    assert w.chosen == {"noise": None, "sparse": "gzip"}

    with h5py.File(tmp_path / "c.h5") as f:
        assert f["splits/noise/codes"].compression is None
        assert f["splits/sparse/codes"].compression == "gzip"
    with open_codes(tmp_path / "c.h5") as cf:
        np.testing.assert_array_equal(cf.codes("noise"), noise)
        np.testing.assert_array_equal(cf.codes("sparse"), sparse)
