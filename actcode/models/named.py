"""Models researchers bring by name: ``torchvision:NAME``, ``timm:NAME``; their weights and preprocessing.

Weights come from a local file (``.pth``/``.pt`` read with ``weights_only=True``, or
``.safetensors``) or, with ``DEFAULT``, the library's pretrained weights, which are fetched
only when the caller allows a download. The preprocessing (resize, centre crop, mean and std)
is read from the weights' metadata: torchvision's ``weights.transforms()``, timm's
``resolve_data_config``; it does not need the weights themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from actcode.data.preprocess import Preprocess
from actcode.errors import CheckpointError, InvalidParameterError
from actcode.models.sources import MODEL_SOURCES, get_model_source

#: ``--weights`` value that names the library's pretrained weights.
DEFAULT_WEIGHTS = "DEFAULT"


@dataclass(frozen=True)
class ModelRef:
    """A parsed ``--model``: ``SOURCE:NAME`` (``torchvision``, ``timm`` or a plugin), ``FILE.py:FACTORY``,
    ``MODULE:FACTORY``."""

    source: str  # a model source (actcode.models.sources) or "factory"
    name: str

    @classmethod
    def parse(cls, spec: str) -> ModelRef:
        """Examples
        --------
        >>> ModelRef.parse("torchvision:resnet18"), ModelRef.parse("nets.py:make").source
        (ModelRef(source='torchvision', name='resnet18'), 'factory')
        """
        head, sep, tail = spec.partition(":")
        if sep and head and not head.endswith(".py") and head in MODEL_SOURCES:
            if not tail:
                msg = f"--model {spec!r} names no model; write {head}:NAME, e.g. {head}:resnet18."
                raise InvalidParameterError(msg)
            return cls(head, tail)
        return cls("factory", spec)

    def __str__(self) -> str:
        return self.name if self.source == "factory" else f"{self.source}:{self.name}"


def build_named(ref: ModelRef) -> tuple[nn.Module, Preprocess]:
    """A library model (``SOURCE:NAME``) with random weights, and the preprocessing of its weights.

    Raises
    ------
    InvalidParameterError
        Unknown name, or the library is not installed.
    """
    if ref.source == "factory":
        msg = f"{ref} is not a library model."
        raise InvalidParameterError(msg)
    return get_model_source(ref.source).build(ref.name)


def pretrained_state(ref: ModelRef, *, download: bool) -> tuple[dict[str, torch.Tensor], str]:
    """The library's DEFAULT weights of ``ref``, from its cache or (only with ``download``) the network.

    Returns the state_dict and a description of where it came from.

    Raises
    ------
    DataNotFoundError
        The weights are not cached and ``download`` is False: names the file and the folder.
    """
    return get_model_source(ref.source).pretrained(ref.name, download=download)


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], *, what: str, into: str) -> None:
    """``model.load_state_dict(state, strict=True)``, with one line naming every mismatched key.

    Raises
    ------
    CheckpointError
        Missing keys, unexpected keys or shapes that differ.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} (file {list(state[k].shape)}, model {list(own[k].shape)})"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", shapes)):
            if keys:
                more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
                parts.append(f"{label} ({len(keys)}): {', '.join(keys[:5])}{more}")
        msg = (
            f"the weights in {what} do not fit {into}: {'; '.join(parts)}. Are they for another architecture?"
        )
        raise CheckpointError(msg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        msg = f"the weights in {what} do not fit {into} ({' '.join(str(exc).split())[:300]})."
        raise CheckpointError(msg) from exc


__all__ = [
    "DEFAULT_WEIGHTS",
    "ModelRef",
    "Preprocess",
    "build_named",
    "load_state_strict",
    "pretrained_state",
]
