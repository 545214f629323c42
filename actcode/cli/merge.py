"""``actcode merge``: stitch the shard files of one ``extract --shard I/N`` run into one code file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from actcode.cli._common import emit_json, emit_path, log, read_input_paths
from actcode.cli._errors import handle_errors
from actcode.cli._options import CodeFilesArg
from actcode.io.merge import merge_shards


@handle_errors("merge")
def command(
    output: Annotated[Path, typer.Option("--output", "-o", help="The merged code file (required).")],
    paths: CodeFilesArg = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON record for the merged file on stdout.")
    ] = False,
) -> None:
    """Merge the shards of one sharded extraction into one code file.

    The shards (every index 0..N-1 of one `actcode extract --shard I/N` run, in any order)
    must come from the same checkpoint, layers and splits; a foreign, overlapping or missing
    shard is refused with one line. Rows are copied chunk by chunk; the merged file appears
    under its name only when complete and is identical, in its codes, labels, predictions and
    indices, to an unsharded extraction. Its path goes to stdout.
    """
    files = read_input_paths(paths, what="shard files")
    out = merge_shards(files, output, log=lambda m: log(m, level=1))
    log(f"{out}: merged {len(files)} shards", level=0)
    if as_json:
        emit_json({"path": str(out), "shards": list(files)})
    else:
        emit_path(out)
