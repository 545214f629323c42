"""``actcode train``: train a network and print one checkpoint path per saved epoch on stdout."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer

from actcode.cli._common import emit_path, err_console, log, progress, verbosity
from actcode.cli._errors import handle_errors
from actcode.cli._options import data_root_option, device_option
from actcode.config import TrainConfig
from actcode.data import load_dataset
from actcode.train_options import TRAIN_OPTIONS, train_config

if TYPE_CHECKING:
    from actcode.training import EpochReport  # torch

_M = "Model"
_D = "Data"
_F = "Factors"
_O = "Optimisation"
_R = "Run"


def train_config_of(params: Mapping[str, Any]) -> TrainConfig:
    """The TrainConfig of the command's parsed parameters (each of :data:`TRAIN_OPTIONS` is one)."""
    return train_config({k: params[k] for k in TRAIN_OPTIONS})


@handle_errors("train")
def command(
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            "-d",
            help="digits, mnist, fashion-mnist, cifar10, cifar100, svhn, or a .npz path.",
            rich_help_panel=_D,
        ),
    ] = "digits",
    data_root: Annotated[str | None, data_root_option(_D)] = None,
    download: Annotated[
        bool,
        typer.Option(
            "--download",
            help="Download missing files with torchvision (needs the network).",
            rich_help_panel=_D,
        ),
    ] = False,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help=(
                "mlp; vgg11, vgg13, vgg16, vgg19, vgg (with --plan); resnet20, resnet32, resnet56, "
                "resnet18; or FILE.py:FACTORY / MODULE:FACTORY, called as "
                "FACTORY(input_shape=..., n_classes=...)."
            ),
            rich_help_panel=_M,
        ),
    ] = "mlp",
    width: Annotated[
        int,
        typer.Option(
            help=(
                "MLP: total hidden units, split evenly over --depth layers (first layers get the remainder)."
            ),
            rich_help_panel=_M,
        ),
    ] = 64,
    depth: Annotated[int, typer.Option(help="MLP: number of hidden layers.", rich_help_panel=_M)] = 1,
    widths: Annotated[
        str | None,
        typer.Option(
            help="MLP: explicit per-layer widths, such as 256,128 (overrides --width/--depth).",
            rich_help_panel=_M,
        ),
    ] = None,
    activation: Annotated[str, typer.Option(help="relu, leaky_relu or prelu.", rich_help_panel=_M)] = "relu",
    bn: Annotated[
        bool,
        typer.Option("--bn/--no-bn", help="BatchNorm before each hidden activation.", rich_help_panel=_M),
    ] = True,
    dropout: Annotated[
        float | None,
        typer.Option(
            help="Dropout after hidden MLP and VGG-FC activations. Default: 0 (MLP), 0.5 (VGG FC).",
            rich_help_panel=_M,
        ),
    ] = None,
    width_mult: Annotated[
        float, typer.Option(help="CNNs: multiply every channel count and VGG FC width.", rich_help_panel=_M)
    ] = 1.0,
    plan: Annotated[
        str | None,
        typer.Option(help="VGG stage plan, such as 64,M,128,M (M = max-pool).", rich_help_panel=_M),
    ] = None,
    fc: Annotated[str, typer.Option(help="VGG hidden FC widths.", rich_help_panel=_M)] = "512,512",
    epochs: Annotated[int, typer.Option(help="Epochs to train.", rich_help_panel=_F)] = 20,
    save_at: Annotated[
        str | None,
        typer.Option(
            help="Epochs to save, such as 0,1,3,10 (0 = initialisation). Default: the last epoch.",
            rich_help_panel=_F,
        ),
    ] = None,
    sample_size: Annotated[
        int | None,
        typer.Option(
            help="Train on N examples of the training part (default: all of it).", rich_help_panel=_F
        ),
    ] = None,
    sample_order: Annotated[
        str,
        typer.Option(help="Which N: first (the paper's), stratified or random (seeded).", rich_help_panel=_F),
    ] = "first",
    tile: Annotated[
        bool,
        typer.Option(
            "--tile",
            help="Repeat the N examples n_train // N times per epoch (the paper's).",
            rich_help_panel=_F,
        ),
    ] = False,
    label_noise: Annotated[
        float, typer.Option(help="Fraction of training labels to corrupt (seeded).", rich_help_panel=_F)
    ] = 0.0,
    noise_mode: Annotated[
        str,
        typer.Option(
            help="permute: shuffle the chosen labels among themselves; uniform: move each to another class.",
            rich_help_panel=_F,
        ),
    ] = "permute",
    weight_decay: Annotated[
        float,
        typer.Option(
            help="L2 weight decay on Linear/Conv weights (PyTorch's coupled form).", rich_help_panel=_F
        ),
    ] = 0.0,
    optimizer: Annotated[str, typer.Option(help="adam or sgd.", rich_help_panel=_O)] = "adam",
    lr: Annotated[float, typer.Option(help="Learning rate.", rich_help_panel=_O)] = 1e-2,
    momentum: Annotated[float, typer.Option(help="SGD momentum.", rich_help_panel=_O)] = 0.9,
    lr_schedule: Annotated[str, typer.Option(help="step, cosine or none.", rich_help_panel=_O)] = "step",
    lr_step: Annotated[
        int, typer.Option(help="step schedule: epochs between decays.", rich_help_panel=_O)
    ] = 20,
    lr_gamma: Annotated[float, typer.Option(help="step schedule: decay factor.", rich_help_panel=_O)] = 0.1,
    batch_size: Annotated[int, typer.Option(help="Mini-batch size.", rich_help_panel=_O)] = 64,
    early_stop: Annotated[
        int,
        typer.Option(
            help="Stop when the training loss has not improved for this many epochs (0 = off).",
            rich_help_panel=_O,
        ),
    ] = 0,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of the initialisation, shuffling, sampling and label noise.", rich_help_panel=_R
        ),
    ] = 0,
    device: Annotated[str, device_option(_R)] = "auto",
    threads: Annotated[
        int,
        typer.Option(
            help="CPU threads; 0 = automatic (1 for MLPs on the CPU, PyTorch's default otherwise).",
            rich_help_panel=_R,
        ),
    ] = 0,
    out: Annotated[
        str, typer.Option("--out", "-o", help="Folder for the checkpoints.", rich_help_panel=_R)
    ] = "runs",
) -> None:
    """Train a network and write one checkpoint per saved epoch; print their paths on stdout.

    The training set is the first 80 % of the dataset's training split (the rest is validation),
    as in the paper. Checkpoint names show the factors, such as
    runs/digits-mlp-w64-d1-n1150-wd0-do0-ln0-bn1-s0-<hash>-e0020.pt.
    """
    config = train_config_of(locals())

    data = load_dataset(config.data)  # missing or bad files fail here, before torch is imported
    from actcode.training import train  # deferred: torch

    reports: list[EpochReport] = []
    # rich draws nothing on a stderr that is not a terminal, but its stop() still writes a
    # newline there; skip the bar entirely so that piped stderr holds only log lines.
    show_bar = verbosity() >= 0 and err_console.is_terminal
    with progress() if show_bar else contextlib.nullcontext() as bar:
        epoch_task = bar.add_task("epochs", total=config.epochs) if bar else None
        batch_task = bar.add_task("batches", total=None) if bar else None

        def on_batch(epoch: int, batch: int, n_batches: int) -> None:
            assert bar is not None
            assert batch_task is not None
            bar.update(batch_task, completed=batch, total=n_batches, description=f"epoch {epoch}")

        def on_epoch(r: EpochReport) -> None:
            if r.checkpoint is not None:
                emit_path(r.checkpoint)
                reports.append(r)
            if bar is not None and epoch_task is not None:
                bar.update(epoch_task, completed=r.epoch)
            rec = r.record
            log(
                f"epoch {r.epoch}/{r.epochs}: loss {rec['train_loss']:.4f} acc {rec['train_accuracy']:.4f} "
                f"val_loss {rec['val_loss']:.4f} val_acc {rec['val_accuracy']:.4f} lr {rec['lr']:.3g} "
                f"({rec['seconds']:.2f} s)" + (" - early stop" if r.stopped_early else ""),
                level=1,
            )

        train(config, dataset=data, on_epoch=on_epoch, on_batch=on_batch if bar is not None else None)
    _print_summary(config, reports)


def _print_summary(config: TrainConfig, reports: list[EpochReport]) -> None:
    if verbosity() < 0 or not reports:
        return
    from rich.table import Table

    first, last = reports[0], reports[-1]
    assert last.checkpoint is not None
    stem = last.checkpoint.name.rsplit("-e", 1)[0]
    table = Table(
        title=f"actcode train: {config.data.name} / {config.model.factory or config.model.name}, "
        f"{first.n_train} training examples ({first.epoch_length} per epoch)",
        title_justify="left",
        caption=f"checkpoints: {last.checkpoint.parent / stem}-eNNNN.pt",
        caption_justify="left",
    )
    for col in ("epoch", "train loss", "train acc", "val acc", "test loss", "test acc"):
        table.add_column(col, justify="right")
    for r in reports:
        m = r.metrics
        table.add_row(
            str(r.epoch),
            *(
                f"{m[k]:.4f}"
                for k in ("train_loss", "train_accuracy", "val_accuracy", "test_loss", "test_accuracy")
            ),
        )
    err_console.print(table)
    if last.stopped_early:
        err_console.print(
            f"stopped early at epoch {last.epoch}: the training loss did not improve "
            f"for {config.early_stop} epochs"
        )
