"""``actcode probe``: K-Means, Hamming K-NN and logistic-regression probes on neural codes."""

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
from actcode.errors import InvalidParameterError
from actcode.metrics import table_columns


def _n_init(text: str) -> int | str:
    if text == "auto":
        return "auto"
    if text.isdigit() and int(text) > 0:
        return int(text)
    msg = f"--n-init must be 'auto' or a positive integer. Got {text!r} instead."
    raise InvalidParameterError(msg)


@handle_errors("probe")
def command(
    paths: CodeFilesArg = None,
    probes: Annotated[
        str, typer.Option("--probes", help="Comma list of knn, kmeans, logreg.")
    ] = "knn,kmeans,logreg",
    k: Annotated[int, typer.Option("--k", help="Neighbours of the Hamming K-NN probe.")] = 9,
    ovo: Annotated[
        bool,
        typer.Option("--ovo", help="One-vs-one logistic regression (the study's) instead of multinomial."),
    ] = False,
    layers: Annotated[
        str | None,
        typer.Option(
            "--layers",
            help="Probe these sites (comma list of names, globs, indices) one by one "
            "instead of the whole code.",
        ),
    ] = None,
    splits: Annotated[
        str | None,
        typer.Option(
            "--splits",
            help="Comma list: the training split first, then the splits to evaluate "
            "(default: train, then all others).",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", help="random_state of K-Means and logistic regression (the study used 9)."),
    ] = 9,
    n_init: Annotated[
        str,
        typer.Option(
            "--n-init", help="K-Means restarts: 'auto' (1) or a number (the study's scikit-learn used 10)."
        ),
    ] = "auto",
    knn_map: Annotated[
        bool, typer.Option("--map/--no-map", help="Also compute the mAP of the Hamming ranking.")
    ] = True,
    max_memory: Annotated[
        str,
        typer.Option(
            "--max-memory",
            help="Largest dense matrix for K-Means (float64) and LR (float32); "
            "beyond it a seeded random subset of columns is used.",
        ),
    ] = "4GiB",
    output: ResultsOutputOpt = None,
    as_json: ResultsJsonOpt = False,
    device: SearchDeviceOpt = "auto",
) -> None:
    """Probe how well simple algorithms categorize the codes, as in the study.

    K-Means (k = number of classes) fit separately on each split and scored by majority and
    by Hungarian mapping; K-NN with Hamming distance (fit on the training split, accuracy
    and mAP on the others); logistic regression (multinomial, or one-vs-one with --ovo). The
    network's own accuracy is reported beside them. Results are stored in the file
    (copy-on-write) under /results/probe; a table goes to stderr and the path to stdout.
    """
    check_seed(seed)
    files = read_input_paths(paths, what="code files")
    check_output(output, files)
    budget = parse_bytes(max_memory)
    restarts = _n_init(n_init)
    chosen = split_list(probes) or []
    from actcode.probes import run_probes

    def one(path: str) -> None:
        out, table = run_probes(
            path,
            probes=chosen,
            k=k,
            ovo=ovo,
            layers=split_list(layers),
            splits=split_list(splits),
            seed=seed,
            n_init=restarts,
            knn_map=knn_map,
            max_memory=budget,
            output=output,
            device=device,
            log=lambda m: log(m, level=1),
        )
        print_table(f"probe: {out}", table, table_columns("probe"))  # plugin probes add columns
        if as_json:
            for rec in table.to_records():
                emit_json({"path": str(out), "kind": "probe", **rec})
        else:
            emit_path(out)

    run_batch("probe", files, one)
