"""Frozen, JSON-safe configs of a training run (model spec, data spec, factors) and their validation."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from actcode.data.sources import dataset_name
from actcode.data.spec import DataSpec
from actcode.errors import InvalidParameterError

MLP_NAMES = ("mlp",)
VGG_NAMES = ("vgg", "vgg11", "vgg13", "vgg16", "vgg19")
RESNET_NAMES = ("resnet20", "resnet32", "resnet56", "resnet18")
#: Built-in architectures; ``custom`` means a user factory (``ModelSpec.factory``).
MODEL_NAMES: tuple[str, ...] = MLP_NAMES + VGG_NAMES + RESNET_NAMES + ("custom",)
ACTIVATIONS = ("relu", "leaky_relu", "prelu")
OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("step", "cosine", "none")
SAMPLE_ORDERS = ("first", "stratified", "random")
NOISE_MODES = ("permute", "uniform")
DEVICES = ("auto", "cpu", "cuda", "mps")

#: The ModelSpec fields that shape each family's network (besides ``name``); the others are
#: ignored when the network is built. An MLP with ``widths`` ignores ``width`` and ``depth``.
FAMILY_FIELDS: dict[str, tuple[str, ...]] = {
    "mlp": ("width", "depth", "widths", "activation", "bn", "dropout"),
    "vgg": ("activation", "bn", "dropout", "width_mult", "plan", "fc"),
    "resnet": ("activation", "bn", "width_mult"),
    "custom": ("factory",),
}

#: Conv channel plans ("M" = 2x2 max-pool) of the VGG presets (Simonyan & Zisserman, configs A, B, D, E).
VGG_PLANS: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (
        64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ),
}  # fmt: skip


def vgg_plan(name: str, plan: Sequence[int | str] | None) -> tuple[int | str, ...]:
    """The stage plan: ``plan`` when given, else the preset ``name``'s."""
    if plan is not None:
        return tuple(plan)
    return VGG_PLANS[name]


def split_width(width: int, depth: int) -> tuple[int, ...]:
    """Split ``width`` hidden units evenly over ``depth`` layers, the first layers taking the remainder.

    Examples
    --------
    >>> split_width(64, 1)
    (64,)
    >>> split_width(10, 3)
    (4, 3, 3)
    """
    base, rem = divmod(width, depth)
    return tuple(base + 1 if i < rem else base for i in range(depth))


def split_factory_spec(spec: str) -> tuple[str, str, bool]:
    """Split ``spec`` into (module or file, function name, is_file).

    Examples
    --------
    >>> split_factory_spec("models/net.py:make")
    ('models/net.py', 'make', True)
    >>> split_factory_spec("mypkg.nets:make")
    ('mypkg.nets', 'make', False)
    """
    target, sep, fn = spec.rpartition(":")
    if not sep or not target or not fn.isidentifier():
        msg = (
            f"--model {spec!r} is not a factory spec: expected 'path/to/file.py:function' or "
            "'package.module:function'."
        )
        raise InvalidParameterError(msg)
    is_file = target.endswith(".py") or "/" in target or "\\" in target
    return target, fn, is_file


def normalize_factory_spec(spec: str) -> str:
    """Make a file spec absolute, so the recorded config works from any folder."""
    target, fn, is_file = split_factory_spec(spec)
    if is_file:
        return f"{Path(target).expanduser().resolve()}:{fn}"
    return spec


@dataclass(frozen=True)
class ModelSpec:
    """The architecture to build.

    Parameters
    ----------
    name : str
        ``mlp``; ``vgg`` (own ``plan``), ``vgg11``, ``vgg13``, ``vgg16``, ``vgg19``; ``resnet20``,
        ``resnet32``, ``resnet56``, ``resnet18``; or ``custom`` with ``factory``.
    width : int
        MLP: total number of hidden units, split over ``depth`` layers by :func:`split_width`.
    depth : int
        MLP: number of hidden layers.
    widths : tuple of int or None
        MLP: explicit per-layer widths; overrides ``width`` and ``depth``.
    activation : str
        ``relu``, ``leaky_relu`` (slope 0.01) or ``prelu`` (one slope per unit or channel).
    bn : bool
        BatchNorm after every hidden Linear/Conv (before the activation).
    dropout : float or None
        Dropout after the activation of hidden MLP layers and VGG FC layers. ``None`` means the
        architecture's default: 0 for MLPs and ResNets, 0.5 for the VGG FC layers (the paper's).
    width_mult : float
        CNNs: multiplies every conv channel count and VGG FC width (rounded, at least 1).
    plan : tuple or None
        VGG stage plan: conv channel counts and ``"M"`` for a 2x2 max-pool. ``None``: the preset's.
    fc : tuple of int
        VGG: widths of the hidden FC layers (the paper's 512 x 2).
    factory : str or None
        ``custom``: ``path/to/file.py:function`` or ``package.module:function``.
    """

    name: str = "mlp"
    width: int = 64
    depth: int = 1
    widths: tuple[int, ...] | None = None
    activation: str = "relu"
    bn: bool = True
    dropout: float | None = None
    width_mult: float = 1.0
    plan: tuple[int | str, ...] | None = None
    fc: tuple[int, ...] = (512, 512)
    factory: str | None = None

    @property
    def family(self) -> str:
        """``mlp``, ``vgg``, ``resnet`` or ``custom``."""
        if self.name in VGG_NAMES:
            return "vgg"
        if self.name in RESNET_NAMES:
            return "resnet"
        return self.name

    def hidden_widths(self) -> tuple[int, ...]:
        """MLP per-layer widths: ``widths`` if given, else ``split_width(width, depth)``."""
        if self.widths is not None:
            return tuple(self.widths)
        return split_width(self.width, self.depth)

    def shaping_fields(self) -> tuple[str, ...]:
        """The fields that shape this spec's network (see :data:`FAMILY_FIELDS`)."""
        fields = FAMILY_FIELDS.get(self.family, ())
        if self.family == "mlp" and self.widths is not None:
            fields = tuple(f for f in fields if f not in ("width", "depth"))
        return fields

    def ignored_fields(self) -> list[str]:
        """Fields set to something other than their default that do not shape this spec's network.

        Examples
        --------
        >>> ModelSpec(name="vgg11", width=128).ignored_fields()
        ['width']
        >>> ModelSpec(widths=(8, 4), depth=2).ignored_fields()
        ['depth']
        """
        keep = set(self.shaping_fields()) | {"name"}
        return [
            f.name
            for f in dataclasses.fields(self)
            if f.name not in keep and getattr(self, f.name) != f.default
        ]

    def shaping(self) -> ModelSpec:
        """This spec with every field that does not shape the network at its default.

        Also writes a dropout equal to the family's default, and a VGG plan equal to the
        preset's, as ``None``. Two specs with equal ``shaping()`` build the same network.
        """
        defaults: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {name: defaults[name] for name in self.ignored_fields()}
        if self.dropout is not None and "dropout" in self.shaping_fields():
            if float(self.dropout) == (0.5 if self.family == "vgg" else 0.0):
                changes["dropout"] = None
        if self.family == "vgg" and self.plan is not None and VGG_PLANS.get(self.name) == tuple(self.plan):
            changes["plan"] = None
        return dataclasses.replace(self, **changes) if changes else self

    def resolved_dropout(self) -> float:
        """The dropout rate used, with ``None`` resolved to the architecture default."""
        if self.dropout is not None:
            return float(self.dropout)
        return 0.5 if self.family == "vgg" else 0.0

    def validate(self) -> None:
        """Raise :class:`InvalidParameterError` for an out-of-range or inconsistent field."""
        if self.name not in MODEL_NAMES:
            _bad(
                "model",
                self.name,
                f"one of {', '.join(MODEL_NAMES[:-1])}, or FILE.py:FACTORY / MODULE:FACTORY",
            )
        if self.name == "custom":
            if not self.factory:
                _bad(
                    "model",
                    self.factory,
                    "a factory spec 'path/to/file.py:function' or 'package.module:function'",
                )
            split_factory_spec(self.factory)
            return
        if self.activation not in ACTIVATIONS:
            _bad("activation", self.activation, f"one of {', '.join(ACTIVATIONS)}")
        if self.dropout is not None and not (0.0 <= self.dropout < 1.0):
            _bad("dropout", self.dropout, "a rate in [0, 1)")
        if self.family == "mlp":
            if self.widths is not None:
                if len(self.widths) == 0 or any(int(w) < 1 for w in self.widths):
                    _bad("widths", ",".join(map(str, self.widths)), "a comma-separated list of widths >= 1")
            else:
                if self.depth < 1:
                    _bad("depth", self.depth, "at least 1 hidden layer")
                if self.width < 1:
                    _bad("width", self.width, "at least 1 (the total number of hidden units)")
                if self.width < self.depth:
                    msg = (
                        f"--width {self.width} cannot be split over --depth {self.depth} layers: every layer "
                        f"needs at least one unit, so --width must be at least {self.depth}."
                    )
                    raise InvalidParameterError(msg)
        else:
            if not (math.isfinite(self.width_mult) and self.width_mult > 0):
                _bad("width-mult", self.width_mult, "a number > 0")
            if self.family == "vgg":
                if self.name == "vgg" and self.plan is None:
                    _bad(
                        "plan",
                        None,
                        "a stage plan such as '64,M,128,M' for --model vgg (or use vgg11..vgg19)",
                    )
                if self.plan is not None and (
                    not any(isinstance(p, int) for p in self.plan)
                    or any(not ((isinstance(p, int) and p >= 1) or p == "M") for p in self.plan)
                ):
                    _bad(
                        "plan", ",".join(map(str, self.plan)), "conv channel counts >= 1 and 'M' for max-pool"
                    )
                if any(int(w) < 1 for w in self.fc):
                    _bad("fc", ",".join(map(str, self.fc)), "FC widths >= 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists)."""
        d = dataclasses.asdict(self)
        for k in ("widths", "plan", "fc"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`."""
        d = _known(cls, d, "model")
        for k in ("widths", "fc"):
            if d.get(k) is not None:
                d[k] = tuple(int(v) for v in d[k])
        if d.get("plan") is not None:
            d["plan"] = tuple(v if v == "M" else int(v) for v in d["plan"])
        return cls(**d)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; ``actcode train``'s options one to one.

    Defaults follow the paper's MLP setup (Adam at lr 1e-2, batch 64, lr x0.1 every 20 epochs,
    BN on, training on the first 80 % of the training split); weight decay defaults to 0
    rather than the paper's negligible 1e-6, and epochs to 20 rather than 200.
    ``weight_decay`` is PyTorch's coupled L2 term (``grad += weight_decay * w``) on the
    weights of Linear and Conv layers only (not on biases, BatchNorm or PReLU parameters), so
    the paper's Keras ``l2(1e-6)`` is ``weight_decay=2e-6``.

    ``save_at`` ``None`` means the last epoch only; epoch 0 is the initialisation.
    ``sample_size`` ``None`` means the whole training part. ``early_stop`` is the patience,
    in epochs, on the training loss (0 = off). ``threads`` is the number of CPU threads
    (``torch.set_num_threads``) during training; 0 means automatic: one thread for models
    without convolutions on the CPU (their operations are too small to gain from threads, and
    threads that wait on each other slow training down many times on a busy machine),
    PyTorch's default otherwise.
    """

    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    epochs: int = 20
    save_at: tuple[int, ...] | None = None
    sample_size: int | None = None
    sample_order: str = "first"
    tile: bool = False
    label_noise: float = 0.0
    noise_mode: str = "permute"
    weight_decay: float = 0.0
    optimizer: str = "adam"
    lr: float = 1e-2
    momentum: float = 0.9
    lr_schedule: str = "step"
    lr_step: int = 20
    lr_gamma: float = 0.1
    batch_size: int = 64
    early_stop: int = 0
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    out: str = "runs"

    def save_epochs(self) -> tuple[int, ...]:
        """Sorted distinct epochs to save (``(epochs,)`` when ``save_at`` is ``None``)."""
        return tuple(sorted(set(self.save_at))) if self.save_at is not None else (self.epochs,)

    def validate(self) -> TrainConfig:
        """Check every field; raise :class:`InvalidParameterError` with one clear line; return self."""
        self.model.validate()
        if not isinstance(self.data.name, str) or not self.data.name.strip():
            _bad("dataset", self.data.name, "a dataset name or a .npz path")
        dataset_name(self.data)
        if self.epochs < 0:
            _bad("epochs", self.epochs, "an integer >= 0")
        if self.save_at is not None:
            if len(self.save_at) == 0:
                _bad("save-at", "", "a comma-separated list of epochs in [0, --epochs]")
            bad = [e for e in self.save_at if not 0 <= e <= self.epochs]
            if bad:
                msg = (
                    f"--save-at {','.join(map(str, self.save_at))} asks for "
                    f"epoch(s) {', '.join(map(str, bad))}, "
                    f"outside [0, --epochs {self.epochs}]; raise --epochs or drop those epochs."
                )
                raise InvalidParameterError(msg)
        if self.sample_size is not None and self.sample_size < 1:
            _bad("sample-size", self.sample_size, "at least 1 training example")
        _choice("sample-order", self.sample_order, SAMPLE_ORDERS)
        if not (math.isfinite(self.label_noise) and 0.0 <= self.label_noise <= 1.0):
            _bad("label-noise", self.label_noise, "a fraction in [0, 1]")
        _choice("noise-mode", self.noise_mode, NOISE_MODES)
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            _bad("weight-decay", self.weight_decay, "a number >= 0")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if not (math.isfinite(self.lr) and self.lr > 0):
            _bad("lr", self.lr, "a learning rate > 0")
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            _bad("momentum", self.momentum, "a number in [0, 1)")
        _choice("lr-schedule", self.lr_schedule, LR_SCHEDULES)
        if self.lr_step < 1:
            _bad("lr-step", self.lr_step, "at least 1 epoch")
        if not (math.isfinite(self.lr_gamma) and self.lr_gamma > 0):
            _bad("lr-gamma", self.lr_gamma, "a factor > 0")
        if self.batch_size < 1:
            _bad("batch-size", self.batch_size, "at least 1")
        if self.early_stop < 0:
            _bad("early-stop", self.early_stop, "a patience >= 0 epochs (0 = off)")
        check_seed(self.seed)
        if self.threads < 0:
            _bad("threads", self.threads, "a number of CPU threads >= 1, or 0 for automatic")
        if self.device not in DEVICES and not (self.device.startswith("cuda:") and self.device[5:].isdigit()):
            _bad("device", self.device, "auto, cpu, cuda, cuda:N or mps")
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe nested dict."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["data"] = self.data.to_dict()
        d["model"] = self.model.to_dict()
        d["save_at"] = list(self.save_at) if self.save_at is not None else None
        return d

    def to_json(self) -> str:
        """:meth:`to_dict` as compact, key-sorted JSON."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`InvalidParameterError`."""
        d = _known(cls, d, "train config")
        if "data" in d:
            d["data"] = DataSpec.from_dict(d["data"])
        if "model" in d:
            d["model"] = ModelSpec.from_dict(d["model"])
        if d.get("save_at") is not None:
            d["save_at"] = tuple(int(e) for e in d["save_at"])
        return cls(**d)

    def ignored_fields(self) -> list[str]:
        """Training options that do not shape this run: ``momentum`` with Adam, ``lr_step`` and
        ``lr_gamma`` without the step schedule, ``noise_mode`` without label noise, and
        ``sample_order`` without a sample size (the whole training part, in order, either way).

        Examples
        --------
        >>> TrainConfig(momentum=0.5, lr_schedule="cosine").ignored_fields()
        ['momentum', 'lr_step', 'lr_gamma', 'noise_mode', 'sample_order']
        >>> TrainConfig(optimizer="sgd", label_noise=0.2, sample_size=100).ignored_fields()
        []
        """
        ignored: list[str] = []
        if self.optimizer == "adam":
            ignored.append("momentum")
        if self.lr_schedule != "step":
            ignored += ["lr_step", "lr_gamma"]
        if self.label_noise == 0:
            ignored.append("noise_mode")
        if self.sample_size is None:
            ignored.append("sample_order")
        return ignored

    def run_hash(self, digits: int = 16) -> str:
        """16 hex digits identifying the training trajectory (``digits=8``: the name of runs before 0.9).

        The 8-digit hash of older checkpoint names is the first 8 digits of this one; it
        collides at the sizes of real grids (seed 98 with batch size 935 and seed 138 with
        batch size 22 share ``dc688a38``), so new runs carry 16 digits, and a sweep that meets
        an old 8-digit name compares the checkpoint's stored options before it trusts it.

        Hashes what shapes the run: every field except where the run is written (``out``),
        which epochs are saved (``save_at``), CPU ``threads``, where the data lives
        (``data.root``, ``data.download``), the model fields its family ignores
        (:meth:`ModelSpec.shaping`) and the training options the run ignores
        (:meth:`ignored_fields`, hashed at their defaults): two runs with the same hash train
        the same model the same way.
        """
        d = self.to_dict()
        for k in ("out", "save_at", "threads"):
            d.pop(k)
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        d.update({k: defaults[k] for k in self.ignored_fields()})
        d["data"] = {"name": self.data.name}
        d["model"] = self.model.shaping().to_dict()
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:digits]


def _known(cls: type, d: dict[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        msg = f"a {what} must be a JSON object, got {type(d).__name__}."
        raise InvalidParameterError(msg)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        msg = f"unknown {what} key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(names))}."
        raise InvalidParameterError(msg)
    return dict(d)


#: Seeds of every command: 0 .. 2**32 - 1, the range every random generator actcode feeds accepts
#: (NumPy, torch.manual_seed and scikit-learn's random_state).
SEED_MAX = 2**32 - 1


def check_seed(seed: object, option: str = "seed") -> int:
    """Return ``seed`` as an int, or raise InvalidParameterError (exit 5) unless 0 <= seed <= SEED_MAX.

    Examples
    --------
    >>> check_seed(9)
    9
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        _bad(option, seed, f"an integer from 0 to {SEED_MAX} (2**32 - 1)")
    return int(seed)


def _bad(option: str, value: object, expected: str) -> NoReturn:
    msg = f"--{option} must be {expected}. Got {value!r} instead."
    raise InvalidParameterError(msg)


def _choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _bad(option, value, f"one of {', '.join(choices)}")


__all__ = [
    "MODEL_NAMES",
    "DataSpec",
    "ModelSpec",
    "TrainConfig",
    "normalize_factory_spec",
    "split_factory_spec",
    "split_width",
]
