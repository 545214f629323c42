"""``actcode info``: what a code file holds."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from actcode.cli._common import emit_json, emit_path, err_console, printable, read_input_paths, verbosity
from actcode.cli._errors import handle_errors, run_batch
from actcode.cli._options import CodeFilesArg
from actcode.io.summary import summarize


@handle_errors("info")
def command(
    paths: CodeFilesArg = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON record per file on stdout instead of tables.")
    ] = False,
) -> None:
    """Show the splits, N, D, layers, factors and results of code files.

    Tables go to stderr; stdout carries the paths (or JSON records with --json).
    """
    files = read_input_paths(paths, what="code files")

    def one(path: str) -> None:
        s = summarize(path)
        if as_json:
            emit_json(s)
            return
        if verbosity() >= 0:
            # every string from the file goes through printable(): no control characters, no markup
            head = f"{printable(path)}  (format {printable(s['format_version'])}, D = {s['n_units']} bits"
            t = Table(title=f"{head}, {s['n_bytes']} bytes/row)")
            for col in ("split", "N", "classes", "net. accuracy", "net. loss"):
                t.add_column(col)
            for name, sp in s["splits"].items():
                acc, loss = sp.get("accuracy"), sp.get("loss")
                t.add_row(printable(name), str(sp["n_samples"]), str(sp["n_classes"]),
                          "-" if acc is None else f"{acc:.4f}",
                          "-" if loss is None else f"{loss:.4f}")  # fmt: skip
            err_console.print(t)
            lt = Table(title="layers")
            for col in ("#", "name", "kind", "shape", "units"):
                lt.add_column(col)
            for i, ly in enumerate(s["layers"]):
                shape = "x".join(map(str, ly["shape"]))
                lt.add_row(str(i), printable(ly["name"]), printable(ly["kind"]), shape, str(ly["n_units"]))
            err_console.print(lt)
            factors = {k: v for k, v in s["factors"].items() if v is not None}
            text = ", ".join(f"{printable(k)}={printable(v)}" for k, v in factors.items())
            err_console.print("factors: " + (text or "(none)"))
            text = ", ".join(f"{printable(k)} ({n} rows)" for k, n in s["results"].items())
            err_console.print("results: " + (text or "(none)"))
        emit_path(path)

    run_batch("info", files, one)
