"""Sizes written as text (``4GiB``, ``512M``, ``1000000``), parsed once for the commands and sweeps."""

from __future__ import annotations

import os
import re
from pathlib import Path

from actcode.errors import FormatError, InvalidParameterError

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


#: Environment variable that sets the memory limit of every size check (a size such as 8GiB).
MEMORY_ENV = "ACTCODE_MAX_MEMORY"


def format_bytes(n: float) -> str:
    """A byte count for messages: ``format_bytes(3 << 30) == '3.0 GiB'``."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def memory_limit() -> int:
    """The most bytes one input may make actcode allocate: ``$ACTCODE_MAX_MEMORY``, else the
    memory available now (``MemAvailable`` of /proc/meminfo; the RAM where that is unknown).

    This is the one rule every size check uses (train options, checkpoint configs,
    ``--random N``, data files, decompressed arrays); ``measure --max-memory`` and
    ``probe --max-memory`` are a different, smaller budget: how much of a file to hold at once.
    """
    text = os.environ.get(MEMORY_ENV)
    if text:
        return parse_bytes(text, option=MEMORY_ENV)
    try:  # what the kernel says can be allocated now without swapping
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 16 << 30


def check_allocation(
    nbytes: float, what: str, *, from_file: str | None = None, limit: int | None = None
) -> None:
    """Refuse before allocating ``nbytes`` for ``what`` when it exceeds :func:`memory_limit`.

    Raises InvalidParameterError (exit 5) for sizes that come from options, and FormatError
    (exit 3) for sizes a file claims (``from_file`` names it); the message names the size and
    the limit.
    """
    cap = memory_limit() if limit is None else limit
    if nbytes <= cap:
        return
    how = f"set by {MEMORY_ENV}" if os.environ.get(MEMORY_ENV) else f"memory available; {MEMORY_ENV} sets it"
    if from_file is not None:
        msg = (
            f"{from_file}: {what} would need {format_bytes(nbytes)}, more than the memory limit of "
            f"{format_bytes(cap)} ({how}). The file claims more than can be loaded."
        )
        raise FormatError(msg)
    msg = (
        f"{what} would need {format_bytes(nbytes)}, more than the memory limit of {format_bytes(cap)} "
        f"({how}). Choose a smaller value."
    )
    raise InvalidParameterError(msg)


__all__ = ["MEMORY_ENV", "check_allocation", "format_bytes", "memory_limit", "parse_bytes"]
