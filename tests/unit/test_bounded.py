"""The bounded, typed reader of structures read from files (actcode/io/bounded.py)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actcode.errors import FormatError
from actcode.io.bounded import MAX_JSON_DEPTH, Fields, json_depth, parse_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


def _outcome(get: Any) -> Any:
    """What a getter gave: its value, or the text of its FormatError."""
    try:
        return get()
    except FormatError as exc:
        return exc


@given(value=JSON)
def test_each_getter_returns_its_type_or_one_format_error_naming_the_file_and_field(value: Any) -> None:
    rec = Fields({"f": value}, "some/file.json", "top")
    getters: dict[str, tuple[Any, type]] = {
        "integer": (lambda: rec.integer("f", lo=0, hi=10), int),
        "number": (lambda: rec.number("f"), float),
        "text": (lambda: rec.text("f"), str),
        "boolean": (lambda: rec.boolean("f"), bool),
        "array": (lambda: rec.array("f"), list),
        "texts": (lambda: rec.texts("f"), list),
        "table": (lambda: rec.table("f"), Fields),
    }
    for name, (get, kind) in getters.items():
        got = _outcome(get)
        if isinstance(got, FormatError):
            assert str(got).startswith("some/file.json: field 'top.f' "), (name, str(got))
            continue
        assert kind in type(got).__mro__, name
        if name == "integer":
            assert 0 <= int(got) <= 10
            assert not isinstance(value, bool)
        if name == "number":
            assert math.isfinite(float(got))


@given(depth=st.integers(1, 3000), kind=st.sampled_from(["[", '{"a":']))
def test_nesting_is_bounded_before_parsing(depth: int, kind: str) -> None:
    close = "]" if kind == "[" else "}"
    text = kind * depth + ("1" if kind != "[" else "") + close * depth
    assert json_depth(text) == depth
    if depth > MAX_JSON_DEPTH:
        with pytest.raises(
            FormatError, match=f"nested {depth} deep, more than the limit of {MAX_JSON_DEPTH}"
        ):
            parse_json(text, "x.json")
    else:
        assert parse_json(text, "x.json") == json.loads(text)


@given(text=st.text(max_size=40))
def test_any_text_parses_or_is_one_format_error(text: str) -> None:
    got = _outcome(lambda: parse_json(text, "x.json"))
    if isinstance(got, FormatError):
        assert str(got).startswith("x.json: ")
        assert "\n" not in str(got)


def test_sizes_and_brackets_inside_strings() -> None:
    assert json_depth('{"a": "[[[{{{", "b": ["\\"]"]}') == 2
    with pytest.raises(FormatError, match="characters of JSON, more than the limit of 10"):
        parse_json("[" + "1," * 20 + "1]", "x.json", max_chars=10)
    with pytest.raises(FormatError, match="field 'n' is missing"):
        Fields({}, "f").integer("n")
    assert Fields({"n": None}, "f").integer("n", default=3) == 3
