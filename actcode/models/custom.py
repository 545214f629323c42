"""A user's own model: ``path/to/file.py:factory`` or ``package.module:factory`` returning a Module."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from actcode.config import normalize_factory_spec, split_factory_spec
from actcode.errors import ActcodeFileNotFoundError, InvalidParameterError

__all__ = ["build_custom", "load_factory", "normalize_factory_spec", "split_factory_spec"]


def load_factory(spec: str) -> Callable[..., Any]:
    """Import the factory a spec names.

    Raises
    ------
    ActcodeFileNotFoundError
        The file does not exist.
    InvalidParameterError
        Importing fails, or the name is missing or not callable.
    """
    target, fn_name, is_file = split_factory_spec(spec)
    try:
        if is_file:
            path = Path(target).expanduser().resolve()
            if not path.is_file():
                msg = f"the model file {path.name} is not in {path.parent} (from --model {spec!r})."
                raise ActcodeFileNotFoundError(msg)
            mod_name = f"actcode_user_model_{hashlib.sha256(str(path).encode()).hexdigest()[:10]}"
            module = sys.modules.get(mod_name)
            if module is None:
                mspec = importlib.util.spec_from_file_location(mod_name, path)
                if mspec is None or mspec.loader is None:
                    msg = f"cannot import {path} as a Python module (from --model {spec!r})."
                    raise InvalidParameterError(msg)
                module = importlib.util.module_from_spec(mspec)
                sys.modules[mod_name] = module
                try:
                    mspec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[mod_name]
                    raise
        else:
            module = importlib.import_module(target)
    except (ActcodeFileNotFoundError, InvalidParameterError):
        raise
    except Exception as exc:
        msg = f"importing the model module of --model {spec!r} failed: {type(exc).__name__}: {exc}"
        raise InvalidParameterError(msg) from exc
    fn = getattr(module, fn_name, None)
    if fn is None or not callable(fn):
        msg = f"--model {spec!r}: {target} has no callable named {fn_name!r}."
        raise InvalidParameterError(msg)
    return fn  # type: ignore[no-any-return]


def build_custom(spec: str, input_shape: Sequence[int], n_classes: int) -> nn.Module:
    """Call the factory with ``input_shape=`` and ``n_classes=`` and check it returns an ``nn.Module``.

    Raises
    ------
    InvalidParameterError
        The factory raises, or returns something that is not an ``nn.Module``.
    """
    factory = load_factory(spec)
    try:
        model = factory(input_shape=tuple(int(s) for s in input_shape), n_classes=int(n_classes))
    except Exception as exc:
        msg = f"the model factory {spec!r} raised {type(exc).__name__}: {exc}"
        raise InvalidParameterError(msg) from exc
    if not isinstance(model, nn.Module):
        msg = (
            f"the model factory {spec!r} returned a {type(model).__name__}, not a torch.nn.Module; "
            "it must return the network."
        )
        raise InvalidParameterError(msg)
    return model
