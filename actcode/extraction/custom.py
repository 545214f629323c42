"""A user's own network (``file.py:factory`` plus a weights file) on a dataset: load it safely and extract."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actcode.errors import ActcodeFileNotFoundError, CheckpointError, InvalidParameterError
from actcode.extraction.api import data_section, dataset_splits, default_output, parse_splits
from actcode.extraction.run import extract_model
from actcode.io import file_sha256
from actcode.io.atomic import check_output_dir
from actcode.safe_load import short_reason, torch_load_safe


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict without unpickling code.

    ``.safetensors`` files are read with the ``safetensors`` package (when installed); any
    other file with ``torch.load(weights_only=True, map_location="cpu")``. A dict that holds
    a ``state_dict`` entry (an actcode checkpoint, many training frameworks) gives that entry.

    Raises
    ------
    ActcodeFileNotFoundError
        No such file.
    CheckpointError
        Not loadable, needs unsafe globals, or does not hold a mapping of names to tensors.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"the weights file {p.name} is not in {p.parent.resolve()} (from --weights)."
        raise ActcodeFileNotFoundError(msg)
    if p.suffix == ".safetensors":
        if importlib.util.find_spec("safetensors") is None:
            msg = (
                f"{p} is a .safetensors file but the safetensors package is not installed "
                "(pip install safetensors)."
            )
            raise CheckpointError(msg)
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            obj: Any = load_file(str(p), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            msg = f"{p} is not a readable safetensors file ({' '.join(str(exc).split())[:200]})."
            raise CheckpointError(msg) from exc
    else:
        obj = torch_load_safe(
            p,
            not_zip=(
                f"{p} is not a weights file written by torch.save (not a zip archive). "
                "Save model.state_dict() with torch.save."
            ),
            refused=lambda exc: (
                f"{p} was refused: loading it would need to unpickle code "
                "(torch.load weights_only=True refused it). "
                "Save only model.state_dict() (tensors) and pass that file."
            ),
            damaged=lambda exc: f"{p} is damaged or not a torch weights file ({short_reason(exc)}).",
        )
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        msg = (
            f"{p} does not hold a state_dict (a mapping of parameter names to tensors); "
            f"got {type(obj).__name__}."
        )
        raise CheckpointError(msg)
    return dict(obj)


def load_user_model(
    factory: str, weights: str | Path | None, input_shape: Sequence[int], n_classes: int
) -> nn.Module:
    """Build ``factory(input_shape=..., n_classes=...)`` and load ``weights`` into it (strictly)."""
    from actcode.models.custom import build_custom

    model = build_custom(factory, input_shape, n_classes)
    if weights is not None:
        state = load_weights(weights)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            msg = (
                f"the weights in {weights} do not fit the model built by {factory!r} "
                f"({' '.join(str(exc).split())[:300]})."
            )
            raise CheckpointError(msg) from exc
    return model.float().eval()


def extract_custom(
    factory: str,
    *,
    weights: str | Path | None,
    dataset: str = "digits",
    output: str | Path | None = None,
    splits: str | Sequence[str] = ("train", "test"),
    random: int = 0,
    layers: str | Sequence[str] | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    data_root: str | Path | None = None,
    compression: str | None = "gzip",
) -> Path:
    """Extract the codes of a user's model (``file.py:factory`` + a state_dict file) on a dataset.

    The factory is called as ``factory(input_shape=..., n_classes=...)`` with the dataset's
    values, as ``actcode train --model file.py:factory`` does. There is no record of which
    examples the model was trained on, so ``train`` is the whole official train split
    (indices 0..n-1). Other parameters as in :func:`actcode.extraction.extract`.

    Parameters
    ----------
    factory : str
        ``path/to/file.py:function`` or ``package.module:function``.
    weights : str or Path or None
        A state_dict saved with ``torch.save`` (loaded with ``weights_only=True``) or a
        ``.safetensors`` file; None keeps the factory's initial weights.
    dataset : str
        Dataset name or ``.npz`` path (see ``actcode.data``).

    Returns
    -------
    Path
        The code file written; by default next to the weights with suffix ``.h5``.
    """
    from actcode.data import DataSpec, load_dataset

    names = parse_splits(splits, random)
    if output is None:
        if weights is None:
            msg = "without --weights there is no file to write next to; give -o/--output."
            raise InvalidParameterError(msg)
        output = default_output(weights)
    out = Path(output)
    check_output_dir(out)
    spec = DataSpec(dataset, None if data_root is None else str(data_root))
    ds = load_dataset(spec)
    model = load_user_model(factory, weights, ds.input_shape, ds.n_classes)
    by_split = dataset_splits(ds, names, random=random, seed=seed)
    inputs = []
    if weights is not None:
        inputs.append({"path": str(Path(weights).resolve()), "sha256": file_sha256(weights)})
    target = factory.rpartition(":")[0]
    if target.endswith(".py") and Path(target).is_file():
        inputs.append({"path": str(Path(target).resolve()), "sha256": file_sha256(target)})
    sections = {
        "factors": {"dataset": ds.name, "model": factory},
        "model": {"name": "custom", "factory": factory, "weights": None if weights is None else str(weights)},
        "data": data_section(ds, spec.to_dict()),
        "inputs": inputs,
        "extract": {"seed": seed, "random": random, "source": "user model"},
    }
    return extract_model(
        model,
        by_split,
        out,
        layers=layers,
        batch_size=batch_size,
        device=device,
        provenance=sections,
        progress=progress,
        compression=compression,
    )


__all__ = ["extract_custom", "load_user_model", "load_weights"]
