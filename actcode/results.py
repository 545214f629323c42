"""ResultTable: the long-format table (split, scope, metric, value) that measure and probe write."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Scope of a row that covers the whole code.
SCOPE_ALL = "all"


def layer_scope(name: str) -> str:
    """Scope of a row that covers one activation site."""
    return f"layer:{name}"


def upto_scope(name: str) -> str:
    """Scope of a row that covers every site up to and including ``name``."""
    return f"upto:{name}"


@dataclass(frozen=True)
class ResultTable:
    """Results in long format: one row per (split, scope, metric), with a float value.

    Examples
    --------
    >>> t = ResultTable.from_rows([("train", "all", "redundancy", 0.25), ("test", "all", "redundancy", 0.5)])
    >>> t.get("test", "all", "redundancy")
    0.5
    >>> len(t.filter(split="train"))
    1
    """

    split: tuple[str, ...] = field(default=())
    scope: tuple[str, ...] = field(default=())
    metric: tuple[str, ...] = field(default=())
    value: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.split)
        if not (len(self.scope) == len(self.metric) == len(self.value) == n):
            msg = "ResultTable columns split, scope, metric and value must have the same length."
            raise ValueError(msg)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, str, float]]) -> ResultTable:
        """Build a table from ``(split, scope, metric, value)`` tuples."""
        rows = list(rows)
        return cls(
            tuple(str(r[0]) for r in rows),
            tuple(str(r[1]) for r in rows),
            tuple(str(r[2]) for r in rows),
            tuple(float(r[3]) for r in rows),
        )

    def __len__(self) -> int:
        return len(self.split)

    def rows(self) -> Iterator[tuple[str, str, str, float]]:
        """Iterate over ``(split, scope, metric, value)`` rows."""
        yield from zip(self.split, self.scope, self.metric, self.value, strict=True)

    def __add__(self, other: ResultTable) -> ResultTable:
        return ResultTable.from_rows([*self.rows(), *other.rows()])

    def filter(
        self, split: str | None = None, scope: str | None = None, metric: str | None = None
    ) -> ResultTable:
        """Rows matching every given column value."""
        return ResultTable.from_rows(
            r
            for r in self.rows()
            if (split is None or r[0] == split)
            and (scope is None or r[1] == scope)
            and (metric is None or r[2] == metric)
        )

    def get(self, split: str, scope: str, metric: str, default: float | None = None) -> float:
        """The value of one row; ``default`` (or KeyError) when absent."""
        for r in self.rows():
            if r[0] == split and r[1] == scope and r[2] == metric:
                return r[3]
        if default is not None:
            return default
        raise KeyError((split, scope, metric))

    @property
    def metrics(self) -> list[str]:
        """Distinct metric names, in first-seen order."""
        return list(dict.fromkeys(self.metric))

    @property
    def splits(self) -> list[str]:
        """Distinct split names, in first-seen order."""
        return list(dict.fromkeys(self.split))

    @property
    def scopes(self) -> list[str]:
        """Distinct scopes, in first-seen order."""
        return list(dict.fromkeys(self.scope))

    def to_records(self) -> list[dict[str, Any]]:
        """Rows as dicts; NaN values become ``None`` so the records are strict JSON."""
        return [
            {"split": s, "scope": c, "metric": m, "value": (None if math.isnan(v) else v)}
            for s, c, m, v in self.rows()
        ]
