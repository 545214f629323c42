"""The one place that turns a device name (``auto``, ``cpu``, ``cuda[:N]``, ``mps``) into a torch device."""

from __future__ import annotations

import torch

from actcode.config import DEVICES as DEVICE_NAMES
from actcode.errors import InvalidParameterError


def mps_available() -> bool:
    """True when this PyTorch build has Apple's MPS backend and the machine can use it."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` is CUDA when present, else MPS, else the CPU; an explicit device is checked and returned.

    A :class:`torch.device` is returned as it is.

    Raises
    ------
    InvalidParameterError
        Not a device name, or a device this machine does not have.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if mps_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        msg = f"--device must be auto, cpu, cuda, cuda:N or mps. Got {device!r} instead."
        raise InvalidParameterError(msg) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            msg = f"--device {device}: CUDA is not available on this machine; use --device auto or cpu."
            raise InvalidParameterError(msg)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            msg = f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)."
            raise InvalidParameterError(msg)
    if dev.type == "mps" and not mps_available():
        msg = f"--device {device}: Apple MPS is not available on this machine; use --device auto or cpu."
        raise InvalidParameterError(msg)
    return dev


__all__ = ["DEVICE_NAMES", "mps_available", "resolve_device"]
