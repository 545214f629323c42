"""The one safe ``torch.load``: a zip archive as torch.save writes, loaded with ``weights_only=True``.

The legacy pickle reader never runs (the file must be a zip archive first), and a file that
needs any global other than tensors and plain values is refused before any of its code runs.
Callers word the three refusals for their kind of file.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from actcode.errors import CheckpointError


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
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise CheckpointError(refused(exc)) from exc
    except Exception as exc:  # torch raises RuntimeError/EOFError/ValueError... on damaged archives
        raise CheckpointError(damaged(exc)) from exc


__all__ = ["refused_global", "short_reason", "torch_load_safe"]
