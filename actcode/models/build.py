"""``build_model``: a :class:`~actcode.config.ModelSpec` to an ``nn.Module`` of the zoo or a user factory."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from actcode.config import ModelSpec
from actcode.models.mlp import MLP
from actcode.sizes import check_allocation


def build_model(
    spec: ModelSpec,
    input_shape: Sequence[int],
    n_classes: int,
    *,
    copies: int = 1,
    from_file: str | None = None,
) -> nn.Module:
    """Build the model a spec describes, for inputs of ``input_shape`` and ``n_classes`` outputs.

    Parameters
    ----------
    spec : ModelSpec
    input_shape : sequence of int
        One example's shape, ``(C, H, W)`` or ``(F,)``.
    n_classes : int
    copies : int
        Copies of the weights the caller will hold (4 for training: weights, gradients and two
        optimizer moments). A zoo model is first built on PyTorch's ``meta`` device, which
        allocates nothing, and refused when ``copies`` times its weights exceed the memory
        limit (:func:`actcode.sizes.check_allocation`).
    from_file : str, optional
        The file the spec comes from (a checkpoint): a refusal is then a FormatError (exit 3)
        naming it, else an InvalidParameterError (exit 5).

    Returns
    -------
    torch.nn.Module
        Maps a batch of shape (B, *input_shape) to logits of shape (B, n_classes).

    Raises
    ------
    InvalidParameterError
        The spec is invalid, a CNN gets non-image inputs, or a user factory fails.

    Examples
    --------
    >>> m = build_model(ModelSpec(width=10, depth=3), (1, 8, 8), 10)
    >>> [layer.out_features for layer in m.modules() if isinstance(layer, nn.Linear)]
    [4, 3, 3, 10]
    """
    spec.validate()
    shape = tuple(int(s) for s in input_shape)
    if spec.family != "custom":  # never run a user's factory twice
        with torch.device("meta"):
            sized = _build(spec, shape, n_classes)
        n_params = sum(t.numel() for t in (*sized.parameters(), *sized.buffers()))
        extra = f", x{copies} for training" if copies > 1 else ""
        what = f"the {spec.name} model ({n_params:,} weights{extra})"
        check_allocation(4 * n_params * copies, what, from_file=from_file)
    return _build(spec, shape, n_classes)


def _build(spec: ModelSpec, shape: tuple[int, ...], n_classes: int) -> nn.Module:
    family = spec.family
    if family == "mlp":
        return MLP(
            shape,
            n_classes,
            spec.hidden_widths(),
            activation=spec.activation,
            bn=spec.bn,
            dropout=spec.resolved_dropout(),
        )
    if family == "vgg":
        from actcode.models.vgg import VGG, vgg_plan

        return VGG(
            shape,
            n_classes,
            vgg_plan(spec.name, spec.plan),
            fc=spec.fc,
            width_mult=spec.width_mult,
            activation=spec.activation,
            bn=spec.bn,
            dropout=spec.resolved_dropout(),
        )
    if family == "resnet":
        from actcode.models.resnet import make_resnet

        return make_resnet(
            spec.name, shape, n_classes, width_mult=spec.width_mult, activation=spec.activation, bn=spec.bn
        )
    from actcode.models.custom import build_custom

    assert spec.factory is not None  # validate() guarantees it
    return build_custom(spec.factory, shape, n_classes)


__all__ = ["build_model"]
