"""Text read from a file, made safe to write: every writer of strings a file chose uses it."""

from __future__ import annotations


def valid_utf8(text: str) -> str:
    """``text`` as valid Unicode: lone surrogates (from ``\\udXXX`` escapes in a file's JSON, or
    undecodable bytes) become backslash escapes, so UTF-8 writers and fonts accept it.

    Examples
    --------
    >>> valid_utf8("mlp")
    'mlp'
    >>> valid_utf8("a\\ud800b")
    'a\\\\ud800b'
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


__all__ = ["valid_utf8"]
