"""``actcode train``'s options by name, and the one function that turns them into a TrainConfig.

The CLI and the sweep spec both build their :class:`~actcode.config.TrainConfig` here, so a
sweep cell and a hand-run ``actcode train`` with the same options get the same run hash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from actcode.config import MODEL_NAMES, ModelSpec, TrainConfig, normalize_factory_spec
from actcode.data import DataSpec
from actcode.errors import InvalidParameterError

#: ``actcode train``'s options (Python spelling) and the type of their value: ``int``, ``float``,
#: ``bool``, ``str``, ``ints`` (a list of integers, or a comma-separated string), ``plan``
#: (channel counts and ``M``), or ``int?``/``float?``/``str?`` (may be absent).
TRAIN_OPTIONS: dict[str, str] = {
    "dataset": "str",
    "data_root": "str?",
    "download": "bool",
    "model": "str",
    "width": "int",
    "depth": "int",
    "widths": "ints?",
    "activation": "str",
    "bn": "bool",
    "dropout": "float?",
    "width_mult": "float",
    "plan": "plan?",
    "fc": "ints",
    "epochs": "int",
    "save_at": "ints?",
    "sample_size": "int?",
    "sample_order": "str",
    "tile": "bool",
    "label_noise": "float",
    "noise_mode": "str",
    "weight_decay": "float",
    "optimizer": "str",
    "lr": "float",
    "momentum": "float",
    "lr_schedule": "str",
    "lr_step": "int",
    "lr_gamma": "float",
    "batch_size": "int",
    "early_stop": "int",
    "seed": "int",
    "device": "str",
    "threads": "int",
    "out": "str",
}


def parse_ints(option: str, value: object) -> tuple[int, ...] | None:
    """``"0,1,5"``, ``[0, 1, 5]`` or ``5`` as ``(0, 1, 5)``; ``None`` stays ``None``.

    Examples
    --------
    >>> parse_ints("save-at", "0, 1,5"), parse_ints("save-at", [3]), parse_ints("fc", None)
    ((0, 1, 5), (3,), None)
    """
    if value is None:
        return None
    items: Sequence[object]
    if isinstance(value, str):
        items = [t for t in value.replace(" ", "").split(",") if t != ""]
    elif isinstance(value, list | tuple):
        items = value
    else:
        items = [value]
    try:
        values = tuple(_int(v) for v in items)
    except (TypeError, ValueError):
        msg = f"--{option} must be a comma-separated list of integers, such as 0,1,5. Got {value!r} instead."
        raise InvalidParameterError(msg) from None
    if not values:
        msg = f"--{option} must list at least one integer. Got {value!r} instead."
        raise InvalidParameterError(msg)
    return values


def _int(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int | str):
        raise TypeError
    return int(v)


def parse_plan(value: object) -> tuple[int | str, ...] | None:
    """A VGG plan, ``"64,M,128,M"`` or ``[64, "M", 128, "M"]``, as ``(64, "M", 128, "M")``."""
    if value is None:
        return None
    items = str(value).replace(" ", "").split(",") if isinstance(value, str) else value
    out: list[int | str] = []
    for t in items if isinstance(items, list | tuple) else [items]:
        if str(t).upper() == "M":
            out.append("M")
        elif isinstance(t, int) and not isinstance(t, bool) or (isinstance(t, str) and t.isdigit()):
            out.append(int(t))
        else:
            msg = (
                "--plan must list conv channel counts and M (max-pool), such as 64,M,128,M. "
                f"Got {value!r} instead."
            )
            raise InvalidParameterError(msg)
    return tuple(out)


def train_config(options: Mapping[str, Any]) -> TrainConfig:
    """The validated TrainConfig of ``actcode train`` called with ``options`` (others at their defaults).

    Keys are the option names of :data:`TRAIN_OPTIONS`; list-valued options take a list or
    the CLI's comma-separated string.

    Examples
    --------
    >>> train_config({"width": 8, "epochs": 2, "save_at": "0,2"}).save_epochs()
    (0, 2)
    """
    unknown = sorted(set(options) - set(TRAIN_OPTIONS))
    if unknown:
        msg = f"unknown train option(s) {', '.join(unknown)}; expected some of {', '.join(TRAIN_OPTIONS)}."
        raise InvalidParameterError(msg)
    o = dict(options)
    model = str(o.get("model", "mlp"))
    if ":" in model:
        _refuse_ignored(model, _model_spec(o, "custom"))
        spec = ModelSpec(name="custom", factory=normalize_factory_spec(model))
    else:
        spec = _model_spec(o, model.lower())
        _refuse_ignored(model, spec)
    dataset = str(o.get("dataset", "digits"))
    data_root, download = o.get("data_root"), bool(o.get("download", False))
    data = DataSpec(name=dataset, root=data_root, download=download)
    if data.is_npz() and Path(dataset).expanduser().is_file():
        # record where the file is, not how it was typed, so the checkpoint works from anywhere
        data = DataSpec(name=str(Path(dataset).expanduser().resolve()), root=data_root, download=download)
    plain = {k: v for k, v in o.items() if k in _PLAIN}
    return TrainConfig(
        data=data, model=spec, save_at=parse_ints("save-at", o.get("save_at")), **plain
    ).validate()


def _model_spec(o: Mapping[str, Any], name: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        width=o.get("width", 64),
        depth=o.get("depth", 1),
        widths=parse_ints("widths", o.get("widths")),
        activation=o.get("activation", "relu"),
        bn=o.get("bn", True),
        dropout=o.get("dropout"),
        width_mult=o.get("width_mult", 1.0),
        plan=parse_plan(o.get("plan")),
        fc=parse_ints("fc", o.get("fc", "512,512")) or (512, 512),
    )


#: What a CNN or a custom model has instead of an option it ignores.
_INSTEAD = {
    "width": "a CNN's width is --width-mult",
    "depth": "a CNN's depth is its --model (vgg11..vgg19, resnet20..resnet56)",
    "widths": "--widths lists an MLP's layer widths",
    "width_mult": "--width-mult scales a CNN's channels; an MLP's width is --width",
    "plan": "--plan is a VGG stage plan",
    "fc": "--fc lists a VGG's hidden FC widths",
    "dropout": "a ResNet has no dropout",
}


def _refuse_ignored(model: str, spec: ModelSpec) -> None:
    """Refuse options set away from their default that the model does not use (they would not change it)."""
    ignored = spec.ignored_fields()
    if not ignored or spec.name not in MODEL_NAMES:  # an unknown model is refused by validate()
        return
    name = ignored[0]
    if spec.family == "mlp" and name in ("width", "depth"):
        why = "--widths sets every layer's width, so --width and --depth are not used"
    elif spec.family == "custom":
        why = "a FILE.py:FACTORY model is built by its factory, which takes no model options"
    else:
        why = _INSTEAD.get(name, f"{spec.family} models do not use it")
    msg = (
        f"--{name.replace('_', '-')} does not apply to --model {model} ({why}); "
        "leave it out, so that runs that train the same network are not told apart by it."
    )
    raise InvalidParameterError(msg)


#: Options that go to TrainConfig unchanged.
_PLAIN = frozenset(
    TRAIN_OPTIONS.keys()
    - {"dataset", "data_root", "download", "model", "width", "depth", "widths", "activation", "bn"}
    - {"dropout", "width_mult", "plan", "fc", "save_at"}
)

__all__ = ["TRAIN_OPTIONS", "parse_ints", "parse_plan", "train_config"]
