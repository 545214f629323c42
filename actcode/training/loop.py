"""The training loop: in-memory tensors, one seeded permutation per epoch, checkpoints at chosen epochs."""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from actcode.checkpoints import make_payload, write_checkpoint
from actcode.config import TrainConfig
from actcode.data import Dataset, load_dataset
from actcode.devices import resolve_device
from actcode.errors import InvalidParameterError
from actcode.factors import factors_of
from actcode.models import build_model
from actcode.training.optim import cpu_threads, deterministic, lr_at, make_optimizer, set_lr
from actcode.training.sampling import Selection, make_selection

#: Examples per forward pass when evaluating (eval mode, no gradients).
EVAL_BATCH = 1024


@dataclass(frozen=True)
class EpochReport:
    """What ``train`` reports after each epoch (epoch 0 is the initialisation).

    Attributes
    ----------
    epoch, epochs : int
        This epoch and the planned number.
    record : dict
        The history entry: epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds.
    checkpoint : Path or None
        The checkpoint written at this epoch, if any.
    stopped_early : bool
        Early stopping ends the run after this epoch.
    n_train, epoch_length : int
        Distinct training examples, and examples per epoch (with tiling).
    metrics : dict
        Eval-mode train/val/test loss and accuracy, when a checkpoint was written.
    """

    epoch: int
    epochs: int
    record: dict[str, float]
    checkpoint: Path | None = None
    stopped_early: bool = False
    n_train: int = 0
    epoch_length: int = 0
    metrics: dict[str, float] = field(default_factory=dict)


def checkpoint_name(config: TrainConfig, *, n: int, epoch: int) -> str:
    """File name of the checkpoint of ``config`` at ``epoch`` with ``n`` distinct examples.

    The factors that sweeps vary are spelled out, and :meth:`TrainConfig.run_hash` makes the
    name unique for any two runs that can differ.

    Examples
    --------
    >>> checkpoint_name(TrainConfig(), n=1149, epoch=20)  # doctest: +ELLIPSIS
    'digits-mlp-w64-d1-n1149-wd0-do0-ln0-bn1-s0-...-e0020.pt'
    """
    spec = config.model
    f = factors_of(config, epoch=epoch, sample_size=n)
    if spec.family == "custom":
        assert spec.factory is not None
        parts = [_tag(f["dataset"]), "custom_" + _tag(spec.factory.rpartition(":")[2])]
    else:
        parts = [_tag(f["dataset"]), spec.name]
    if spec.family == "mlp":
        w = "_".join(map(str, spec.widths)) if spec.widths is not None else str(spec.width)
        parts += [f"w{w}", f"d{f['depth']}"]
    elif spec.family != "custom":
        parts.append(f"w{_num(spec.width_mult)}")
    parts.append(f"n{n}" + ("t" if config.tile else ""))
    parts.append(f"wd{_num(config.weight_decay)}")
    if spec.family != "custom":
        parts.append(f"do{_num(spec.resolved_dropout())}")
    parts.append(f"ln{_num(config.label_noise)}")
    if spec.family != "custom":
        parts.append(f"bn{int(spec.bn)}")
    parts += [f"s{config.seed}", config.run_hash(), f"e{epoch:04d}"]
    return "-".join(parts) + ".pt"


def _num(x: float) -> str:
    return str(np.format_float_positional(float(x), trim="-"))


def _tag(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", s).strip("_") or "x"


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` in eval mode (NaN for an empty set)."""
    if x.shape[0] == 0:
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    loss, correct = 0.0, 0
    with torch.inference_mode():
        for i in range(0, x.shape[0], EVAL_BATCH):
            logits = model(x[i : i + EVAL_BATCH])
            yb = y[i : i + EVAL_BATCH]
            loss += float(F.cross_entropy(logits.float(), yb, reduction="sum").item())
            correct += int((logits.argmax(1) == yb).sum().item())
    model.train(was_training)
    n = x.shape[0]
    return loss / n, correct / n


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _check_output(model: nn.Module, x: torch.Tensor, n_classes: int, config: TrainConfig) -> None:
    model.eval()
    try:
        with torch.inference_mode():
            out = model(x[:2])
    except Exception as exc:
        msg = (
            f"the model {config.model.factory or config.model.name} fails on "
            f"inputs of shape {tuple(x[:2].shape)}: {exc}"
        )
        raise InvalidParameterError(msg) from exc
    model.train()
    if not isinstance(out, torch.Tensor) or out.shape != (x[:2].shape[0], n_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        msg = (
            f"the model {config.model.factory or config.model.name} must return logits of shape "
            f"(batch, {n_classes}); it returned {got}."
        )
        raise InvalidParameterError(msg)


class _Run:
    """State of one run: data on the device, model, optimizer, history."""

    def __init__(self, config: TrainConfig, dataset: Dataset, sel: Selection, device: torch.device) -> None:
        self.config, self.dataset, self.sel, self.device = config, dataset, sel, device

        def put(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device)

        self.x_fit = put(dataset.x_train[sel.train_indices])
        self.y_fit = put(sel.train_labels)
        self.x_val = put(dataset.x_train[sel.val_indices])
        self.y_val = put(dataset.y_train[sel.val_indices])
        self.x_test = put(dataset.x_test)
        self.y_test = put(dataset.y_test)
        self.model = build_model(config.model, dataset.input_shape, dataset.n_classes, copies=4).to(device)
        _check_output(self.model, self.x_fit, dataset.n_classes, config)
        self.optimizer = make_optimizer(self.model, config)
        self.history: list[dict[str, float]] = []
        self.out = Path(config.out)

    def batches_per_epoch(self) -> int:
        """Full batches plus a last partial one, dropping a last batch of one example."""
        n, bs = self.sel.epoch_length, self.config.batch_size
        nb = math.ceil(n / bs)
        if nb > 1 and n % bs == 1:
            nb -= 1
        return nb

    def run_epoch(
        self, epoch: int, gen: torch.Generator, on_batch: Callable[[int, int, int], None] | None
    ) -> dict[str, float]:
        """Train one epoch; return its history entry."""
        cfg, model, opt = self.config, self.model, self.optimizer
        t0 = time.perf_counter()
        lr = lr_at(cfg, epoch)
        set_lr(opt, lr)
        model.train()
        n, length, bs = self.sel.n, self.sel.epoch_length, cfg.batch_size
        perm = torch.randperm(length, generator=gen)
        if self.sel.repeats > 1:
            perm = perm % n
        perm = perm.to(self.device)
        nb = self.batches_per_epoch()
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = 0
        x_fit, y_fit = self.x_fit, self.y_fit
        for b in range(nb):
            idx = perm[b * bs : (b + 1) * bs]
            xb, yb = x_fit[idx], y_fit[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            k = idx.shape[0]
            seen += k
            loss_sum += loss.detach() * k
            correct += (logits.detach().argmax(1) == yb).sum()
            if on_batch is not None:
                on_batch(epoch, b + 1, nb)
        val_loss, val_acc = evaluate(model, self.x_val, self.y_val)
        return {
            "epoch": epoch,
            "train_loss": float(loss_sum.item() / seen),
            "train_accuracy": float(correct.item() / seen),
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "lr": lr,
            "seconds": time.perf_counter() - t0,
        }

    def initial_record(self) -> dict[str, float]:
        """History entry of epoch 0: eval-mode losses of the initialisation."""
        t0 = time.perf_counter()
        tl, ta = evaluate(self.model, self.x_fit, self.y_fit)
        vl, va = evaluate(self.model, self.x_val, self.y_val)
        return {
            "epoch": 0,
            "train_loss": tl,
            "train_accuracy": ta,
            "val_loss": vl,
            "val_accuracy": va,
            "lr": lr_at(self.config, 1),
            "seconds": time.perf_counter() - t0,
        }

    def save(self, epoch: int) -> tuple[Path, dict[str, float]]:
        """Evaluate (eval mode) on train, val and test and write the checkpoint of ``epoch``."""
        tl, ta = evaluate(self.model, self.x_fit, self.y_fit)
        rec = self.history[-1]
        test_loss, test_acc = evaluate(self.model, self.x_test, self.y_test)
        metrics = {
            "train_loss": tl,
            "train_accuracy": ta,
            "val_loss": rec["val_loss"],
            "val_accuracy": rec["val_accuracy"],
            "test_loss": test_loss,
            "test_accuracy": test_acc,
        }
        payload = make_payload(
            config=self.config,
            epoch=epoch,
            state_dict=self.model.state_dict(),
            train_indices=self.sel.train_indices,
            val_indices=self.sel.val_indices,
            train_labels=self.sel.train_labels,
            noisy_indices=self.sel.noisy_indices,
            history=self.history,
            metrics=metrics,
            input_shape=self.dataset.input_shape,
            n_classes=self.dataset.n_classes,
        )
        path = self.out / checkpoint_name(self.config, n=self.sel.n, epoch=epoch)
        return write_checkpoint(path, payload), metrics


def train(
    config: TrainConfig,
    *,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_batch: Callable[[int, int, int], None] | None = None,
    dataset: Dataset | None = None,
) -> list[Path]:
    """Train the model ``config`` describes and write a checkpoint at each epoch of ``save_at``.

    The training examples (the first 80 % of the official train split, or a ``sample_size``
    subset of it, with label noise) are moved once to the device as tensors. Each epoch draws
    one ``torch.randperm`` from a generator seeded with ``seed`` and slices mini-batches
    from it; with ``tile`` the permutation covers the subset repeated ``n_fit // n`` times. A
    last batch of a single example is dropped (BatchNorm cannot train on it). Weights are
    initialised after ``torch.manual_seed(seed)`` (the global RNG state is restored
    afterwards); on the CPU, deterministic algorithms are on, so the same config gives
    identical weights.

    After every epoch the validation part is evaluated in eval mode. With ``early_stop`` P > 0
    the run stops when the mean training loss has not improved for P epochs (Keras'
    ``EarlyStopping(monitor="loss", patience=P)``); the model at that epoch is then saved in
    place of the ``save_at`` epochs it did not reach.

    Parameters
    ----------
    config : TrainConfig
    on_epoch : callable, optional
        Called with an :class:`EpochReport` after each epoch (0 included), after its
        checkpoint is written, so paths can be emitted as they appear.
    on_batch : callable, optional
        Called as ``on_batch(epoch, batch, n_batches)`` after every optimizer step.
    dataset : Dataset, optional
        Use this already loaded dataset instead of loading ``config.data`` (must be the same data).

    Returns
    -------
    list of Path
        Checkpoints written, in epoch order.

    Raises
    ------
    InvalidParameterError, DataNotFoundError, FormatError, OutputError
    """
    config.validate()
    device = resolve_device(config.device)
    ds = dataset if dataset is not None else load_dataset(config.data)
    sel = make_selection(ds, config)
    save_epochs = set(config.save_epochs())
    paths: list[Path] = []
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.random.fork_rng(devices=fork_devices))
        stack.enter_context(deterministic(device))
        torch.manual_seed(config.seed)
        run = _Run(config, ds, sel, device)
        if run.batches_per_epoch() == 1 and sel.epoch_length == 1 and _has_batchnorm(run.model):
            msg = (
                "an epoch of 1 example cannot train a model with BatchNorm; use a larger --sample-size, "
                "--tile, or --no-bn."
            )
            raise InvalidParameterError(msg)
        gen = torch.Generator().manual_seed(config.seed)
        stack.enter_context(cpu_threads(run.model, device, config.threads))

        def report(epoch: int, stopped: bool = False, force_save: bool = False) -> None:
            path: Path | None = None
            metrics: dict[str, float] = {}
            if epoch in save_epochs or force_save:
                path, metrics = run.save(epoch)
                paths.append(path)
            if on_epoch is not None:
                on_epoch(
                    EpochReport(
                        epoch=epoch,
                        epochs=config.epochs,
                        record=run.history[-1],
                        checkpoint=path,
                        stopped_early=stopped,
                        n_train=sel.n,
                        epoch_length=sel.epoch_length,
                        metrics=metrics,
                    )
                )

        run.history.append(run.initial_record())
        report(0)
        best, wait = math.inf, 0
        for epoch in range(1, config.epochs + 1):
            rec = run.run_epoch(epoch, gen, on_batch)
            run.history.append(rec)
            stop = False
            if config.early_stop > 0:
                if rec["train_loss"] < best:
                    best, wait = rec["train_loss"], 0
                else:
                    wait += 1
                stop = wait >= config.early_stop and epoch < config.epochs
            report(epoch, stopped=stop, force_save=stop and any(e > epoch for e in save_epochs))
            if stop:
                break
    return paths


__all__ = ["EpochReport", "checkpoint_name", "evaluate", "train"]
