"""Optimizer with weight-decay groups, the learning-rate schedule and determinism."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from actcode.config import TrainConfig


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Parameter groups: weight decay on parameters with 2+ dimensions (Linear and Conv weights).

    Biases, BatchNorm scales and shifts and PReLU slopes get no decay, as with a Keras
    ``kernel_regularizer``.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if weight_decay == 0:
        return [{"params": params, "weight_decay": 0.0}]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups: list[dict[str, object]] = [{"params": decay, "weight_decay": weight_decay}]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return groups


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, or SGD with ``config.momentum``, at ``config.lr``, with :func:`decay_groups`."""
    groups = decay_groups(model, config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)


def lr_at(config: TrainConfig, epoch: int) -> float:
    """Learning rate during ``epoch`` (1-based).

    ``step``: ``lr * lr_gamma ** ((epoch - 1) // lr_step)``, the paper's Keras
    ``lr * 0.1 ** (epoch // 20)`` with 0-based epochs; ``cosine``: from ``lr`` down towards 0
    over ``epochs``; ``none``: constant.

    Examples
    --------
    >>> cfg = TrainConfig(lr=1.0, epochs=60)
    >>> [lr_at(cfg, e) for e in (1, 20, 21, 41)]
    [1.0, 1.0, 0.1, 0.010000000000000002]
    """
    e = max(epoch - 1, 0)
    if config.lr_schedule == "step":
        return config.lr * config.lr_gamma ** (e // config.lr_step)
    if config.lr_schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * e / max(config.epochs, 1)))
    return config.lr


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate."""
    for g in optimizer.param_groups:
        g["lr"] = lr


@contextmanager
def cpu_threads(model: nn.Module, device: torch.device, threads: int) -> Iterator[int]:
    """Set ``torch.set_num_threads`` for the block (see ``TrainConfig.threads``), then restore it."""
    prev = torch.get_num_threads()
    n = threads
    if n == 0:
        has_conv = any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
        n = 1 if device.type == "cpu" and not has_conv else prev
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(prev)


def _set_deterministic(mode: bool, warn_only: bool) -> None:
    """The eager-mode switch behind ``torch.use_deterministic_algorithms``.

    The public function also imports ``torch._inductor`` to set Inductor's flag, which takes
    seconds and does not matter here (nothing is compiled); the C-level switch it calls is used
    directly when present.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # pragma: no cover - other torch versions
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        setter(mode, warn_only=warn_only)


@contextmanager
def deterministic(device: torch.device) -> Iterator[None]:
    """On the CPU, deterministic algorithms for the block (eager mode), then restore the settings.

    ``torch.utils.deterministic.fill_uninitialized_memory`` is switched off meanwhile: filling
    every new tensor with NaN only helps to find reads of uninitialized memory, and costs a
    write of every intermediate result.
    """
    if device.type != "cpu":
        yield
        return
    import torch.utils.deterministic as det_utils

    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_fill = bool(getattr(det_utils, "fill_uninitialized_memory", True))
    _set_deterministic(True, False)
    setattr(det_utils, "fill_uninitialized_memory", False)  # noqa: B010 (a module property)
    try:
        yield
    finally:
        setattr(det_utils, "fill_uninitialized_memory", prev_fill)  # noqa: B010
        _set_deterministic(prev, prev_warn)
