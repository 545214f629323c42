"""The one safe ``torch.load``: a zip archive as torch.save writes, loaded with ``weights_only=True``.

The legacy pickle reader never runs (the file must be a zip archive first), and a file that
needs any global other than tensors and plain values is refused before any of its code runs.
The archive's members are sized before anything is decompressed: a zip bomb (a few MB that
inflate to GBs) is refused by :func:`check_members`. Callers word the refusals for their kind
of file.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from actcode.errors import CheckpointError
from actcode.sizes import check_allocation, format_bytes

#: The most a compressed member may inflate (uncompressed / compressed bytes). torch.save stores
#: members uncompressed; a weights file recompressed by a zip tool inflates a few times at most,
#: deflate itself cannot exceed about 1032.
MAX_RATIO = 100
#: Members this small are never refused for their ratio (a zeroed bias compresses very well).
RATIO_FLOOR = 1 << 20
#: The most members an archive may hold.
MAX_MEMBERS = 100_000


def refused_global(exc: pickle.UnpicklingError) -> str:
    """The line of torch's refusal that names the global it would not load, or a generic reason."""
    lines = [ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln or "Unsupported" in ln]
    return lines[0] if lines else "it needs objects other than tensors and plain values"


def short_reason(exc: BaseException, limit: int = 200) -> str:
    """The exception's text on one line, cut to ``limit`` characters."""
    return " ".join(str(exc).split())[:limit]


def torch_load_safe(
    path: Path,
    *,
    not_zip: str,
    refused: Callable[[pickle.UnpicklingError], str],
    damaged: Callable[[BaseException], str],
) -> Any:
    """Load ``path`` with ``torch.load(weights_only=True, map_location="cpu")`` after a zip check.

    Parameters
    ----------
    path : Path
    not_zip : str
        Message when the file is not a zip archive (or not a file).
    refused, damaged : callable
        Message for a pickle that needs code, and for any other failure to load.

    Raises
    ------
    CheckpointError
        With one of the three messages.
    """
    if not path.is_file() or not zipfile.is_zipfile(path):
        raise CheckpointError(not_zip)
    check_members(path, damaged)
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise CheckpointError(refused(exc)) from exc
    except Exception as exc:  # torch raises RuntimeError/EOFError/ValueError... on damaged archives
        raise CheckpointError(damaged(exc)) from exc


def check_members(path: Path, damaged: Callable[[BaseException], str]) -> None:
    """Refuse an archive whose members would inflate beyond the memory limit or :data:`MAX_RATIO`.

    Only the central directory is read. A member whose real size differs from the one the
    directory declares fails torch's own size check, so the declared sizes bound what loads.
    """
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise CheckpointError(damaged(exc)) from None
    if len(infos) > MAX_MEMBERS:
        msg = f"{path}: the archive holds {len(infos)} members, more than the limit of {MAX_MEMBERS}."
        raise CheckpointError(msg)
    for info in infos:
        stored = max(1, info.compress_size)
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * stored:
            msg = (
                f"{path}: the member {info.filename[:80]!r} inflates from {format_bytes(stored)} to "
                f"{format_bytes(info.file_size)}, more than {MAX_RATIO} times; refused as a zip bomb."
            )
            raise CheckpointError(msg)
    check_allocation(sum(i.file_size for i in infos), "the archive's members", from_file=str(path))


__all__ = ["MAX_RATIO", "check_members", "refused_global", "short_reason", "torch_load_safe"]
