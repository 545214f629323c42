"""The device rules: a device name (auto, cpu, cuda[:N], mps) to a torch device and to a Hamming search.

torch is imported only when a device other than the CPU is asked for (or ``auto`` is resolved),
so the CPU paths of ``measure`` and ``probe`` never import it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from actcode.config import DEVICES as DEVICE_NAMES
from actcode.errors import InvalidParameterError
from actcode.kernels.hamming import NumbaHamming

if TYPE_CHECKING:
    import torch


@runtime_checkable
class HammingSearch(Protocol):
    """An exact Hamming search over packed ``uint8`` rows (ties by the smaller index).

    Implementations: :class:`actcode.kernels.hamming.NumbaHamming` (popcount kernels on the
    CPU) and :class:`actcode.search.torch_hamming.TorchHamming` (matrix products on a torch
    device); both give the same results. :func:`hamming_search` chooses between them.
    """

    def describe(self) -> str:
        """How the search runs, for the results' parameters (``"numba popcount"``)."""

    def topk(self, queries: np.ndarray, train: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, indices) of shape (n_queries, k) of the nearest train rows."""

    def average_precision(
        self, queries: np.ndarray, query_labels: np.ndarray, train: np.ndarray, train_labels: np.ndarray
    ) -> np.ndarray:
        """Per query, the average precision of ranking every train row by distance (NaN: no relevant row)."""


def may_have_accelerator() -> bool:
    """False only when this machine surely has neither CUDA nor MPS, found without importing torch.

    CUDA needs the NVIDIA driver (``/proc/driver/nvidia`` or ``/dev/nvidia*`` on Linux) and MPS
    needs macOS; elsewhere (Windows) the answer is True and torch decides.
    """
    if sys.platform == "darwin" or not sys.platform.startswith("linux"):
        return True
    return Path("/proc/driver/nvidia").exists() or any(Path("/dev").glob("nvidia[0-9]*"))


def mps_available() -> bool:
    """True when this PyTorch build has Apple's MPS backend and the machine can use it."""
    import torch

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
    import torch

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


def hamming_search(device: str = "cpu") -> HammingSearch:
    """The Hamming search for a device: the Numba kernels on the CPU, torch products elsewhere.

    ``"cpu"`` keeps the Numba popcount kernels (they beat the torch int8 products on the CPU,
    see tests/benchmarks/README.md) without importing torch. ``"auto"`` is CUDA when
    available, else MPS, else the CPU (without importing torch on a machine that has no NVIDIA
    driver and is not a Mac, see :func:`may_have_accelerator`). ``"cuda"``, ``"cuda:N"`` and ``"mps"`` get
    :class:`~actcode.search.torch_hamming.TorchHamming` there (float32 products on MPS, which
    has no int8 product).

    Raises
    ------
    InvalidParameterError
        An unknown device, or one that is not available here.

    Examples
    --------
    >>> hamming_search("cpu").describe()
    'numba popcount'
    """
    if device == "cpu" or (device == "auto" and not may_have_accelerator()):
        return NumbaHamming()
    dev = resolve_device(device)
    if dev.type == "cpu":
        return NumbaHamming()
    from actcode.search.torch_hamming import TorchHamming

    return TorchHamming.for_device(dev, "float32" if dev.type == "mps" else None)


def accelerated(search: HammingSearch) -> HammingSearch | None:
    """``search`` when it runs on a torch device, None for the Numba kernels (the kernels' own path)."""
    return None if isinstance(search, NumbaHamming) else search


__all__ = [
    "DEVICE_NAMES",
    "HammingSearch",
    "accelerated",
    "hamming_search",
    "may_have_accelerator",
    "mps_available",
    "resolve_device",
]
