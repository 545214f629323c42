"""Every stored result of many code files as one tidy table, with the files' factors as columns.

The long form has one row per (file, split, scope, metric), the layout of the results groups
(formats/codes.md), plus the file and its factors; the wide form has one row per (file, split)
and one column per metric (``metric`` for the whole code, ``metric@scope`` for the others).
Written as CSV, JSON lines or Parquet (with pyarrow), for pandas and R.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from actcode.errors import ActcodeFileNotFoundError, InvalidParameterError
from actcode.factors import FACTOR_KEYS
from actcode.metrics import METRICS

#: The long table's columns after the file and its factors.
LONG_COLUMNS = ("stage", "split", "scope", "metric", "value")
#: Output formats by file suffix.
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def code_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, and every ``*.h5`` under each folder (sorted, hidden files skipped)."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*.h5") if not f.name.startswith(".")))
        elif p.exists():
            out.append(p)
        else:
            msg = f"{p} does not exist."
            raise ActcodeFileNotFoundError(msg)
    return out


def file_rows(path: str | Path) -> list[dict[str, Any]]:
    """The long rows of one code file: its measure and probe results, and the network's own metrics.

    The network's numbers (stage ``network``) come from the split attributes, as
    ``net_accuracy`` and ``net_loss`` in the metric registry.
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
    """The study's factors first (in FACTOR_KEYS order, None where absent), then any others, sorted."""
    out = {k: factors.get(k) for k in FACTOR_KEYS}
    out.update({k: factors[k] for k in sorted(factors) if k not in out})
    return out


def long_table(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """One row per (file, split, scope, metric) over ``paths``, in file order."""
    rows: list[dict[str, Any]] = []
    for p in paths:
        rows.extend(file_rows(p))
    return rows


def wide_table(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The long ``rows`` pivoted to one row per (file, split) and one column per (metric, scope).

    Columns are named ``metric`` for the scope ``all`` and ``metric@scope`` for the others,
    in the metric registry's order.
    """
    order = {name: i for i, name in enumerate(METRICS)}
    wide: dict[tuple[str, str], dict[str, Any]] = {}
    keys: dict[str, tuple[int, bool, str]] = {}
    for r in rows:
        head = {k: v for k, v in r.items() if k not in LONG_COLUMNS}
        row = wide.setdefault((r["file"], r["split"]), {**head, "split": r["split"]})
        col = r["metric"] if r["scope"] == "all" else f"{r['metric']}@{r['scope']}"
        row[col] = r["value"]
        keys.setdefault(col, (order.get(r["metric"], len(order)), r["scope"] != "all", col))
    columns = sorted(keys, key=lambda c: keys[c])
    out: list[dict[str, Any]] = []
    for w in wide.values():
        out.append({**{k: v for k, v in w.items() if k not in keys}, **{c: w.get(c) for c in columns}})
    return out


def write_table(
    rows: Sequence[dict[str, Any]], output: str | Path, inputs: Sequence[str | Path] = ()
) -> Path:
    """Write ``rows`` to ``output`` (format from the suffix: .csv, .jsonl, .parquet), atomically.

    ``output`` follows the rules of every output (:func:`actcode.io.atomic.resolve_output`); it
    must not be one of ``inputs``, the code files read.
    """
    from actcode.io import atomic_output

    out = Path(output)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        msg = f"-o {out}: the table's format comes from the suffix; use .csv, .jsonl or .parquet."
        raise InvalidParameterError(msg)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_output(out, inputs=inputs) as tmp:
        if fmt == "csv":
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
                w.writeheader()
                w.writerows({k: _csv(r.get(k)) for k in columns} for r in rows)
        elif fmt == "jsonl":
            with open(tmp, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps({k: _json(r.get(k)) for k in columns}) + "\n")
        else:
            _write_parquet(rows, columns, tmp)
    return out


def _csv(v: Any) -> Any:
    if v is None:
        return ""
    return repr(v) if isinstance(v, float) and not math.isnan(v) else v


def _json(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def _write_parquet(rows: Sequence[dict[str, Any]], columns: list[str], path: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        msg = "writing .parquet needs pyarrow, which is not installed: pip install 'actcode[parquet]'."
        raise InvalidParameterError(msg) from None
    data = {c: [r.get(c) for r in rows] for c in columns}
    pq.write_table(pa.table(data), path)


__all__ = ["FORMATS", "LONG_COLUMNS", "code_files", "file_rows", "long_table", "wide_table", "write_table"]
