"""``extract --model torchvision:NAME --weights W --dataset imagefolder:DIR|npy:F``, run as a user runs it."""

from __future__ import annotations

import json
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


def run(args: list[str | Path], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PY, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert proc.returncode == code, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("actcode extract: error: ")
    for n in needles:
        assert n in lines[0], lines[0]
    assert proc.stdout == ""
    return lines[0]


def write_images(root: Path, *, corrupt: bool) -> None:
    """train/{cat,dog} and val/{cat,dog}: PNG and JPEG of different sizes; two damaged files in train/cat."""
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in ("cat", "dog"):
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(3):
                a = rng.integers(0, 256, (40 + 7 * i, 52 - 5 * i, 3), dtype=np.uint8)
                Image.fromarray(a).save(d / f"{i}.{'png' if i % 2 else 'jpg'}")
    if corrupt:
        (root / "train" / "cat" / "x_bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
        good = (root / "train" / "dog" / "1.png").read_bytes()
        (root / "train" / "dog" / "x_truncated.png").write_bytes(good[: len(good) // 2])


@pytest.fixture(scope="module")
def resnet_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from safetensors.torch import save_file
    from torchvision.models import resnet18

    root = tmp_path_factory.mktemp("images")
    write_images(root / "data", corrupt=True)
    torch.manual_seed(0)
    # a head fine-tuned to the folder's two classes: extract builds the model with the count the
    # weights hold, so no class-count warning joins the error lines below
    save_file(resnet18(num_classes=2).state_dict(), str(root / "W.safetensors"))
    return root / "data", root / "W.safetensors"


def hand_codes(folder: Path, weights: Path, split: str, skip: set[str], out: Path) -> Path:
    """The same model built by hand, images read by PIL and torchvision's own preset, via extract_model."""
    from safetensors.torch import load_file
    from torchvision.models import resnet18
    from torchvision.transforms._presets import ImageClassification

    from actcode.extraction import extract_model

    model = resnet18(num_classes=2)
    model.load_state_dict(load_file(str(weights)))
    t = ImageClassification(crop_size=64, resize_size=73)  # the weights' preset with --input-size 64
    xs, ys = [], []
    for label, c in enumerate(sorted(p.name for p in (folder / split).iterdir())):
        for f in sorted((folder / split / c).iterdir()):
            if f.name in skip:
                continue
            with Image.open(f) as im:
                xs.append(t(im.convert("RGB")))
            ys.append(label)
    return extract_model(model, {split: (torch.stack(xs), torch.tensor(ys))}, out, device="cpu")


def test_torchvision_resnet18_safetensors_on_an_image_folder(
    resnet_files: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, weights = resnet_files
    args: list[str | Path] = ["extract", "--model", "torchvision:resnet18", "--weights", weights]
    args += ["--dataset", f"imagefolder:{folder}", "--input-size", "64", "--workers", "1"]
    bad = run([*args, "-o", tmp_path / "r.h5"])
    one_line_error(bad, 3, "cannot decode the image", "x_bad.jpg", "--skip-bad")
    assert not (tmp_path / "r.h5").exists()

    ok = run([*args, "-o", tmp_path / "r.h5", "--skip-bad"])
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == f"{tmp_path / 'r.h5'}\n"
    with open_codes(tmp_path / "r.h5") as cf:
        prov = cf.provenance
        assert cf.splits == ["train", "val"]
        assert cf.labels("train").tolist() == [0, 0, 0, 1, 1, 1]
        assert cf.indices("train").tolist() == [0, 1, 2, 4, 5, 6]  # x_bad.jpg was file 3
        codes = {s: cf.codes(s) for s in cf.splits}
        names = [la.name for la in cf.layers]
    info = prov["extract"]["split_info"]["train"]
    assert info["n_skipped"] == 2
    assert {Path(s["file"]).name for s in info["skipped"]} == {"x_bad.jpg", "x_truncated.png"}
    assert prov["data"]["preprocess"]["crop"] == [64, 64]
    assert prov["data"]["preprocess"]["mean"] == [0.485, 0.456, 0.406]
    assert "overridden by --input-size" in prov["data"]["preprocess"]["source"]
    assert prov["model"]["weights"] == str(weights)
    for split, skip in (("train", {"x_bad.jpg", "x_truncated.png"}), ("val", set())):
        ref = hand_codes(folder, weights, split, skip, tmp_path / f"hand-{split}.h5")
        with open_codes(ref) as cf:
            assert [la.name for la in cf.layers] == names
            np.testing.assert_array_equal(cf.codes(split), codes[split])
    # and the file goes on through measure | probe
    m = subprocess.run(
        [*PY, "measure"], input=ok.stdout, capture_output=True, text=True, timeout=300, env=os.environ.copy()
    )
    assert m.returncode == 0, m.stderr
    p = subprocess.run(
        [*PY, "probe", "--json", "--k", "3"],
        input=m.stdout,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ.copy(),
    )
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert rows
    assert any("knn" in json.dumps(r) for r in rows)


def test_weights_for_another_architecture_list_the_mismatched_keys(
    resnet_files: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, weights = resnet_files
    proc = run(
        ["extract", "--model", "torchvision:resnet34", "--weights", weights, "--dataset",
         f"imagefolder:{folder}", "--input-size", "32", "-o", tmp_path / "x.h5"]
    )  # fmt: skip
    line = one_line_error(proc, 3, "do not fit", "torchvision:resnet34", "missing (", "layer1.2.conv1.weight")
    assert "another architecture" in line


def test_image_folder_with_no_images(tmp_path: Path) -> None:
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    (tmp_path / "empty" / "cats" / "notes.txt").write_text("no images here")
    folder = f"imagefolder:{tmp_path / 'empty'}"
    proc = run(["extract", "--model", "torchvision:resnet18", "--dataset", folder, "-o", tmp_path / "x.h5"])
    one_line_error(proc, 4, "no image (.jpg", str(tmp_path / "empty"))


def test_default_weights_are_never_downloaded_without_download(tmp_path: Path) -> None:
    proc = run(
        ["extract", "--model", "torchvision:resnet18", "--weights", "DEFAULT", "--dataset", "npy:none.npy",
         "-o", tmp_path / "x.h5"],
        env={"TORCH_HOME": str(tmp_path / "torch")},
    )  # fmt: skip
    one_line_error(
        proc, 4, "resnet18-f37072fd.pth", str(tmp_path / "torch" / "hub" / "checkpoints"), "--download"
    )


FACTORIES = """
import torch
from torch import nn
import torch.nn.functional as F

class Gelu(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, 6)
    def forward(self, x):
        return F.gelu(self.fc(x.flatten(1)))

class Branchy(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, 6)
    def forward(self, x):
        h = F.relu(self.fc(x.flatten(1)))
        return F.relu(h - 10.0) if float(x.sum()) > 0 else h

class Small(nn.Module):
    def __init__(self, d, n):
        super().__init__()
        self.fc, self.out = nn.Linear(d, 7), nn.Linear(7, n)
    def forward(self, x):
        return self.out(torch.relu(self.fc(x.flatten(1))).clamp(min=0))

def gelu(input_shape, n_classes):
    return Gelu(input_shape[0])

def branchy(input_shape, n_classes):
    return Branchy(input_shape[0])

def small(input_shape, n_classes):
    return Small(input_shape[0], n_classes)
"""


@pytest.fixture
def arrays(tmp_path: Path) -> tuple[Path, Path, Path]:
    (tmp_path / "nets.py").write_text(FACTORIES)
    x = np.concatenate([np.ones((3, 4)), -np.ones((3, 4))]).astype(np.float32)  # batch 1 > 0, batch 2 < 0
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array([0, 1, 2, 0, 1, 2]))
    return tmp_path / "nets.py", tmp_path / "x.npy", tmp_path / "y.npy"


def test_model_without_relu_like_ops_names_its_activations(
    arrays: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    nets, x, _ = arrays
    proc = run(["extract", "--model", f"{nets}:gelu", "--dataset", f"npy:{x}", "-o", tmp_path / "g.h5"])
    one_line_error(proc, 5, "applies no ReLU-like activation", "gelu x1 (first in '(root)')")


def test_data_dependent_sequence_of_relu_calls_is_refused(
    arrays: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    nets, x, _ = arrays
    proc = run(["extract", "--model", f"{nets}:branchy", "--dataset", f"npy:{x}", "--batch-size", "3",
                "-o", tmp_path / "b.h5"])  # fmt: skip
    one_line_error(proc, 1, "not called as in the probe pass", "'(root):relu' ran 1 time(s), expected 2")
    assert not (tmp_path / "b.h5").exists()


def test_npy_inputs_with_labels(arrays: tuple[Path, Path, Path], tmp_path: Path) -> None:
    nets, x, y = arrays
    torch.manual_seed(0)
    proc = run(
        [
            "extract",
            "--model",
            f"{nets}:small",
            "--dataset",
            f"npy:{x}",
            "--labels",
            y,
            "-o",
            tmp_path / "s.h5",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    with open_codes(tmp_path / "s.h5") as cf:
        assert cf.splits == ["test"]
        assert [la.name for la in cf.layers] == ["(root):relu#0", "(root):clamp#0"]
        assert cf.labels("test").tolist() == [0, 1, 2, 0, 1, 2]
        assert cf.provenance["data"]["dataset"] == f"npy:{x}"
