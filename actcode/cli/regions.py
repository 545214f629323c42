"""``actcode regions``: the exact geometry of the linear regions around the data, stored as results."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from actcode.cli._common import emit_json, emit_path, log, read_input_paths
from actcode.cli._errors import handle_errors, run_batch
from actcode.cli._options import (
    CodeFilesArg,
    DataRootOpt,
    DeviceOpt,
    ResultsJsonOpt,
    ResultsOutputOpt,
    TrustModelCodeOpt,
    check_output,
    split_list,
)
from actcode.config import check_seed
from actcode.errors import InvalidParameterError
from actcode.metrics import table_columns

#: (metric, header) of the one-line summary per split, from the metric registry.
_COLUMNS = table_columns("regions")


def _plane_rows(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        rows = tuple(int(v) for v in text.split(","))
    except ValueError:
        rows = ()
    if len(rows) != 3 or len(set(rows)) != 3:
        msg = (
            f"--plane must be three different row numbers of the split, such as 0,5,9. Got {text!r} instead."
        )
        raise InvalidParameterError(msg)
    return rows[0], rows[1], rows[2]


@handle_errors("regions")
def command(
    paths: CodeFilesArg = None,
    analyses: Annotated[
        str | None,
        typer.Option(
            "--analyses",
            help="Comma list of lines, local, kernel, plane (default: all; plane is skipped, with a note, "
            "for a network with max-pools, and refused there when asked for).",
        ),
    ] = None,
    splits: Annotated[
        str | None, typer.Option("--splits", "--split", help="Comma list of splits (default: all).")
    ] = None,
    layers: Annotated[
        str | None,
        typer.Option(
            "--layers", help="Sites (names, globs or indices) that get per-layer scopes (default: all)."
        ),
    ] = None,
    segments: Annotated[
        int, typer.Option("--segments", help="lines: segments per relation (same, different, random).")
    ] = 64,
    radius: Annotated[
        float | None,
        typer.Option(
            "--radius",
            help="lines: length of the random segments; local: star radius. "
            "Default: 0.01 x the data's scale.",
        ),
    ] = None,
    directions: Annotated[
        int, typer.Option("--directions", help="local: random orthonormal directions P.")
    ] = 8,
    max_rows: Annotated[
        int, typer.Option("--max-rows", help="local: examples per split (seeded sample).")
    ] = 1000,
    batch: Annotated[
        int | None,
        typer.Option(
            "--batch",
            help="kernel: codes per batch (seeded sample). Default: min(128, D + 1), as NASWOT's kernel "
            "(rank <= D + 1) is singular above, and its score -inf.",
        ),
    ] = None,
    plane: Annotated[
        str | None,
        typer.Option("--plane", help="plane: three rows of the split, such as 0,5,9 (default: seeded)."),
    ] = None,
    window: Annotated[
        str, typer.Option("--window", help="plane: triangle (of the three examples) or box (around it).")
    ] = "triangle",
    seed: Annotated[int, typer.Option("--seed", help="Seed of every sample and direction.")] = 0,
    device: DeviceOpt = "auto",
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="The network as FILE.py:FACTORY, torchvision:NAME or timm:NAME: with --weights, instead of "
            "the recorded one; alone, it names the code of a custom-model checkpoint (checked against the "
            "one it records).",
        ),
    ] = None,
    weights: Annotated[
        str | None, typer.Option("--weights", help="With --model: its state_dict file.")
    ] = None,
    trust_model_code: TrustModelCodeOpt = False,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="The data instead of the recorded source: a study dataset, a .npz, imagefolder:DIR or "
            "npy:FILE (read with the recorded preprocessing). kernel needs no data.",
        ),
    ] = None,
    data_root: DataRootOpt = None,
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
    """
    check_seed(seed)
    files = read_input_paths(paths, what="code files")
    check_output(output, files)
    if weights is not None and model is None:
        msg = "--weights needs --model (FILE.py:FACTORY, torchvision:NAME or timm:NAME builds the network)."
        raise InvalidParameterError(msg)
    from actcode.regions.api import RegionsConfig, parse_analyses, regions_file

    cfg = RegionsConfig(
        analyses=None if analyses is None else parse_analyses(analyses), splits=split_list(splits),
        layers=split_list(layers),
        segments=segments, radius=radius, directions=directions, batch=batch, max_rows=max_rows,
        plane=_plane_rows(plane), window=window, seed=seed, device=device, model=model, weights=weights,
        dataset=dataset, data_root=data_root, trust_model_code=trust_model_code,
    )  # fmt: skip

    def one(path: str) -> None:
        log(f"regions {path}", level=1)
        out, table = regions_file(path, cfg, output=output, note=log)
        stored = {(r[0], r[1], r[2]) for r in table.rows()}
        for split in table.splits:
            parts = [
                f"{name} {table.get(split, 'all', metric):.4g}"
                for metric, name in _COLUMNS
                if (split, "all", metric) in stored
            ]
            log(f"regions {out} ({split}): " + ", ".join(parts))
        if as_json:
            for rec, (*_, value) in zip(table.to_records(), table.rows(), strict=True):
                if math.isinf(value):  # strict JSON has no infinities: NASWOT's -inf as text
                    rec = {**rec, "value": None, "value_text": "-inf" if value < 0 else "inf"}
                emit_json({"path": str(out), "kind": "regions", **rec})
        else:
            emit_path(out)

    run_batch("regions", files, one)
