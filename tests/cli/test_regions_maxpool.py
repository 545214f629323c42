"""`actcode regions` on networks with max-pools (review fixes 1 and 2).

The plane analysis does not support max-pools: run by default it is skipped with one note (and
the skip recorded), asked for it is refused before any analysis runs. ``kernel`` and ``local``
need no affine-piece runner, so a padded ``MaxPool2d(3, 2, padding=1)`` (ResNet's stem) works.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from actcode.errors import InvalidParameterError
from actcode.extraction.user import extract_user_model
from actcode.io import open_codes
from actcode.regions import api as regions_api
from actcode.regions.affine import NotPiecewiseAffineError
from actcode.regions.analyses import kernel as kernel_analysis
from actcode.regions.analyses import local as local_analysis
from actcode.regions.api import RegionsConfig, regions_file
from tests.reliability._run import error_lines, run

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


def test_default_analyses_skip_plane_on_a_max_pool_network_with_one_note(
    files: dict[str, tuple[Path, list[str]]], tmp_path: Path
) -> None:
    path, opts = files["vgg"]
    out = tmp_path / "r.h5"
    r = run("regions", path, *SMALL, *opts, "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{out}\n"
    notes = [ln for ln in r.stderr.splitlines() if "skipping plane" in ln]
    assert len(notes) == 1, r.stderr
    assert "max-pools" in notes[0]
    with open_codes(out) as cf:
        table = cf.results("regions")
        params = cf.result_params("regions")
    assert table is not None
    metrics = {m for _, _, m, _ in table.rows()}
    assert {"lines_different_regions_mean", "local_complexity_mean", "naswot"} <= metrics
    assert not any(m.startswith("plane_") for m in metrics)
    assert set(params["analyses"]) == {"lines", "local", "kernel"}
    assert "max-pools" in params["skipped"]["plane"]


def test_asking_for_plane_on_a_max_pool_network_is_refused_before_any_work(
    files: dict[str, tuple[Path, list[str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, opts = files["vgg"]
    r = run("regions", path, *SMALL, *opts, "--analyses", "kernel,plane", "-o", tmp_path / "no.h5")
    assert r.returncode == 5, r.stderr
    (line,) = error_lines(r.stderr, "regions")
    assert "--analyses plane" in line
    assert "max-pools" in line
    assert not (tmp_path / "no.h5").exists()
    with open_codes(path) as cf:
        assert "regions" not in cf.result_kinds

    def boom(*args: object, **kwargs: object) -> None:
        msg = "an analysis ran before the refusal"
        raise AssertionError(msg)

    for module, name in (
        (regions_api, "PieceRunner"),
        (local_analysis, "local_complexity"),
        (kernel_analysis, "kernel_rows"),
    ):
        monkeypatch.setattr(module, name, boom)
    cfg = RegionsConfig(analyses=("local", "kernel", "plane"), model=opts[1], weights=opts[3], device="cpu")
    with pytest.raises(InvalidParameterError, match="--analyses plane"):
        regions_file(path, cfg, output=tmp_path / "no2.h5")


def test_kernel_and_local_run_on_a_padded_max_pool_that_the_walk_refuses(
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
    # the walk does need the runner, which refuses the padded pool: the fix is not a weaker runner
    cfg = RegionsConfig(analyses=("lines",), segments=2, model=opts[1], weights=opts[3], device="cpu")
    with pytest.raises(NotPiecewiseAffineError, match="padding"):
        regions_file(path, cfg, output=tmp_path / "l.h5")
