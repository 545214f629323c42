"""`actcode regions` on networks with max-pools (review fixes 1 and 2, issue 20 item 3).

Every built-in analysis supports ``MaxPool2d``: ``plane`` cuts its pieces at the pool switches
and counts regions by the code, ``lines`` walks a padded ``MaxPool2d(3, 2, padding=1)`` (ResNet's
stem) exactly, and ``kernel`` and ``local`` need no affine-piece runner. An analysis without
max-pool support (a plugin that says ``max_pool = False``) is refused when named, before any
analysis runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from actcode.errors import InvalidParameterError
from actcode.extraction.user import extract_user_model
from actcode.io import open_codes
from actcode.regions import api as regions_api
from actcode.regions.analyses import kernel as kernel_analysis
from actcode.regions.analyses import local as local_analysis
from actcode.regions.api import RegionsConfig, regions_file
from actcode.regions.registry import ANALYSIS_REGISTRY, SplitContext, SplitResult
from actcode.regions.sources import FileModel
from tests.reliability._run import run

NETS = """
from torch import nn


def vgg(input_shape, n_classes):
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(48, n_classes))


def resnet_stem(input_shape, n_classes):
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1),
                         nn.Flatten(), nn.Linear(48, n_classes))
"""
SMALL = ["--segments", "2", "--max-rows", "12", "--directions", "2", "--batch", "8", "--device", "cpu"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[str]]]:
    """name -> (code file on digits' test split, the --model/--weights options that rebuild it)."""
    d = tmp_path_factory.mktemp("maxpool")
    (d / "nets.py").write_text(NETS)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Identity(), nn.Flatten(),
                        nn.Linear(48, 10))  # fmt: skip
    torch.save(net.state_dict(), d / "w.pt")  # both nets have these parameters
    out = {}
    for name in ("vgg", "resnet_stem"):
        model = f"{d / 'nets.py'}:{name}"
        path = extract_user_model(
            model, weights=d / "w.pt", splits="test", output=d / f"{name}.h5", device="cpu", sites="modules"
        )
        out[name] = (path, ["--model", model, "--weights", str(d / "w.pt")])
    return out


def test_default_analyses_run_plane_on_a_max_pool_network(
    files: dict[str, tuple[Path, list[str]]], tmp_path: Path
) -> None:
    path, opts = files["vgg"]
    out = tmp_path / "r.h5"
    r = run("regions", path, *SMALL, *opts, "--plane", "0,1,2", "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{out}\n"
    assert "skipping" not in r.stderr
    with open_codes(out) as cf:
        table = cf.results("regions")
        params = cf.result_params("regions")
        arrays = cf.result_arrays("regions")
    assert table is not None
    metrics = {m for _, _, m, _ in table.rows()}
    assert {"lines_different_regions_mean", "local_complexity_mean", "naswot", "plane_regions"} <= metrics
    assert set(params["analyses"]) == {"lines", "local", "kernel", "plane"}
    assert "skipped" not in params or not params["skipped"]
    regions, pieces = table.get("test", "all", "plane_regions"), table.get("test", "all", "plane_pieces")
    region = arrays["test/plane/region"]
    assert pieces == arrays["test/plane/offsets"].size - 1 == region.size
    assert regions == np.unique(region).size <= pieces
    assert table.get("test", "all", "plane_area_mean") * regions == pytest.approx(
        table.get("test", "all", "plane_window_area"), rel=1e-9
    )


class _FlatOnly:
    """A plugin-like analysis that does not support max-pools."""

    order, prefixes, needs_pieces, max_pool = 90, ("flat_",), False, False

    def run(self, ctx: SplitContext) -> SplitResult:
        msg = "the refused analysis ran"
        raise AssertionError(msg)

    def params(self, cfg: RegionsConfig, radius: float, scale: float, fm: FileModel) -> dict[str, Any]:
        return {}


def test_an_analysis_without_max_pool_support_is_refused_before_any_work(
    files: dict[str, tuple[Path, list[str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, opts = files["vgg"]
    monkeypatch.setitem(ANALYSIS_REGISTRY._table, "flat", _FlatOnly())

    def boom(*args: object, **kwargs: object) -> None:
        msg = "an analysis ran before the refusal"
        raise AssertionError(msg)

    for module, name in (
        (regions_api, "PieceRunner"),
        (local_analysis, "local_complexity"),
        (kernel_analysis, "kernel_rows"),
    ):
        monkeypatch.setattr(module, name, boom)
    cfg = RegionsConfig(analyses=("local", "kernel", "flat"), model=opts[1], weights=opts[3], device="cpu")
    with pytest.raises(InvalidParameterError, match="--analyses flat: the network has max-pools") as err:
        regions_file(path, cfg, output=tmp_path / "no.h5")
    assert "choose lines, local, kernel or plane" in str(err.value)
    assert not (tmp_path / "no.h5").exists()
    with open_codes(path) as cf:
        assert "regions" not in cf.result_kinds


def test_kernel_local_and_lines_run_on_a_padded_max_pool(
    files: dict[str, tuple[Path, list[str]]], tmp_path: Path
) -> None:
    path, opts = files["resnet_stem"]
    r = run("regions", path, *SMALL, *opts, "--analyses", "kernel,local", "-o", tmp_path / "k.h5")
    assert r.returncode == 0, r.stderr
    with open_codes(tmp_path / "k.h5") as cf:
        table = cf.results("regions")
    assert table is not None
    assert table.get("test", "all", "tenas_distinct") > 1
    assert table.get("test", "all", "local_complexity_mean") >= 0
    # the walk supports the padded pool exactly (padding is -inf and never wins)
    cfg = RegionsConfig(analyses=("lines",), segments=2, model=opts[1], weights=opts[3], device="cpu")
    _, lines = regions_file(path, cfg, output=tmp_path / "l.h5")
    assert lines.get("test", "all", "lines_different_regions_mean") >= 1
