"""What one split feeds the network: its inputs in blocks, labels, source indices; random inputs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from actcode.errors import InvalidParameterError

#: Label of a row that has none (random inputs).
NO_LABEL = -1


class ArrayInputs:
    """Inputs held in memory, served in blocks as float32 tensors.

    Parameters
    ----------
    x : ndarray or Tensor of shape (n_source, *input_shape)
    rows : ndarray of shape (n,), dtype=int, optional
        Rows of ``x`` to serve, in this order; gathered block by block, so a subset of a
        large array is never copied whole. Default: every row.
    """

    def __init__(self, x: np.ndarray | torch.Tensor, rows: np.ndarray | None = None) -> None:
        if isinstance(x, torch.Tensor):
            self.x: np.ndarray | torch.Tensor = x.detach()
        else:
            self.x = np.asarray(x)
        if self.x.ndim < 1:
            msg = f"inputs must have a batch dimension; got an array of shape {tuple(self.x.shape)}."
            raise InvalidParameterError(msg)
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        if (
            self.rows is not None
            and self.rows.size
            and (self.rows.min() < 0 or self.rows.max() >= self.x.shape[0])
        ):
            lo, hi = self.rows.min(), self.rows.max()
            msg = f"row indices must lie in [0, {self.x.shape[0]}); got values from {lo} to {hi}."
            raise InvalidParameterError(msg)

    def __len__(self) -> int:
        return int(self.x.shape[0] if self.rows is None else self.rows.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape."""
        return tuple(int(s) for s in self.x.shape[1:])

    def _take(self, start: int, stop: int) -> torch.Tensor:
        if self.rows is None:  # a slice is a view: copy it, so that an in-place op cannot touch the data
            return _as_tensor(self.x[start:stop], copy=True)
        idx = self.rows[start:stop]
        if isinstance(self.x, torch.Tensor):
            return _as_tensor(self.x[torch.from_numpy(idx).to(self.x.device)])
        return _as_tensor(self.x[idx])

    def head(self, n: int) -> torch.Tensor:
        """The first ``n`` rows as a float32 tensor (for the probe pass)."""
        return self._take(0, n)

    def blocks(self, batch_size: int) -> Iterator[torch.Tensor]:
        """Consecutive blocks of at most ``batch_size`` rows, as new float32 tensors."""
        for start in range(0, len(self), batch_size):
            yield self._take(start, start + batch_size)


class RandomInputs:
    """``n`` inputs drawn uniformly from ``[low, high)`` in every coordinate, seeded.

    This is the paper's random-input experiment (the inputs replaced by random data of the
    same shape). Rows come from one NumPy ``PCG64`` stream seeded with ``seed``, generated
    block by block, so memory stays bounded and the rows do not depend on the batch size.

    Examples
    --------
    >>> r = RandomInputs(5, (1, 2, 2), (0.0, 1.0), seed=3)
    >>> x = r.head(5)
    >>> tuple(x.shape), bool((x >= 0).all() and (x < 1).all())
    ((5, 1, 2, 2), True)
    >>> torch.equal(torch.cat(list(r.blocks(2))), x)
    True
    """

    def __init__(
        self, n: int, input_shape: Sequence[int], value_range: tuple[float, float], seed: int = 0
    ) -> None:
        lo, hi = float(value_range[0]), float(value_range[1])
        if n < 1:
            msg = f"--random must be a number of inputs >= 1. Got {n} instead."
            raise InvalidParameterError(msg)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            msg = f"random inputs need a finite value range low < high. Got ({lo}, {hi}) instead."
            raise InvalidParameterError(msg)
        self.n = int(n)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.low, self.high = lo, hi
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.n

    def describe(self) -> dict[str, Any]:
        """JSON-safe description for provenance."""
        return {
            "n": self.n,
            "distribution": "uniform",
            "low": self.low,
            "high": self.high,
            "shape": list(self.input_shape),
            "seed": self.seed,
            "generator": "numpy.random.Generator(PCG64(seed)).random(dtype=float32), scaled to [low, high)",
            "labels": NO_LABEL,
        }

    def _draw(self, rng: np.random.Generator, rows: int) -> torch.Tensor:
        x = rng.random((rows, *self.input_shape), dtype=np.float32)
        x *= np.float32(self.high - self.low)
        x += np.float32(self.low)
        np.minimum(x, np.nextafter(np.float32(self.high), np.float32(self.low)), out=x)
        return torch.from_numpy(x)

    def head(self, n: int) -> torch.Tensor:
        """The first ``n`` rows."""
        return self._draw(np.random.default_rng(self.seed), min(n, self.n))

    def blocks(self, batch_size: int) -> Iterator[torch.Tensor]:
        """The rows in blocks of ``batch_size``, from the start of the stream."""
        rng = np.random.default_rng(self.seed)
        for start in range(0, self.n, batch_size):
            yield self._draw(rng, min(batch_size, self.n - start))


#: One batch of a split: inputs, labels, source indices, training labels (or None).
Batch = tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray | None]


@dataclass
class SplitInputs:
    """One split to extract: inputs, and per row its label, source index and training label.

    Attributes
    ----------
    x : ArrayInputs or RandomInputs
    labels : ndarray of shape (n,), dtype=np.int64
        True labels; :data:`NO_LABEL` (-1) where there is none.
    indices : ndarray of shape (n,), dtype=np.int64
        Indices of the rows in their source (the official train or test split).
    training_labels : ndarray of shape (n,), dtype=np.int64, or None
        Labels the network was trained with, when they differ from ``labels`` (label noise).
    info : dict
        JSON-safe description of the split, for provenance.
    """

    x: ArrayInputs | RandomInputs
    labels: np.ndarray
    indices: np.ndarray
    training_labels: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.x)
        self.labels = _int_column(self.labels, n, "labels")
        self.indices = _int_column(self.indices, n, "indices")
        if self.training_labels is not None:
            self.training_labels = _int_column(self.training_labels, n, "training_labels")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def n_rows(self) -> int | None:
        """Rows of the split."""
        return len(self.x)

    def head(self, n: int) -> torch.Tensor:
        """The first ``n`` inputs (for the probe pass)."""
        return self.x.head(n)

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """The split in batches of ``batch_size`` rows."""
        start = 0
        for x in self.x.blocks(batch_size):
            stop = start + int(x.shape[0])
            fit = None if self.training_labels is None else self.training_labels[start:stop]
            yield x, self.labels[start:stop], self.indices[start:stop], fit
            start = stop


class StreamInputs:
    """A split given as an iterable of batches (DataLoader, generator): ``x``, ``(x, y)``, ``(x, y, idx)``.

    The iterable is consumed once, with its own batch sizes; its first batch is kept for the
    probe pass. Rows without ``y`` get label -1; without ``idx``, running row numbers.
    """

    def __init__(self, iterable: Any, *, info: dict[str, Any] | None = None) -> None:
        self._it = iter(iterable)
        self._first: Any = None
        self._started = False
        self.training_labels: np.ndarray | None = None
        self.info = dict(info or {"source": "iterable of batches"})

    @property
    def n_rows(self) -> int | None:
        """Unknown before the stream is consumed."""
        return None

    def _peek(self) -> Any:
        if self._first is None:
            try:
                self._first = next(self._it)
            except StopIteration:
                msg = "the iterable of batches is empty; a code file cannot hold an empty split."
                raise InvalidParameterError(msg) from None
        return self._first

    def head(self, n: int) -> torch.Tensor:
        """The first ``n`` inputs of the first batch."""
        return _as_tensor(_split_item(self._peek())[0][:n])

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """The stream's batches (``batch_size`` is ignored: the iterable decides)."""
        if self._started:
            msg = "a stream of batches can be extracted only once."
            raise InvalidParameterError(msg)
        self._started = True
        first = self._peek()
        self._first = None
        start = 0
        for item in _chain(first, self._it):
            x, y, idx = _split_item(item)
            xt = _as_tensor(x)
            b = int(xt.shape[0])
            labels = np.full(b, NO_LABEL, np.int64) if y is None else _int_column(y, b, "labels")
            indices = (
                np.arange(start, start + b, dtype=np.int64) if idx is None else _int_column(idx, b, "indices")
            )
            yield xt, labels, indices, None
            start += b


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def _split_item(item: Any) -> tuple[Any, Any, Any]:
    if isinstance(item, tuple | list):
        if not 1 <= len(item) <= 3:
            msg = f"a batch must be x, (x, y) or (x, y, indices); got {len(item)} items."
            raise InvalidParameterError(msg)
        return item[0], (item[1] if len(item) > 1 else None), (item[2] if len(item) > 2 else None)
    return item, None, None


def as_split_inputs(value: Any) -> SplitInputs | StreamInputs:
    """Normalise one split's inputs.

    Accepted: a :class:`SplitInputs` or :class:`StreamInputs`; an ndarray or Tensor ``x`` of
    shape (n, *input_shape); a TUPLE ``(x, y)`` or ``(x, y, indices)`` of arrays; or any
    other iterable (a DataLoader, a generator, a list) of batches, each ``x``, ``(x, y)`` or
    ``(x, y, indices)``.
    """
    if isinstance(value, SplitInputs | StreamInputs):
        return value
    if all(hasattr(value, a) for a in ("head", "batches", "n_rows", "info", "training_labels")):
        return value  # type: ignore[no-any-return]  # a split source of its own (an image folder's split)
    if isinstance(value, RandomInputs | ArrayInputs):
        value = (value,)
    if isinstance(value, np.ndarray | torch.Tensor):
        value = (value,)
    if not isinstance(value, tuple):
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            msg = (
                "a split's inputs must be an array, a tensor, a tuple (x, y) or an iterable of batches; "
                f"got {type(value).__name__}."
            )
            raise InvalidParameterError(msg)
        return StreamInputs(value)
    x, y, idx = _split_item(value)
    xs = x if isinstance(x, RandomInputs | ArrayInputs) else ArrayInputs(x)
    n = len(xs)
    labels = np.full(n, NO_LABEL, np.int64) if y is None else _to_numpy(y)
    indices = np.arange(n, dtype=np.int64) if idx is None else _to_numpy(idx)
    return SplitInputs(xs, labels, indices)


def _to_numpy(a: Any) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _int_column(a: Any, n: int, name: str) -> np.ndarray:
    arr = _to_numpy(a)
    if arr.shape != (n,):
        msg = f"{name} must have shape ({n},) to match the inputs. Got {arr.shape} instead."
        raise InvalidParameterError(msg)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        msg = f"{name} must be integers. Got dtype {arr.dtype} instead."
        raise InvalidParameterError(msg)
    return arr.astype(np.int64, copy=False)


def _as_tensor(x: np.ndarray | torch.Tensor, *, copy: bool = False) -> torch.Tensor:
    """A float32 tensor of ``x``; with ``copy`` never sharing memory with ``x``."""
    if isinstance(x, torch.Tensor):
        return x.to(torch.float32, copy=copy)
    return torch.from_numpy(np.array(x, dtype=np.float32, order="C", copy=copy or None))


__all__ = [
    "NO_LABEL",
    "ArrayInputs",
    "Batch",
    "RandomInputs",
    "SplitInputs",
    "StreamInputs",
    "as_split_inputs",
]
