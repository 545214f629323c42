"""`actcode regions` on every file `extract` can write (issue 20, item 2).

The data behind a file is rebuilt from what extract recorded: an image folder with its
recorded preprocessing, an ``npy:`` array, a study dataset; the network from a checkpoint or
from a library or user model with its recorded weights. ``kernel`` alone needs neither.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from actcode.extraction.user import extract_user_model
from actcode.io import open_codes
from tests.reliability._run import error_lines, run

NETS = """
from torch import nn


def cnn(input_shape, n_classes):
    pool = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), pool, nn.Conv2d(4, 4, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(36, n_classes))


def mlp(input_shape, n_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, n_classes))
"""


def _nets() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    pool = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
    cnn = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), pool, nn.Conv2d(4, 4, 3), nn.ReLU(),
                        nn.Flatten(), nn.Linear(36, 2))  # fmt: skip
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    return {"cnn": cnn, "mlp": mlp}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding an image folder, an npy array, two user models and their code files.

    Every path is given to extract relative to the folder (extract runs there), as a user does.
    """
    d = tmp_path_factory.mktemp("sources")
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in ("cat", "dog"):
            (d / "folder" / split / c).mkdir(parents=True)
            for i in range(3):
                img = rng.integers(0, 255, (13 + i, 11, 3), dtype=np.uint8)
                Image.fromarray(img).save(d / "folder" / split / c / f"{i}.png")
    np.save(d / "x.npy", rng.standard_normal((24, 6)).astype(np.float32))
    np.save(d / "y.npy", rng.integers(0, 3, 24))
    (d / "nets.py").write_text(NETS)
    for name, net in _nets().items():
        torch.save(net.state_dict(), d / f"{name}.pt")
    cwd = Path.cwd()
    try:
        os.chdir(d)
        extract_user_model("nets.py:cnn", weights="cnn.pt", dataset="imagefolder:folder", input_size=8,
                           mean=(0.5,), std=(0.25,), output="img.h5", device="cpu", workers=0)  # fmt: skip
        extract_user_model("nets.py:mlp", weights="mlp.pt", dataset="npy:x.npy", labels="y.npy",
                           output="npy.h5", device="cpu")  # fmt: skip
    finally:
        os.chdir(cwd)
    return d


LINES = ["--analyses", "lines,local,kernel", "--segments", "3", "--max-rows", "6", "--directions", "2"]


@pytest.mark.parametrize("name", ["img.h5", "npy.h5"])
def test_regions_rebuilds_an_image_folder_and_an_array_from_another_folder(made: Path, name: str) -> None:
    """Run from elsewhere: recorded relative paths are found beside the code file; the codes match."""
    out = made / f"r-{name}"
    r = run("regions", made / name, *LINES, "--trust-model-code", "-o", out, cwd=made.parent)
    assert r.returncode == 0, r.stderr
    with open_codes(out) as cf:
        table = cf.results("regions")
        params = cf.result_params("regions")
        d = cf.n_units
    assert table is not None
    split = "val" if name == "img.h5" else "test"
    assert table.get(split, "all", "lines_different_regions_mean") >= 1
    assert table.get(split, "all", "local_examples") == 6
    # the kernel batch defaults to min(128, D + 1) and is recorded
    assert params["analyses"]["kernel"]["batch"] == min(128, d + 1)


def test_a_custom_model_without_a_checkpoint_needs_its_code_named_or_trusted(made: Path) -> None:
    r = run("regions", made / "npy.h5", *LINES, "-o", made / "refused.h5")
    assert r.returncode == 5
    (line,) = error_lines(r.stderr, "regions")
    assert "--trust-model-code" in line
    assert not (made / "refused.h5").exists()
    named: list[str | Path] = ["--model", f"{made / 'nets.py'}:mlp", "--weights", made / "mlp.pt"]
    ok = run("regions", made / "npy.h5", *LINES, *named, "-o", made / "named.h5")
    assert ok.returncode == 0, ok.stderr


def test_dataset_and_data_root_override_the_recorded_source(made: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere"
    shutil.copytree(made / "folder", moved)
    code = tmp_path / "img.h5"
    shutil.copy(made / "img.h5", code)  # alone: neither the folder nor its relative path is beside it
    args = [*LINES, "--trust-model-code"]
    gone = run("regions", code, *args, "-o", tmp_path / "a.h5", cwd=tmp_path)
    assert gone.returncode == 4, gone.stderr
    assert "folder" in error_lines(gone.stderr, "regions")[0]
    for opts in (["--data-root", moved], ["--dataset", f"imagefolder:{moved}"]):
        r = run("regions", code, *args, "--model", made / "nets.py:cnn", "--weights", made / "cnn.pt", *opts,
                "-o", tmp_path / "b.h5", cwd=tmp_path)  # fmt: skip
        assert r.returncode == 0, r.stderr
    # other data of the same shape is not the file's: its codes differ, and regions says so
    np.save(tmp_path / "other.npy", np.random.default_rng(5).standard_normal((24, 6)).astype(np.float32))
    other = ["--dataset", f"npy:{tmp_path / 'other.npy'}"]
    wrong = run("regions", made / "npy.h5", *LINES, "--trust-model-code", *other, "-o", tmp_path / "c.h5")
    assert wrong.returncode == 5
    assert "do not give the file's codes" in error_lines(wrong.stderr, "regions")[0]


def test_kernel_needs_only_the_stored_codes(made: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone.h5"
    shutil.copy(made / "img.h5", alone)  # no model code, weights or images anywhere near
    r = run("regions", alone, "--analyses", "kernel", "--batch", "5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    with open_codes(alone) as cf:
        table = cf.results("regions")
        params = cf.result_params("regions")
    assert table is not None
    assert table.get("train", "all", "kernel_batch") == 5
    assert "codes" in params["source"]
    # a batch above D + 1 makes every NASWOT -inf: said at run time
    big = run("regions", alone, "--analyses", "kernel", "--batch", "500", cwd=tmp_path)
    assert big.returncode == 0, big.stderr
    assert "above D + 1" in big.stderr
