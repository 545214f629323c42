"""VGG-style CNNs: conv3x3 -> BN -> activation stages with max-pools, then FC layers (the paper's 512 x 2)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from actcode.config import VGG_PLANS as PLANS
from actcode.config import vgg_plan
from actcode.errors import InvalidParameterError
from actcode.models.mlp import make_activation

__all__ = ["PLANS", "VGG", "scaled", "vgg_plan"]


def scaled(n: int, mult: float) -> int:
    """``n * mult`` rounded, at least 1."""
    return max(1, int(round(n * mult)))


class VGG(nn.Module):
    """A VGG-style network for (C, H, W) inputs of any size.

    ``features`` holds ``conv{i}``, ``bn{i}`` (when ``bn``) and ``relu{i}`` per conv (3x3,
    padding 1) and ``pool{j}`` per applied max-pool. A pool that would shrink the spatial size
    below 1 (on small inputs, such as the 8x8 digits) is skipped and leaves no module.
    ``classifier`` holds ``fc{k}``, ``bn{k}``, ``relu{k}`` and ``dropout{k}`` per hidden FC
    layer, and ``out``. With ``plan=PLANS["vgg16"]``, ``fc=(512, 512)`` and ``dropout=0.5``
    this is the paper's VGG-16.

    Examples
    --------
    >>> m = VGG((1, 8, 8), 10, PLANS["vgg11"], fc=(8, 8), width_mult=0.125)
    >>> m(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> sum(isinstance(x, nn.MaxPool2d) for x in m.modules())  # 8 -> 4 -> 2 -> 1, two pools skipped
    3
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        plan: Sequence[int | str],
        *,
        fc: Sequence[int] = (512, 512),
        width_mult: float = 1.0,
        activation: str = "relu",
        bn: bool = True,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            msg = (
                f"VGG models need image inputs of shape (C, H, W); this data has shape {tuple(input_shape)}. "
                "Use --model mlp for tabular data."
            )
            raise InvalidParameterError(msg)
        c, h, w = (int(s) for s in input_shape)
        feats: OrderedDict[str, nn.Module] = OrderedDict()
        n_conv = n_pool = 0
        for p in plan:
            if p == "M":
                if h >= 2 and w >= 2:
                    n_pool += 1
                    feats[f"pool{n_pool}"] = nn.MaxPool2d(2)
                    h, w = h // 2, w // 2
                continue
            n_conv += 1
            ch = scaled(int(p), width_mult)
            feats[f"conv{n_conv}"] = nn.Conv2d(c, ch, kernel_size=3, padding=1)
            if bn:
                feats[f"bn{n_conv}"] = nn.BatchNorm2d(ch)
            feats[f"{activation}{n_conv}"] = make_activation(activation, ch)
            c = ch
        self.features = nn.Sequential(feats)
        self.flatten = nn.Flatten()
        head: OrderedDict[str, nn.Module] = OrderedDict()
        fan_in = c * h * w
        for k, units in enumerate(fc, start=1):
            u = scaled(int(units), width_mult)
            head[f"fc{k}"] = nn.Linear(fan_in, u)
            if bn:
                head[f"bn{k}"] = nn.BatchNorm1d(u)
            head[f"{activation}{k}"] = make_activation(activation, u)
            if dropout > 0:
                head[f"dropout{k}"] = nn.Dropout(dropout)
            fan_in = u
        head["out"] = nn.Linear(fan_in, n_classes)
        self.classifier = nn.Sequential(head)
        self.feature_shape = (c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, n_classes) for a batch of shape (B, C, H, W)."""
        out: torch.Tensor = self.classifier(self.flatten(self.features(x)))
        return out
