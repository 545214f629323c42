"""Exact Hamming search outside the Numba kernels: torch matrix products on CUDA or the CPU."""

from actcode.search.engine import hamming_engine
from actcode.search.torch_hamming import (
    METHODS,
    TorchHamming,
    average_precision_torch,
    hamming_block_torch,
    nearest_class_distances_torch,
    queries_on_device,
    topk_hamming_torch,
)

__all__ = [
    "METHODS",
    "TorchHamming",
    "average_precision_torch",
    "hamming_block_torch",
    "hamming_engine",
    "nearest_class_distances_torch",
    "queries_on_device",
    "topk_hamming_torch",
]
