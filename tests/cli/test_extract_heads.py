"""Library models with fine-tuned heads: the class count comes from the weights, or --num-classes.

Weights are random initialisations saved by the test (no download), the image folders are
generated here, and every run is a subprocess, as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from actcode.io import open_codes

PY = [sys.executable, "-m", "actcode"]


def run(args: list[str | Path], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PY, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 10-class image folder: one small RGB image per class (one split, test)."""
    root = tmp_path_factory.mktemp("ten") / "images"
    rng = np.random.default_rng(1)
    for c in range(10):
        (root / f"class{c}").mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(root / f"class{c}" / "a.png")
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-init state_dicts: resnet18 with a 10-class head (.pth) and with the 1000-class one,
    timm's test_resnet with a 10-class head (.safetensors)."""
    import timm
    from safetensors.torch import save_file
    from torchvision.models import resnet18

    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    torch.save(resnet18(num_classes=10).state_dict(), root / "r18-10.pth")
    torch.save(resnet18().state_dict(), root / "r18-1000.pth")
    save_file(
        timm.create_model("test_resnet", num_classes=10).state_dict(), str(root / "timm-10.safetensors")
    )
    return {
        "r18-10": root / "r18-10.pth",
        "r18-1000": root / "r18-1000.pth",
        "timm-10": root / "timm-10.safetensors",
    }


@pytest.mark.parametrize(
    ("model", "key", "mean"),
    [
        ("torchvision:resnet18", "r18-10", [0.485, 0.456, 0.406]),
        ("timm:test_resnet", "timm-10", [0.5, 0.5, 0.5]),
    ],
)
def test_a_fine_tuned_head_is_built_from_the_weights_and_measured(
    folder: Path, weights: dict[str, Path], tmp_path: Path, model: str, key: str, mean: list[float]
) -> None:
    out = tmp_path / "codes.h5"
    args: list[str | Path] = [
        "extract",
        "--model",
        model,
        "--weights",
        weights[key],
        "--dataset",
        f"imagefolder:{folder}",
    ]
    proc = run([*args, "--input-size", "32", "--workers", "0", "-o", out])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{out}\n"
    assert "warning" not in proc.stderr
    with open_codes(out) as cf:
        prov = cf.provenance
        predictions = cf.predictions("test")
    assert prov["model"]["n_classes"] == 10
    assert "class_count_mismatch" not in prov["model"]
    assert set(predictions.tolist()) <= set(range(10))
    # the preprocessing is still the pretrained weights' (only the crop is overridden)
    assert prov["data"]["preprocess"]["mean"] == pytest.approx(mean)
    measured = run(["measure"], stdin=proc.stdout)
    assert measured.returncode == 0, measured.stderr
    assert measured.stdout.strip()


def test_num_classes_that_do_not_fit_the_weights_name_the_fix(
    folder: Path, weights: dict[str, Path], tmp_path: Path
) -> None:
    proc = run(
        ["extract", "--model", "torchvision:resnet18", "--weights", weights["r18-10"], "--num-classes", "5",
         "--dataset", f"imagefolder:{folder}", "--input-size", "32", "-o", tmp_path / "x.h5"]
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("actcode extract: error: ")
    assert "fc.weight (file [10, 512], model [5, 512])" in lines[0]
    assert "pass --num-classes 10" in lines[0]
    assert not (tmp_path / "x.h5").exists()


def test_a_1000_class_model_on_a_10_class_folder_warns_and_quiet_silences_it(
    folder: Path, weights: dict[str, Path], tmp_path: Path
) -> None:
    args: list[str | Path] = ["extract", "--model", "torchvision:resnet18", "--weights", weights["r18-1000"]]
    args += ["--dataset", f"imagefolder:{folder}", "--input-size", "32", "--workers", "0"]
    loud = run([*args, "-o", tmp_path / "a.h5"])
    assert loud.returncode == 0, loud.stderr
    warned = [ln for ln in loud.stderr.splitlines() if "warning" in ln]
    assert len(warned) == 1, loud.stderr
    assert warned[0].startswith("actcode: warning: ClassCountWarning: the model predicts 1000 classes")
    assert "the data has 10" in warned[0]
    with open_codes(tmp_path / "a.h5") as cf:
        assert "predicts 1000 classes" in cf.provenance["model"]["class_count_mismatch"]
    # -q, also after the subcommand, silences library warnings; -v after it keeps them
    quiet = run([*args, "-o", tmp_path / "b.h5", "-q"])
    assert quiet.returncode == 0, quiet.stderr
    assert "warning" not in quiet.stderr
    assert quiet.stdout == f"{tmp_path / 'b.h5'}\n"
    verbose = run([*args, "-o", tmp_path / "c.h5", "-v"])
    assert verbose.returncode == 0, verbose.stderr
    assert "ClassCountWarning" in verbose.stderr
