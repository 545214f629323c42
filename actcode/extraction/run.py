"""The streaming extraction loop: batches in, packed code rows out to a CodeWriter, in bounded memory."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from actcode.devices import resolve_device
from actcode.errors import InvalidParameterError
from actcode.extraction.inputs import NO_LABEL, SplitInputs, StreamInputs, as_split_inputs
from actcode.extraction.packing import padded_width
from actcode.extraction.recorder import OpRecorder, SiteRecorder
from actcode.extraction.sites import Site, exact_fp32, excluded_modules, find_sites, select_sites
from actcode.extraction.writing import BackgroundAppender
from actcode.io import CodeWriter, make_provenance
from actcode.io.atomic import check_free_space
from actcode.io.provenance import environment

#: Rows per forward pass when the code is short enough.
DEFAULT_BATCH_SIZE = 256
#: Bytes that one batch's bool masks may take (the masks and their concatenation).
MASK_BUDGET_BYTES = 256 << 20
#: Packed rows are buffered on the host and written in blocks of about this size.
WRITE_BLOCK_BYTES = 8 << 20

#: How the bits are defined and computed; recorded in provenance["extract"].
BIT_DEFINITION = (
    "pre-activation > 0 (ReLU: output > 0; LeakyReLU/PReLU/RReLU: input > 0, read in a forward pre-hook)"
)
#: The same when some site is a ReLU-like op outside activation modules.
OP_BIT_DEFINITION = (
    "pre-activation > 0: the input of each ReLU-like ATen op (relu, leaky_relu, prelu, rrelu, "
    "threshold(0, 0), clamp(min=0)), "
    "read in a TorchDispatchMode before the op runs (before any in-place write)"
)


def auto_batch_size(code_bits: int, requested: int | None = None) -> int:
    """Rows per batch: ``requested``, else 256, lowered so one batch's masks fit :data:`MASK_BUDGET_BYTES`.

    Examples
    --------
    >>> auto_batch_size(1000), auto_batch_size(10_000_000), auto_batch_size(10, 7)
    (256, 13, 7)
    """
    if requested is not None:
        if requested < 1:
            msg = f"--batch-size must be at least 1. Got {requested} instead."
            raise InvalidParameterError(msg)
        return int(requested)
    return int(max(1, min(DEFAULT_BATCH_SIZE, MASK_BUDGET_BYTES // (2 * max(1, code_bits)))))


@dataclass
class SplitResult:
    """What one split's pass measured: rows, and the network's loss and accuracy where labels exist."""

    n_rows: int
    loss: float | None = None
    accuracy: float | None = None
    fit_loss: float | None = None
    fit_accuracy: float | None = None


class _Metrics:
    """Running cross-entropy and accuracy of logits against labels, kept on the device (no sync per batch).

    Rows labelled -1 are skipped; a label outside the logits' classes makes the result None.
    """

    def __init__(self) -> None:
        self.loss: torch.Tensor | float = 0.0
        self.correct: torch.Tensor | int = 0
        self.n: torch.Tensor | int = 0
        self.bad: torch.Tensor | int = 0
        self.ok = True

    def add(self, logits: torch.Tensor | None, pred: torch.Tensor | None, y: torch.Tensor) -> None:
        if logits is None or pred is None:
            self.ok = False
        if not self.ok or logits is None or pred is None:
            return
        valid = (y >= 0) & (y < logits.shape[1])
        safe = torch.where(valid, y, 0)
        ce = nn.functional.cross_entropy(logits.float(), safe, reduction="none")
        self.loss = self.loss + torch.where(valid, ce, 0.0).sum(dtype=torch.float64)
        self.correct = self.correct + ((pred == y) & valid).sum()
        self.n = self.n + valid.sum()
        self.bad = self.bad + (y >= logits.shape[1]).sum()

    def result(self) -> tuple[float | None, float | None]:
        n = int(self.n)
        if not self.ok or n == 0 or int(self.bad) > 0:
            return None, None
        return float(self.loss) / n, int(self.correct) / n


def _logits(out: Any, batch: int) -> torch.Tensor | None:
    if isinstance(out, tuple | list) and out:
        out = out[0]
    if isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[0] == batch and out.shape[1] >= 1:
        return out
    return None


def extract_codes(
    model: nn.Module,
    inputs: Any,
    sites: Sequence[Site],
    writer: CodeWriter,
    split: str,
    *,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    on_rows: Callable[[int], None] | None = None,
    backend: str = "auto",
    census: Sequence[Site] | None = None,
    threaded_writes: bool = True,
) -> SplitResult:
    """Run ``inputs`` through ``model`` and append the sites' packed codes to ``writer[split]``.

    The model runs in eval mode under ``torch.inference_mode`` in float32 with TF32 off. For
    each batch, the hooks turn each site into a ``pre-activation > 0`` mask laid out as the
    packed row, the masks are packed where the model runs (on a GPU, one ``torch.cat`` and
    :func:`~actcode.extraction.packing.pack_padded`), and only the packed bytes and the
    predictions reach the host, buffered into blocks of about :data:`WRITE_BLOCK_BYTES` and
    appended. Peak memory does not grow with the number of rows.

    Parameters
    ----------
    model : torch.nn.Module
        Already on ``device``; its train/eval mode is restored afterwards.
    inputs : array, Tensor, tuple (x, y[, indices]), iterable of batches, or SplitInputs
        See :func:`~actcode.extraction.inputs.as_split_inputs`. An iterable of batches (a
        DataLoader without shuffling, a generator) is consumed once with its own batch size.
    sites : list of Site
        Sites to record, in forward order (the writer's layer table must match them).
    writer : CodeWriter
    split : str
    batch_size : int, optional
        Default: :func:`auto_batch_size` for the code length.
    device : str or torch.device, optional
        Where to run; default: the device of the model's first parameter (CPU if none).
    on_rows : callable, optional
        Called with the number of rows of each batch once written or buffered.
    backend : {"auto", "torch", "numpy"}
        How masks are built and packed (see :class:`~actcode.extraction.recorder.SiteRecorder`):
        ``auto`` packs with NumPy when the model runs on the CPU, with torch on the device
        otherwise. Both give the same bytes.
    census : list of Site, optional
        Every site of the model (from :func:`find_sites`), counted in each batch when some
        recorded site is an op site (``module:op#k``); default ``sites``.
    threaded_writes : bool
        Deflate and write each block of rows in a background thread while the next batches
        run (:class:`~actcode.extraction.writing.BackgroundAppender`); False writes in this
        thread. The bytes are the same.

    Returns
    -------
    SplitResult
        Rows written; loss (cross-entropy of the logits) and accuracy against ``labels``, and
        against ``training_labels`` when given (``fit_*``); None where not computable.
    """
    data: SplitInputs | StreamInputs = as_split_inputs(inputs)
    dev = _model_device(model) if device is None else resolve_device(device)
    expected = [s.layer_info().n_bytes for s in sites]
    if sum(expected) != writer.n_bytes:
        msg = (
            f"the writer's rows have {writer.n_bytes} bytes but the {len(sites)} sites need {sum(expected)}."
        )
        raise InvalidParameterError(msg)
    bs = auto_batch_size(padded_width([s.n_units for s in sites]), batch_size)
    true_m, fit_m = _Metrics(), _Metrics()
    buf: list[tuple[np.ndarray, ...]] = []
    buffered = 0
    row_bytes = max(1, writer.n_bytes)

    def flush(sink: BackgroundAppender) -> None:
        nonlocal buf, buffered
        if buf:
            cols = [np.concatenate(c) if len(buf) > 1 else c[0] for c in zip(*buf, strict=True)]
            sink.submit(cols[0], cols[1], cols[2], cols[3])
            buf, buffered = [], 0

    was_training = model.training
    model.eval()
    row = 0
    try:
        with (
            exact_fp32(),
            torch.inference_mode(),
            make_recorder(model, sites, census, backend) as rec,
            BackgroundAppender(writer, split, threaded=threaded_writes) as sink,
        ):
            for x, labels, indices, fit in data.batches(bs):
                b = int(x.shape[0])
                x = x.to(dev, non_blocking=True)
                rec.begin(b, dev)
                out = rec.forward(x)
                codes = rec.packed()
                logits = _logits(out, b)
                pred = logits.argmax(dim=1) if logits is not None else None
                true_m.add(logits, pred, torch.from_numpy(labels).to(dev, non_blocking=True))
                if fit is not None:
                    fit_m.add(logits, pred, torch.from_numpy(fit).to(dev, non_blocking=True))
                host_pred = (
                    pred.to("cpu", torch.int64).numpy()
                    if pred is not None
                    else np.full(b, NO_LABEL, np.int64)
                )
                buf.append((codes, labels, host_pred, indices))
                buffered += b * row_bytes
                row += b
                if buffered >= WRITE_BLOCK_BYTES:
                    flush(sink)
                if on_rows is not None:
                    on_rows(b)
            flush(sink)
    finally:
        model.train(was_training)
    if data.n_rows is not None and row != data.n_rows:
        msg = f"split {split!r}: the inputs gave {row} rows but {data.n_rows} were expected."
        raise InvalidParameterError(msg)
    if row == 0:
        msg = f"split {split!r} holds no inputs; a code file cannot hold an empty split."
        raise InvalidParameterError(msg)
    if data.training_labels is not None:
        writer.add_column(split, "training_labels", data.training_labels)
    loss, acc = true_m.result()
    fit_loss, fit_acc = fit_m.result() if data.training_labels is not None else (None, None)
    if loss is not None and acc is not None:
        writer.set_split_info(split, loss=loss, accuracy=acc)
    return SplitResult(row, loss, acc, fit_loss, fit_acc)


def make_recorder(
    model: nn.Module, sites: Sequence[Site], census: Sequence[Site] | None = None, backend: str = "auto"
) -> SiteRecorder:
    """Module hooks when every site is an activation-module call (today's path), else the dispatch mode."""
    if all(not s.op for s in sites):
        return SiteRecorder(model, sites, backend=backend)
    return OpRecorder(model, sites, census if census is not None else sites, backend=backend)


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _check_float32(model: nn.Module) -> None:
    bad = sorted(
        {str(t.dtype) for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()}
        - {"torch.float32"}
    )
    if bad:
        msg = (
            f"the model holds {', '.join(bad)} weights; codes are extracted in float32 (lower precision "
            "changes the signs of small pre-activations). Convert it with model.float() first."
        )
        raise InvalidParameterError(msg)


def extract_model(
    model: nn.Module,
    x_by_split: Mapping[str, Any],
    output: str | Path,
    *,
    layers: str | Sequence[str] | None = None,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    provenance: Mapping[str, Any] | None = None,
    check_functional: bool = True,
    progress: Callable[[int, int], None] | None = None,
    compression: str | None = "auto",
    backend: str = "auto",
    sites: str = "ops",
) -> Path:
    """Extract the neural codes of any ``nn.Module`` on given inputs into a code file.

    Parameters
    ----------
    model : torch.nn.Module
        A float32 network with ReLU-like activation modules. It is moved to ``device`` (in
        place, as ``model.to`` does); its train/eval mode is restored afterwards.
    x_by_split : mapping of str to inputs
        Split name to ``x``, a tuple ``(x, y)`` or ``(x, y, indices)`` (arrays or tensors of
        shape (n, *input_shape)), an iterable of such batches (a DataLoader), or a
        :class:`~actcode.extraction.inputs.SplitInputs`. Rows without a label have label -1.
    output : str or Path
        The code file to write (atomically: nothing appears under this name on failure).
    layers : str or list of str, optional
        Sites to keep: names, fnmatch globs or integer indices (see :func:`select_sites`).
    batch_size : int, optional
        Rows per forward pass; default 256, lowered for very long codes.
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.
    provenance : mapping, optional
        Sections of the provenance record (``factors``, ``model``, ``data``, ``train``,
        ``inputs``, ...). ``extract``, ``network`` and ``environment`` are filled in here.
    check_functional : bool
        With ``sites="modules"``: refuse models that apply functional ReLUs (see
        :func:`find_module_sites`).
    progress : callable, optional
        Called as ``progress(rows_done, rows_total)`` after each batch (``rows_total`` is 0
        when a split is a stream of unknown length).
    compression : {"auto", "gzip", None}
        Filter of the code matrices (deflate, in every HDF5 build); None writes faster when
        the codes barely compress (long, random-looking codes); ``auto`` measures each
        split's first block and deflates only when that saves at least 30 %.
    backend : {"auto", "torch", "numpy"}
        How masks are packed (see :func:`extract_codes`); the bytes are the same.
    sites : {"ops", "modules"}
        ``ops``: every ReLU-like op, whatever its spelling (``F.relu``, ``x.relu()``,
        ``clamp(min=0)``, in-place, TorchScript), named ``module:op#k``; calls of activation
        modules keep their module names. ``modules``: activation-module calls only.

    Returns
    -------
    Path
        ``output``.

    Examples
    --------
    >>> import tempfile, os
    >>> from actcode.io import open_codes
    >>> model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    >>> x = torch.randn(10, 4)
    >>> path = extract_model(model, {"test": (x, torch.zeros(10, dtype=torch.int64))},
    ...                      os.path.join(tempfile.mkdtemp(), "c.h5"), device="cpu")
    >>> with open_codes(path) as cf:
    ...     [layer.name for layer in cf.layers], cf.codes("test").shape
    (['1'], (10, 1))
    """
    splits = _checked_splits(x_by_split)
    dev = resolve_device(device)
    _check_float32(model)
    model.to(dev)
    first = next(iter(splits.values()))
    example = first.head(2).to(dev)
    all_sites = find_sites(model, example, check_functional=check_functional, mode=sites)
    chosen = select_sites(all_sites, layers)
    code_bits = padded_width([s.n_units for s in chosen])
    bs = auto_batch_size(code_bits, batch_size)
    sizes = [s.n_rows for s in splits.values()]
    total = sum(n for n in sizes if n is not None) if all(n is not None for n in sizes) else 0
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    sections = dict(provenance or {})
    factors = sections.pop("factors", None)
    env = dict(sections.pop("environment", None) or environment())
    env.update(_device_info(dev))
    extract_cfg: dict[str, Any] = dict(sections.pop("extract", None) or {})
    extract_cfg.update(
        {
            "splits": list(splits),
            "layers": layers if layers is None or isinstance(layers, str) else list(layers),
            "n_sites": len(chosen),
            "n_sites_model": len(all_sites),
            "n_units": sum(s.n_units for s in chosen),
            "excluded_modules": excluded_modules(model),
            "bit": BIT_DEFINITION if all(not s.op for s in chosen) else OP_BIT_DEFINITION,
            "sites": sites,
            "batch_size": bs,
            "device": str(dev),
            "dtype": "float32",
            "allow_tf32": False,
            "mode": "eval",
            "inference_mode": True,
            "functional_check": check_functional,
            "compression": compression,
        }
    )
    network: dict[str, Any] = dict(sections.pop("network", None) or {})
    record = make_provenance(command="extract", factors=factors, environment=env, **sections)
    if compression is None and total:  # the size is known exactly: refuse before the work
        check_free_space(output, total * (code_bits // 8 + 24), what=f"{total} uncompressed code rows")
    with CodeWriter(output, [s.layer_info() for s in chosen], record, compression=compression) as writer:
        for name, s in splits.items():
            res = extract_codes(
                model, s, chosen, writer, name, batch_size=bs, device=dev, on_rows=advance, backend=backend,
                census=all_sites,
            )  # fmt: skip
            _record_split(name, s, res, network, extract_cfg)
        extract_cfg["compression_chosen"] = dict(writer.chosen)
        writer.update_provenance({"extract": extract_cfg, "network": _finite(network)})
    return Path(output)


def _checked_splits(x_by_split: Mapping[str, Any]) -> dict[str, SplitInputs | StreamInputs]:
    """The inputs of every split, after checking there is at least one and none is empty."""
    splits = {name: as_split_inputs(v) for name, v in x_by_split.items()}
    if not splits:
        msg = "extract_model needs at least one split of inputs."
        raise InvalidParameterError(msg)
    empty = [name for name, s in splits.items() if s.n_rows == 0]
    if empty:
        msg = f"split(s) {', '.join(empty)} hold no inputs; a code file cannot hold an empty split."
        raise InvalidParameterError(msg)
    return splits


def _record_split(
    name: str, s: Any, res: SplitResult, network: dict[str, Any], extract_cfg: dict[str, Any]
) -> None:
    """Put what one split's pass measured into the provenance's ``network`` and ``extract``."""
    if res.loss is not None:
        network[f"{name}_loss"] = res.loss
        network[f"{name}_accuracy"] = res.accuracy
    if res.fit_loss is not None:
        network[f"{name}_loss_training_labels"] = res.fit_loss
        network[f"{name}_accuracy_training_labels"] = res.fit_accuracy
    extract_cfg.setdefault("n_rows", {})[name] = res.n_rows
    if s.info:  # after the pass: a folder's split reports the files it skipped
        extract_cfg.setdefault("split_info", {})[name] = s.info


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if v is None or math.isfinite(float(v)) else None) for k, v in d.items()}


def _device_info(dev: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(dev), "dtype": "float32", "allow_tf32": False}
    if dev.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(dev)
    return info


__all__ = [
    "BIT_DEFINITION",
    "DEFAULT_BATCH_SIZE",
    "SplitResult",
    "auto_batch_size",
    "extract_codes",
    "extract_model",
]
