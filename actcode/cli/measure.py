"""``actcode measure``: redundancy, collisions, hash lookup, Hamming neighbours and bit statistics."""

from __future__ import annotations

from typing import Annotated

import typer

from actcode.cli._common import emit_json, emit_path, log, read_input_paths
from actcode.cli._errors import handle_errors, run_batch
from actcode.cli._options import (
    CodeFilesArg,
    ResultsJsonOpt,
    ResultsOutputOpt,
    SearchDeviceOpt,
    check_output,
    parse_bytes,
    print_table,
    split_list,
)
from actcode.config import check_seed
from actcode.metrics import table_columns

_COLUMNS = table_columns("measure")


@handle_errors("measure")
def command(
    paths: CodeFilesArg = None,
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
    output: ResultsOutputOpt = None,
    as_json: ResultsJsonOpt = False,
    device: SearchDeviceOpt = "auto",
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
    check_seed(seed)
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
            device=device,
        )
        print_table(f"measure: {out}", table, _COLUMNS)
        if as_json:
            for rec in table.to_records():
                emit_json({"path": str(out), "kind": "measure", **rec})
        else:
            emit_path(out)

    run_batch("measure", files, one)
