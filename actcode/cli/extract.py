"""``actcode extract``: turn trained networks into neural-code files (one per checkpoint)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from actcode.cli._common import emit_json, emit_path, log, progress, protect_stdout, read_input_paths
from actcode.cli._errors import handle_errors, run_batch
from actcode.cli._options import (
    DataRootOpt,
    TrustModelCodeOpt,
    options_from_params,
    stage_default,
    stage_option,
)
from actcode.errors import InvalidParameterError
from actcode.io import open_codes
from actcode.options import ExtractOptions

_O = ExtractOptions


def _summary(path: Path) -> dict[str, Any]:
    with open_codes(path) as cf:
        return {
            "path": str(path),
            "splits": {s: cf.n_rows(s) for s in cf.splits},
            "n_sites": len(cf.layers),
            "n_units": cf.n_units,
            "n_bytes": cf.n_bytes,
            "network": cf.provenance.get("network", {}),
        }


def _user_model(
    model: str, weights: str | None, dataset: str, labels: Path | None, opts: ExtractOptions,
    output: Path | None, out_dir: Path | None, data_root: str | None,
) -> Path:  # fmt: skip
    """``--model`` with ``--weights``/``--dataset``: one code file of a user's model on the data."""
    from actcode.extraction import extract_user_model, user_model_output  # deferred: torch

    protect_stdout()  # the user's model may print, from forward or a thread: stdout keeps the paths
    target = user_model_output(weights, output, out_dir)
    with progress() as bar:
        task = bar.add_task(Path(model.rpartition(":")[0]).name or model, total=None)
        return extract_user_model(
            model, weights=weights, dataset=dataset, labels=labels, output=target, data_root=data_root,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            **opts.user_model_kwargs(),
        )  # fmt: skip


def _user_mode(
    model: str | None, weights: str | None, dataset: str | None, labels: Path | None, opts: ExtractOptions
) -> bool:
    """Whether this is a user's model on data (``--model`` with ``--weights``/``--dataset``); refuse
    the options of that mode otherwise."""
    user_mode = model is not None and (
        weights is not None or dataset is not None or model.partition(":")[0] in ("torchvision", "timm")
    )
    if not user_mode:
        given = ["--labels"] * (labels is not None) + opts.image_options_given()
        given += ["--weights"] * (weights is not None)
        if given:
            msg = f"{given[0]} goes with --model and --weights/--dataset (your own model on your data)."
            raise InvalidParameterError(msg)
    return user_mode


def _extract_checkpoints(
    paths: list[str] | None,
    targets: tuple[Path | None, Path | None, str | None],
    common: dict[str, Any],
    report: Callable[[Path], None],
) -> None:
    """One code file per checkpoint (paths from the arguments or stdin)."""
    from actcode.extraction import extract, parse_shard, plan_outputs  # deferred: torch

    output, out_dir, shard = targets
    inputs = read_input_paths(paths, what="checkpoints")
    part = parse_shard(shard)  # a bad --shard fails before any checkpoint is read
    planned = dict(zip(inputs, plan_outputs(inputs, output=output, out_dir=out_dir, shard=part), strict=True))
    with progress() as bar:

        def one(src: str) -> Path:
            task = bar.add_task(Path(src).name, total=None)
            path = extract(
                src, output=planned[src], shard=part,
                progress=lambda done, total: bar.update(task, completed=done, total=total), **common,
            )  # fmt: skip
            report(path)
            return path

        run_batch("extract", inputs, one)


@handle_errors("extract")
def command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Checkpoints (.pt from actcode train); '-' or none reads paths from stdin."),
    ] = None,
    splits: Annotated[str | None, stage_option(_O, "splits")] = stage_default(_O, "splits"),
    random: Annotated[int, stage_option(_O, "random")] = stage_default(_O, "random"),
    seed: Annotated[int, stage_option(_O, "seed")] = stage_default(_O, "seed"),
    layers: Annotated[str | None, stage_option(_O, "layers")] = stage_default(_O, "layers"),
    batch_size: Annotated[int | None, stage_option(_O, "batch_size")] = stage_default(_O, "batch_size"),
    device: Annotated[str, stage_option(_O, "device")] = stage_default(_O, "device"),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Output file (one input only) [default: the checkpoint with .h5]."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", help="Write every output into this folder (created if missing)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Your own model: torchvision:NAME, timm:NAME (pip install 'actcode[timm]'), "
            "FILE.py:FACTORY or MODULE:FACTORY. With --weights or --dataset it is extracted on that "
            "data; with checkpoints it names the code of a custom-model checkpoint (checked against "
            "the one it records).",
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            help="With --model: a state_dict file (.pth/.pt, loaded weights_only, or .safetensors), "
            "or DEFAULT for a torchvision/timm model's pretrained weights (fetched only with --download).",
        ),
    ] = None,
    download: Annotated[bool, stage_option(_O, "download")] = stage_default(_O, "download"),
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="With --model: imagefolder:PATH (class subfolders give labels, a flat folder -1; "
            "PATH/train and PATH/val|test become splits), npy:PATH (see --labels), or digits, mnist, "
            "cifar10, ..., a .npz [default: digits].",
        ),
    ] = None,
    labels: Annotated[
        Path | None, typer.Option("--labels", help="With --dataset npy:PATH: a .npy of integer labels.")
    ] = None,
    input_size: Annotated[int | None, stage_option(_O, "input_size")] = stage_default(_O, "input_size"),
    mean: Annotated[str | None, stage_option(_O, "mean")] = stage_default(_O, "mean"),
    std: Annotated[str | None, stage_option(_O, "std")] = stage_default(_O, "std"),
    workers: Annotated[int | None, stage_option(_O, "workers")] = stage_default(_O, "workers"),
    skip_bad: Annotated[bool, stage_option(_O, "skip_bad")] = stage_default(_O, "skip_bad"),
    num_classes: Annotated[int | None, stage_option(_O, "num_classes")] = stage_default(_O, "num_classes"),
    trust_model_code: TrustModelCodeOpt = False,
    sites: Annotated[str, stage_option(_O, "sites")] = stage_default(_O, "sites"),
    data_root: DataRootOpt = None,
    compression: Annotated[str, stage_option(_O, "compression")] = stage_default(_O, "compression"),
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON record per output file on stdout.")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="I/N: code only the I-th (0-based) of N contiguous row ranges of every split; "
            "stitch the N files with actcode merge [default output: NAME.shard-I-of-N.h5].",
        ),
    ] = None,
) -> None:
    """Extract the neural codes (ReLU on/off patterns) of trained networks.

    Sites (--sites ops, the default): every ReLU-like operation the network applies, whatever its
    spelling, is an activation site, in forward order: nn.ReLU/LeakyReLU/PReLU/RReLU modules,
    F.relu, torch.relu, x.relu(), relu_, inplace=True, F.leaky_relu, F.prelu, F.rrelu (eval),
    F.threshold(x, 0, 0), x.clamp(min=0) and clamp_min(0), TorchScript submodules included.
    A module call keeps the module's name (a module called twice, as the relu of a ResNet
    block, gives name#0 and name#1); any other call is named MODULE:OP#k after the innermost
    running module and the k-th call of that op in it (layer1.0:relu#1, (root):relu#0). A
    unit's bit is 1 when its pre-activation is > 0, read before an in-place op writes it. Not
    caught: torch.maximum(x, 0), x * (x > 0), torch.where(x > 0, x, 0), clamp with a tensor
    bound. Clipped activations (ReLU6, Hardtanh, clamp with a max) are not sites. The network
    runs in eval mode, float32, TF32 off; a sequence of ReLU calls that changes with the data
    is refused.

    Splits: train = exactly the distinct examples the checkpoint was trained on (with the
    training labels too under label noise); test = the official test split; random = --random
    N uniform inputs (labels -1). Each output path goes to stdout, for actcode measure.

    Your own model: --model torchvision:NAME | timm:NAME | FILE.py:FACTORY | MODULE:FACTORY
    with --weights FILE|DEFAULT and/or --dataset imagefolder:PATH | npy:PATH | NAME. Images
    are preprocessed as the weights' metadata says (--input-size, --mean, --std override it).
    A checkpoint of a custom model records its factory but its code runs only when you name
    it with --model (checked against the record) or pass --trust-model-code.

    Exit codes: 3 not a (safe) checkpoint, weights or image file, 4 input missing, 5 bad option,
    code not allowed to run, or a dataset that does not fit the model, 7 output cannot be
    written.
    """
    opts = options_from_params(ExtractOptions, locals())
    user_mode = _user_mode(model, weights, dataset, labels, opts)

    def report(path: Path) -> None:
        info = _summary(path)
        net = info["network"]
        rows = ", ".join(f"{s} {n}" for s, n in info["splits"].items())
        acc = f"; test accuracy {net['test_accuracy']:.4f}" if net.get("test_accuracy") is not None else ""
        log(f"{path}: {info['n_sites']} sites, {info['n_units']} bits per row; {rows} rows{acc}", level=0)
        if as_json:
            emit_json(info)
        else:
            emit_path(path)

    if user_mode:
        assert model is not None
        if shard is not None:
            msg = "--shard works with checkpoints; with --model and --weights/--dataset, extract it all."
            raise InvalidParameterError(msg)
        if paths:
            msg = "give either checkpoints or --model with --weights/--dataset, not both."
            raise InvalidParameterError(msg)
        report(_user_model(model, weights, dataset or "digits", labels, opts, output, out_dir, data_root))
        return
    common: dict[str, Any] = {**opts.checkpoint_kwargs(), "data_root": data_root}
    if trust_model_code or model is not None:
        common.update({"model": model, "trust_model_code": trust_model_code})
    _extract_checkpoints(paths, (output, out_dir, shard), common, report)
