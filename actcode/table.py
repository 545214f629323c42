"""Every stored result of many code files as one tidy table, with the files' factors as columns.

The long form has one row per (file, split, scope, metric), the layout of the results groups
(formats/codes.md), plus the file and its factors; the wide form has one row per (file, split)
and one column per metric (``metric`` for the whole code, ``metric@scope`` for the others).
Written as CSV, JSON lines or Parquet (with pyarrow), for pandas and R.

What a file may and may not choose:

- The columns ``file``, ``stage``, ``split``, ``scope``, ``metric`` and ``value``
  (:data:`OWNED_COLUMNS`) are written by ``table`` from what it read: ``file`` is the path it
  opened. A factor of that name in a file's provenance becomes ``factor:NAME``; a wide metric
  column that would take the name of a factor or of an owned column becomes ``metric:NAME``.
- In CSV, a text cell (and a header) that begins with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return is written with a leading ``'``, as OWASP's rule for CSV injection says, so
  that a spreadsheet shows it as text instead of running it as a formula. ``raw_csv=True``
  (``--raw-csv``) writes the values as they are. JSON lines and Parquet always hold the raw
  values. Numbers are never touched.
- Text that is not valid Unicode (lone surrogates from a file's bytes) is written with
  backslash escapes in CSV and Parquet (JSON escapes it itself).
- A column whose values have several types (numbers in one file, text in another) is a text
  column in Parquet.

:func:`table_files` streams: one file is open at a time, its rows go to an unnamed temporary
spool, and the output is written from the spool; memory holds one file's rows and the column
names, whatever the number of files.
"""

from __future__ import annotations

import csv
import json
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from actcode.errors import ActcodeFileNotFoundError, FormatError, InvalidParameterError
from actcode.factors import FACTOR_KEYS
from actcode.metrics import METRICS
from actcode.text import valid_utf8

#: The long table's columns after the file and its factors.
LONG_COLUMNS = ("stage", "split", "scope", "metric", "value")
#: Columns that table writes from what it read; no file can set them.
OWNED_COLUMNS = ("file", *LONG_COLUMNS)
#: Output formats by file suffix.
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
#: First characters that make a spreadsheet read a CSV cell as a formula (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: The most distinct columns a table may have (factors and metric columns of every file).
MAX_COLUMNS = 100_000
#: Rows per Parquet row group.
PARQUET_BATCH = 8192


def code_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, and every ``*.h5`` under each folder (sorted, hidden files skipped).

    A file named twice (by the same path or through a folder) is read once.
    """
    out: dict[Path, Path] = {}
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(f for f in p.rglob("*.h5") if not f.name.startswith(".")):
                out.setdefault(f.resolve(), f)
        elif p.exists():
            out.setdefault(p.resolve(), p)
        else:
            msg = f"{p} does not exist."
            raise ActcodeFileNotFoundError(msg)
    return list(out.values())


def file_rows(path: str | Path) -> list[dict[str, Any]]:
    """The long rows of one code file: its measure and probe results, and the network's own metrics.

    The network's numbers (stage ``network``) come from the split attributes, as
    ``net_accuracy`` and ``net_loss`` in the metric registry. ``file`` is ``path``.
    """
    from actcode.io import open_codes

    rows: list[dict[str, Any]] = []
    with open_codes(path) as cf:
        head = {"file": str(path), **_factor_columns(cf.factors)}
        for split in cf.splits:
            for key, value in cf.split_info(split).items():
                name = f"net_{key}"
                if name in METRICS:
                    rows.append({**head, "stage": "network", "split": split, "scope": "all",
                                 "metric": name, "value": float(value)})  # fmt: skip
        for kind in ("measure", "probe"):
            table = cf.results(kind)
            for split, scope, metric, value in table.rows() if table is not None else ():
                rows.append({**head, "stage": kind, "split": split, "scope": scope, "metric": metric,
                             "value": float(value)})  # fmt: skip
    return rows


def _factor_columns(factors: dict[str, Any]) -> dict[str, Any]:
    """The study's factors first (in FACTOR_KEYS order, None where absent), then any others, sorted.

    A factor named like a column that table owns is renamed ``factor:NAME``.
    """
    out = {k: factors.get(k) for k in FACTOR_KEYS}
    out.update({str(k): factors[k] for k in sorted(factors, key=str) if k not in out})
    return {(f"factor:{k}" if k in OWNED_COLUMNS else k): v for k, v in out.items()}


def long_table(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """One row per (file, split, scope, metric) over ``paths``, in file order (all in memory)."""
    rows: list[dict[str, Any]] = []
    for p in paths:
        rows.extend(file_rows(p))
    return rows


def _metric_column(r: dict[str, Any], head: dict[str, Any]) -> str:
    col = str(r["metric"]) if r["scope"] == "all" else f"{r['metric']}@{r['scope']}"
    return f"metric:{col}" if col in head or col in OWNED_COLUMNS else col


def _metric_key(r: dict[str, Any], col: str) -> tuple[int, bool, str]:
    order = {name: i for i, name in enumerate(METRICS)}
    return (order.get(r["metric"], len(order)), r["scope"] != "all", col)


def wide_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The long ``rows`` pivoted to one row per (file, split) and one column per (metric, scope).

    Columns are named ``metric`` for the scope ``all`` and ``metric@scope`` for the others,
    in the metric registry's order (``metric:NAME`` where a factor or an owned column has
    that name).
    """
    wide, keys = _pivot(rows)
    columns = sorted(keys, key=lambda c: keys[c])
    return [{**{k: v for k, v in w.items() if k not in keys}, **{c: w.get(c) for c in columns}} for w in wide]


def _pivot(rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, tuple[int, bool, str]]]:
    """Wide rows in first-seen order, and each metric column's sort key."""
    wide: dict[tuple[str, str], dict[str, Any]] = {}
    keys: dict[str, tuple[int, bool, str]] = {}
    for r in rows:
        head = {k: v for k, v in r.items() if k not in LONG_COLUMNS}
        row = wide.setdefault((r["file"], r["split"]), {**head, "split": r["split"]})
        col = _metric_column(r, head)
        row[col] = r["value"]
        keys.setdefault(col, _metric_key(r, col))
    return list(wide.values()), keys


class _Columns:
    """The columns seen so far: head columns in first-seen order, then the table's own or metric
    columns; and the kinds of value each holds (for Parquet's types)."""

    def __init__(self, wide: bool) -> None:
        self.wide = wide
        self.head: dict[str, None] = {}
        self.metric: dict[str, tuple[int, bool, str]] = {}
        self.kinds: dict[str, set[str]] = {}

    def add(self, row: dict[str, Any], metric_keys: dict[str, tuple[int, bool, str]], where: Path) -> None:
        for k, v in row.items():
            if k not in self.kinds:
                if k in metric_keys:
                    self.metric.setdefault(k, metric_keys[k])
                elif k not in LONG_COLUMNS:
                    self.head[k] = None
                self.kinds[k] = set()
                if len(self.kinds) > MAX_COLUMNS:
                    msg = f"{where}: the table would have more than {MAX_COLUMNS} columns."
                    raise FormatError(msg)
            self.kinds[k].add(_kind(v))

    def names(self) -> list[str]:
        if self.wide:
            tail = sorted(self.metric, key=lambda c: self.metric[c])
            return [*self.head, "split", *(c for c in tail if c not in self.head)]
        return [*self.head, *LONG_COLUMNS]


def _kind(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if -(1 << 63) <= v < (1 << 63) else "other"
    if isinstance(v, float):
        return "float"
    return "str" if isinstance(v, str) else "other"


def table_files(
    paths: Sequence[str | Path], output: str | Path, *, wide: bool = False, raw_csv: bool = False
) -> tuple[Path, int]:
    """Write the table of ``paths`` to ``output``, streaming; return the path and the row count.

    Each file is read in turn (a Ctrl-C is taken between files, never inside HDF5; see
    :mod:`actcode.io.interrupts`), its rows go to an unnamed temporary spool, and the output is
    written from the spool once every column is known. The format comes from the suffix.
    """
    from actcode.io.interrupts import interrupts_deferred

    out = Path(output)
    fmt = _format(out)
    cols = _Columns(wide)
    n = 0
    with tempfile.TemporaryFile("w+", encoding="ascii") as spool:
        for p in paths:
            with interrupts_deferred():
                rows = file_rows(p)
            keys: dict[str, tuple[int, bool, str]] = {}
            if wide:
                rows, keys = _pivot(rows)
            for r in rows:
                cols.add(r, keys, Path(p))
                spool.write(json.dumps(r, default=_json_text) + "\n")  # ASCII: surrogates escaped
                n += 1
            del rows

        def replay() -> Iterator[dict[str, Any]]:
            spool.seek(0)
            for line in spool:
                yield json.loads(line)

        _write(replay, cols.names(), cols.kinds, out, fmt, inputs=paths, raw_csv=raw_csv)
    return out, n


def write_table(
    rows: Sequence[dict[str, Any]],
    output: str | Path,
    inputs: Sequence[str | Path] = (),
    *,
    raw_csv: bool = False,
) -> Path:
    """Write ``rows`` to ``output`` (format from the suffix: .csv, .jsonl, .parquet), atomically.

    ``output`` follows the rules of every output (:func:`actcode.io.atomic.resolve_output`); it
    must not be one of ``inputs``, the code files read. CSV text cells are neutralised unless
    ``raw_csv`` (see the module's notes).
    """
    out = Path(output)
    fmt = _format(out)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    kinds = {c: {_kind(r.get(c)) for r in rows} for c in columns}
    _write(lambda: iter(rows), columns, kinds, out, fmt, inputs=inputs, raw_csv=raw_csv)
    return out


def _format(out: Path) -> str:
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        msg = f"-o {out}: the table's format comes from the suffix; use .csv, .jsonl or .parquet."
        raise InvalidParameterError(msg)
    return fmt


def _write(
    rows: Callable[[], Iterator[dict[str, Any]]],
    columns: list[str],
    kinds: dict[str, set[str]],
    out: Path,
    fmt: str,
    *,
    inputs: Sequence[str | Path],
    raw_csv: bool,
) -> None:
    from actcode.io import atomic_output

    with atomic_output(out, inputs=inputs) as tmp:
        if fmt == "csv":
            cell = _csv_raw if raw_csv else _csv_safe
            with open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
                # CRLF, as RFC 4180: a cell holding a carriage return or a newline is then quoted
                # (with "\n" alone, a CR in a file's text started a new row for every reader)
                w = csv.writer(f, lineterminator="\r\n")
                w.writerow([cell(c) for c in columns])
                w.writerows([cell(r.get(c)) for c in columns] for r in rows())
        elif fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as f:
                for r in rows():  # ensure_ascii: lone surrogates are written as \\u escapes
                    f.write(json.dumps({c: _json(r.get(c)) for c in columns}, default=_json_text) + "\n")
        else:
            _write_parquet(rows(), columns, kinds, tmp)


def _csv_raw(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v) if not math.isnan(v) else v
    if isinstance(v, (bool, int, str)):
        return v
    return json.dumps(v, default=_json_text)


def _csv_safe(v: Any) -> Any:
    """A CSV cell with OWASP's rule: text that a spreadsheet would run as a formula gets a ``'``."""
    out = _csv_raw(v)
    if isinstance(out, str) and not isinstance(v, (int, float)) and out.startswith(FORMULA_START):
        return "'" + out
    return out


def _json(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def _json_text(v: Any) -> str:
    return str(v)


def _arrow_type(kinds: set[str]) -> tuple[str, Callable[[Any], Any]]:
    """The Parquet type of a column holding values of ``kinds``, and the conversion of one value."""
    k = kinds - {"none"}
    if k and k <= {"bool"}:
        return "bool", lambda v: v
    if k and k <= {"int"}:
        return "int64", lambda v: v
    if k and k <= {"int", "float"}:
        return "float64", lambda v: None if v is None else float(v)

    def text(v: Any) -> Any:
        if v is None:
            return None
        return valid_utf8(v) if isinstance(v, str) else json.dumps(v, default=_json_text)

    return "string", text


def _write_parquet(
    rows: Iterator[dict[str, Any]], columns: list[str], kinds: dict[str, set[str]], path: Path
) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        msg = "writing .parquet needs pyarrow, which is not installed: pip install 'actcode[parquet]'."
        raise InvalidParameterError(msg) from None
    types = {c: _arrow_type(kinds.get(c, set())) for c in columns}
    names = [valid_utf8(c) for c in columns]
    if len(set(names)) != len(names):  # two names that differ only in their invalid bytes
        names = [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]
    arrow = {"bool": pa.bool_(), "int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}
    schema = pa.schema([pa.field(n, arrow[types[c][0]]) for n, c in zip(names, columns, strict=True)])
    with pq.ParquetWriter(path, schema) as w:
        batch: list[dict[str, Any]] = []
        for r in rows:
            batch.append(r)
            if len(batch) == PARQUET_BATCH:
                w.write_table(_arrow_batch(pa, batch, columns, types, schema))
                batch = []
        if batch or not columns:
            w.write_table(_arrow_batch(pa, batch, columns, types, schema))


def _arrow_batch(
    pa: Any,
    batch: list[dict[str, Any]],
    columns: list[str],
    types: dict[str, tuple[str, Callable[[Any], Any]]],
    schema: Any,
) -> Any:
    data = [[types[c][1](r.get(c)) for r in batch] for c in columns]
    return pa.Table.from_arrays(
        [pa.array(d, type=f.type) for d, f in zip(data, schema, strict=True)], schema=schema
    )


__all__ = [
    "FORMATS",
    "FORMULA_START",
    "LONG_COLUMNS",
    "OWNED_COLUMNS",
    "code_files",
    "file_rows",
    "long_table",
    "table_files",
    "wide_table",
    "write_table",
]
