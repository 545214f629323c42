"""``actcode regions``: the exact geometry of the linear regions around the data, stored as results."""

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
    stage_default,
    stage_option,
)
from actcode.cli._walks import walk_display
from actcode.metrics import table_columns
from actcode.options import RegionsOptions
from actcode.results import ResultTable

#: (metric, header) of the one-line summary per split, from the metric registry.
_COLUMNS = table_columns("regions")
_O = RegionsOptions


def _summary(out: object, table: ResultTable) -> None:
    stored = {(r[0], r[1], r[2]) for r in table.rows()}
    for split in table.splits:
        parts = [
            f"{name} {table.get(split, 'all', metric):.4g}"
            for metric, name in _COLUMNS
            if (split, "all", metric) in stored
        ]
        log(f"regions {out} ({split}): " + ", ".join(parts))


@handle_errors("regions")
def command(
    paths: CodeFilesArg = None,
    analyses: Annotated[str | None, stage_option(_O, "analyses")] = stage_default(_O, "analyses"),
    splits: Annotated[str | None, stage_option(_O, "splits", "--splits", "--split")] = stage_default(
        _O, "splits"
    ),
    layers: Annotated[str | None, stage_option(_O, "layers")] = stage_default(_O, "layers"),
    segments: Annotated[int, stage_option(_O, "segments")] = stage_default(_O, "segments"),
    radius: Annotated[float | None, stage_option(_O, "radius")] = stage_default(_O, "radius"),
    directions: Annotated[int, stage_option(_O, "directions")] = stage_default(_O, "directions"),
    max_rows: Annotated[int, stage_option(_O, "max_rows")] = stage_default(_O, "max_rows"),
    batch: Annotated[int | None, stage_option(_O, "batch")] = stage_default(_O, "batch"),
    plane: Annotated[str | None, stage_option(_O, "plane")] = stage_default(_O, "plane"),
    window: Annotated[str, stage_option(_O, "window")] = stage_default(_O, "window"),
    seed: Annotated[int, stage_option(_O, "seed")] = stage_default(_O, "seed"),
    device: Annotated[str, stage_option(_O, "device")] = stage_default(_O, "device"),
    model: Annotated[str | None, stage_option(_O, "model")] = stage_default(_O, "model"),
    weights: Annotated[str | None, stage_option(_O, "weights")] = stage_default(_O, "weights"),
    trust_model_code: Annotated[bool, stage_option(_O, "trust_model_code")] = stage_default(
        _O, "trust_model_code"
    ),
    dataset: Annotated[str | None, stage_option(_O, "dataset")] = stage_default(_O, "dataset"),
    data_root: Annotated[str | None, stage_option(_O, "data_root")] = stage_default(_O, "data_root"),
    output: ResultsOutputOpt = None,
    as_json: ResultsJsonOpt = False,
) -> None:
    """Measure the linear regions of each file's network around its data, exactly.

    lines: exact walks (float64) along chords between examples of the same and of different
    classes and along random segments through examples: regions crossed, regions per unit
    length, per site. local: units whose bit varies on a star of 2P points around each
    example (local complexity). kernel: NASWOT's log|K| (-inf when two codes coincide or K is
    otherwise singular) and TE-NAS's distinct codes on a batch. plane: the exact partition of
    the plane through three examples into polygons (draw it with 'actcode chart regions').
    The network and data come from the file's provenance (a checkpoint, or a library or user model
    with its weights; a study dataset, an image folder with its preprocessing, or a .npy) and are
    checked against its codes; kernel alone reads only the stored codes;
    the activation sites are found as the file's extraction found them (--sites ops or
    modules). A custom-model checkpoint's code runs only when you name it with --model or
    pass --trust-model-code, as in extract.
    Results go to /results/regions (copy-on-write, like measure); stdout carries the path.
    While the lines walks run, stderr shows each walk's segments done, breakpoints and steps
    (a bar on a terminal, a line per walk otherwise; -q silences it), and a walk that looks
    long gets one note with its measured rate and an estimate of its cost.
    """
    opts = options_from_params(RegionsOptions, locals())
    files = read_input_paths(paths, what="code files")
    check_output(output, files)
    from actcode.regions.api import RegionsConfig, regions_file  # deferred: torch

    cfg = RegionsConfig(**opts.config_kwargs())

    def one(path: str) -> None:
        log(f"regions {path}", level=1)
        with walk_display(path) as shown:
            out, table = regions_file(path, cfg, output=output, note=log, progress=shown)
        _summary(out, table)
        emit_results("regions", out, table, as_json=as_json)

    run_batch("regions", files, one)
