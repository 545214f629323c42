"""Deflate the chunks of a code matrix in a small thread pool and store them with direct chunk writes.

HDF5 deflates a chunk inside ``H5Dwrite`` while h5py holds the GIL, so the forward pass that
should run beside the writer waits for it. :mod:`zlib` releases the GIL while it compresses:
the chunks are deflated here by a few threads, in parallel with the forward pass, and stored
already filtered (``H5Dwrite_chunk``). The file is the same: same chunk shape, same filter
pipeline (deflate at the format's level, no shuffle), and the same chunk contents, the last one
padded with zeros (the fill value) up to a whole chunk as HDF5 pads an edge chunk before it
filters it. Any HDF5 build reads it.
"""

from __future__ import annotations

import os
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import h5py
import numpy as np

__all__ = ["ChunkStream", "deflate_pool", "deflate_threads"]


def deflate_threads() -> int:
    """Threads that deflate chunks: the machine's cores, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def deflate_pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads for :class:`ChunkStream`."""
    return ThreadPoolExecutor(workers, thread_name_prefix="actcode-deflate")


def _deflate(chunk: np.ndarray, level: int) -> bytes:
    return zlib.compress(chunk.data, level)  # releases the GIL while it compresses


class ChunkStream:
    """Rows of one chunked, deflated ``uint8`` matrix, stored a whole chunk at a time.

    :meth:`push` collects rows into chunk buffers; each full chunk is deflated in ``pool``
    and written, in row order, by the thread that calls :meth:`push` or :meth:`finish` (h5py
    is touched by that thread only). At most ``max_pending`` chunks wait for their deflate,
    so memory stays bounded by a few chunks.

    Parameters
    ----------
    ds : h5py.Dataset
        Empty 2-D ``uint8`` dataset, chunked ``(rows, width)`` with the deflate filter alone.
    pool : ThreadPoolExecutor
    level : int
        The dataset's deflate level.
    max_pending : int
        Chunks deflated or waiting for a thread at a time (about twice the pool's threads).
    """

    def __init__(self, ds: h5py.Dataset, pool: ThreadPoolExecutor, level: int, max_pending: int) -> None:
        if ds.chunks is None or ds.ndim != 2 or ds.shuffle or ds.compression != "gzip":
            msg = f"{ds.name}: a chunk stream needs a 2-D chunked dataset with the deflate filter alone."
            raise ValueError(msg)
        self.ds = ds
        self.rows = int(ds.chunks[0])
        self.width = int(ds.shape[1])
        self.level = level
        self._pool = pool
        self._max = max(1, max_pending)
        self._buf = np.zeros((self.rows, self.width), np.uint8)
        self._fill = 0
        self._next_row = 0  # first row of the chunk being filled
        self._pending: deque[tuple[int, Future[bytes]]] = deque()

    def push(self, codes: np.ndarray) -> None:
        """Add rows (the dataset's extent must already include them)."""
        i = 0
        n = codes.shape[0]
        while i < n:
            take = min(n - i, self.rows - self._fill)
            self._buf[self._fill : self._fill + take] = codes[i : i + take]
            self._fill += take
            i += take
            if self._fill == self.rows:
                self._submit()
        self._write_done()

    def _submit(self) -> None:
        self._pending.append((self._next_row, self._pool.submit(_deflate, self._buf, self.level)))
        self._next_row += self.rows
        self._buf = np.zeros((self.rows, self.width), np.uint8)
        self._fill = 0
        while len(self._pending) > self._max:
            self._write_oldest()

    def _write_oldest(self) -> None:
        row, future = self._pending.popleft()
        self.ds.id.write_direct_chunk((row, 0), future.result())

    def _write_done(self) -> None:
        while self._pending and self._pending[0][1].done():
            self._write_oldest()

    def finish(self) -> None:
        """Deflate and write the last, partly filled chunk, and every chunk still in flight."""
        if self._fill:
            self._submit()
        while self._pending:
            self._write_oldest()

    def cancel(self) -> None:
        """Drop the chunks not yet written (the file is being discarded)."""
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
