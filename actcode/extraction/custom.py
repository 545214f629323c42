"""A user's own network (``file.py:factory``) and its weights file, loaded without unpickling code.

Extraction of such a model runs through :func:`actcode.extraction.user.extract_user_model`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actcode.errors import ActcodeFileNotFoundError, CheckpointError
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


__all__ = ["load_user_model", "load_weights"]
