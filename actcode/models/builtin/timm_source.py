"""The ``timm:NAME`` model source: timm's models, their data config and pretrained weights (Hugging Face)."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import torch
from torch import nn

from actcode.data.preprocess import Preprocess
from actcode.errors import DataNotFoundError, InvalidParameterError
from actcode.models.sources import register_model_source


def _need(package: str, extra: str) -> None:
    if importlib.util.find_spec(package) is None:
        msg = (
            f"--model {extra}:NAME needs the {package} package, which is not installed: "
            f"pip install 'actcode[{extra}]'."
        )
        raise InvalidParameterError(msg)


class TimmSource:
    """``timm.create_model(NAME)``; pretrained weights only with ``download`` (they come from the hub)."""

    order: int = 20

    def build(self, name: str, *, num_classes: int | None = None) -> tuple[nn.Module, Preprocess]:
        return _timm(name, num_classes)

    def pretrained(self, name: str, *, download: bool) -> tuple[dict[str, torch.Tensor], str]:
        _need("timm", "timm")
        if not download:
            msg = (
                f"--weights DEFAULT: timm:{name}'s pretrained weights are fetched from the Hugging Face hub; "
                "add --download, or save model.state_dict() to a .safetensors file and pass --weights FILE."
            )
            raise DataNotFoundError(msg)
        import timm

        model = timm.create_model(name, pretrained=True)
        return dict(model.state_dict()), f"timm pretrained {name}"


def _timm(name: str, num_classes: int | None) -> tuple[nn.Module, Preprocess]:
    _need("timm", "timm")
    import timm
    from timm.data import resolve_data_config  # type: ignore[attr-defined]

    try:
        extra: dict[str, Any] = {} if num_classes is None else {"num_classes": num_classes}
        model = timm.create_model(name, pretrained=False, **extra)
    except RuntimeError as exc:  # timm: "Unknown model (...)"
        msg = f"timm has no model {name!r} ({' '.join(str(exc).split())[:120]}). See timm.list_models()."
        raise InvalidParameterError(msg) from None
    cfg = resolve_data_config({}, model=model)  # type: ignore[no-untyped-call]
    size = tuple(int(s) for s in cfg.get("input_size", (3, 224, 224)))
    crop_pct = float(cfg.get("crop_pct", 1.0) or 1.0)
    pre = Preprocess(
        resize=int(math.floor(size[-1] / crop_pct)),
        crop=(size[-2], size[-1]),
        mean=tuple(float(v) for v in cfg.get("mean", (0.0, 0.0, 0.0))),
        std=tuple(float(v) for v in cfg.get("std", (1.0, 1.0, 1.0))),
        interpolation=str(cfg.get("interpolation", "bilinear")),
        source=f"timm resolve_data_config ({name})",
    )
    return model, pre


register_model_source("timm", TimmSource())
