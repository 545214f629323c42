"""Ctrl-C while HDF5 reads: the signal is taken between files, never inside h5py.

A KeyboardInterrupt raised from a signal handler while h5py runs one of its callbacks (a
``visititems`` visitor, the Python file object it reads through) comes out of h5py as a
``SystemError`` (exit 1 instead of 130), or is swallowed and the command goes on. A reader
that walks many files runs each file's reading inside :func:`interrupts_deferred`: SIGINT and
SIGTERM are recorded there, and raised as KeyboardInterrupt when the block ends, outside h5py.
A second signal in the block acts at once, as it does everywhere (:mod:`actcode.io.atomic`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from actcode.io import atomic

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Record SIGINT/SIGTERM during the block; raise KeyboardInterrupt at its end if one came.

    Outside the main thread (where handlers cannot be set) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old: dict[int, Any] = {s: signal.getsignal(s) for s in _SIGNALS}
    got: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        if got:  # a second signal: act at once, as the handler outside would
            _deliver(old[signum], signum, frame, again=True)
        got.append(signum)

    for s in _SIGNALS:
        signal.signal(s, record)
    try:
        yield
    finally:
        for s in _SIGNALS:
            signal.signal(s, old[s])
    if got:
        _deliver(old[got[0]], got[0], None, again=False)


def _deliver(handler: Any, signum: int, frame: FrameType | None, *, again: bool) -> None:
    """Hand a recorded signal to the handler that was in place; KeyboardInterrupt by default."""
    if handler is atomic._on_signal:
        if again:
            atomic._INTERRUPTED["signal"] = atomic._INTERRUPTED["signal"] or signum
        handler(signum, frame)
    elif callable(handler):
        handler(signum, frame)
        return
    if handler == signal.SIG_IGN:
        return
    raise KeyboardInterrupt


__all__ = ["interrupts_deferred"]
