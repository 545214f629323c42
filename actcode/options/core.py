"""The shape every stage's options share: one :class:`Opt` per field, and strict build, check and dump.

An option's default, type, range, choices and help text are written once, on its dataclass
field (:func:`option`). The Typer commands (:func:`actcode.cli._options.stage_option`), the
sweep spec's tables and the man pages all read them from there, so a new option is one new
field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn, Self, TypeVar

from actcode.config import DEVICES, SEED_MAX
from actcode.errors import InvalidParameterError
from actcode.lists import comma_list
from actcode.sizes import parse_bytes

#: Value kinds: what an option's value is once built (and what a mapping may give for it).
KINDS = ("int", "float", "bool", "str", "strs", "size", "seed", "intauto", "floats", "rows3", "device")
_WHAT = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "strs": "a list of strings (or a comma-separated string)",
    "size": "a positive size such as 4GiB, 512MiB or 1000000 (bytes)",
    "seed": f"an integer from 0 to {SEED_MAX} (2**32 - 1)",
    "intauto": "'auto' or a positive integer",
    "floats": "a list of numbers (or comma-separated numbers such as 0.485,0.456,0.406)",
    "rows3": "three different row numbers of the split, such as 0,5,9",
    "device": "auto, cpu, cuda, cuda:N or mps",
}

Choices = tuple[str, ...] | Callable[[], Sequence[str]]


@dataclass(frozen=True)
class Opt:
    """What is known of one option: its kind, range, choices and help (the default is the field's).

    Attributes
    ----------
    help : str
        The help text of the CLI option, the spec key and the man page.
    kind : str
        One of :data:`KINDS`.
    lo, hi : float, optional
        Inclusive bounds of an ``int``/``float`` (each item of ``floats``).
    choices : tuple of str or callable, optional
        The allowed values of a ``str`` (each item of ``strs``); a callable is asked when a
        value is checked, so a registry can answer.
    spec : bool
        Whether a sweep spec's stage table may set it (I/O options such as ``--weights`` not).
    name : str, optional
        The public name (CLI ``--name``, spec key) when it is not the field's.
    member : callable, optional
        Whether a value is among the choices, asked instead of listing them (a registry then loads
        only the plugin of that name, and raises its own error for one that failed to load); the
        list is built only for the message that refuses a value.
    """

    help: str
    kind: str
    lo: float | None = None
    hi: float | None = None
    choices: Choices | None = None
    spec: bool = True
    name: str | None = None
    member: Callable[[str], bool] | None = None

    def choice_list(self) -> tuple[str, ...]:
        """The allowed values (empty for none)."""
        if self.choices is None:
            return ()
        return tuple(self.choices() if callable(self.choices) else self.choices)


def option(default: Any, help: str, kind: str, **kw: Any) -> Any:  # noqa: A002 - the Typer word
    """A dataclass field with its :class:`Opt` (see there for ``kw``)."""
    if kind not in KINDS:
        msg = f"unknown option kind {kind!r}"
        raise ValueError(msg)
    return dataclasses.field(default=default, metadata={"opt": Opt(help, kind, **kw)})


def label(name: str, table: str | None) -> str:
    """How messages name an option: ``--nn-sample`` on the command line, ``'measure.nn_sample'`` in a spec."""
    return f"'{table}.{name}'" if table else f"--{name.replace('_', '-')}"


def _bad(name: str, table: str | None, value: object, expected: str) -> NoReturn:
    msg = f"{label(name, table)} must be {expected}. Got {value!r} instead."
    raise InvalidParameterError(msg)


_T = TypeVar("_T", bound="Options")


class Options:
    """Mixin of the frozen options dataclasses: :meth:`from_mapping`, :meth:`validate`, :meth:`to_dict`.

    ``STAGE`` names the stage (the spec's table).
    """

    STAGE: ClassVar[str] = ""

    @classmethod
    def options(cls) -> dict[str, tuple[str, Opt]]:
        """Public name -> (field name, :class:`Opt`), in field order."""
        out: dict[str, tuple[str, Opt]] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            opt = f.metadata.get("opt")
            if isinstance(opt, Opt):
                out[opt.name or f.name] = (f.name, opt)
        return out

    @classmethod
    def spec_keys(cls) -> list[str]:
        """The keys a sweep spec's table of this stage may hold."""
        return [name for name, (_, opt) in cls.options().items() if opt.spec]

    @classmethod
    def default(cls, name: str) -> Any:
        """The default of the option ``name`` (public name)."""
        field_name = cls.options()[name][0]
        return next(f.default for f in dataclasses.fields(cls) if f.name == field_name)  # type: ignore[arg-type]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, table: str | None = None) -> Self:
        """The checked options of ``values`` (public names, ``-`` or ``_``); the others at their defaults.

        ``table`` is the spec table the values come from: messages then name ``'table.key'``
        and only the spec's keys are allowed. Raises :class:`InvalidParameterError` naming the
        first unknown key or bad value.
        """
        known = cls.options()
        allowed = cls.spec_keys() if table else list(known)
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name not in allowed:
                where = f"'{table}.{key}'" if table else f"{cls.STAGE} option {key!r}"
                msg = f"unknown key {where}; expected one of {', '.join(allowed)}."
                raise InvalidParameterError(msg)
            field_name, opt = known[name]
            kwargs[field_name] = coerce(name, table, opt, value)
        return cls(**kwargs).validate(table=table)

    def validate(self, *, table: str | None = None) -> Self:
        """Check every option's type, range and choices; one line naming the first bad one; return self."""
        for name, (field_name, opt) in self.options().items():
            value = getattr(self, field_name)
            if value is not None:
                check(name, table, opt, value)
        self.check_together(table)
        return self

    def check_together(self, table: str | None) -> None:
        """Rules between options (a subclass adds them)."""

    def to_dict(self) -> dict[str, Any]:
        """Public name -> JSON-safe value (tuples as lists); :meth:`from_mapping` reads it back."""
        out: dict[str, Any] = {}
        for name, (field_name, _) in self.options().items():
            value = getattr(self, field_name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out


def coerce(name: str, table: str | None, opt: Opt, value: Any) -> Any:
    """``value`` as the option stores it (a comma string as a tuple, a size as bytes); ``None`` stays."""
    if value is None:
        return None
    kind = opt.kind
    if kind == "strs":
        texts = isinstance(value, str) or (
            isinstance(value, list | tuple) and all(isinstance(x, str) for x in value)
        )
        items = comma_list(value) if texts else []
        if not items:
            _bad(name, table, value, _WHAT[kind])
        return tuple(dict.fromkeys(items))
    if kind == "size":
        if isinstance(value, str):
            return parse_bytes(value, option=label(name, table))
        return value
    if kind == "intauto" and isinstance(value, str):
        text = value.strip()
        return int(text) if text.isdigit() else text
    if kind == "float" and _is_number(value):
        return float(value)
    if kind in ("floats", "rows3"):
        return _numbers(name, table, opt, value)
    return value


def _numbers(name: str, table: str | None, opt: Opt, value: Any) -> tuple[Any, ...]:
    items = value.split(",") if isinstance(value, str) else [value] if _is_number(value) else value
    if not isinstance(items, list | tuple) or not items:
        _bad(name, table, value, _WHAT[opt.kind])
    try:
        if opt.kind == "floats":
            return tuple(float(x) if _is_number(x) else float(str(x).strip()) for x in items)
        return tuple(x if _is_int(x) else int(str(x).strip()) for x in items)
    except ValueError:
        _bad(name, table, value, _WHAT[opt.kind])


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check(name: str, table: str | None, opt: Opt, value: Any) -> None:
    """Refuse ``value`` unless it is of the option's kind, within its range and among its choices."""
    kind = opt.kind
    ok = _TYPES[kind](value)
    if not ok:
        _bad(name, table, value, _WHAT[kind])
    if kind == "seed" and not 0 <= value <= SEED_MAX:
        _bad(name, table, value, _WHAT[kind])
    for v in value if kind in ("floats", "rows3") else (value,):
        _check_range(name, table, opt, v, value)
    if kind == "rows3" and (len(value) != 3 or len(set(value)) != 3):
        _bad(name, table, ",".join(map(str, value)), _WHAT[kind])
    if opt.choices is None:
        return
    values = value if kind == "strs" else (value,)
    if opt.member is not None:
        bad = [v for v in values if not opt.member(v)]
    else:
        bad = [v for v in values if v not in opt.choice_list()]
    if bad:
        choices = opt.choice_list()
        got = ",".join(value) if kind == "strs" else value
        _bad(name, table, got, ("a comma list of " if kind == "strs" else "one of ") + ", ".join(choices))


def _check_range(name: str, table: str | None, opt: Opt, v: Any, value: Any) -> None:
    if isinstance(v, float) and not math.isfinite(v):
        _bad(name, table, value, "finite")
    if opt.lo is not None and v < opt.lo:
        _bad(name, table, value, _range(opt))
    if opt.hi is not None and v > opt.hi:
        _bad(name, table, value, _range(opt))


def _range(opt: Opt) -> str:
    what = "a number" if opt.kind in ("float", "floats") else "an integer"
    lo, hi = (None if b is None else (int(b) if float(b).is_integer() else b) for b in (opt.lo, opt.hi))
    if lo is not None and hi is not None:
        return f"{what} from {lo} to {hi}"
    return f"{what} >= {lo}" if lo is not None else f"{what} <= {hi}"


def _device(v: object) -> bool:
    return isinstance(v, str) and (v in DEVICES or (v.startswith("cuda:") and v[5:].isdigit()))


_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "float": lambda v: _is_number(v),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "strs": lambda v: isinstance(v, tuple) and bool(v) and all(isinstance(x, str) and x for x in v),
    "size": lambda v: _is_int(v) and v > 0,
    "seed": _is_int,
    "intauto": lambda v: v == "auto" or (_is_int(v) and v > 0),
    "floats": lambda v: isinstance(v, tuple) and bool(v) and all(_is_number(x) for x in v),
    "rows3": lambda v: isinstance(v, tuple) and all(_is_int(x) for x in v),
    "device": _device,
}


def cli_text(value: Any, kind: str) -> Any:
    """A default as the command line spells it: ``("knn", "kmeans")`` -> ``knn,kmeans``, 4 GiB -> ``4GiB``."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if kind == "size" and isinstance(value, int):
        for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
            if value % (1 << shift) == 0:
                return f"{value >> shift}{unit}"
    return value


__all__ = ["KINDS", "Opt", "Options", "check", "cli_text", "coerce", "label", "option"]
