"""A user's own model: ``path/to/file.py:factory`` or ``package.module:factory`` returning a Module."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from actcode.config import normalize_factory_spec, split_factory_spec
from actcode.errors import ActcodeFileNotFoundError, InvalidParameterError, UntrustedCodeError

__all__ = [
    "UntrustedCodeError",
    "authorize_factory",
    "build_custom",
    "load_factory",
    "normalize_factory_spec",
    "split_factory_spec",
    "stdout_to_stderr",
    "user_code",
]


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (Python's and file descriptor 1) to stderr for the block.

    stdout carries only paths for the next command of a pipe; a user module that prints when
    imported or called (``import this`` does) must not corrupt it.
    """
    sys.stdout.flush()
    try:
        fd = sys.stdout.fileno()
        err = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real descriptors (captured): Python level only
        with contextlib.redirect_stdout(sys.stderr):
            yield
        return
    saved = os.dup(fd)
    try:
        os.dup2(err, fd)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(saved, fd)
        os.close(saved)


@contextlib.contextmanager
def user_code(what: str) -> Iterator[None]:
    """Run a user's code (a model module, its factory, its forward): stdout goes to stderr, and a
    ``sys.exit`` in it fails the input with one line instead of ending actcode with its status.

    Raises
    ------
    InvalidParameterError
        The code called ``sys.exit`` (or raised SystemExit), whatever its status.
    """
    with stdout_to_stderr():
        try:
            yield
        except SystemExit as exc:
            msg = f"{what} called sys.exit({exc.code!r}); a model must return or raise, never exit."
            raise InvalidParameterError(msg) from None


def _same_factory(recorded: str, named: str) -> bool:
    r_target, r_fn, r_file = split_factory_spec(recorded)
    n_target, n_fn, n_file = split_factory_spec(named)
    if r_fn != n_fn or r_file != n_file:
        return False
    if not r_file:
        return r_target == n_target
    r_path, n_path = Path(r_target), Path(n_target)
    if r_path.is_absolute():
        return r_path == n_path
    return n_path.parts[-len(r_path.parts) :] == r_path.parts


def authorize_factory(recorded: str | None, named: str | None, *, trust: bool, where: str) -> str:
    """The factory to import for a file that records ``recorded``: only one the user allowed.

    - ``named`` (from ``--model``) is used when it matches the recorded factory (same
      function; same module, or the same file: an absolute recorded path exactly, a relative
      one as the tail of the named file's path);
    - else, with ``trust`` (``--trust-model-code``), the recorded factory, unless it is a
      relative file path, which is never resolved from the current folder;
    - else the file's code does not run.

    Raises
    ------
    UntrustedCodeError
        Nothing allows running the recorded code, or ``named`` does not match it.

    Examples
    --------
    >>> authorize_factory("/src/nets.py:make", "/src/nets.py:make", trust=False, where="ck.pt")
    '/src/nets.py:make'
    """
    if not recorded:
        msg = f"{where}: its config names a custom model but no factory."
        raise UntrustedCodeError(msg)
    if named is not None:
        spec = normalize_factory_spec(named)
        if not _same_factory(recorded, spec):
            msg = (
                f"--model {named} does not match the factory recorded in {where} ({recorded}); "
                "name the code that built this checkpoint."
            )
            raise UntrustedCodeError(msg)
        return spec
    target, _, is_file = split_factory_spec(recorded)
    if trust and not (is_file and not Path(target).is_absolute()):
        return recorded
    if trust:
        msg = (
            f"{where} records a relative factory path, {recorded}, which actcode never resolves from the "
            f"current folder; name the file with --model PATH/{Path(target).name}:"
            f"{recorded.rpartition(':')[2]}."
        )
        raise UntrustedCodeError(msg)
    msg = (
        f"{where} was built by code, {recorded}, and actcode runs a file's code only when you name it: "
        f"add --model {recorded} (checked against the checkpoint), or --trust-model-code."
    )
    raise UntrustedCodeError(msg)


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
                    with user_code(f"importing {path.name} (from --model {spec!r})"):
                        mspec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[mod_name]
                    raise
        else:
            with user_code(f"importing {target} (from --model {spec!r})"):
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
        with user_code(f"the model factory {spec!r}"):
            model = factory(input_shape=tuple(int(s) for s in input_shape), n_classes=int(n_classes))
    except InvalidParameterError:
        raise
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
