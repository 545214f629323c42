"""Exact Hamming search outside the Numba kernels: torch matrix products on CUDA or the CPU."""

from actcode.search.torch_hamming import (
    METHODS,
    TorchHamming,
    average_precision_torch,
    hamming_block_torch,
    nearest_class_distances_torch,
    topk_hamming_torch,
)

__all__ = [
    "METHODS",
    "TorchHamming",
    "average_precision_torch",
    "hamming_block_torch",
    "nearest_class_distances_torch",
    "topk_hamming_torch",
]
