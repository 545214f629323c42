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


def build_named(ref: ModelRef, *, num_classes: int | None = None) -> tuple[nn.Module, Preprocess]:
    """A library model (``SOURCE:NAME``) with random weights, and the preprocessing of its weights.

    ``num_classes`` builds the model with that many outputs (a fine-tuned head): torchvision's
    ``num_classes=``, timm's ``num_classes``. The preprocessing is the pretrained weights' own
    whatever the head.

    Raises
    ------
    InvalidParameterError
        Unknown name, the library is not installed, or ``num_classes`` is below 1.
    """
    if num_classes is not None and num_classes < 1:
        msg = f"--num-classes must be >= 1. Got {num_classes} instead."
        raise InvalidParameterError(msg)
    if ref.source == "factory":
        msg = f"{ref} is not a library model."
        raise InvalidParameterError(msg)
    return get_model_source(ref.source).build(ref.name, num_classes=num_classes)


def classifier(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The name and module of ``model``'s classifier head: timm's ``get_classifier()``, else the
    last ``Linear`` (or 1x1 ``Conv2d``, as squeezenet's) module; None when there is none."""
    getter = getattr(model, "get_classifier", None)
    head = getter() if callable(getter) else None
    head = head if isinstance(head, nn.Module) else None
    last: tuple[str, nn.Module] | None = None
    for name, module in model.named_modules():
        if module is head:
            return name, head
        if isinstance(module, nn.Linear) or (isinstance(module, nn.Conv2d) and module.kernel_size == (1, 1)):
            last = (name, module)
    return last


def n_outputs(model: nn.Module) -> int | None:
    """The number of classes ``model`` predicts (its head's outputs), or None without a head."""
    found = classifier(model)
    if found is None:
        return None
    weight = getattr(found[1], "weight", None)
    return int(weight.shape[0]) if isinstance(weight, torch.Tensor) else None


def classes_in_state(model: nn.Module, state: dict[str, torch.Tensor]) -> int | None:
    """The class count a state_dict's head holds: rows of the weight of ``model``'s classifier."""
    found = classifier(model)
    key = f"{found[0]}.weight" if found is not None else ""
    weight = state.get(key)
    return int(weight.shape[0]) if isinstance(weight, torch.Tensor) and weight.ndim >= 2 else None


def build_named_for(
    ref: ModelRef, state: dict[str, torch.Tensor] | None, *, num_classes: int | None = None
) -> tuple[nn.Module, Preprocess]:
    """:func:`build_named` with the class count ``num_classes`` gives, else the one ``state`` holds."""
    model, pre = build_named(ref, num_classes=num_classes)
    if num_classes is None and state is not None:
        held = classes_in_state(model, state)
        if held is not None and held != n_outputs(model):
            model, pre = build_named(ref, num_classes=held)
    return model, pre


def head_hint(model: nn.Module, state: dict[str, torch.Tensor]) -> str:
    """What to do when ``state``'s head does not fit ``model``'s (empty when it fits or has none)."""
    held, built = classes_in_state(model, state), n_outputs(model)
    if held is None or built is None or held == built:
        return ""
    return (
        f"The file's head has {held} classes and the model {built}: pass --num-classes {held}, "
        "or drop --num-classes to take the count from the weights."
    )


def pretrained_state(ref: ModelRef, *, download: bool) -> tuple[dict[str, torch.Tensor], str]:
    """The library's DEFAULT weights of ``ref``, from its cache or (only with ``download``) the network.

    Returns the state_dict and a description of where it came from.

    Raises
    ------
    DataNotFoundError
        The weights are not cached and ``download`` is False: names the file and the folder.
    """
    return get_model_source(ref.source).pretrained(ref.name, download=download)


def load_state_strict(
    model: nn.Module, state: dict[str, torch.Tensor], *, what: str, into: str, hint: str = ""
) -> None:
    """``model.load_state_dict(state, strict=True)``, with one line naming every mismatched key,
    then ``hint`` (what to do), or a question about the architecture.

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
            f"the weights in {what} do not fit {into}: {'; '.join(parts)}. "
            f"{hint or 'Are they for another architecture?'}"
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
    "build_named_for",
    "classes_in_state",
    "classifier",
    "head_hint",
    "load_state_strict",
    "n_outputs",
    "pretrained_state",
]
