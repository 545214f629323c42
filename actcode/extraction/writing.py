"""Blocks of code rows appended to the file in a background thread while the next batches run."""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType

import numpy as np

from actcode.io import CodeWriter


class BackgroundAppender:
    """Append blocks to ``writer[split]`` from one worker thread, with at most one block in flight.

    Deflating and writing a block (``CodeWriter.append``) then overlaps the forward passes of
    the next batches, which run in torch's own threads with the GIL released. Memory stays
    bounded: :meth:`submit` waits for the block in flight before it hands over the next one,
    so at most two blocks exist at a time. An error in the worker (a full disk, an
    interrupt) is raised in the caller at the next :meth:`submit` or at :meth:`close`.
    Only the worker touches the writer between :meth:`submit` and :meth:`close`.

    Parameters
    ----------
    writer : CodeWriter
    split : str
    threaded : bool
        False appends in the caller's thread (same bytes; for debugging and tests).
    """

    def __init__(self, writer: CodeWriter, split: str, *, threaded: bool = True) -> None:
        self.writer = writer
        self.split = split
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="actcode-writer") if threaded else None
        self._pending: Future[None] | None = None

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def submit(
        self, codes: np.ndarray, labels: np.ndarray, predictions: np.ndarray, indices: np.ndarray
    ) -> None:
        """Hand one block over (after the previous one is written)."""
        self._wait()
        if self._pool is None:
            self.writer.append(self.split, codes, labels, predictions, indices)
            return
        self._pending = self._pool.submit(self.writer.append, self.split, codes, labels, predictions, indices)

    def close(self) -> None:
        """Wait for the last block (raising its error) and stop the worker."""
        try:
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def __enter__(self) -> BackgroundAppender:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.close()
            return
        with contextlib.suppress(BaseException):  # the caller's error wins; the file is aborted anyway
            self.close()


__all__ = ["BackgroundAppender"]
