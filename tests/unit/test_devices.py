"""One resolve_device for training and extraction: auto order, explicit names, absent devices."""

from __future__ import annotations

import pytest
import torch

from actcode.devices import DEVICE_NAMES, mps_available, resolve_device
from actcode.errors import InvalidParameterError


def test_auto_prefers_cuda_then_mps_then_cpu() -> None:
    want = "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device().type == want


def test_explicit_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    dev = torch.device("cpu")
    assert resolve_device(dev) is dev
    assert set(DEVICE_NAMES) == {"auto", "cpu", "cuda", "mps"}


@pytest.mark.parametrize("name", ["tpu", "cuda:x", ""])
def test_not_a_device(name: str) -> None:
    with pytest.raises(InvalidParameterError, match="must be auto, cpu, cuda, cuda:N or mps"):
        resolve_device(name)


def test_absent_cuda_device_is_refused() -> None:
    name = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"
    with pytest.raises(InvalidParameterError, match="CUDA"):
        resolve_device(name)


def test_absent_mps_is_refused() -> None:
    if mps_available():
        assert resolve_device("mps").type == "mps"
    else:
        with pytest.raises(InvalidParameterError, match="MPS is not available"):
            resolve_device("mps")
