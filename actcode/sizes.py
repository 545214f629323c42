"""Sizes written as text (``4GiB``, ``512M``, ``1000000``), parsed once for the commands and sweeps."""

from __future__ import annotations

import re

from actcode.errors import InvalidParameterError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 10**6,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 10**9,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 10**12,
    "tib": 1 << 40,
}


def parse_bytes(text: str, option: str = "--max-memory") -> int:
    """Parse a size such as ``4GiB``, ``512M`` or ``1000000`` into bytes (K, M, G are binary)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS or float(m.group(1)) <= 0:
        msg = (
            f"{option} must be a positive size such as 4GiB, 512MiB or 1000000 (bytes). Got {text!r} instead."
        )
        raise InvalidParameterError(msg)
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


__all__ = ["parse_bytes"]
