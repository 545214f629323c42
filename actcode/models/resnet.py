"""CIFAR ResNets: ResNet-20/32/56 (16-32-64) and ResNet-18 (64-128-256-512, 3x3 stem, no max-pool)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from actcode.errors import InvalidParameterError
from actcode.models.mlp import make_activation
from actcode.models.vgg import scaled

#: Blocks per stage and stage widths of each preset.
PRESETS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "resnet20": ((3, 3, 3), (16, 32, 64)),
    "resnet32": ((5, 5, 5), (16, 32, 64)),
    "resnet56": ((9, 9, 9), (16, 32, 64)),
    "resnet18": ((2, 2, 2, 2), (64, 128, 256, 512)),
}


def _norm(channels: int, bn: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if bn else nn.Identity()


class BasicBlock(nn.Module):
    """conv3x3-BN-act-conv3x3-BN, plus the shortcut, then the activation.

    Like torchvision's ``BasicBlock``, the block owns ONE activation module, ``relu``, and calls
    it twice per forward pass (after ``bn1`` and after the addition), so an extractor hooking
    modules sees two activation sites for it. The shortcut is a 1x1 conv + BN projection when
    the shape changes.
    """

    def __init__(self, in_planes: int, planes: int, stride: int, *, activation: str, bn: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=not bn)
        self.bn1 = _norm(planes, bn)
        self.relu = make_activation(activation, planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=not bn)
        self.bn2 = _norm(planes, bn)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=not bn), _norm(planes, bn)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The residual block."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        y: torch.Tensor = self.relu(out + identity)
        return y


class ResNet(nn.Module):
    """A CIFAR-style ResNet with torchvision's module names.

    ``conv1``, ``bn1``, ``relu`` (the stem, 3x3, stride 1, no max-pool), ``layer1`` ... ``layerK``
    (stage k halves the spatial size for k > 1), ``avgpool`` (global), ``fc``.

    Examples
    --------
    >>> m = make_resnet("resnet20", (1, 8, 8), 10, width_mult=0.25)
    >>> m(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        blocks: Sequence[int],
        planes: Sequence[int],
        *,
        activation: str = "relu",
        bn: bool = True,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            msg = (
                "ResNet models need image inputs of shape (C, H, W); this "
                f"data has shape {tuple(input_shape)}. "
                "Use --model mlp for tabular data."
            )
            raise InvalidParameterError(msg)
        in_ch = int(input_shape[0])
        width = planes[0]
        self.conv1 = nn.Conv2d(in_ch, width, 3, stride=1, padding=1, bias=not bn)
        self.bn1 = _norm(width, bn)
        self.relu = make_activation(activation, width)
        in_planes = width
        for k, (n_blocks, p) in enumerate(zip(blocks, planes, strict=True), start=1):
            stage = []
            for b in range(n_blocks):
                stride = 2 if (k > 1 and b == 0) else 1
                stage.append(BasicBlock(in_planes, p, stride, activation=activation, bn=bn))
                in_planes = p
            self.add_module(f"layer{k}", nn.Sequential(*stage))
        self.n_stages = len(blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (B, n_classes)."""
        x = self.relu(self.bn1(self.conv1(x)))
        for k in range(1, self.n_stages + 1):
            x = getattr(self, f"layer{k}")(x)
        out: torch.Tensor = self.fc(torch.flatten(self.avgpool(x), 1))
        return out


def make_resnet(
    name: str,
    input_shape: Sequence[int],
    n_classes: int,
    *,
    width_mult: float = 1.0,
    activation: str = "relu",
    bn: bool = True,
) -> ResNet:
    """The preset ``name`` (resnet20, resnet32, resnet56 or resnet18) with widths x ``width_mult``."""
    blocks, planes = PRESETS[name]
    return ResNet(
        input_shape,
        n_classes,
        blocks,
        [scaled(p, width_mult) for p in planes],
        activation=activation,
        bn=bn,
    )
