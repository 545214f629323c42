"""Image folders, .npy arrays, model names, strict weights and preprocessing for a researcher's network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from actcode.data.images import ImageInputs, decode_image, scan_image_folder
from actcode.data.npy import load_npy
from actcode.errors import (
    CheckpointError,
    DataNotFoundError,
    FormatError,
    InvalidParameterError,
    UntrustedCodeError,
)
from actcode.models.custom import authorize_factory
from actcode.models.named import ModelRef, Preprocess, build_named, load_state_strict


def image(path: Path, h: int, w: int, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(a).save(path)
    return path


def test_class_subfolders_flat_folders_and_splits(tmp_path: Path) -> None:
    image(tmp_path / "a" / "train" / "zebra" / "b.png", 9, 9, 0)
    image(tmp_path / "a" / "train" / "ant" / "z.jpg", 9, 9, 1)
    image(tmp_path / "a" / "train" / "ant" / "sub" / "a.PNG", 9, 9, 2)
    image(tmp_path / "a" / "val" / "bee" / "c.png", 9, 9, 3)
    (tmp_path / "a" / "train" / "ant" / "notes.txt").write_text("not an image")
    d = scan_image_folder(tmp_path / "a")
    assert d.classes == ("ant", "bee", "zebra")  # one list across splits, sorted as ImageFolder
    assert list(d.splits) == ["train", "val"]
    tr = d.splits["train"]
    assert [p.relative_to(tmp_path / "a" / "train").as_posix() for p in tr.files] == [
        "ant/z.jpg",
        "ant/sub/a.PNG",
        "zebra/b.png",
    ]
    assert tr.labels.tolist() == [0, 0, 2]
    assert d.splits["val"].labels.tolist() == [1]
    image(tmp_path / "flat" / "2.png", 5, 5, 4)
    image(tmp_path / "flat" / "1.jpeg", 5, 5, 5)
    f = scan_image_folder(tmp_path / "flat")
    assert list(f.splits) == ["test"]
    assert [p.name for p in f.splits["test"].files] == ["1.jpeg", "2.png"]
    assert f.splits["test"].labels.tolist() == [-1, -1]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match=r"no image \(\.jpg"):
        scan_image_folder(tmp_path / "empty")
    with pytest.raises(DataNotFoundError, match="is not a folder"):
        scan_image_folder(tmp_path / "nope")


def test_decoding_equals_torchvision_weights_transforms(tmp_path: Path) -> None:
    """The preprocessing read from the weights' metadata gives exactly what ``weights.transforms()`` gives."""
    from torchvision.models import ResNet18_Weights

    _, pre = build_named(ModelRef.parse("torchvision:resnet18"))
    assert (pre.resize, pre.crop, pre.interpolation) == (256, (224, 224), "bilinear")
    t = ResNet18_Weights.DEFAULT.transforms()
    for name, (h, w) in (("a.png", (300, 260)), ("b.jpg", (240, 330))):
        p = image(tmp_path / name, h, w, 7)
        with Image.open(p) as im:
            want = t(im.convert("RGB"))
        torch.testing.assert_close(decode_image(p, pre), want, rtol=0, atol=0)


def test_bad_images_stop_or_are_skipped_and_listed(tmp_path: Path) -> None:
    image(tmp_path / "d" / "0.png", 12, 12, 0)
    (tmp_path / "d" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    image(tmp_path / "d" / "2.png", 12, 12, 1)
    split = scan_image_folder(tmp_path / "d").splits["test"]
    pre = Preprocess(8, (8, 8))
    with pytest.raises(FormatError, match=r"cannot decode the image .*1\.png"):
        list(ImageInputs(split, pre).batches(2))
    inp = ImageInputs(split, pre, skip_bad=True)
    batches = list(inp.batches(2))
    assert [b[2].tolist() for b in batches] == [[0], [2]]
    assert inp.n_rows == 2
    assert inp.info["n_skipped"] == 1
    assert inp.info["skipped"][0]["file"].endswith("1.png")


def test_preprocess_overrides() -> None:
    pre = Preprocess(256, (224, 224), (0.5, 0.5, 0.5), (0.2, 0.2, 0.2), source="meta")
    o = pre.with_overrides(input_size=112, mean=(0.1,), std=(1.0, 2.0, 3.0))
    assert (o.resize, o.crop, o.mean, o.std) == (128, (112, 112), (0.1, 0.1, 0.1), (1.0, 2.0, 3.0))
    assert o.source == "meta, overridden by --input-size, --mean, --std"
    with pytest.raises(InvalidParameterError, match="--std must be one number or 3"):
        pre.with_overrides(std=(1.0, 0.0, 1.0))
    with pytest.raises(InvalidParameterError, match="--mean must be one number or 3"):
        pre.with_overrides(mean=(1.0, 2.0))


def test_npy_arrays_and_their_errors(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.arange(24, dtype=np.float32).reshape(6, 4))
    np.save(tmp_path / "y.npy", np.array([0, 1, 2, 0, 1, 2]))
    x, y = load_npy(tmp_path / "x.npy")
    assert x.shape == (6, 4)
    assert y.tolist() == [-1] * 6
    _, y = load_npy(tmp_path / "x.npy", tmp_path / "y.npy")
    assert y.tolist() == [0, 1, 2, 0, 1, 2]
    np.save(tmp_path / "short.npy", np.array([0, 1]))
    with pytest.raises(FormatError, match="must hold 6 integer labels"):
        load_npy(tmp_path / "x.npy", tmp_path / "short.npy")
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(FormatError, match="is not a readable .npy array"):
        load_npy(tmp_path / "junk.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(FormatError, match="must be booleans, integers or floats. Got the dtype object"):
        load_npy(tmp_path / "obj.npy")
    with pytest.raises(DataNotFoundError, match="missing.npy is not in"):
        load_npy(tmp_path / "missing.npy")


def test_strict_weights_name_every_kind_of_mismatch() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    state = {
        "0.weight": torch.zeros(4, 3),
        "0.bias": torch.zeros(4),
        "2.weight": torch.zeros(5, 4),
        "x": torch.zeros(1),
    }
    with pytest.raises(CheckpointError) as exc:
        load_state_strict(model, state, what="w.pth", into="net")
    text = str(exc.value)
    assert "missing (1): 2.bias" in text
    assert "unexpected (1): x" in text
    assert "shape mismatch (1): 2.weight (file [5, 4], model [2, 4])" in text
    assert "\n" not in text


def test_model_names() -> None:
    assert ModelRef.parse("timm:resnet10t") == ModelRef("timm", "resnet10t")
    assert ModelRef.parse("pkg.mod:make").source == "factory"
    with pytest.raises(InvalidParameterError, match="names no model"):
        ModelRef.parse("torchvision:")
    with pytest.raises(InvalidParameterError, match="torchvision has no model 'resnet7'"):
        build_named(ModelRef.parse("torchvision:resnet7"))


def test_timm_model_and_its_data_config() -> None:
    model, pre = build_named(ModelRef.parse("timm:resnet10t"))
    assert isinstance(model, nn.Module)
    assert pre.crop == (176, 176)  # resnet10t's pretrained config: 176 px, crop_pct 0.875, bicubic
    assert pre.resize == 201
    assert pre.interpolation == "bicubic"
    assert pre.source.startswith("timm resolve_data_config")
    with pytest.raises(InvalidParameterError, match="timm has no model 'no_such_net'"):
        build_named(ModelRef.parse("timm:no_such_net"))


def test_authorize_factory_rules(tmp_path: Path) -> None:
    rec = f"{tmp_path}/nets.py:make"
    assert authorize_factory(rec, f"{tmp_path}/nets.py:make", trust=False, where="c") == rec
    assert authorize_factory(rec, None, trust=True, where="c") == rec
    assert authorize_factory("pkg.nets:make", None, trust=True, where="c") == "pkg.nets:make"
    with pytest.raises(UntrustedCodeError, match="runs a file's code only when you name it"):
        authorize_factory(rec, None, trust=False, where="c")
    with pytest.raises(UntrustedCodeError, match="does not match the factory recorded"):
        authorize_factory(rec, f"{tmp_path}/other.py:make", trust=True, where="c")
    with pytest.raises(UntrustedCodeError, match="does not match"):
        authorize_factory(rec, f"{tmp_path}/nets.py:build", trust=False, where="c")
    # a relative record: never resolved from the current folder, but a named file whose path ends with it fits
    with pytest.raises(UntrustedCodeError, match="never resolves from the current folder"):
        authorize_factory("sub/nets.py:make", None, trust=True, where="c")
    named = f"{tmp_path}/sub/nets.py:make"
    assert authorize_factory("sub/nets.py:make", named, trust=False, where="c") == named


def test_timm_missing_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "timm" else real(name, *a)
    )
    with pytest.raises(
        InvalidParameterError, match=r"needs the timm package, .*pip install 'actcode\[timm\]'"
    ):
        build_named(ModelRef.parse("timm:resnet18"))


def test_default_weights_from_a_damaged_cache_file_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actcode.models.named import pretrained_state

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "resnet18-f37072fd.pth").write_bytes(b"a truncated download")
    with pytest.raises(CheckpointError, match=r"cannot load torchvision's .* delete it, retry") as exc:
        pretrained_state(ModelRef.parse("torchvision:resnet18"), download=False)
    assert "\n" not in str(exc.value)
