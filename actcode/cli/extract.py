"""``actcode extract``: turn trained networks into neural-code files (one per checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from actcode.cli._common import emit_json, emit_path, log, progress, read_input_paths
from actcode.cli._errors import handle_errors, run_batch
from actcode.errors import InvalidParameterError, OutputError


def _summary(path: Path) -> dict[str, Any]:
    from actcode.io import open_codes

    with open_codes(path) as cf:
        return {
            "path": str(path),
            "splits": {s: cf.n_rows(s) for s in cf.splits},
            "n_sites": len(cf.layers),
            "n_units": cf.n_units,
            "n_bytes": cf.n_bytes,
            "network": cf.provenance.get("network", {}),
        }


def _out_dir(out_dir: Path | None) -> Path | None:
    if out_dir is None:
        return None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot create --out-dir {out_dir}: {exc.strerror or exc}."
        raise OutputError(msg) from None
    return out_dir


@handle_errors("extract")
def command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Checkpoints (.pt from actcode train); '-' or none reads paths from stdin."),
    ] = None,
    splits: Annotated[
        str, typer.Option("--splits", help="Comma-separated splits among train, test, random.")
    ] = "train,test",
    random: Annotated[
        int,
        typer.Option(
            "--random",
            help="Add a 'random' split of N inputs drawn uniformly in the data's value range, with the "
            "data's input shape (labels -1: no label).",
        ),
    ] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random inputs.")] = 0,
    layers: Annotated[
        str | None,
        typer.Option(
            "--layers", help="Sites to keep: comma-separated names, globs (layer1.*) or indices (0,-1)."
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Rows per forward pass [default: 256, less for long codes]."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
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
            "--model", help="Your own model instead of checkpoints: FILE.py:FACTORY or MODULE:FACTORY."
        ),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            help="With --model: a state_dict file (torch.save, loaded weights_only) or .safetensors.",
        ),
    ] = None,
    dataset: Annotated[
        str,
        typer.Option("--dataset", help="With --model: the dataset (digits, mnist, cifar10, ..., or a .npz)."),
    ] = "digits",
    data_root: Annotated[
        Path | None,
        typer.Option("--data-root", help="Folder of the dataset's files (overrides the recorded one)."),
    ] = None,
    compression: Annotated[
        str,
        typer.Option(
            "--compression", help="gzip (deflate, readable everywhere) or none (faster for long codes)."
        ),
    ] = "gzip",
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

    Every call of an nn.ReLU, nn.LeakyReLU, nn.PReLU or nn.RReLU module (in-place or not) is an
    activation site, in forward order; a module called twice per forward pass (the relu of a
    ResNet block) gives two sites, name#0 and name#1. A unit's bit is 1 when its
    pre-activation is > 0. nn.ReLU6 and nn.Hardtanh are not two-piece linear and are not
    sites. Models that call F.relu / torch.relu / x.relu() are refused (hooks cannot see
    those calls): use nn.ReLU modules. The network runs in eval mode, float32, TF32 off.

    Splits: train = exactly the distinct examples the checkpoint was trained on (with the
    training labels too under label noise); test = the official test split; random = --random
    N uniform inputs (labels -1). Each output path goes to stdout, for actcode measure.

    Exit codes: 3 not a (safe) checkpoint, 4 input missing, 5 bad option or a dataset that
    does not fit the model, 7 output cannot be written.
    """
    if weights is not None and model is None:
        msg = "--weights needs --model FILE.py:FACTORY (the code that builds the network)."
        raise InvalidParameterError(msg)
    if compression not in ("gzip", "none"):
        msg = f"--compression must be gzip or none. Got {compression!r} instead."
        raise InvalidParameterError(msg)
    common: dict[str, Any] = {
        "compression": None if compression == "none" else "gzip",
        "splits": splits,
        "random": random,
        "layers": layers,
        "batch_size": batch_size,
        "device": device,
        "seed": seed,
        "data_root": data_root,
    }

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

    if model is not None:
        if shard is not None:
            msg = "--shard works with checkpoints; with --model, extract the whole data set."
            raise InvalidParameterError(msg)
        if paths:
            msg = "give either checkpoints or --model/--weights, not both."
            raise InvalidParameterError(msg)
        from actcode.extraction import extract_custom

        target = output
        folder = _out_dir(out_dir)
        if target is None and folder is not None:
            if weights is None:
                msg = "without --weights, name the output with -o/--output."
                raise InvalidParameterError(msg)
            target = folder / (weights.stem + ".h5")
        with progress() as bar:
            task = bar.add_task(Path(model.rpartition(":")[0]).name or model, total=None)
            path = extract_custom(
                model,
                weights=weights,
                dataset=dataset,
                output=target,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                **common,
            )
        report(path)
        return

    inputs = read_input_paths(paths, what="checkpoints")
    if output is not None and len(inputs) > 1:
        msg = (
            f"-o/--output names one file but {len(inputs)} checkpoints were given; use --out-dir for several."
        )
        raise InvalidParameterError(msg)
    if output is not None and out_dir is not None:
        msg = "give -o/--output or --out-dir, not both."
        raise InvalidParameterError(msg)
    from actcode.extraction.shards import parse_shard

    part = parse_shard(shard)  # a bad --shard fails before any checkpoint is read
    folder = _out_dir(out_dir)
    if folder is not None:
        stems = [Path(p).stem for p in inputs]
        dupes = sorted({s for s in stems if stems.count(s) > 1})
        if dupes:
            msg = (
                f"--out-dir: several checkpoints share the name {dupes[0]!r}, so their outputs would collide."
            )
            raise InvalidParameterError(msg)

    from actcode.extraction import extract
    from actcode.extraction.api import default_output

    with progress() as bar:

        def one(src: str) -> Path:
            named = folder / default_output(Path(src).stem + ".pt", part).name if folder else None
            target = output if output is not None else named
            task = bar.add_task(Path(src).name, total=None)
            path = extract(
                src,
                output=target,
                shard=part,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                **common,
            )
            report(path)
            return path

        run_batch("extract", inputs, one)
