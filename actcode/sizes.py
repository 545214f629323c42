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


#: The most cells a sweep spec may have (the product of its grid's lengths).
MAX_CELLS = 100_000
#: The deepest nesting of arrays and inline tables in a spec file.
MAX_SPEC_NESTING = 16
#: The largest spec file read (a spec is a few KiB).
MAX_SPEC_BYTES = 1 << 20


def check_count(n: int, what: str, limit: int, *, where: str = "") -> None:
    """Refuse (InvalidParameterError, exit 5) a count above ``limit``; the line names both."""
    if n > limit:
        msg = f"{where}{what} is {n:,}, more than the limit of {limit:,}. Choose fewer."
        raise InvalidParameterError(msg)


def grid_cells(lengths: list[int]) -> int:
    """The number of cells of a grid with axes of these lengths, never listing them.

    >>> grid_cells([1000, 1000, 1000])
    1000000000
    """
    n = 1
    for k in lengths:
        n *= max(0, int(k))
    return n


def toml_nesting(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in TOML values, outside strings and comments (no recursion).

    A table header (``[train]``, ``[[x]]``) counts as its brackets, so it never exceeds 2.

    >>> toml_nesting('a = [[1, 2], {b = "[["}]  # [[[')
    2
    """
    depth = deepest = 0
    quote = ""
    escaped = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return deepest


def check_spec_text(text: str, source: str) -> None:
    """Refuse (exit 5) a spec file too large or nested too deep, before it is parsed.

    tomllib parses nesting by recursion: a spec nested 100,000 deep would end in a
    RecursionError instead of one line.
    """
    check_count(len(text), "its size in characters", MAX_SPEC_BYTES, where=f"{source}: ")
    nesting = toml_nesting(text)
    check_count(nesting, "the nesting of its arrays and inline tables", MAX_SPEC_NESTING, where=f"{source}: ")


def check_grid(grid: object, source: str) -> None:
    """Refuse (exit 5) a grid whose cells (the product of its axes' lengths) exceed :data:`MAX_CELLS`.

    Counted by multiplying the lengths, before any cell is built.
    """
    if not isinstance(grid, dict):
        return
    lengths = [len(v) for v in grid.values() if isinstance(v, list)]
    check_count(grid_cells(lengths), "the number of cells of its grid", MAX_CELLS, where=f"{source}: ")


def check_mlp_widths(widths: tuple[int, ...], what: str) -> None:
    """Refuse (exit 5) hidden widths whose weights cannot fit :func:`memory_limit`, before building.

    A lower bound of the weights (one input, two classes) times 16 bytes (weights, gradients
    and two optimizer moments in float32) is checked, so nothing is refused that would fit.
    """
    ws = [max(0, int(w)) for w in widths]
    n = sum(a * b for a, b in zip(ws, ws[1:], strict=False)) + 3 * sum(ws)
    check_allocation(16 * n, f"{what}: hidden widths {ws} (at least {n:,} weights, x4 for training)")


__all__ = [
    "MAX_CELLS",
    "MAX_SPEC_BYTES",
    "MAX_SPEC_NESTING",
    "MEMORY_ENV",
    "check_allocation",
    "check_count",
    "check_grid",
    "check_mlp_widths",
    "check_spec_text",
    "format_bytes",
    "grid_cells",
    "memory_limit",
    "parse_bytes",
    "toml_nesting",
]
