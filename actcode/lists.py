"""The one parser of comma lists (``--splits train,test``, ``--layers fc1,fc2``, ``--probes knn``)."""

from __future__ import annotations

from collections.abc import Iterable


def comma_list(value: str | Iterable[object] | None) -> list[str]:
    """The items of a comma-separated string, or of a sequence, stripped, empty ones left out.

    Order and repeats are kept; callers that want each item once remove repeats.

    Examples
    --------
    >>> comma_list(" train, test,,"), comma_list(["a ", "b"]), comma_list(None)
    (['train', 'test'], ['a', 'b'], [])
    """
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [s for s in (str(x).strip() for x in items) if s]


__all__ = ["comma_list"]
