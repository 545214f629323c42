"""The one typed, bounded reader of structures stored in files (JSON text, HDF5 attributes).

Manifest lines, spec snapshots, shard attributes, provenance and results tables are written
by actcode, but a file on disk can hold anything. Every such structure is parsed here: the
text is bounded in size and nesting *before* it is parsed (deep nesting cannot reach Python's
recursion limit), and each field is read through a typed getter that raises
:class:`~actcode.errors.FormatError` (exit 3) naming the file and the field.

Examples
--------
>>> rec = Fields(parse_json('{"seconds": 1.5, "cell": "ab"}', "sweep.jsonl line 3"), "sweep.jsonl line 3")
>>> rec.number("seconds"), rec.text("cell")
(1.5, 'ab')
>>> rec.integer("index")
Traceback (most recent call last):
...
actcode.errors.FormatError: sweep.jsonl line 3: field 'index' is missing; expected an integer.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from actcode.errors import FormatError

#: The largest JSON document (in characters) read from a file.
MAX_JSON_CHARS = 16 << 20
#: The deepest nesting of arrays and objects accepted in a JSON document.
MAX_JSON_DEPTH = 64

_MISSING: Any = object()


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON ``text``, outside strings (no recursion).

    >>> json_depth('{"a": [1, {"b": "[[["}]}')
    3
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = deepest = 0
    for ch in brackets:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json(text: str | bytes, source: str, *, max_chars: int = MAX_JSON_CHARS) -> Any:
    """Parse JSON ``text`` read from ``source``, refusing (exit 3) one too large or too deep.

    ``NaN`` and ``Infinity`` parse (Python writes them); :meth:`Fields.number` refuses them
    where a finite number is expected.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"{source}: not UTF-8 text (byte {exc.start}); expected JSON."
            raise FormatError(msg) from None
    if len(text) > max_chars:
        msg = f"{source}: {len(text)} characters of JSON, more than the limit of {max_chars}."
        raise FormatError(msg)
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        msg = f"{source}: JSON nested {depth} deep, more than the limit of {MAX_JSON_DEPTH}."
        raise FormatError(msg)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = " ".join(str(exc).split())[:200]
        msg = f"{source}: not valid JSON ({reason})."
        raise FormatError(msg) from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }
    return next((n for t, n in names.items() if type(value) is t), type(value).__name__)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Fields:
    """A mapping read from ``source``, with typed getters whose errors name the file and the field.

    ``where`` is the path of this mapping inside the document (``extract.shard``); field names
    in messages are written ``where.key``.
    """

    def __init__(self, data: Any, source: str, where: str = "") -> None:
        if not isinstance(data, Mapping):
            what = f"field '{where}'" if where else "the record"
            msg = f"{source}: {what} must be an object. Got {_kind(data)} instead."
            raise FormatError(msg)
        self.data: Mapping[str, Any] = data
        self.source = source
        self.where = where

    def name(self, key: str) -> str:
        """The field's full name, for messages."""
        return f"{self.where}.{key}" if self.where else key

    def _fail(self, key: str, expected: str, value: Any = _MISSING) -> FormatError:
        if value is _MISSING:
            return FormatError(f"{self.source}: field '{self.name(key)}' is missing; expected {expected}.")
        return FormatError(
            f"{self.source}: field '{self.name(key)}' must be {expected}. "
            f"Got {_kind(value)} {_shown(value)} instead."
        )

    def has(self, key: str) -> bool:
        """Whether the field is present and not null."""
        return self.data.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        """The field's value, unchecked (for values that are only compared or shown)."""
        return self.data.get(key, default)

    def _get(self, key: str, default: Any, expected: str) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING or (value is None and default is not _MISSING):
            if default is _MISSING:
                raise self._fail(key, expected)
            return default
        return value

    def integer(
        self, key: str, *, lo: int | None = None, hi: int | None = None, default: Any = _MISSING
    ) -> Any:
        """An integer (not a boolean) in ``lo..hi``; ``default`` when absent or null (if given)."""
        expected = "an integer" + _range(lo, hi)
        value = self._get(key, default, expected)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self._fail(key, expected, value)
        return int(value)

    def number(self, key: str, *, lo: float | None = None, default: Any = _MISSING) -> Any:
        """A finite number (int or float, not a boolean), at least ``lo``."""
        expected = "a finite number" + (f" >= {lo}" if lo is not None else "")
        value = self._get(key, default, expected)
        if value is default and default is not _MISSING:
            return value
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or (lo is not None and value < lo):
            raise self._fail(key, expected, value)
        return float(value)

    def text(
        self, key: str, *, choices: tuple[str, ...] = (), max_len: int = 1 << 16, default: Any = _MISSING
    ) -> Any:
        """A string (one of ``choices`` when given), at most ``max_len`` characters."""
        expected = f"one of {', '.join(map(repr, choices))}" if choices else "a string"
        value = self._get(key, default, expected)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str) or (choices and value not in choices) or len(value) > max_len:
            raise self._fail(key, expected, value)
        return value

    def boolean(self, key: str, *, default: Any = _MISSING) -> Any:
        """``true`` or ``false``."""
        value = self._get(key, default, "true or false")
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def array(self, key: str, *, max_len: int = 1 << 20, default: Any = _MISSING) -> Any:
        """A list (a JSON array), at most ``max_len`` items."""
        value = self._get(key, default, "a list")
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, list | tuple) or len(value) > max_len:
            raise self._fail(key, f"a list of at most {max_len} items", value)
        return list(value)

    def texts(self, key: str, *, default: Any = _MISSING) -> Any:
        """A list of strings."""
        value = self.array(key, default=default)
        if value is default and default is not _MISSING:
            return value
        if not all(isinstance(v, str) for v in value):
            raise self._fail(key, "a list of strings", value)
        return value

    def table(self, key: str, *, default: Any = _MISSING) -> Fields:
        """A nested object, as Fields (``default`` when absent, if given)."""
        value = self._get(key, default, "an object")
        if value is default and default is not _MISSING:
            return Fields(value, self.source, self.name(key))
        return Fields(value, self.source, self.name(key))


def _range(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f" in {lo}..{hi}"
    if lo is not None:
        return f" >= {lo}"
    return f" <= {hi}" if hi is not None else ""


__all__ = ["MAX_JSON_CHARS", "MAX_JSON_DEPTH", "Fields", "json_depth", "parse_json"]
