"""Which Hamming search a ``--device`` gets: the Numba kernels on the CPU, torch products elsewhere."""

from __future__ import annotations

from actcode.search.torch_hamming import TorchHamming

__all__ = ["hamming_engine"]


def hamming_engine(device: str = "cpu") -> TorchHamming | None:
    """The torch search for a device, or None for the Numba kernels.

    ``"cpu"`` keeps the Numba popcount kernels: on the CPU they beat the int8 products of
    the torch path (see tests/benchmarks/README.md). ``"auto"`` is CUDA when available, else
    the CPU. ``"cuda"``, ``"cuda:N"`` and ``"mps"`` run :mod:`actcode.search.torch_hamming`
    there (float32 products on MPS, which has no int8 product).

    Raises
    ------
    InvalidParameterError
        An unknown device, or one that is not available here.
    """
    if device == "cpu":  # no torch import on the default CPU path
        return None
    from actcode.devices import resolve_device

    dev = resolve_device(device)
    if dev.type == "cpu":
        return None
    return TorchHamming.for_device(dev, "float32" if dev.type == "mps" else None)
