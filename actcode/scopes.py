"""What measure and probe share: scopes of a code (byte ranges, units), split checks, the memory budget."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actcode.codes import LayerInfo
from actcode.errors import InvalidParameterError
from actcode.results import SCOPE_ALL, layer_scope, upto_scope

#: Default memory budget (bytes) of measure (codes held in memory) and probe (one dense matrix).
DEFAULT_MAX_MEMORY = 4 << 30


@dataclass(frozen=True)
class Scope:
    """A part of every code row: its scope name, its byte range ``[lo, hi)`` and its units.

    ``units`` are the bit positions of the scope's units in a whole row (pad bits left out).
    """

    name: str
    lo: int
    hi: int
    units: np.ndarray

    def relative_units(self) -> np.ndarray:
        """Bit positions of the units within the scope's own bytes ``row[lo:hi]``."""
        return self.units - 8 * self.lo


def _units(layers: list[LayerInfo]) -> np.ndarray:
    return np.concatenate([8 * layer.byte_offset + np.arange(layer.n_units) for layer in layers])


def whole_scope(layers: list[LayerInfo]) -> Scope:
    """The scope ``all``: every site of the row."""
    return Scope(SCOPE_ALL, 0, layers[-1].byte_stop, _units(layers))


#: Most sites that get scopes of their own (``layer:`` and ``upto:``): each scope is one more pass
#: over the codes and one more set of result rows, so a file of 20,000 one-unit sites would take
#: minutes and grow by kilobytes per site. Beyond it, choose the sites (``--layers``).
MAX_SCOPE_SITES = 1024


def check_scope_sites(n_sites: int, where: str) -> None:
    """Refuse (exit 5) per-site scopes for more than :data:`MAX_SCOPE_SITES` sites."""
    if n_sites > MAX_SCOPE_SITES:
        msg = (
            f"{where}: per-layer and prefix scopes were asked for {n_sites} sites, more than the limit of "
            f"{MAX_SCOPE_SITES} (each is a pass over the codes and its own result rows). Choose at most "
            f"{MAX_SCOPE_SITES} sites with --layers, or pass --no-per-layer --no-prefixes for the whole code."
        )
        raise InvalidParameterError(msg)


def layer_scopes(selected: list[LayerInfo]) -> list[Scope]:
    """One scope ``layer:<name>`` per selected site (at most :data:`MAX_SCOPE_SITES`)."""
    check_scope_sites(len(selected), "the code file")
    return [Scope(layer_scope(x.name), x.byte_offset, x.byte_stop, _units([x])) for x in selected]


def prefix_scope(layers: list[LayerInfo], layer: LayerInfo) -> Scope:
    """The scope ``upto:<name>``: every site of ``layers`` up to and including ``layer``."""
    upto = [x.name for x in layers].index(layer.name) + 1
    return Scope(upto_scope(layer.name), 0, layer.byte_stop, _units(layers[:upto]))


def check_splits(available: list[str], wanted: list[str] | None, where: str) -> list[str]:
    """``wanted`` without repeats (all of ``available`` when empty), after checking each exists."""
    if not wanted:
        return list(available)
    missing = [s for s in wanted if s not in available]
    if missing:
        msg = f"{where}: has no split {missing[0]!r}; it has {available}. Choose among those with --splits."
        raise InvalidParameterError(msg)
    return list(dict.fromkeys(wanted))


def check_max_memory(max_memory: int) -> int:
    """``max_memory`` after checking that it is positive."""
    if max_memory <= 0:
        msg = f"--max-memory must be positive. Got {max_memory} bytes instead."
        raise InvalidParameterError(msg)
    return max_memory


__all__ = [
    "DEFAULT_MAX_MEMORY",
    "MAX_SCOPE_SITES",
    "check_scope_sites",
    "Scope",
    "check_max_memory",
    "check_splits",
    "layer_scopes",
    "prefix_scope",
    "whole_scope",
]
