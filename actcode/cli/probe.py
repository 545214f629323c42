"""``actcode probe``: K-Means, Hamming K-NN and logistic-regression probes on neural codes."""

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
from actcode.options import ProbeOptions

_O = ProbeOptions


@handle_errors("probe")
def command(
    paths: CodeFilesArg = None,
    probes: Annotated[str, stage_option(_O, "probes")] = stage_default(_O, "probes"),
    k: Annotated[int, stage_option(_O, "k")] = stage_default(_O, "k"),
    knn_ties: Annotated[str, stage_option(_O, "knn_ties")] = stage_default(_O, "knn_ties"),
    ovo: Annotated[bool, stage_option(_O, "ovo")] = stage_default(_O, "ovo"),
    layers: Annotated[str | None, stage_option(_O, "layers")] = stage_default(_O, "layers"),
    splits: Annotated[str | None, stage_option(_O, "splits")] = stage_default(_O, "splits"),
    seed: Annotated[int, stage_option(_O, "seed")] = stage_default(_O, "seed"),
    n_init: Annotated[str, stage_option(_O, "n_init")] = stage_default(_O, "n_init"),
    knn_map: Annotated[bool, stage_option(_O, "map")] = stage_default(_O, "map"),
    max_memory: Annotated[str, stage_option(_O, "max_memory")] = stage_default(_O, "max_memory"),
    output: ResultsOutputOpt = None,
    as_json: ResultsJsonOpt = False,
    device: Annotated[str, stage_option(_O, "device")] = stage_default(_O, "device"),
) -> None:
    """Probe how well simple algorithms categorize the codes, as in the study.

    K-Means (k = number of classes) fit separately on each split and scored by majority and
    by Hungarian mapping; K-NN with Hamming distance (fit on the training split, accuracy
    and mAP on the others; a tied vote is broken by --knn-ties); logistic regression
    (multinomial, or one-vs-one with --ovo). With fewer rows than kept units, K-Means and
    logistic regression run in the span of the rows (exact inner products; no dense matrix). The
    network's own accuracy is reported beside them. Results are stored in the file
    (copy-on-write) under /results/probe; a table goes to stderr and the path to stdout.
    """
    opts = options_from_params(ProbeOptions, locals())
    files = read_input_paths(paths, what="code files")
    check_output(output, files)
    from actcode.probes import run_probes  # deferred: scikit-learn

    def one(path: str) -> None:
        out, table = run_probes(path, **opts.kwargs(), output=output, log=lambda m: log(m, level=1))
        print_table(f"probe: {out}", table, table_columns("probe"))  # plugin probes add columns
        emit_results("probe", out, table, as_json=as_json)

    run_batch("probe", files, one)
