"""``actcode validate``: check files against the neural-code format spec."""

from __future__ import annotations

from typing import Annotated

import typer

from actcode.cli._common import emit_json, emit_path, log, read_input_paths
from actcode.cli._errors import handle_errors, run_batch
from actcode.cli._options import CodeFilesArg
from actcode.io import validate


@handle_errors("validate")
def command(
    paths: CodeFilesArg = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON record per valid file on stdout.")
    ] = False,
) -> None:
    """Validate neural-code files: exit 0 when every file is valid.

    Every rule of formats/codes.md is checked, cheapest first, including that every pad bit
    is zero. Each invalid file gets one line on stderr saying what is wrong and where; the
    other files are still checked, and the exit code is that of the first failure (3 for an
    invalid file, 4 for a missing one). Valid files' paths go to stdout.
    """
    files = read_input_paths(paths, what="code files")

    def one(path: str) -> None:
        header = validate(path)
        log(f"{path}: valid actcode.codes {'.'.join(map(str, header.version))}", level=0)
        if as_json:
            emit_json({"path": path, "valid": True, "version": ".".join(map(str, header.version))})
        else:
            emit_path(path)

    run_batch("validate", files, one)
