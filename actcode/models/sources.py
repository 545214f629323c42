"""The model-source registry: ``--model SOURCE:NAME`` for a library's models (torchvision, timm, plugins).

A model source builds a model by name with random weights, gives the preprocessing its
weights' metadata describes, and fetches its pretrained (``--weights DEFAULT``) state. A
``--model`` whose text before the first ``:`` is not a source is a user factory
(``FILE.py:FACTORY`` or ``MODULE:FACTORY``, :mod:`actcode.models.custom`). The built-ins live in
:mod:`actcode.models.builtin`; plugins come from the entry-point group ``actcode.models``.

Examples
--------
>>> model_source_names()[:2]
('torchvision', 'timm')
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from actcode.data.preprocess import Preprocess
from actcode.registry import Registry


@runtime_checkable
class ModelSource(Protocol):
    """What a model source provides (see docs/extending.md)."""

    @property
    def order(self) -> int:
        """Built-ins are listed in this order; plugins after them."""

    def build(self, name: str, *, num_classes: int | None = None) -> tuple[nn.Module, Preprocess]:
        """The model ``name`` with random weights (and ``num_classes`` outputs when given: a fine-tuned
        head), and its preprocessing; InvalidParameterError if unknown."""

    def pretrained(self, name: str, *, download: bool) -> tuple[dict[str, torch.Tensor], str]:
        """The DEFAULT weights of ``name`` and where they came from; DataNotFoundError without ``download``
        when they are not cached."""


def _accept(name: str, obj: object) -> ModelSource:
    item = obj() if isinstance(obj, type) else obj
    if not isinstance(item, ModelSource):
        msg = f"the entry point {name!r} is not a model source: it needs order, build() and pretrained()"
        raise TypeError(msg)
    return item


#: Model sources by name: :mod:`actcode.models.builtin` and the ``actcode.models`` plugins.
MODEL_SOURCES: Registry[ModelSource] = Registry(
    "model source",
    "actcode.models",
    builtins="actcode.models.builtin",
    accept=_accept,
    order=lambda s: s.order,
)


def register_model_source(name: str, source: ModelSource) -> ModelSource:
    """Register a model source under ``name`` (a built-in module calls this when imported)."""
    return MODEL_SOURCES.register(name, source)


def get_model_source(name: str) -> ModelSource:
    """The model source ``name`` (a built-in, else the plugin of that name)."""
    return MODEL_SOURCES.get(name, option="the --model source")


def model_source_names() -> tuple[str, ...]:
    """Every model source: torchvision, timm, then the installed plugins."""
    return MODEL_SOURCES.names()


__all__ = ["MODEL_SOURCES", "ModelSource", "get_model_source", "model_source_names", "register_model_source"]
