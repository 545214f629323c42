"""Which Hamming search a ``--device`` gets, as the torch engine the search functions take (None: Numba).

The choice itself is :func:`actcode.devices.hamming_search`; this is its older spelling.
"""

from __future__ import annotations

from actcode.devices import accelerated, hamming_search
from actcode.search.torch_hamming import TorchHamming

__all__ = ["hamming_engine"]


def hamming_engine(device: str = "cpu") -> TorchHamming | None:
    """The torch search of a device, or None for the Numba kernels (see ``devices.hamming_search``)."""
    engine = accelerated(hamming_search(device))
    assert engine is None or isinstance(engine, TorchHamming)
    return engine
