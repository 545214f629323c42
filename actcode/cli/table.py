"""``actcode table``: every stored result of code files as one CSV, JSON-lines or Parquet table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from actcode.cli._common import emit_path, log, read_input_paths
from actcode.cli._errors import handle_errors
from actcode.table import code_files, table_files


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
    raw_csv: Annotated[
        bool,
        typer.Option(
            "--raw-csv",
            help="Write text cells of a CSV as the files hold them. By default a cell that begins with "
            "=, +, -, @, a tab or a carriage return gets a leading ' (OWASP), so that a spreadsheet "
            "does not run it as a formula. JSON lines and Parquet always hold the raw values.",
        ),
    ] = False,
) -> None:
    """Write every result stored in code files as one table, with each file's factors as columns.

    Long form (default): one row per (file, split, scope, metric), as the results groups store
    them, with the columns file, the factors (dataset, model, width, depth, epoch, sample_size,
    ...), stage (measure, probe or network), split, scope, metric and value. --wide: one row
    per (file, split), one column per metric (metric for the whole code, metric@scope for a
    layer or prefix). Reads with pandas.read_csv / read_json(lines=True) / read_parquet, or
    R's read.csv. The table's path goes to stdout.

    The columns file, stage, split, scope, metric and value are written by table from what it
    read: a factor of one of these names in a file becomes factor:NAME. In CSV, text that a
    spreadsheet would run as a formula is neutralised with a leading ' (see --raw-csv). The
    files are read one at a time and the rows stream through a temporary spool, so memory and
    open files stay bounded whatever the number of files.
    """
    files = code_files(read_input_paths(paths, what="code files or folders"))
    out, n = table_files(files, output, wide=wide, raw_csv=raw_csv)
    log(f"{out}: {n} rows from {len(files)} code files", level=0)
    emit_path(out)
