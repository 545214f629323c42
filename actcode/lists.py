"""The one parser of comma lists (``--splits train,test``, ``--layers fc1,fc2``, ``--probes knn``)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence

from actcode.errors import InvalidParameterError


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


def select_indices(
    names: Sequence[str],
    selection: str | Iterable[object] | None,
    *,
    where: str,
    what: str,
    owner: str,
    listing: str,
    shown: int = 40,
) -> list[int]:
    """Indices, in order, of the ``names`` a selection picks: names, fnmatch globs or integer indices
    (negative allowed); ``None`` or empty means all. The one rule of ``--layers`` everywhere.

    ``where`` starts each message; ``what`` (activation site, layer), ``owner`` (the model, the
    file) and ``listing`` (the words before the list of names) word it.

    Examples
    --------
    >>> kw = {"where": "--layers", "what": "layer", "owner": "the file", "listing": "Layers are"}
    >>> select_indices(["fc1", "fc2", "out"], "fc*,-1", **kw), select_indices(["a", "b"], None, **kw)
    ([0, 1, 2], [0, 1])
    """
    if selection is None or selection == "" or (not isinstance(selection, str) and not list(selection)):
        return list(range(len(names)))
    chosen: set[int] = set()
    for item in comma_list(selection):
        if re.fullmatch(r"-?\d+", item):
            i = int(item)
            if not -len(names) <= i < len(names):
                count = f"{owner} has {len(names)} {what}s (0..{len(names) - 1})"
                msg = f"{where}: index {i} is out of range; {count}."
                raise InvalidParameterError(msg)
            chosen.add(i % len(names))
            continue
        hits = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, item)]
        if not hits:
            more = f", ... ({len(names)} in all)" if len(names) > shown else ""
            msg = f"{where}: no {what} matches {item!r}. {listing}: {', '.join(names[:shown])}{more}."
            raise InvalidParameterError(msg)
        chosen.update(hits)
    if not chosen:
        msg = f"{where} {selection!r} selects no {what}."
        raise InvalidParameterError(msg)
    return sorted(chosen)


__all__ = ["comma_list", "select_indices"]
