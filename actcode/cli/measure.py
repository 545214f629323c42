"""``actcode measure``: redundancy, collisions, hash lookup, Hamming neighbours and bit statistics."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from actcode.cli._common import emit_json, emit_path, err_console, log, read_input_paths, verbosity
from actcode.cli._errors import handle_errors, run_batch
from actcode.errors import InvalidParameterError
from actcode.results import ResultTable

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 10**6,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 10**9,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 10**12,
    "tib": 1 << 40,
}


def parse_bytes(text: str, option: str = "--max-memory") -> int:
    """Parse a size such as ``4GiB``, ``512M`` or ``1000000`` into bytes (K, M, G are binary)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS or float(m.group(1)) <= 0:
        msg = (
            f"{option} must be a positive size such as 4GiB, 512MiB or 1000000 (bytes). Got {text!r} instead."
        )
        raise InvalidParameterError(msg)
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def split_list(text: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None


def check_output(output: Path | None, files: list[str]) -> None:
    """``--output`` names one file, so it needs exactly one input."""
    if output is not None and len(files) != 1:
        msg = (
            f"--output writes one file, so it needs exactly one input; got {len(files)} inputs. "
            "Drop --output to update each file in place."
        )
        raise InvalidParameterError(msg)


def fmt(v: float) -> str:
    """A compact number for tables."""
    if math.isnan(v):
        return "-"
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e12 else f"{v:.4g}"


def print_table(title: str, table: ResultTable, columns: list[tuple[str, str]]) -> None:
    """One row per (split, scope) with the given (metric, header) columns, on stderr."""
    if verbosity() < 0:
        return
    t = Table(title=title)
    t.add_column("split")
    t.add_column("scope")
    for _, header in columns:
        t.add_column(header, justify="right")
    values = {(s, c, m): v for s, c, m, v in table.rows()}
    for split in table.splits:
        for scope in table.scopes:
            if not any((split, scope, m) in values for m, _ in columns):
                continue
            t.add_row(split, scope, *[fmt(values.get((split, scope, m), float("nan"))) for m, _ in columns])
    # a pipe or file has no width: do not squeeze the columns into 80 characters
    console = err_console if err_console.is_terminal else Console(file=sys.stderr, width=240, highlight=False)
    console.print(t)


_COLUMNS = [
    ("n_samples", "N"),
    ("n_units", "D"),
    ("n_distinct", "distinct"),
    ("redundancy", "R"),
    ("largest_group", "largest"),
    ("n_mixed_groups", "mixed"),
    ("hash_hit_rate", "hash hits"),
    ("hash_lookup_accuracy", "lookup acc"),
    ("nn_within_mean", "NN within"),
    ("nn_between_mean", "NN between"),
    ("dead_units", "dead"),
    ("always_on_units", "always on"),
    ("mean_bit_entropy", "H/bit"),
]


@handle_errors("measure")
def command(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Code files; '-' or none reads paths from stdin.")
    ] = None,
    splits: Annotated[
        str | None, typer.Option("--splits", help="Comma list of splits to measure (default: all).")
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option(
            "--layers",
            help="Comma list of sites (names, globs or indices) for the per-layer and prefix scopes.",
        ),
    ] = None,
    per_layer: Annotated[
        bool, typer.Option("--per-layer/--no-per-layer", help="Scopes layer:<site>.")
    ] = True,
    prefixes: Annotated[
        bool, typer.Option("--prefixes/--no-prefixes", help="Scopes upto:<site> (cumulative).")
    ] = True,
    nn: Annotated[bool, typer.Option("--nn/--no-nn", help="Hamming nearest-neighbour statistics.")] = True,
    nn_sample: Annotated[
        int | None,
        typer.Option(
            "--nn-sample",
            help="Query rows per split for the NN statistics; 0 = all. "
            "Default: all up to 20000 rows, else 10000 (seeded).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the NN query sample.")] = 0,
    max_memory: Annotated[
        str,
        typer.Option(
            "--max-memory", help="Hold codes in memory up to this size, else stream them (e.g. 4GiB)."
        ),
    ] = "4GiB",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write a copy with the results here instead of updating the input (one input only).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON record per result row on stdout instead of paths.")
    ] = False,
) -> None:
    """Measure the encoding properties of code files, per split and scope.

    For the whole code, each site and each cumulative prefix of sites: the redundancy ratio
    R = (N - #distinct)/N, collision groups and those that mix labels, test codes equal to a
    training code and the accuracy of looking their label up, Hamming nearest-neighbour
    distances within and between classes, dead and always-on units and per-bit entropy.
    Results are stored in the file (copy-on-write; the codes are never modified) under
    /results/measure. A table goes to stderr; stdout carries the file path for the next
    command (or JSON records with --json).
    """
    files = read_input_paths(paths, what="code files")
    check_output(output, files)
    budget = parse_bytes(max_memory)
    from actcode.measures import measure_file

    def one(path: str) -> None:
        log(f"measuring {path}", level=1)
        out, table = measure_file(
            path,
            splits=split_list(splits),
            layers=split_list(layers),
            prefixes=prefixes,
            per_layer=per_layer,
            nn=nn,
            nn_sample=nn_sample,
            seed=seed,
            max_memory=budget,
            output=output,
        )
        print_table(f"measure: {out}", table, _COLUMNS)
        if as_json:
            for rec in table.to_records():
                emit_json({"path": str(out), "kind": "measure", **rec})
        else:
            emit_path(out)

    run_batch("measure", files, one)
