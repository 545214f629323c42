"""The study's factors of a run: their names, what width and depth mean per model family, their values.

A run's factors are computed once, at train time, by :func:`factors_of`, and stored in every
checkpoint (``factors``); extraction copies them into the code file's provenance, so nothing
downstream rebuilds the model zoo to learn them.

``width`` and ``depth`` mean different things for different model families (formats/codes.md):

=========  ===================================  =======================================
family     ``width``                            ``depth``
=========  ===================================  =======================================
mlp        total hidden units (sum over layers)  hidden layers
vgg        channel multiplier (``width_mult``)   weight layers (conv + FC + classifier)
resnet     channel multiplier (``width_mult``)   weight layers (resnet20 -> 20)
custom     None                                  None
=========  ===================================  =======================================
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcode.data.sources import dataset_name

if TYPE_CHECKING:
    from actcode.config import TrainConfig

#: Factors that ``chart`` groups runs by; provenance["factors"] has every key (value or null).
FACTOR_KEYS: tuple[str, ...] = (
    "dataset",
    "model",
    "width",
    "depth",
    "epoch",
    "sample_size",
    "weight_decay",
    "dropout",
    "label_noise",
    "seed",
)

#: What ``width`` counts, per model family.
WIDTH_MEANING: dict[str, str] = {
    "mlp": "hidden units",
    "vgg": "channel multiplier",
    "resnet": "channel multiplier",
}
#: What ``depth`` counts, per model family.
DEPTH_MEANING: dict[str, str] = {"mlp": "hidden layers", "vgg": "weight layers", "resnet": "weight layers"}

#: VGG preset names and ResNet names, as in :mod:`actcode.config` (kept here so that this module
#: imports nothing: :func:`family_of` reads a factor value, not a config).
_VGG_PREFIX = "vgg"
_RESNET_PREFIX = "resnet"


def family_of(model: str | None) -> str:
    """The model family of a ``model`` factor value: ``mlp``, ``vgg``, ``resnet`` or ``custom``.

    Examples
    --------
    >>> family_of("mlp"), family_of("vgg16"), family_of("resnet20"), family_of("net.py:make")
    ('mlp', 'vgg', 'resnet', 'custom')
    """
    name = str(model or "")
    if name == "mlp":
        return "mlp"
    if name.startswith(_VGG_PREFIX) and ":" not in name:
        return "vgg"
    if name.startswith(_RESNET_PREFIX) and ":" not in name:
        return "resnet"
    return "custom"


def factor_meaning(factor: str, models: Iterable[str | None]) -> str | None:
    """What ``width`` or ``depth`` counts for runs of these models, when all agree; else None.

    Examples
    --------
    >>> factor_meaning("width", ["mlp", "mlp"]), factor_meaning("width", ["vgg11", "resnet20"])
    ('hidden units', 'channel multiplier')
    >>> factor_meaning("width", ["mlp", "vgg11"]) is None
    True
    """
    table = {"width": WIDTH_MEANING, "depth": DEPTH_MEANING}.get(factor)
    if table is None:
        return None
    meanings = {table.get(family_of(m)) for m in models}
    return meanings.pop() if len(meanings) == 1 else None


def model_depth(config: TrainConfig) -> int | None:
    """MLP: hidden layers; VGG/ResNet: weight layers (vgg16 -> 16, resnet20 -> 20); custom: None."""
    spec = config.model
    if spec.family == "mlp":
        return len(spec.hidden_widths())
    if spec.family == "vgg":
        from actcode.config import vgg_plan

        return sum(1 for p in vgg_plan(spec.name, spec.plan) if p != "M") + len(spec.fc) + 1
    if spec.family == "resnet":
        return int(spec.name.removeprefix("resnet"))
    return None


def model_width(config: TrainConfig) -> float | int | None:
    """MLP: total hidden units; VGG/ResNet: the channel multiplier; custom: None."""
    spec = config.model
    if spec.family == "mlp":
        return sum(spec.hidden_widths())
    if spec.family == "custom":
        return None
    return spec.width_mult


def dataset_tag(config: TrainConfig) -> str:
    """The dataset's canonical name, or the ``.npz`` file's stem."""
    if config.data.is_npz():
        return Path(config.data.name).stem
    return dataset_name(config.data)


def factors_of(config: TrainConfig, *, epoch: int, sample_size: int) -> dict[str, Any]:
    """The study's factors of a run at ``epoch`` (``None`` where a factor does not apply).

    ``width`` is from :func:`model_width`, ``depth`` from :func:`model_depth`;
    ``sample_size`` is the number of distinct training examples. Besides :data:`FACTOR_KEYS`
    it holds ``bn``, ``optimizer``, ``lr``, ``batch_size`` and ``tile`` (a subset repeated to
    the full epoch length; False without a sample size, where it changes nothing), so that
    tiled and untiled runs are told apart by ``chart --where`` and ``table``.
    """
    spec = config.model
    custom = spec.family == "custom"
    return {
        "dataset": dataset_tag(config),
        "model": spec.factory if custom else spec.name,
        "width": model_width(config),
        "depth": model_depth(config),
        "epoch": int(epoch),
        "sample_size": int(sample_size),
        "weight_decay": config.weight_decay,
        "dropout": None if custom else spec.resolved_dropout(),
        "label_noise": config.label_noise,
        "seed": config.seed,
        "bn": None if custom else spec.bn,
        "optimizer": config.optimizer,
        "lr": config.lr,
        "batch_size": config.batch_size,
        "tile": bool(config.tile) and config.sample_size is not None,
    }


__all__ = [
    "DEPTH_MEANING",
    "FACTOR_KEYS",
    "WIDTH_MEANING",
    "dataset_tag",
    "factor_meaning",
    "factors_of",
    "family_of",
    "model_depth",
    "model_width",
]
