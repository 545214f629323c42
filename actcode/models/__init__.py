"""The model zoo: ``build_model`` turns a :class:`~actcode.config.ModelSpec` into an ``nn.Module``.

Every built-in model uses activation MODULES (never functional calls), so that extraction can
hook each activation site; each module is used once, except ResNet blocks, which call their one
``relu`` twice as torchvision does.
"""

from __future__ import annotations

from actcode.models.build import build_model
from actcode.models.mlp import MLP, make_activation

__all__ = ["MLP", "build_model", "make_activation"]
