"""The ``torchvision:NAME`` model source: torchvision's models, their preprocessing and DEFAULT weights."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from actcode.data.preprocess import Preprocess
from actcode.errors import CheckpointError, DataNotFoundError, InvalidParameterError
from actcode.models.sources import register_model_source


class TorchvisionSource:
    """``torchvision.models.get_model_builder(NAME)`` with random weights; the DEFAULT weights' metadata."""

    order: int = 10

    def build(self, name: str, *, num_classes: int | None = None) -> tuple[nn.Module, Preprocess]:
        return _torchvision(name, num_classes)

    def pretrained(self, name: str, *, download: bool) -> tuple[dict[str, torch.Tensor], str]:
        from torchvision import models

        try:
            weights = models.get_model_weights(name).DEFAULT
        except (ValueError, AttributeError, KeyError):
            msg = f"torchvision:{name} has no pretrained weights; pass --weights FILE."
            raise InvalidParameterError(msg) from None
        folder = Path(torch.hub.get_dir()) / "checkpoints"
        file = folder / Path(str(weights.url)).name
        if not file.is_file() and not download:
            msg = (
                f"--weights DEFAULT: torchvision's {weights} file {file.name} is not in {folder}; "
                f"download {weights.url} into that folder, or add --download."
            )
            raise DataNotFoundError(msg)
        try:
            state = torch.hub.load_state_dict_from_url(
                str(weights.url), model_dir=str(folder), progress=False, check_hash=True, weights_only=True
            )
        except Exception as exc:  # a damaged cached file, a failed download's hash check, no network
            text = " ".join(str(exc).split())[:200]
            msg = (
                f"--weights DEFAULT: cannot load torchvision's {weights} from {file} ({text}); "
                "delete it, retry."
            )
            raise CheckpointError(msg) from None
        return dict(state), f"torchvision {weights} ({file})"


def _torchvision(name: str, num_classes: int | None) -> tuple[nn.Module, Preprocess]:
    from torchvision import models

    try:
        builder = models.get_model_builder(name)
    except ValueError:
        close = [m for m in models.list_models() if name.lower() in m or m in name.lower()][:5]
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        msg = f"torchvision has no model {name!r}.{hint} See torchvision.models.list_models()."
        raise InvalidParameterError(msg) from None
    model = builder(weights=None) if num_classes is None else builder(weights=None, num_classes=num_classes)
    pre = Preprocess(224, (224, 224), source="default (no weights metadata)")
    try:
        weights = models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError, KeyError):
        return model, pre
    t = weights.transforms()
    crop = [int(c) for c in getattr(t, "crop_size", [224])]
    resize = [int(r) for r in getattr(t, "resize_size", crop)]
    interp = str(getattr(t, "interpolation", "bilinear")).rsplit(".", 1)[-1].lower()
    pre = Preprocess(
        resize=resize[0],
        crop=(crop[0], crop[-1]),
        mean=tuple(float(v) for v in getattr(t, "mean", (0.0, 0.0, 0.0))),
        std=tuple(float(v) for v in getattr(t, "std", (1.0, 1.0, 1.0))),
        interpolation=interp,
        source=f"torchvision {weights} transforms()",
    )
    return model, pre


register_model_source("torchvision", TorchvisionSource())
