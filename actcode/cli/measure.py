"""``actcode measure``: redundancy, collisions, hash lookup, Hamming neighbours and bit statistics."""

from __future__ import annotations

from typing import Annotated

from actcode.cli._common import log, read_input_paths
from actcode.cli._errors import handle_errors, run_batch
from actcode.cli._options import (
    CodeFilesArg,
    ResultsJsonOpt,
    ResultsOutputOpt,
    check_output,
    emit_results,
    options_from_params,
    print_table,
    stage_default,
    stage_option,
)
from actcode.metrics import table_columns
from actcode.options import MeasureOptions

_COLUMNS = table_columns("measure")
_O = MeasureOptions


@handle_errors("measure")
def command(
    paths: CodeFilesArg = None,
    splits: Annotated[str | None, stage_option(_O, "splits")] = stage_default(_O, "splits"),
    layers: Annotated[str | None, stage_option(_O, "layers")] = stage_default(_O, "layers"),
    per_layer: Annotated[bool, stage_option(_O, "per_layer")] = stage_default(_O, "per_layer"),
    prefixes: Annotated[bool, stage_option(_O, "prefixes")] = stage_default(_O, "prefixes"),
    nn: Annotated[bool, stage_option(_O, "nn")] = stage_default(_O, "nn"),
    nn_sample: Annotated[int | None, stage_option(_O, "nn_sample")] = stage_default(_O, "nn_sample"),
    seed: Annotated[int, stage_option(_O, "seed")] = stage_default(_O, "seed"),
    max_memory: Annotated[str, stage_option(_O, "max_memory")] = stage_default(_O, "max_memory"),
    output: ResultsOutputOpt = None,
    as_json: ResultsJsonOpt = False,
    device: Annotated[str, stage_option(_O, "device")] = stage_default(_O, "device"),
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
    opts = options_from_params(MeasureOptions, locals())
    files = read_input_paths(paths, what="code files")
    check_output(output, files)

    from actcode.measures import measure_file  # deferred: Numba compiles on import, not needed for --help

    def one(path: str) -> None:
        log(f"measuring {path}", level=1)
        out, table = measure_file(path, **opts.kwargs(), output=output)
        print_table(f"measure: {out}", table, _COLUMNS)
        emit_results("measure", out, table, as_json=as_json)

    run_batch("measure", files, one)
