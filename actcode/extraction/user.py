"""A researcher's network on their data: a model by name or factory, local weights, an image folder or array.

``extract_user_model("torchvision:resnet18", weights="W.safetensors",
dataset="imagefolder:DIR")`` is what ``actcode extract --model ... --weights ... --dataset ...``
runs. The pieces:

- the model: ``torchvision:NAME``, ``timm:NAME`` (:mod:`actcode.models.named`), or a factory
  ``FILE.py:FACTORY`` / ``MODULE:FACTORY`` called as ``factory(input_shape=, n_classes=)``;
- the weights: none (the initial weights), a local ``.pth``/``.pt`` (``weights_only``) or
  ``.safetensors`` state_dict, or ``DEFAULT`` (the library's pretrained weights, downloaded only
  with ``download=True``); a file for another architecture names every mismatched key;
- the data: a study dataset (``digits``, ``mnist``, ..., a ``.npz``), ``imagefolder:PATH``
  (:mod:`actcode.data.images`) or ``npy:PATH`` (:mod:`actcode.data.npy`, labels optional);
- the preprocessing of images: from the weights' metadata, overridden by ``input_size``,
  ``mean`` and ``std``, and recorded in the provenance.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from actcode.errors import ClassCountWarning, InvalidParameterError
from actcode.extraction.api import data_section, dataset_splits, default_output, parse_splits
from actcode.extraction.custom import load_weights
from actcode.extraction.inputs import ArrayInputs, SplitInputs
from actcode.extraction.run import extract_model
from actcode.io import file_sha256
from actcode.io.atomic import check_output_dir
from actcode.lists import comma_list
from actcode.models.custom import user_code
from actcode.models.named import DEFAULT_WEIGHTS, ModelRef, Preprocess

#: ``--dataset`` prefixes of the data a researcher brings.
DATA_PREFIXES = ("imagefolder", "npy")


def default_workers() -> int:
    """DataLoader workers by default: half the CPUs, at most 4 (0 on a one-CPU machine)."""
    return min(4, (os.cpu_count() or 1) // 2)


@dataclass
class UserData:
    """The splits of the user's data, what the model must accept, and provenance."""

    splits: dict[str, Any]
    input_shape: tuple[int, ...]
    n_classes: int
    section: dict[str, Any]
    preprocess: Preprocess | None = None
    sources: list[dict[str, str]] = field(default_factory=list)


def _choose(available: Sequence[str], splits: str | Sequence[str] | None, what: str) -> list[str]:
    if splits is None:
        return list(available)
    items = comma_list(splits)
    missing = [s for s in items if s not in available]
    if missing or not items:
        msg = f"--splits: {what} has the splits {', '.join(available)}; got {','.join(items) or 'none'}."
        raise InvalidParameterError(msg)
    return list(dict.fromkeys(items))


def _image_data(
    path: str,
    splits: str | Sequence[str] | None,
    pre: Preprocess,
    *,
    workers: int,
    skip_bad: bool,
    pin: bool,
) -> UserData:
    from actcode.data.images import ImageInputs, scan_image_folder

    folder = scan_image_folder(path)
    names = _choose(list(folder.splits), splits, f"imagefolder:{path}")
    out = {
        n: ImageInputs(folder.splits[n], pre, workers=workers, skip_bad=skip_bad, pin_memory=pin)
        for n in names
    }
    section = {**folder.describe(), "preprocess": pre.to_dict(), "workers": workers, "skip_bad": skip_bad}
    return UserData(out, (3, *pre.crop), max(1, len(folder.classes)), section, pre)


def _npy_data(path: str, labels: str | Path | None, splits: str | Sequence[str] | None) -> UserData:
    from actcode.data.npy import load_npy

    x, y = load_npy(path, labels)
    _choose(["test"], splits, f"npy:{path}")
    n = int(x.shape[0])
    split = SplitInputs(ArrayInputs(x), y, np.arange(n, dtype=np.int64), None, {"source": f"npy {path}"})
    n_classes = int(y.max()) + 1 if (y >= 0).any() else 1
    section = {
        "dataset": f"npy:{path}",
        "labels": None if labels is None else str(labels),
        "input_shape": list(x.shape[1:]),
        "dtype": str(x.dtype),
        "n_rows": n,
        "preprocess": "none: the arrays are fed as float32, as they are",
    }
    sources = [{"path": str(Path(path).resolve()), "sha256": file_sha256(path)}]
    if labels is not None:
        sources.append({"path": str(Path(labels).resolve()), "sha256": file_sha256(labels)})
    return UserData({"test": split}, tuple(int(s) for s in x.shape[1:]), n_classes, section, None, sources)


def load_user_data(
    dataset: str,
    *,
    splits: str | Sequence[str] | None = None,
    labels: str | Path | None = None,
    preprocess: Preprocess | None = None,
    workers: int = 0,
    skip_bad: bool = False,
    pin_memory: bool = False,
    random: int = 0,
    seed: int = 0,
    data_root: str | Path | None = None,
) -> UserData:
    """The splits of ``dataset``: ``imagefolder:PATH``, ``npy:PATH`` or a study dataset name / ``.npz``."""
    kind, sep, rest = dataset.partition(":")
    folder_like = sep and kind in DATA_PREFIXES
    if labels is not None and not (folder_like and kind == "npy"):
        msg = "--labels goes with --dataset npy:PATH (a .npy of inputs); other datasets carry their labels."
        raise InvalidParameterError(msg)
    if folder_like and random:
        msg = f"--random draws inputs in a study dataset's value range; {kind}: data has none. Drop --random."
        raise InvalidParameterError(msg)
    if folder_like and kind == "imagefolder":
        if preprocess is None:
            msg = (
                "--dataset imagefolder: needs the model's input size: give --input-size "
                "(and --mean/--std) for a FILE.py or MODULE factory."
            )
            raise InvalidParameterError(msg)
        return _image_data(rest, splits, preprocess, workers=workers, skip_bad=skip_bad, pin=pin_memory)
    if folder_like:
        return _npy_data(rest, labels, splits)
    from actcode.data import DataSpec, load_dataset

    spec = DataSpec(dataset, None if data_root is None else str(data_root))
    ds = load_dataset(spec)
    names = parse_splits(splits, random)
    by_split = dataset_splits(ds, names, random=random, seed=seed)
    return UserData(
        dict(by_split), tuple(ds.input_shape), int(ds.n_classes), data_section(ds, spec.to_dict())
    )


def build_user_model(
    model: str,
    *,
    weights: str | Path | None,
    download: bool = False,
    input_shape: Sequence[int] | None = None,
    n_classes: int | None = None,
    num_classes: int | None = None,
) -> tuple[nn.Module, Preprocess | None, dict[str, Any], list[dict[str, str]]]:
    """The model ``model`` names, with ``weights`` loaded strictly.

    A library model is built with ``num_classes`` outputs, else with the class count its weights'
    head holds (a fine-tuned head), else the library's default; its preprocessing stays the
    pretrained weights'. A factory gets ``num_classes``, else the data's ``n_classes``.

    Returns the model (float32, eval), its preprocessing (None for a factory), the provenance
    ``model`` section and the input files with their hashes.
    """
    from actcode.models.named import (
        build_named_for,
        head_hint,
        load_state_strict,
        n_outputs,
        pretrained_state,
    )

    ref = ModelRef.parse(model)
    inputs: list[dict[str, str]] = []
    section: dict[str, Any] = {"name": str(ref), "source": ref.source}
    pre: Preprocess | None = None
    if ref.source == "factory":
        from actcode.models.custom import build_custom, normalize_factory_spec

        classes = num_classes if num_classes is not None else n_classes
        if input_shape is None or classes is None:
            msg = f"--model {model}: a factory needs the data's input shape and classes."
            raise InvalidParameterError(msg)
        net = build_custom(model, input_shape, classes)
        section.update({"name": "custom", "factory": normalize_factory_spec(model)})
        target = model.rpartition(":")[0]
        if target.endswith(".py") and Path(target).is_file():
            inputs.append({"path": str(Path(target).resolve()), "sha256": file_sha256(target)})
    state: dict[str, Any] | None = None
    where = None if weights is None else str(weights)
    if weights is not None and str(weights) == DEFAULT_WEIGHTS and ref.source != "factory":
        state, where = pretrained_state(ref, download=download)
    elif weights is not None:
        state = load_weights(weights)
        inputs.append({"path": str(Path(weights).resolve()), "sha256": file_sha256(weights)})
    if ref.source != "factory":
        net, pre = build_named_for(ref, state, num_classes=num_classes)
    section["weights"] = where
    section["n_classes"] = n_outputs(net)
    if state is not None:
        into = str(ref) if str(weights) == DEFAULT_WEIGHTS else f"the model built by {ref}"
        load_state_strict(net, state, what=str(where), into=into, hint=head_hint(net, state))
    return net.float().eval(), pre, section, inputs


def _check_classes(model: dict[str, Any], data: UserData) -> None:
    """Warn, and record, when the model's class count is not the data's: its accuracy means nothing."""
    built = model.get("n_classes")
    unlabelled = data.section.get("classes", [None]) == [] or (
        "labels" in data.section and data.section["labels"] is None
    )
    if built is None or built == data.n_classes or unlabelled:
        return
    note = (
        f"the model predicts {built} classes and the data has {data.n_classes}: its predictions cannot "
        "match the data's labels, so the network accuracy recorded is not meaningful "
        "(fine-tuned weights set the count themselves; or pass --num-classes)"
    )
    model["class_count_mismatch"] = note
    warnings.warn(note, ClassCountWarning, stacklevel=3)


def extract_user_model(
    model: str,
    *,
    weights: str | Path | None = None,
    download: bool = False,
    dataset: str = "digits",
    labels: str | Path | None = None,
    output: str | Path | None = None,
    splits: str | Sequence[str] | None = None,
    random: int = 0,
    layers: str | Sequence[str] | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    data_root: str | Path | None = None,
    compression: str | None = "auto",
    sites: str = "ops",
    input_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    workers: int | None = None,
    skip_bad: bool = False,
    num_classes: int | None = None,
) -> Path:
    """Extract the codes of a user's model on a dataset, an image folder or an array.

    Parameters
    ----------
    model : str
        ``torchvision:NAME``, ``timm:NAME``, ``FILE.py:FACTORY`` or ``MODULE:FACTORY``.
    weights : str or Path, optional
        A state_dict file (``.pth``/``.pt``, loaded ``weights_only``, or ``.safetensors``),
        or ``"DEFAULT"`` for a library model's pretrained weights; None keeps the initial ones.
    download : bool
        Allow ``weights="DEFAULT"`` to fetch the file; without it, a missing file is an error
        that names it and the folder to put it in.
    dataset : str
        ``imagefolder:PATH``, ``npy:PATH``, or a study dataset (``digits``, ``mnist``, ...,
        a ``.npz``).
    labels : str or Path, optional
        With ``npy:PATH``, a ``.npy`` of integer labels.
    splits : str or sequence of str, optional
        Default: every split of a folder (``train``, ``val``, ``test``), or ``train,test``.
    input_size, mean, std : optional
        Override the preprocessing read from the weights' metadata (images only).
    workers : int, optional
        DataLoader processes decoding images; default :func:`default_workers`.
    skip_bad : bool
        Skip images that cannot be decoded (recorded in provenance) instead of stopping.
    num_classes : int, optional
        The model's class count; default: the count its weights' head holds (a fine-tuned head),
        or for a factory the data's. A model whose count differs from the data's classes warns
        (:class:`~actcode.errors.ClassCountWarning`): its predictions cannot match the labels.

    Other parameters are as in :func:`~actcode.extraction.api.extract` and
    :func:`~actcode.extraction.run.extract_model`.

    Returns
    -------
    Path
        The code file.
    """
    from actcode.devices import resolve_device

    if output is None:
        if weights is None or str(weights) == DEFAULT_WEIGHTS:
            msg = "without a --weights file there is no file to write next to; give -o/--output."
            raise InvalidParameterError(msg)
        output = default_output(weights)
    out = Path(output)
    check_output_dir(out)
    dev = resolve_device(device)
    ref = ModelRef.parse(model)
    n_workers = default_workers() if workers is None else int(workers)
    if n_workers < 0:
        msg = f"--workers must be >= 0. Got {n_workers} instead."
        raise InvalidParameterError(msg)
    pre: Preprocess | None = None
    net: nn.Module | None = None
    msections: dict[str, Any] = {}
    inputs: list[dict[str, str]] = []
    if ref.source != "factory":  # the model first: its weights' metadata gives the preprocessing
        net, pre, msections, inputs = build_user_model(
            model, weights=weights, download=download, num_classes=num_classes
        )
    if pre is None and input_size is not None:
        pre = Preprocess(input_size, (input_size, input_size), source="--input-size")
    if pre is not None:
        pre = pre.with_overrides(
            input_size=input_size,
            mean=None if mean is None else tuple(mean),
            std=None if std is None else tuple(std),
        )
    data = load_user_data(
        dataset, splits=splits, labels=labels, preprocess=pre, workers=n_workers, skip_bad=skip_bad,
        pin_memory=dev.type == "cuda", random=random, seed=seed, data_root=data_root,
    )  # fmt: skip
    if net is None:
        net, _, msections, inputs = build_user_model(
            model, weights=weights, download=download, input_shape=data.input_shape, n_classes=data.n_classes,
            num_classes=num_classes,
        )  # fmt: skip
    _check_classes(msections, data)
    sections = {
        "factors": {"dataset": data.section.get("dataset"), "model": msections.get("factory", str(ref))},
        "model": msections,
        "data": data.section,
        "inputs": inputs + data.sources,
        "extract": {"seed": seed, "random": random, "source": "user model"},
    }
    with user_code(f"the model {model!r}"):  # its forward may print, start threads, or exit
        path = extract_model(
            net, data.splits, out, layers=layers, batch_size=batch_size, device=dev, provenance=sections,
            progress=progress, compression=compression, sites=sites,
        )  # fmt: skip
    return path


__all__ = [
    "DATA_PREFIXES",
    "UserData",
    "build_user_model",
    "default_workers",
    "extract_user_model",
    "load_user_data",
]
