"""The sweep spec: a TOML file of fixed ``train`` options, a grid of lists and the stages' options.

Everything is checked before anything runs: unknown keys, values of the wrong type and
options out of range are refused with one line that names the key and the file.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcode.errors import ActcodeFileNotFoundError, InvalidParameterError
from actcode.options import ExtractOptions, MeasureOptions, Options, ProbeOptions, RegionsOptions
from actcode.sizes import check_grid, check_mlp_widths, check_spec_text, parse_bytes
from actcode.train_options import TRAIN_OPTIONS, train_config

#: The pipeline's stages, in order: ``stages`` in a spec is ``train``, then ``extract`` when any later
#: stage runs, then any of the others, in this order.
STAGES = ("train", "extract", "measure", "probe", "regions")

#: The options object of each stage after training; a spec's table of that name holds its
#: options (:meth:`Options.spec_keys`), checked at load by building the object.
STAGE_OPTIONS: dict[str, type[Options]] = {
    "extract": ExtractOptions,
    "measure": MeasureOptions,
    "probe": ProbeOptions,
    "regions": RegionsOptions,
}
#: Executor defaults a spec may hold (the command line overrides them).
SLURM_OPTIONS: dict[str, str] = {
    "partition": "str?",
    "time": "minutes",
    "gpus_per_task": "int",
    "cpus_per_task": "int",
    "mem": "str?",
    "array_parallelism": "int",
    "sbatch": "strs",
    "setup": "strs",
}
RAY_OPTIONS: dict[str, str] = {"address": "str?", "num_cpus": "float", "num_gpus": "float"}

_TABLES: dict[str, dict[str, str]] = {
    "train": {k: v for k, v in TRAIN_OPTIONS.items() if k != "out"},
    **{name: dict.fromkeys(cls.spec_keys(), "any") for name, cls in STAGE_OPTIONS.items()},
    "slurm": SLURM_OPTIONS,
    "ray": RAY_OPTIONS,
}
_TOP: dict[str, str] = {"name": "str", "out": "str", "stages": "strs"}


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, checked sweep spec.

    Attributes
    ----------
    path : Path
        The TOML file (for messages).
    name : str
        The spec's ``name``, default the file's stem.
    out : Path
        The sweep's folder: checkpoints and code files in ``out/runs``, logs in ``out/logs``,
        the manifest ``out/sweep.jsonl``.
    stages : tuple of str
        The stages to run, a prefix of :data:`STAGES`.
    train : dict
        Fixed ``actcode train`` options.
    grid : dict of str to list
        The axes, in file order; their Cartesian product is the set of cells.
    extract, measure, probe, regions : dict
        The stages' options as the spec gives them (checked at load: :meth:`stage_options`
        builds their options objects).
    slurm, ray : dict
        Executor defaults.
    """

    path: Path
    name: str
    out: Path
    stages: tuple[str, ...] = STAGES
    train: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    extract: dict[str, Any] = field(default_factory=dict)
    measure: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    regions: dict[str, Any] = field(default_factory=dict)
    slurm: dict[str, Any] = field(default_factory=dict)
    ray: dict[str, Any] = field(default_factory=dict)

    @property
    def runs_dir(self) -> Path:
        """Where the checkpoints and code files go (``actcode train --out``)."""
        return self.out / "runs"

    def grid_points(self) -> list[dict[str, Any]]:
        """The grid's values of each cell, in grid order (the first axis varies slowest)."""
        axes = list(self.grid)
        return [dict(zip(axes, values, strict=True)) for values in itertools.product(*self.grid.values())]

    def cell_options(self, point: Mapping[str, Any]) -> dict[str, Any]:
        """The ``actcode train`` options of the cell at ``point``."""
        return {**self.train, **point, "out": str(self.runs_dir)}

    def stage_options(self, stage: str) -> Options:
        """The checked options object of ``stage`` (``extract``, ``measure``, ``probe``, ``regions``);
        a bad value raises InvalidParameterError naming the key and the spec file."""
        try:
            return STAGE_OPTIONS[stage].from_mapping(getattr(self, stage), table=stage)
        except InvalidParameterError as exc:
            msg = f"{self.path}: {exc}"
            raise InvalidParameterError(msg) from None


def load_spec(
    path: str | Path,
    *,
    out: str | Path | None = None,
    sets: Sequence[str] = (),
    grids: Sequence[str] = (),
) -> SweepSpec:
    """Read and check a sweep spec; ``sets`` (``train.epochs=5``) and ``grids`` (``width=4,8``) override it.

    Raises
    ------
    ActcodeFileNotFoundError
        The file does not exist.
    InvalidParameterError
        Not TOML, an unknown key, a value of the wrong type or out of range; the message names
        the key and the file.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"sweep spec {p} does not exist (or is not a file)."
        raise ActcodeFileNotFoundError(msg)
    try:
        text = p.read_text(encoding="utf-8")
        check_spec_text(text, str(p))  # size and nesting, before tomllib recurses
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{p}: not a valid TOML file: {exc}."
        raise InvalidParameterError(msg) from None
    for item in sets:
        _apply_set(raw, item, p)
    for item in grids:
        _apply_grid(raw, item, p)
    check_grid(raw.get("grid"), str(p))  # the product of the axes' lengths, before any cell is built
    return _build(raw, p, out)


def _apply_set(raw: dict[str, Any], item: str, p: Path) -> None:
    key, sep, text = item.partition("=")
    parts = key.strip().replace("-", "_").split(".")
    if not sep or not all(parts) or len(parts) > 2:
        msg = f"--set {item!r}: expected TABLE.KEY=VALUE (such as train.epochs=5) or KEY=VALUE; spec {p}."
        raise InvalidParameterError(msg)
    value = _toml_value(text)
    if len(parts) == 1:
        raw[parts[0]] = value
        return
    table = raw.setdefault(parts[0], {})
    if not isinstance(table, dict):
        msg = f"--set {item!r}: {parts[0]!r} is not a table in {p}."
        raise InvalidParameterError(msg)
    if parts[0] == "train":  # a fixed value replaces an axis of the same name
        grid = raw.get("grid")
        if isinstance(grid, dict):
            grid.pop(parts[1], None)
    table[parts[1]] = value


def _apply_grid(raw: dict[str, Any], item: str, p: Path) -> None:
    key, sep, text = item.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key or not text.strip():
        msg = f"--grid {item!r}: expected KEY=V1,V2,... (such as width=4,8); spec {p}."
        raise InvalidParameterError(msg)
    values = [_toml_value(t) for t in text.split(",") if t.strip()]
    grid = raw.setdefault("grid", {})
    if not isinstance(grid, dict):
        msg = f"--grid {item!r}: 'grid' is not a table in {p}."
        raise InvalidParameterError(msg)
    train = raw.get("train")
    if isinstance(train, dict):  # an axis replaces a fixed value of the same name
        train.pop(key, None)
        train.pop(key.replace("_", "-"), None)
    grid[key] = values


def _toml_value(text: str) -> Any:
    """A TOML value (``5``, ``1e-3``, ``true``, ``[0, 1]``, ``"x"``), else the text itself."""
    try:
        return tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def _build(raw: dict[str, Any], p: Path, out: str | Path | None) -> SweepSpec:
    unknown = sorted(set(raw) - set(_TOP) - set(_TABLES) - {"grid"})
    if unknown:
        expected = ", ".join([*_TOP, "train", "grid", *list(_TABLES)[1:]])
        msg = f"{p}: unknown key {unknown[0]!r}; expected one of {expected}."
        raise InvalidParameterError(msg)
    top = {k: _check(p, k, raw[k], kind) for k, kind in _TOP.items() if k in raw}
    tables = {name: _table(raw, name, p) for name in _TABLES}
    grid = _grid(raw.get("grid", {}), tables["train"], p)
    stages = _stages(top.get("stages", STAGES[:4]), p)
    name = str(top.get("name") or p.stem)
    if out is None:
        out = top.get("out") or Path("sweeps") / name
    spec = SweepSpec(
        path=p,
        name=name,
        out=Path(out).expanduser(),
        stages=stages,
        train=tables["train"],
        grid=grid,
        **{k: v for k, v in tables.items() if k != "train"},
    )
    _check_stages(spec)
    _check_cells(spec)
    return spec


def _stages(value: list[str], p: Path) -> tuple[str, ...]:
    """``train``, then ``extract`` when a later stage runs, then any of the others, in pipeline order."""
    stages = tuple(value)
    ordered = tuple(s for s in STAGES if s in stages)
    needs_extract = len(stages) > 1 and stages[1] != "extract"
    if not stages or stages != ordered or stages[0] != "train" or needs_extract:
        msg = (
            f"{p}: 'stages' must be train, then extract, then any of {', '.join(STAGES[2:])}, in that order "
            f"(such as ['train', 'extract', 'measure']). Got {list(stages)!r} instead."
        )
        raise InvalidParameterError(msg)
    return stages


def _check_stages(spec: SweepSpec) -> None:
    """Build every stage's options object (each table is checked even when its stage does not run),
    and refuse a later stage's split that the extracted code files will not have."""
    built = {stage: spec.stage_options(stage) for stage in STAGE_OPTIONS}
    extract = built["extract"]
    assert isinstance(extract, ExtractOptions)
    try:
        have = extract.checkpoint_splits(table="extract")
    except InvalidParameterError as exc:
        msg = f"{spec.path}: {exc}"
        raise InvalidParameterError(msg) from None
    for stage in ("measure", "probe", "regions"):
        wanted = getattr(built[stage], "splits", None) or ()
        missing = [s for s in wanted if s not in have]
        if missing:
            msg = (
                f"{spec.path}: '{stage}.splits' has {missing[0]!r}, a split the cells' code files will not "
                f"have; they have {', '.join(have)} (set by 'extract.splits' and 'extract.random')."
            )
            raise InvalidParameterError(msg)


def _table(raw: dict[str, Any], name: str, p: Path) -> dict[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        msg = f"{p}: {name!r} must be a table ([{name}]). Got {table!r} instead."
        raise InvalidParameterError(msg)
    kinds = _TABLES[name]
    out: dict[str, Any] = {}
    for key, value in table.items():
        k = key.replace("-", "_")
        if name == "train" and k == "out":
            msg = f"{p}: 'train.out' cannot be set: a sweep writes its runs under its own folder; set 'out'."
            raise InvalidParameterError(msg)
        if k not in kinds:
            msg = f"{p}: unknown key '{name}.{key}'; expected one of {', '.join(kinds)}."
            raise InvalidParameterError(msg)
        out[k] = value if kinds[k] == "any" else _check(p, f"{name}.{key}", value, kinds[k])
    return out


def _grid(grid: Any, train: dict[str, Any], p: Path) -> dict[str, list[Any]]:
    if not isinstance(grid, dict):
        msg = f"{p}: 'grid' must be a table ([grid]) of lists. Got {grid!r} instead."
        raise InvalidParameterError(msg)
    kinds = _TABLES["train"]
    out: dict[str, list[Any]] = {}
    for key, values in grid.items():
        k = key.replace("-", "_")
        if k not in kinds:
            msg = f"{p}: unknown key 'grid.{key}'; a grid axis is a train option, one of {', '.join(kinds)}."
            raise InvalidParameterError(msg)
        if k in train:
            msg = f"{p}: '{key}' is both a fixed train option and a grid axis; keep one."
            raise InvalidParameterError(msg)
        if not isinstance(values, list) or not values:
            msg = f"{p}: 'grid.{key}' must be a non-empty list of values. Got {values!r} instead."
            raise InvalidParameterError(msg)
        out[k] = [_check(p, f"grid.{key}", v, kinds[k]) for v in values]
    return out


def _check(p: Path, key: str, value: Any, kind: str) -> Any:
    """``value`` if it is of ``kind`` (see TRAIN_OPTIONS), converted where a kind allows two spellings."""
    base = kind.rstrip("?")  # TOML has no null: leaving a key out is the only way to say "absent"
    ok = _CHECKS[base](value)
    if ok is _BAD:
        msg = f"{p}: '{key}' must be {_WHAT[base]}. Got {value!r} instead."
        raise InvalidParameterError(msg)
    return ok


_BAD = object()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _ints(v: Any) -> Any:
    if isinstance(v, str) and re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*", v):
        return v
    if _is_int(v) or (isinstance(v, list) and v and all(_is_int(x) for x in v)):
        return v
    return _BAD


def _plan(v: Any) -> Any:
    items = v.split(",") if isinstance(v, str) else v
    if not isinstance(items, list) or not items:
        return _BAD
    good = all(_is_int(x) or (isinstance(x, str) and re.fullmatch(r"\s*(\d+|[Mm])\s*", x)) for x in items)
    return v if good else _BAD


def _strs(v: Any) -> Any:
    if isinstance(v, str):
        return [t.strip() for t in v.split(",") if t.strip()] or _BAD
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return list(v)
    return _BAD


def _minutes(v: Any) -> Any:
    """Minutes, or SLURM's ``[D-]HH:MM[:SS]`` text, as whole minutes."""
    if _is_int(v) and v > 0:
        return v
    m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d\d)(?::(\d\d))?", str(v).strip()) if isinstance(v, str) else None
    if m is None:
        return _BAD
    days, hours, minutes, seconds = (int(g) if g else 0 for g in m.groups())
    total = days * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    return total if total > 0 else _BAD


def _size_ok(text: str) -> bool:
    try:
        parse_bytes(text)
    except InvalidParameterError:
        return False
    return True


def parse_minutes(value: int | str, where: str = "time") -> int:
    """Minutes, or SLURM's ``[D-]HH:MM[:SS]``, as whole minutes (seconds round up).

    Examples
    --------
    >>> parse_minutes("4:00:00"), parse_minutes("1-12:00"), parse_minutes("90"), parse_minutes(5)
    (240, 2160, 90, 5)
    """
    v: Any = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    out = _minutes(v)
    if out is _BAD:
        msg = f"{where} must be {_WHAT['minutes']}. Got {value!r} instead."
        raise InvalidParameterError(msg)
    return int(out)


_CHECKS = {
    "str": lambda v: v if isinstance(v, str) else _BAD,
    "int": lambda v: v if _is_int(v) else _BAD,
    "float": lambda v: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else _BAD,
    "bool": lambda v: v if isinstance(v, bool) else _BAD,
    "ints": _ints,
    "plan": _plan,
    "strs": _strs,
    "size": lambda v: v if (isinstance(v, str) and _size_ok(v)) or (_is_int(v) and v > 0) else _BAD,
    "intstr": lambda v: v if (_is_int(v) and v > 0) or v == "auto" else _BAD,
    "minutes": _minutes,
}
_WHAT = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "ints": "a list of integers (or a comma-separated string of them)",
    "plan": "a list of channel counts and 'M'",
    "strs": "a list of strings (or a comma-separated string)",
    "size": "a size such as '4GiB' or a number of bytes",
    "intstr": "'auto' or a positive integer",
    "minutes": "minutes (an integer) or a SLURM time such as '4:00:00' or '1-12:00'",
}


def _check_cells(spec: SweepSpec) -> None:
    """Build every cell's TrainConfig (refusing out-of-range values) and refuse two equal cells."""
    seen: dict[str, dict[str, Any]] = {}
    for point in spec.grid_points():
        try:
            config = train_config(spec.cell_options(point))
        except InvalidParameterError as exc:
            where = ", ".join(f"{k}={v}" for k, v in point.items()) or "the only cell"
            msg = f"{spec.path}: cell {where}: {exc}"
            raise InvalidParameterError(msg) from None
        if config.model.family == "mlp":
            where = ", ".join(f"{k}={v}" for k, v in point.items()) or "the only cell"
            check_mlp_widths(config.model.hidden_widths(), f"{spec.path}: cell {where}")
        key = config.run_hash()
        if key in seen:
            msg = (
                f"{spec.path}: the cells {seen[key]} and {point} are the same training run (hash {key}); "
                "a grid axis such as threads or data_root does not change a run."
            )
            raise InvalidParameterError(msg)
        seen[key] = point


__all__ = [
    "RAY_OPTIONS",
    "SLURM_OPTIONS",
    "STAGES",
    "STAGE_OPTIONS",
    "SweepSpec",
    "load_spec",
    "parse_minutes",
]
