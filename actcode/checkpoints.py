"""The checkpoint file: written atomically by training, loaded with ``weights_only=True`` and checked."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np
import torch

from actcode import __version__
from actcode.config import TrainConfig
from actcode.errors import (
    ActcodeError,
    ActcodeFileNotFoundError,
    CheckpointError,
    CheckpointVersionTooNewError,
    OutputError,
)
from actcode.factors import factors_of
from actcode.io.spec import parse_version
from actcode.safe_load import refused_global, short_reason, torch_load_safe

if TYPE_CHECKING:
    from torch import nn

    from actcode.data import Dataset

FORMAT = "actcode.checkpoint"
FORMAT_VERSION = "1.0.0"

#: Keys every checkpoint holds (``input_shape``, ``n_classes`` and ``factors`` are written too, and read
#: when present).
REQUIRED_KEYS: tuple[str, ...] = (
    "format",
    "format_version",
    "state_dict",
    "config",
    "epoch",
    "seed",
    "train_indices",
    "val_indices",
    "train_labels",
    "noisy_indices",
    "history",
    "metrics",
    "versions",
)
_INDEX_KEYS = ("train_indices", "val_indices", "train_labels", "noisy_indices")
_JSON_KEYS = {"config": dict, "history": list, "metrics": dict, "versions": dict}


def versions() -> dict[str, str]:
    """Versions of actcode, torch, numpy and Python, as recorded in every checkpoint."""
    return {
        "actcode": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A loaded, checked checkpoint.

    Attributes
    ----------
    path : Path
    config : TrainConfig
    epoch : int
        0 is the initialisation.
    seed : int
    state_dict : dict of str to Tensor
    train_indices, val_indices, train_labels, noisy_indices : ndarray, dtype=np.int64
        See the checkpoint format; indices point into the official train split.
    history : list of dict
        Per epoch up to ``epoch``: epoch, train_loss, train_accuracy, val_loss, val_accuracy, lr, seconds.
    metrics : dict
        Eval-mode train/val/test loss and accuracy at ``epoch``.
    versions : dict
    format_version : str
    input_shape : tuple of int or None
    n_classes : int or None
    stored_factors : dict or None
        The factors computed at train time (see :func:`actcode.factors.factors_of`); None in
        checkpoints written before they were stored.
    """

    path: Path
    config: TrainConfig
    epoch: int
    seed: int
    state_dict: dict[str, torch.Tensor]
    train_indices: np.ndarray
    val_indices: np.ndarray
    train_labels: np.ndarray
    noisy_indices: np.ndarray
    history: list[dict[str, Any]]
    metrics: dict[str, float]
    versions: dict[str, str]
    format_version: str = FORMAT_VERSION
    input_shape: tuple[int, ...] | None = None
    n_classes: int | None = None
    stored_factors: dict[str, Any] | None = None

    def build_model(self, *, factory: str | None = None, trust_code: bool = False) -> nn.Module:
        """The network: architecture from the config, these weights, in ``eval()`` mode.

        A ``custom`` model's config only RECORDS the factory that built it. Its code runs only
        when the caller names it (``factory``, checked against the record) or passes
        ``trust_code=True``; a relative recorded path is never resolved from the current
        folder (see :func:`actcode.models.custom.authorize_factory`).

        Raises
        ------
        CheckpointError
            The weights do not fit the architecture (missing, unexpected or mis-shaped tensors).
        UntrustedCodeError
            A custom model whose code was neither named nor trusted.
        """
        from dataclasses import replace

        from actcode.models import build_model

        spec = self.config.model
        if spec.family == "custom":
            from actcode.models.custom import authorize_factory

            allowed = authorize_factory(spec.factory, factory, trust=trust_code, where=str(self.path))
            spec = replace(spec, factory=allowed)
        shape, n_classes = self.input_shape, self.n_classes
        if shape is None or n_classes is None:
            ds = self.dataset()
            shape, n_classes = ds.input_shape, ds.n_classes
        model = build_model(spec, shape, n_classes, from_file=str(self.path))
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as exc:
            msg = (
                f"{self.path}: the weights do not fit the "
                f"{self.config.model.name} model described by its config "
                f"({' '.join(str(exc).split())[:400]})."
            )
            raise CheckpointError(msg) from exc
        return model.eval()

    def factors(self) -> dict[str, Any]:
        """Factors of the run at this epoch: those stored at train time, else :func:`factors_of`."""
        if self.stored_factors is not None:
            return dict(self.stored_factors)
        return factors_of(self.config, epoch=self.epoch, sample_size=int(self.train_indices.shape[0]))

    def dataset(self) -> Dataset:
        """The dataset it was trained on, loaded with the config's data spec."""
        from actcode.data import load_dataset

        return load_dataset(self.config.data)


class _Sink:
    """The file object torch.save writes to; keeps the OSError that torch turns into a RuntimeError."""

    def __init__(self) -> None:
        self.fh: Any = None
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return int(self.fh.write(data))
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def write_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` with ``torch.save`` atomically (:func:`actcode.io.atomic.atomic_output`).

    The output follows the rules of every actcode output (a link is written through, a file
    that is not regular is never replaced, the mode of a replaced file is kept), and the free
    space is checked against the size of the tensors first.

    Raises
    ------
    OutputError
        The folder cannot be created or written, or the disk is full.
    """
    from actcode.io.atomic import atomic_output, check_free_space, disk_full_error

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc
        msg = f"cannot write the checkpoint {path.name}: the folder {path.parent} cannot be made ({reason})."
        raise disk_full_error(exc, path) or OutputError(msg) from None
    tensors = payload.get("state_dict") or {}
    need = sum(int(t.numel() * t.element_size()) for t in tensors.values() if isinstance(t, torch.Tensor))
    check_free_space(path, need + (1 << 20), what="the checkpoint")
    sink = _Sink()
    try:
        with atomic_output(path) as tmp, tmp.open("wb") as fh:  # Python I/O: a full disk is an OSError
            sink.fh = fh
            torch.save(payload, cast(IO[bytes], sink))
    except OutputError:
        raise
    except RuntimeError as exc:  # torch.save turns the OSError of its writes into a RuntimeError
        full = disk_full_error(sink.error or exc, path)
        if full is not None:
            raise full from None
        reason = " ".join(str(sink.error or exc).split())[:200]
        msg = f"cannot write the checkpoint {path.name} in {path.parent}: {reason}. Choose another --out."
        raise OutputError(msg) from exc
    return path


def make_payload(
    *,
    config: TrainConfig,
    epoch: int,
    state_dict: dict[str, torch.Tensor],
    train_indices: np.ndarray,
    val_indices: np.ndarray,
    train_labels: np.ndarray,
    noisy_indices: np.ndarray,
    history: list[dict[str, Any]],
    metrics: dict[str, float],
    input_shape: tuple[int, ...],
    n_classes: int,
) -> dict[str, Any]:
    """The dict a checkpoint file holds: tensors, str, int, float, bool and lists of those only."""

    def idx(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).clone()

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in state_dict.items()},
        "config": config.to_json(),
        "epoch": int(epoch),
        "seed": int(config.seed),
        "train_indices": idx(train_indices),
        "val_indices": idx(val_indices),
        "train_labels": idx(train_labels),
        "noisy_indices": idx(noisy_indices),
        "history": json.dumps(history),
        "metrics": json.dumps(metrics),
        "versions": json.dumps(versions()),
        "input_shape": [int(s) for s in input_shape],
        "n_classes": int(n_classes),
        "factors": json.dumps(factors_of(config, epoch=epoch, sample_size=len(train_indices))),
    }


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load and check a checkpoint without unpickling any code.

    ``torch.load(path, weights_only=True, map_location="cpu")`` is used only after the file is
    known to be a zip archive (PyTorch's format), so the legacy pickle reader never runs.

    Raises
    ------
    ActcodeFileNotFoundError
        The path does not exist.
    CheckpointError
        Not a PyTorch zip file; a pickle that needs globals other than tensors (code); missing
        keys; another format; a newer major format version; or malformed fields.
    """
    p = Path(path)
    if not p.exists():
        msg = f"the checkpoint {p.name} is not in {p.parent.resolve()}."
        raise ActcodeFileNotFoundError(msg)
    obj = torch_load_safe(
        p,
        not_zip=(
            f"{p} is not a PyTorch checkpoint (not a zip archive as "
            "torch.save writes). Pass a .pt from actcode train."
        ),
        refused=lambda exc: (
            f"{p} was refused: loading it would need to unpickle code "
            f"({refused_global(exc)}). actcode checkpoints hold only "
            "tensors, numbers and strings; this file was not written by actcode train, or was tampered with."
        ),
        damaged=lambda exc: f"{p} is damaged or truncated and cannot be loaded ({short_reason(exc)}).",
    )
    return _parse(p, obj)


def _parse(p: Path, obj: Any) -> Checkpoint:
    if not isinstance(obj, dict):
        msg = f"{p} is not an actcode checkpoint: it holds a {type(obj).__name__}, expected a dict."
        raise CheckpointError(msg)
    if obj.get("format") != FORMAT:
        msg = f"{p} is not an actcode checkpoint: its 'format' is {obj.get('format')!r}, expected {FORMAT!r}."
        raise CheckpointError(msg)
    missing = [k for k in REQUIRED_KEYS if k not in obj]
    if missing:
        msg = f"{p} is an incomplete actcode checkpoint: missing {', '.join(missing)}."
        raise CheckpointError(msg)
    version = str(obj["format_version"])
    check_version(p, version)
    sd = obj["state_dict"]
    if not isinstance(sd, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()
    ):
        msg = f"{p}: 'state_dict' must map names to tensors."
        raise CheckpointError(msg)
    arrays = _index_arrays(p, obj)
    parsed = _json_fields(p, obj)
    try:
        config = TrainConfig.from_dict(parsed["config"])
    except (ActcodeError, TypeError, ValueError) as exc:
        msg = f"{p}: its config is not a valid actcode train config ({exc})."
        raise CheckpointError(msg) from exc
    for k in ("epoch", "seed"):
        if not isinstance(obj[k], int) or isinstance(obj[k], bool):
            msg = f"{p}: {k!r} must be an integer, got {obj[k]!r}."
            raise CheckpointError(msg)
    shape = obj.get("input_shape")
    n_classes = obj.get("n_classes")
    return Checkpoint(
        path=p,
        config=config,
        epoch=int(obj["epoch"]),
        seed=int(obj["seed"]),
        state_dict=sd,
        train_indices=arrays["train_indices"],
        val_indices=arrays["val_indices"],
        train_labels=arrays["train_labels"],
        noisy_indices=arrays["noisy_indices"],
        history=parsed["history"],
        metrics=parsed["metrics"],
        versions=parsed["versions"],
        format_version=version,
        input_shape=tuple(int(s) for s in shape) if isinstance(shape, list) else None,
        n_classes=int(n_classes) if isinstance(n_classes, int) else None,
        stored_factors=_optional_json_dict(p, obj, "factors"),
    )


def check_version(p: Path, version: str) -> tuple[int, int, int]:
    """The checkpoint format's version rule, as the code format's: the same major version is read.

    Raises
    ------
    CheckpointVersionTooNewError
        A newer major version (update actcode).
    CheckpointError
        An older major version, or not ``MAJOR.MINOR.PATCH``.
    """
    ours = parse_version(FORMAT_VERSION)
    try:
        parsed = parse_version(version)
    except ValueError:
        parsed = None
    if parsed is not None and parsed[0] == ours[0]:
        return parsed
    newer = parsed is not None and parsed[0] > ours[0]
    msg = f"{p} has checkpoint format version {version}; this actcode reads {ours[0]}.x" + (
        ". Upgrade actcode to read it." if newer else "."
    )
    raise (CheckpointVersionTooNewError if newer else CheckpointError)(msg)


def _index_arrays(p: Path, obj: dict[str, Any]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    for k in _INDEX_KEYS:
        t = obj[k]
        if not isinstance(t, torch.Tensor) or t.dtype != torch.int64 or t.ndim != 1:
            got = (
                f"{t.dtype} tensor of shape {tuple(t.shape)}"
                if isinstance(t, torch.Tensor)
                else type(t).__name__
            )
            msg = f"{p}: {k!r} must be a 1-D int64 tensor, got {got}."
            raise CheckpointError(msg)
        arrays[k] = t.numpy()
    if arrays["train_labels"].shape != arrays["train_indices"].shape:
        msg = f"{p}: 'train_labels' and 'train_indices' must have the same length."
        raise CheckpointError(msg)
    return arrays


def _json_fields(p: Path, obj: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for k, typ in _JSON_KEYS.items():
        try:
            parsed[k] = json.loads(obj[k])
        except (TypeError, ValueError) as exc:
            msg = f"{p}: {k!r} must be a JSON string ({exc})."
            raise CheckpointError(msg) from exc
        if not isinstance(parsed[k], typ):
            msg = f"{p}: {k!r} must hold a JSON {typ.__name__}, got {type(parsed[k]).__name__}."
            raise CheckpointError(msg)
    return parsed


def _optional_json_dict(p: Path, obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The JSON object stored under the optional ``key``, or None when the key is absent."""
    if key not in obj:
        return None
    try:
        value = json.loads(obj[key])
    except (TypeError, ValueError) as exc:
        msg = f"{p}: {key!r} must be a JSON string ({exc})."
        raise CheckpointError(msg) from exc
    if not isinstance(value, dict):
        msg = f"{p}: {key!r} must hold a JSON dict, got {type(value).__name__}."
        raise CheckpointError(msg)
    return value


__all__ = ["FORMAT", "FORMAT_VERSION", "Checkpoint", "load_checkpoint", "make_payload", "write_checkpoint"]
