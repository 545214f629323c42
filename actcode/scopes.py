"""What measure and probe share: scopes of a code (byte ranges, units), split checks, the memory budget."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from actcode.codes import LayerInfo
from actcode.errors import InvalidParameterError
from actcode.lists import comma_list
from actcode.results import SCOPE_ALL, layer_scope, upto_scope
from actcode.sizes import check_allocation

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


#: Splits ``extract`` writes from a checkpoint: the examples trained on, the official test split,
#: random inputs.
SPLITS = ("train", "test", "random")
#: The splits of a checkpoint's code file when ``--splits`` is not given.
DEFAULT_SPLITS = ("train", "test")


def parse_splits(
    splits: str | Sequence[str] | None,
    random: int = 0,
    *,
    option: str = "--splits",
    random_option: str = "--random",
) -> list[str]:
    """Check and order a checkpoint's splits (default :data:`DEFAULT_SPLITS`); ``random > 0`` adds ``random``.

    ``option`` and ``random_option`` name the options in messages (a sweep spec's keys).

    Examples
    --------
    >>> parse_splits("test,train"), parse_splits(["train"], random=10), parse_splits(None)
    (['test', 'train'], ['train', 'random'], ['train', 'test'])
    """
    out: list[str] = []
    for name in comma_list(DEFAULT_SPLITS if splits is None else splits):
        if name in out:
            continue
        if name not in SPLITS:
            msg = f"{option}: unknown split {name!r}; choose among {', '.join(SPLITS)} (comma-separated)."
            raise InvalidParameterError(msg)
        out.append(name)
    if random < 0:
        msg = f"{random_option} must be a number of inputs >= 0. Got {random} instead."
        raise InvalidParameterError(msg)
    # each row keeps its label, prediction and index (3 int64) in memory until it is written
    check_allocation(24 * random, f"{random_option} {random} (24 bytes per row held in memory)")
    if "random" in out and random == 0:
        msg = f"{option} random needs {random_option} N, the number of random inputs to draw."
        raise InvalidParameterError(msg)
    if random > 0 and "random" not in out:
        out.append("random")
    if not out:
        msg = f"{option} selects no split; choose among {', '.join(SPLITS)}."
        raise InvalidParameterError(msg)
    return out


def check_max_memory(max_memory: int) -> int:
    """``max_memory`` after checking that it is positive."""
    if max_memory <= 0:
        msg = f"--max-memory must be positive. Got {max_memory} bytes instead."
        raise InvalidParameterError(msg)
    return max_memory


__all__ = [
    "DEFAULT_MAX_MEMORY",
    "DEFAULT_SPLITS",
    "SPLITS",
    "parse_splits",
    "MAX_SCOPE_SITES",
    "check_scope_sites",
    "Scope",
    "check_max_memory",
    "check_splits",
    "layer_scopes",
    "prefix_scope",
    "whole_scope",
]
