"""``actcode table``: every stored result of code files as one CSV, JSON-lines or Parquet table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from actcode.cli._common import emit_path, log, read_input_paths
from actcode.cli._errors import handle_errors
from actcode.table import code_files, long_table, wide_table, write_table


@handle_errors("table")
def command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Code files or folders (every *.h5 under them); '-' or none reads stdin."),
    ] = None,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The table: .csv, .jsonl, or .parquet (needs pyarrow)."),
    ] = Path("results.csv"),
    wide: Annotated[
        bool, typer.Option("--wide", help="One row per file and split, one column per metric (and scope).")
    ] = False,
) -> None:
    """Write every result stored in code files as one table, with each file's factors as columns.

    Long form (default): one row per (file, split, scope, metric), as the results groups store
    them, with the columns file, the factors (dataset, model, width, depth, epoch, sample_size,
    ...), stage (measure, probe or network), split, scope, metric and value. --wide: one row
    per (file, split), one column per metric (metric for the whole code, metric@scope for a
    layer or prefix). Reads with pandas.read_csv / read_json(lines=True) / read_parquet, or
    R's read.csv. The table's path goes to stdout.
    """
    files = code_files(read_input_paths(paths, what="code files or folders"))
    rows = long_table(files)
    table = wide_table(rows) if wide else rows
    out = write_table(table, output, inputs=files)
    log(f"{out}: {len(table)} rows from {len(files)} code files", level=0)
    emit_path(out)
