"""``actcode extract``: turn trained networks into neural-code files (one per checkpoint)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from actcode.cli._common import emit_json, emit_path, log, progress, protect_stdout, read_input_paths
from actcode.cli._errors import handle_errors, run_batch
from actcode.cli._options import DataRootOpt, DeviceOpt, TrustModelCodeOpt
from actcode.config import check_seed
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


def _floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        msg = f"{option} must be comma-separated numbers such as 0.485,0.456,0.406. Got {text!r} instead."
        raise InvalidParameterError(msg) from None


def _user_model(
    model: str,
    weights: str | None,
    dataset: str,
    output: Path | None,
    out_dir: Path | None,
    common: dict[str, Any],
    options: dict[str, Any],
) -> Path:
    """``--model`` with ``--weights``/``--dataset``: one code file of a user's model on the data."""
    from actcode.extraction.user import extract_user_model

    protect_stdout()  # the user's model may print, from forward or a thread: stdout keeps the paths
    target = output
    folder = _out_dir(out_dir)
    if target is None and folder is not None:
        if weights is None or weights == "DEFAULT":
            msg = "without a --weights file, name the output with -o/--output."
            raise InvalidParameterError(msg)
        target = folder / (Path(weights).stem + ".h5")
    with progress() as bar:
        task = bar.add_task(Path(model.rpartition(":")[0]).name or model, total=None)
        return extract_user_model(
            model,
            weights=weights,
            dataset=dataset,
            output=target,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            **common,
            **options,
        )


def _user_mode(
    model: str | None,
    weights: str | None,
    dataset: str | None,
    image_opts: dict[str, Any],
    download: bool,
    skip_bad: bool,
) -> bool:
    """Whether this is a user's model on data (``--model`` with ``--weights``/``--dataset``); refuse
    the options of that mode otherwise."""
    user_mode = model is not None and (
        weights is not None or dataset is not None or model.partition(":")[0] in ("torchvision", "timm")
    )
    if not user_mode:
        given = [k for k, v in image_opts.items() if v is not None]
        if download or skip_bad:
            given.append("--download" if download else "--skip-bad")
        if given:
            msg = f"{given[0]} goes with --model and --weights/--dataset (your own model on your data)."
            raise InvalidParameterError(msg)
    return user_mode


def _extract_checkpoints(
    paths: list[str] | None,
    output: Path | None,
    out_dir: Path | None,
    shard: str | None,
    common: dict[str, Any],
    report: Callable[[Path], None],
) -> None:
    """One code file per checkpoint (paths from the arguments or stdin)."""
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


@handle_errors("extract")
def command(
    paths: Annotated[
        list[str] | None,
        typer.Argument(help="Checkpoints (.pt from actcode train); '-' or none reads paths from stdin."),
    ] = None,
    splits: Annotated[
        str | None,
        typer.Option(
            "--splits",
            help="Comma-separated splits: train, test, random for checkpoints and study datasets [default: "
            "train,test]; those of an image folder (train, val, test) [default: all].",
        ),
    ] = None,
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
    device: DeviceOpt = "auto",
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
    download: Annotated[
        bool, typer.Option("--download", help="Allow --weights DEFAULT to download the pretrained weights.")
    ] = False,
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
    input_size: Annotated[
        int | None,
        typer.Option(
            "--input-size",
            help="Images: the centre crop's side in pixels (the resize keeps its ratio) [default: from "
            "the weights' metadata; required for a FILE.py/MODULE factory on an image folder].",
        ),
    ] = None,
    mean: Annotated[
        str | None, typer.Option("--mean", help="Images: per-channel mean, e.g. 0.485,0.456,0.406.")
    ] = None,
    std: Annotated[
        str | None, typer.Option("--std", help="Images: per-channel std, e.g. 0.229,0.224,0.225.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", help="Processes decoding images (DataLoader workers) [default: CPUs/2, at most 4]."
        ),
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option(
            "--skip-bad",
            help="Skip images that cannot be decoded (listed in the provenance) instead of stopping.",
        ),
    ] = False,
    num_classes: Annotated[
        int | None,
        typer.Option(
            "--num-classes",
            help="The model's class count (its head's outputs) [default: the count the --weights file's "
            "head holds, so a fine-tuned head just works; a factory gets the data's].",
        ),
    ] = None,
    trust_model_code: TrustModelCodeOpt = False,
    sites: Annotated[
        str,
        typer.Option(
            "--sites",
            help="ops: every ReLU-like op, whatever its spelling; modules: calls of "
            "nn.ReLU/LeakyReLU/PReLU/RReLU modules only (models that call F.relu are refused).",
        ),
    ] = "ops",
    data_root: DataRootOpt = None,
    compression: Annotated[
        str,
        typer.Option(
            "--compression",
            help="auto (deflate a split only if its first block shrinks to 70 % or less), gzip (deflate, "
            "readable everywhere) or none.",
        ),
    ] = "auto",
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
    check_seed(seed)
    if compression not in ("auto", "gzip", "none"):
        msg = f"--compression must be auto, gzip or none. Got {compression!r} instead."
        raise InvalidParameterError(msg)
    image_opts = {"--labels": labels, "--input-size": input_size, "--mean": mean, "--std": std,
                  "--workers": workers, "--weights": weights, "--num-classes": num_classes}  # fmt: skip
    user_mode = _user_mode(model, weights, dataset, image_opts, download, skip_bad)
    common: dict[str, Any] = {
        "compression": None if compression == "none" else compression,
        "splits": splits,
        "random": random,
        "layers": layers,
        "batch_size": batch_size,
        "device": device,
        "seed": seed,
        "data_root": data_root,
        "sites": sites,
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

    if user_mode:
        assert model is not None
        if shard is not None:
            msg = "--shard works with checkpoints; with --model and --weights/--dataset, extract it all."
            raise InvalidParameterError(msg)
        if paths:
            msg = "give either checkpoints or --model with --weights/--dataset, not both."
            raise InvalidParameterError(msg)
        options = {
            "labels": labels,
            "input_size": input_size,
            "mean": _floats(mean, "--mean"),
            "std": _floats(std, "--std"),
            "workers": workers,
            "skip_bad": skip_bad,
            "download": download,
            "num_classes": num_classes,
        }
        report(_user_model(model, weights, dataset or "digits", output, out_dir, common, options))
        return
    if trust_model_code or model is not None:
        common.update({"model": model, "trust_model_code": trust_model_code})
    if common["splits"] is None:
        common["splits"] = "train,test"

    _extract_checkpoints(paths, output, out_dir, shard, common, report)
