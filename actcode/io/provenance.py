"""The provenance record: build it, and check it against its JSON Schema."""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import platform
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from actcode.errors import ProvenanceError
from actcode.factors import FACTOR_KEYS
from actcode.io.spec import PROVENANCE_SCHEMA_ID


@functools.cache
def provenance_schema() -> dict[str, Any]:
    """The JSON Schema of the provenance record (shipped as package data)."""
    text = resources.files("actcode.io").joinpath("provenance.schema.json").read_text("utf-8")
    return dict(json.loads(text))


def environment() -> dict[str, Any]:
    """Versions of the software that matters for reproducing a file."""
    env: dict[str, Any] = {"python": sys.version.split()[0], "platform": platform.platform()}
    for mod in ("numpy", "torch", "h5py", "numba", "sklearn"):
        m = sys.modules.get(mod)
        if m is not None:
            env[mod] = getattr(m, "__version__", None)
    return env


def file_sha256(path: str | Path, *, limit: int | None = None) -> str:
    """SHA-256 of a file's bytes (of its first ``limit`` bytes when given)."""
    h = hashlib.sha256()
    left = limit
    with Path(path).open("rb") as fh:
        while True:
            n = 1 << 20 if left is None else min(1 << 20, left)
            if n == 0:
                break
            block = fh.read(n)
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
    return h.hexdigest()


def make_provenance(
    *, command: str, factors: dict[str, Any] | None = None, **sections: Any
) -> dict[str, Any]:
    """Build a provenance record.

    Parameters
    ----------
    command : str
        What wrote the file, for example ``"extract"``.
    factors : dict, optional
        Values of the study's factors. Missing keys of :data:`FACTOR_KEYS` are set to None.
    **sections
        Further top-level sections: ``argv``, ``inputs``, ``model``, ``data``, ``train``,
        ``extract``, ``network``, ``environment`` (defaults to :func:`environment`).

    Examples
    --------
    >>> p = make_provenance(command="test", factors={"width": 8})
    >>> p["factors"]["width"], p["factors"]["seed"]
    (8, None)
    """
    from actcode import __version__

    full = {k: None for k in FACTOR_KEYS}
    full.update(factors or {})
    record: dict[str, Any] = {
        "schema": PROVENANCE_SCHEMA_ID,
        "actcode_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "argv": list(sys.argv),
        "environment": environment(),
        "factors": full,
    }
    record.update(sections)
    return record


def check_provenance(record: Any, *, where: str = "The provenance") -> dict[str, Any]:
    """Validate a provenance record against the schema; raise ProvenanceError if it fails."""
    import jsonschema

    try:
        jsonschema.validate(record, provenance_schema())
    except jsonschema.ValidationError as exc:
        loc = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        msg = f"{where} record does not follow its schema at {loc}: {exc.message}."
        raise ProvenanceError(msg) from None
    return dict(record)


def parse_provenance(text: Any, *, where: str) -> dict[str, Any]:
    """Parse the JSON text of a provenance attribute and validate it."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        msg = f"{where} attribute must be a JSON string. Got {type(text).__name__} instead."
        raise ProvenanceError(msg)
    try:
        record = strict_json(text)
    except ValueError as exc:
        msg = f"{where} attribute is not valid JSON ({exc})."
        raise ProvenanceError(msg) from None
    return check_provenance(record, where=where)


#: Integers in JSON read from a file must fit int64 (so they fit every reader's integers and
#: a float conversion never overflows); floats must be finite.
_INT_LIMIT = 1 << 63


def _parse_int(text: str) -> int:
    if len(text) > 20 or not -_INT_LIMIT <= int(text) < _INT_LIMIT:
        msg = f"the integer {text[:30]}{'...' if len(text) > 30 else ''} is outside the int64 range"
        raise ValueError(msg)
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        msg = f"the number {text[:30]} is outside the float64 range"
        raise ValueError(msg)
    return value


def _no_constant(name: str) -> Any:
    msg = f"{name} is not JSON (RFC 8259 has no NaN or Infinity)"
    raise ValueError(msg)


def strict_json(text: str) -> Any:
    """Parse JSON as RFC 8259 defines it: no NaN or Infinity, numbers within int64 and float64.

    Raises ValueError (a ``json.JSONDecodeError`` or a number out of range) with the reason.
    """
    try:
        return json.loads(text, parse_constant=_no_constant, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as exc:
        msg = f"{exc.msg} at character {exc.pos}"
        raise ValueError(msg) from None


def dumps(record: dict[str, Any]) -> str:
    """Serialise a record as compact JSON (NaN and infinities are written as null)."""
    return json.dumps(_clean(record), separators=(",", ":"), allow_nan=False)


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _clean(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    return obj


class ProvenanceFields:
    """Typed, bounded reads of single fields of a provenance record that a command acts on.

    The schema checks the record's shape; what a command then builds from a field (a seed, a
    row count, a path, an index) is read here with its type and range, so a record that lies
    gives :class:`~actcode.errors.ProvenanceError` (exit 3) with one line naming the file and
    the field, never a traceback.

    Examples
    --------
    >>> f = ProvenanceFields({"extract": {"seed": 3}}, where="f.h5")
    >>> f.integer("extract.seed", default=0, lo=0, hi=2**32 - 1), f.text("model.name")
    (3, None)
    """

    def __init__(self, record: dict[str, Any], *, where: object) -> None:
        self.record = record
        self.where = str(where)

    def error(self, field: str, expected: str, value: Any) -> ProvenanceError:
        """The error for a field that is not what it must be (exit 3), naming the file and the field."""
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        msg = f"{self.where}: the provenance field {field!r} must be {expected}. Got {shown} instead."
        return ProvenanceError(msg)

    def get(self, field: str) -> Any:
        """The value at a dotted path (None where a section or key is missing or null).

        A number in the path indexes a list.
        """
        value: Any = self.record
        keys = field.split(".")
        for i, key in enumerate(keys):
            if value is None:
                return None
            if isinstance(value, list) and key.isdigit():
                value = value[int(key)] if int(key) < len(value) else None
                continue
            if not isinstance(value, dict):
                where = ".".join(keys[:i])
                raise self.error(where, "an object", value)
            value = value.get(key)
        return value

    def section(self, field: str) -> dict[str, Any]:
        """An object (empty when missing)."""
        value = self.get(field)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(field, "an object", value)
        return value

    def integer(self, field: str, *, default: int | None, lo: int, hi: int) -> int | None:
        """An integer in ``lo..hi`` (``default`` when missing; booleans are not integers)."""
        value = self.get(field)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.error(field, f"an integer in {lo}..{hi}", value)
        return value

    def text(self, field: str, *, default: str | None = None, limit: int = 4096) -> str | None:
        """A string of at most ``limit`` characters, without NUL (``default`` when missing)."""
        value = self.get(field)
        if value is None:
            return default
        if not isinstance(value, str) or len(value) > limit or "\x00" in value:
            raise self.error(field, f"a string of at most {limit} characters", value)
        return value

    def numbers(
        self, field: str, *, length: int | None = None, positive: bool = False
    ) -> tuple[float, ...] | None:
        """A list of finite numbers (of ``length`` items when given); None when missing."""
        value = self.get(field)
        if value is None:
            return None
        ok = isinstance(value, list) and (length is None or len(value) == length) and len(value) <= 64
        ok = ok and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ok = ok and all(math.isfinite(v) and (not positive or v > 0) for v in value)
        if not ok:
            what = f"{length} " if length is not None else ""
            raise self.error(field, f"a list of {what}finite{' positive' if positive else ''} numbers", value)
        return tuple(float(v) for v in value)
