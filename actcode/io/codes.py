"""Reading and writing neural-code files (formats/codes.md): CodeWriter and CodeFile."""

from __future__ import annotations

import functools
import json
import re
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from actcode import __version__
from actcode.codes import LayerInfo, layout_layers, pad_mask, relative_layers, row_bytes
from actcode.errors import ActcodeError, FormatError, InvalidParameterError, OutputError
from actcode.io import spec
from actcode.io.atomic import (
    abandon_h5,
    check_interrupted,
    commit,
    create_temp,
    discard_temp,
    disk_full_error,
    open_h5_output,
    resolve_output,
    unregister_temp,
)
from actcode.io.chunks import ChunkStream, deflate_pool, deflate_threads
from actcode.io.provenance import check_provenance, dumps
from actcode.io.validate import (
    H5_ERRORS,
    Header,
    check_label_range,
    check_padding_block,
    damaged_file_error,
    open_h5,
    read_header,
)
from actcode.lists import select_indices
from actcode.results import ResultTable

_STR = h5py.string_dtype("utf-8")


def _damaged(exc: BaseException, path: Path) -> FormatError:
    return damaged_file_error(path, exc)


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn h5py's errors on a damaged file into one FormatError naming the file."""

    @functools.wraps(fn)
    def wrapper(self: CodeFile, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except ActcodeError:
            raise
        except H5_ERRORS as exc:
            raise _damaged(exc, self.path) from None

    return wrapper


def _guard_iter(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """:func:`_guard` for generator methods: errors raised while iterating are converted too."""

    @functools.wraps(fn)
    def wrapper(self: CodeFile, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from fn(self, *args, **kwargs)
        except ActcodeError:
            raise
        except H5_ERRORS as exc:
            raise _damaged(exc, self.path) from None

    return wrapper


def _stamp(obj: h5py.HLObject, etype: str, version: str = spec.FORMAT_VERSION) -> None:
    obj.attrs[spec.ENCODING_TYPE] = etype
    obj.attrs[spec.ENCODING_VERSION] = version


def chunk_rows(n_bytes: int) -> int:
    """Rows per chunk so that a chunk holds about ``CHUNK_TARGET_BYTES``."""
    return int(max(1, min(65536, spec.CHUNK_TARGET_BYTES // max(1, n_bytes))))


#: ``compression="auto"`` deflates a split when its first block shrinks at least this much.
AUTO_DEFLATE_MAX_RATIO = 0.7


def worth_deflating(codes: np.ndarray, sample_bytes: int = 1 << 20) -> bool:
    """Whether deflate (at the format's level) shrinks the first ~1 MiB of ``codes`` to <= 70 %.

    Examples
    --------
    >>> worth_deflating(np.zeros((100, 64), np.uint8))
    True
    >>> worth_deflating(np.random.default_rng(0).integers(0, 256, (100, 64), dtype=np.uint8))
    False
    """
    raw = np.ascontiguousarray(codes).reshape(-1)[:sample_bytes].tobytes()
    if not raw:
        return True
    return len(zlib.compress(raw, spec.COMPRESSION_LEVEL)) <= AUTO_DEFLATE_MAX_RATIO * len(raw)


def write_layer_table(f: h5py.File, layers: list[LayerInfo]) -> None:
    """Write the /layers group for a laid-out layer table."""
    g = f.create_group("layers")
    _stamp(g, spec.LAYER_TABLE_TYPE)
    g.attrs["n_layers"] = len(layers)
    g.create_dataset("name", data=[layer.name for layer in layers], dtype=_STR)
    g.create_dataset("kind", data=[layer.kind for layer in layers], dtype=_STR)
    g.create_dataset("shape", data=[json.dumps(list(layer.shape)) for layer in layers], dtype=_STR)
    g.create_dataset("n_units", data=np.array([layer.n_units for layer in layers], np.int64))
    g.create_dataset("byte_offset", data=np.array([layer.byte_offset for layer in layers], np.int64))
    g.create_dataset("n_bytes", data=np.array([layer.n_bytes for layer in layers], np.int64))
    g.create_dataset("call_index", data=np.array([layer.call_index for layer in layers], np.int64))


class CodeWriter:
    """Stream code rows into a new neural-code file, atomically.

    Rows are appended in blocks per split; nothing appears under ``path`` until
    :meth:`close` succeeds (the file is built under a hidden temporary name and renamed).
    Leaving the ``with`` block through an exception removes the temporary file.

    Parameters
    ----------
    path : str or Path
        Final file name.
    layers : list of LayerInfo
        Activation sites in forward order; byte offsets are (re)assigned back to back.
    provenance : dict
        Provenance record (see :func:`actcode.io.make_provenance`); checked on close.
    compression : {"gzip", None, "auto"}
        Filter of the code matrices. Deflate is in every HDF5 build. ``"auto"`` decides per
        split from its first block (:func:`worth_deflating`): long activation codes barely
        compress, and deflating them costs more than the forward pass.
    inputs : list of path, optional
        Files the output must not be (it would destroy them); default: the ``path`` of every
        entry of ``provenance["inputs"]``. ``path`` is checked at once, as every output is
        (:func:`actcode.io.atomic.resolve_output`); a full disk raises OutputError (exit 7)
        and leaves no temporary file.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from actcode.codes import LayerInfo, pack_bits, layout_layers
    >>> from actcode.io import make_provenance, open_codes
    >>> layers = layout_layers([LayerInfo("fc1.relu", "ReLU", (5,))])
    >>> path = os.path.join(tempfile.mkdtemp(), "c.h5")
    >>> with CodeWriter(path, layers, make_provenance(command="doctest")) as w:
    ...     w.append("train", pack_bits(np.eye(5, dtype=bool), layers), labels=np.arange(5))
    >>> with open_codes(path) as cf:
    ...     cf.splits, cf.n_rows("train"), cf.codes("train")[:2, 0].tolist()
    (['train'], 5, [128, 64])
    """

    def __init__(
        self,
        path: str | Path,
        layers: list[LayerInfo],
        provenance: dict[str, Any],
        *,
        compression: str | None = spec.COMPRESSION,
        inputs: list[str | Path] | None = None,
    ) -> None:
        if not layers:
            msg = "A code file needs at least one activation site; the layer table is empty."
            raise InvalidParameterError(msg)
        if compression not in (None, "gzip", "auto"):
            msg = (
                "compression must be 'gzip', None or 'auto' (portable to every HDF5 build). "
                f"Got {compression!r} instead."
            )
            raise InvalidParameterError(msg)
        self.path = Path(path)
        if inputs is None:
            entries = provenance.get("inputs") or []
            inputs = [e["path"] for e in entries if isinstance(e, dict) and "path" in e]
        self._target = resolve_output(self.path, inputs=inputs)
        self.layers = layout_layers(layers)
        self.n_bytes = row_bytes(self.layers)
        self._mask = pad_mask(self.layers)
        self.provenance = dict(provenance)
        self.compression = compression
        self._tmp = create_temp(self._target)
        try:
            self._f, self._guard = open_h5_output(self._tmp, self.path)
        except OSError as exc:
            discard_temp(self._tmp)
            raise self._write_error(exc) from None
        self._closed = False
        self._rows: dict[str, int] = {}
        #: Datasets stay open while writing: closing one flushes its chunk cache, and a write
        #: error there (a full disk) would be swallowed instead of raised.
        self._open: dict[tuple[str, str], h5py.Dataset] = {}
        #: The filter each split got (``"gzip"`` or None), after ``"auto"`` decided.
        self.chosen: dict[str, str | None] = {}
        #: The deflated code matrices, written a whole chunk at a time (:mod:`actcode.io.chunks`).
        self._streams: dict[str, ChunkStream] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._threads = deflate_threads()
        try:
            _stamp(self._f, spec.CODES_TYPE)
            self._f.attrs["bitorder"] = spec.BITORDER
            self._f.attrs["n_units"] = np.int64(sum(layer.n_units for layer in self.layers))
            self._f.attrs["n_bytes"] = np.int64(self.n_bytes)
            self._f.attrs["created_by"] = f"actcode {__version__}"
            write_layer_table(self._f, self.layers)
            _stamp(self._f.create_group("splits", track_order=True), spec.SPLITS_TYPE)
        except BaseException:
            self.abort()
            raise

    def _write_error(self, exc: BaseException) -> OutputError:
        if isinstance(exc, OutputError):
            return exc
        full = disk_full_error(exc, self.path)
        if full is not None:
            return full
        text = " ".join(str(exc).split())[:200]
        msg = f"cannot write {self.path}: {text}. Nothing was written; choose another output path."
        return OutputError(msg)

    def _deflate_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = deflate_pool(self._threads)
        return self._pool

    def _stop_deflating(self, finish: bool) -> None:
        """Write the chunks still in flight (``finish``) or drop them, and stop the threads."""
        try:
            for stream in self._streams.values():
                if finish:
                    stream.finish()
                else:
                    stream.cancel()
        finally:
            self._streams.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None

    def _dataset(self, split: str, name: str) -> h5py.Dataset:
        key = (split, name)
        if key not in self._open:
            self._open[key] = self._split_group(split)[name]
        return self._open[key]

    def _split_group(self, split: str, sample: np.ndarray | None = None) -> h5py.Group:
        g = self._f["splits"]
        if split in g:
            return g[split]
        if not re.match(spec.SPLIT_NAME_PATTERN, split):
            msg = f"split name {split!r} must match {spec.SPLIT_NAME_PATTERN}."
            raise InvalidParameterError(msg)
        sg = g.create_group(split)
        _stamp(sg, spec.SPLIT_TYPE)
        rows = chunk_rows(self.n_bytes)
        deflate: dict[str, Any] = {"compression": "gzip", "compression_opts": spec.COMPRESSION_LEVEL}
        choice = self.compression
        if choice == "auto":
            choice = "gzip" if sample is None or worth_deflating(sample) else None
        self.chosen[split] = choice
        if not choice and sample is not None:
            # HDF5 allocates whole chunks: without a filter the zeros of a part-filled last
            # chunk are stored, so a small split would take a full ~1 MiB chunk.
            rows = min(rows, max(1, sample.shape[0]))
        ds = sg.create_dataset(
            "codes", shape=(0, self.n_bytes), maxshape=(None, self.n_bytes), dtype=np.uint8,
            chunks=(rows, self.n_bytes), **(deflate if choice else {}),
        )  # fmt: skip
        _stamp(ds, spec.PACKED_BITS_TYPE)
        ds.attrs["bitorder"] = spec.BITORDER
        if choice:  # deflated in threads beside the caller's work, stored as whole chunks
            pool = self._deflate_pool()
            self._streams[split] = ChunkStream(ds, pool, spec.COMPRESSION_LEVEL, 2 * self._threads)
        for col in spec.SPLIT_DATASETS[1:]:  # small integers: deflate always pays, and is cheap
            sg.create_dataset(col, shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(16384,), **deflate)
        self._rows[split] = 0
        return sg

    def append(
        self,
        split: str,
        codes: np.ndarray,
        labels: np.ndarray,
        predictions: np.ndarray | None = None,
        indices: np.ndarray | None = None,
    ) -> None:
        """Append a block of rows to ``split``.

        Parameters
        ----------
        codes : ndarray of shape (n_rows, n_bytes), dtype=np.uint8
            Packed rows (see :func:`actcode.codes.pack_bits`); pad bits must be 0.
        labels, predictions, indices : ndarray of shape (n_rows,)
            Integer labels, the network's predicted classes (-1 when unknown) and the rows'
            indices into their source dataset (defaults to running row numbers).
        """
        check_interrupted()
        codes = np.ascontiguousarray(codes)
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != self.n_bytes:
            msg = (
                f"codes for split {split!r} must be uint8 of shape (n, {self.n_bytes}). Got {codes.dtype} "
                f"{codes.shape}."
            )
            raise InvalidParameterError(msg)
        check_padding_block(codes, self._mask, f"codes appended to split {split!r}", self._rows.get(split, 0))
        n = codes.shape[0]
        start = self._rows.get(split, 0)
        cols = {
            "labels": labels,
            "predictions": np.full(n, -1) if predictions is None else predictions,
            "indices": np.arange(start, start + n) if indices is None else indices,
        }
        for name, arr in cols.items():
            if np.shape(arr) != (n,):
                msg = f"{name} for split {split!r} must have shape ({n},). Got {np.shape(arr)} instead."
                raise InvalidParameterError(msg)
            if name in spec.LABEL_COLUMNS:
                try:
                    check_label_range(np.asarray(arr, np.int64), f"{name} of split {split!r}")
                except FormatError as exc:
                    raise InvalidParameterError(str(exc)) from None
        try:
            self._split_group(split, codes)
            for name, arr in [("codes", codes), *cols.items()]:
                ds = self._dataset(split, name)
                ds.resize(start + n, axis=0)
                if name == "codes" and split in self._streams:
                    self._streams[split].push(codes)
                else:
                    ds[start : start + n] = np.asarray(arr, dtype=ds.dtype)
            self._f.flush()
            self._guard.check()  # a full disk is reported here, after the block that met it
        except (OSError, RuntimeError) as exc:
            self.abort()
            raise self._write_error(exc) from None
        self._rows[split] = start + n

    def add_column(self, split: str, name: str, values: np.ndarray) -> None:
        """Write an optional per-row int64 dataset of a split (``training_labels``)."""
        if name not in spec.OPTIONAL_SPLIT_DATASETS:
            msg = (
                f"{name!r} is not an optional split dataset; the format defines "
                f"{spec.OPTIONAL_SPLIT_DATASETS}."
            )
            raise InvalidParameterError(msg)
        self._split_group(split).create_dataset(name, data=np.asarray(values, np.int64))

    def set_split_info(self, split: str, **numbers: float) -> None:
        """Store the network's own metrics on a split (``loss``, ``accuracy``) as attributes."""
        sg = self._split_group(split)
        for key, value in numbers.items():
            sg.attrs[key] = float(value)

    def update_provenance(self, record: dict[str, Any]) -> None:
        """Merge top-level keys into the provenance record before it is written."""
        self.provenance.update(record)

    @property
    def rows(self) -> dict[str, int]:
        """Rows written so far, per split."""
        return dict(self._rows)

    def close(self) -> Path:
        """Finish the file: check it, write provenance, fsync and rename; return the path."""
        if self._closed:
            return self.path
        try:
            if not self._rows:
                msg = f"no rows were written to {self.path}; a code file needs at least one non-empty split."
                raise InvalidParameterError(msg)
            for split, n in self._rows.items():
                if n == 0:
                    msg = f"split {split!r} of {self.path} is empty."
                    raise InvalidParameterError(msg)
                ds = self._f["splits"][split]
                if "training_labels" in ds and ds["training_labels"].shape != (n,):
                    msg = f"training_labels of split {split!r} must have {n} entries."
                    raise InvalidParameterError(msg)
            check_provenance(self.provenance, where=f"{self.path}: provenance")
            self._stop_deflating(finish=True)
            self._f.attrs["provenance"] = dumps(self.provenance)
            self._open.clear()
            self._f.close()
            self._guard.check()
            self._guard.close()
            self._closed = True
            check_interrupted()
            commit(self._tmp, self._target)
            unregister_temp(self._tmp)
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError | RuntimeError) and not isinstance(exc, ActcodeError):
                raise self._write_error(exc) from None
            raise
        return self.path

    def abort(self) -> None:
        """Discard everything written; nothing appears under the final name."""
        self._closed = True
        self._stop_deflating(finish=False)
        self._open.clear()
        abandon_h5(self._f, self._guard, self._tmp)

    def __enter__(self) -> CodeWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if et is None:
            self.close()
        else:
            self.abort()


class CodeFile:
    """A validated, read-only neural-code file.

    Open with :func:`open_codes`. Structure, version, shapes, storage and provenance are
    validated before the object is returned; pad bits are checked on every block read.
    """

    def __init__(self, f: h5py.File, header: Header) -> None:
        self._f = f
        self._h = header
        self._mask = pad_mask(header.layers)

    # -- metadata ---------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._h.path

    @property
    def format_version(self) -> str:
        return ".".join(map(str, self._h.version))

    @property
    def layers(self) -> list[LayerInfo]:
        return list(self._h.layers)

    @property
    def splits(self) -> list[str]:
        return list(self._h.splits)

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self._h.provenance)

    @property
    def factors(self) -> dict[str, Any]:
        return dict(self._h.provenance.get("factors", {}))

    @property
    def n_units(self) -> int:
        return self._h.n_units

    @property
    def n_bytes(self) -> int:
        return self._h.n_bytes

    @property
    def result_kinds(self) -> list[str]:
        return list(self._h.results)

    def n_rows(self, split: str) -> int:
        """Rows of a split."""
        return self._h.splits[self._check_split(split)]

    def _check_split(self, split: str) -> str:
        if split not in self._h.splits:
            msg = (
                f"{self.path}: has no split {split!r}; it has {self.splits}. Choose one of those with "
                "--splits."
            )
            raise InvalidParameterError(msg)
        return split

    def select_layers(self, selection: list[str] | str | None = None) -> list[LayerInfo]:
        """Layers chosen by names, fnmatch globs or integer indices (negative allowed).

        ``None`` or an empty selection means every layer. The result keeps forward order.
        """
        names = [layer.name for layer in self._h.layers]
        picked = select_indices(
            names, selection, where=str(self.path), what="layer", owner="the file",
            listing="Layers are (see 'actcode info')", shown=8,
        )  # fmt: skip
        return [self._h.layers[i] for i in picked]

    # -- data -------------------------------------------------------------------------------
    def _segments(self, layers: list[LayerInfo] | None) -> list[tuple[int, int]] | None:
        if layers is None or [layer.name for layer in layers] == [layer.name for layer in self._h.layers]:
            return None
        spans: list[tuple[int, int]] = []
        for layer in layers:
            if spans and spans[-1][1] == layer.byte_offset:
                spans[-1] = (spans[-1][0], layer.byte_stop)
            else:
                spans.append((layer.byte_offset, layer.byte_stop))
        return spans

    def block_rows(self) -> int:
        """Default rows per block: several chunks, about 32 MiB."""
        return int(max(1, (32 << 20) // max(1, self.n_bytes)))

    @_guard_iter
    def iter_codes(
        self, split: str, layers: list[LayerInfo] | None = None, block_rows: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start_row, block)`` over a split; blocks keep memory bounded.

        With ``layers``, each block holds only those segments, back to back (use
        ``relative_layers(layers)`` to unpack them).
        """
        n = self.n_rows(split)
        ds = self._f["splits"][split]["codes"]
        spans = self._segments(layers)
        step = block_rows or self.block_rows()
        where = f"{self.path}: /splits/{split}/codes"
        for start in range(0, n, step):
            try:
                block = ds[start : start + step]
            except FormatError:
                raise
            except H5_ERRORS as exc:
                msg = (
                    f"{where} rows {start}..{start + step} cannot be read "
                    f"({' '.join(str(exc).split())[:120]})."
                )
                raise FormatError(msg) from None
            check_padding_block(block, self._mask, where, start)
            if spans is not None:
                block = np.ascontiguousarray(np.concatenate([block[:, a:b] for a, b in spans], axis=1))
            yield start, block

    @_guard
    def codes(self, split: str, layers: list[LayerInfo] | None = None) -> np.ndarray:
        """All rows of a split (optionally only some layers' segments).

        Returns
        -------
        codes : ndarray of shape (n_samples, n_bytes_selected), dtype=np.uint8
        """
        n = self.n_rows(split)
        width = self.n_bytes if layers is None else row_bytes(relative_layers(layers))
        out = np.empty((n, width), np.uint8)
        for start, block in self.iter_codes(split, layers):
            out[start : start + block.shape[0]] = block
        return out

    @_guard
    def codes_at(self, split: str, rows: np.ndarray | list[int]) -> np.ndarray:
        """Only the given rows of a split: strictly increasing row numbers, read without the rest.

        Returns
        -------
        codes : ndarray of shape (len(rows), n_bytes), dtype=np.uint8
        """
        n = self.n_rows(split)
        idx = np.asarray(rows)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            msg = f"{self.path}: rows must be a 1-D array of integers."
            raise InvalidParameterError(msg)
        idx = idx.astype(np.int64)
        if idx.size and (idx[0] < 0 or idx[-1] >= n or (np.diff(idx) <= 0).any()):
            msg = f"{self.path}: rows must be strictly increasing row numbers in 0..{n - 1} of {split!r}."
            raise InvalidParameterError(msg)
        if idx.size == 0:
            return np.empty((0, self.n_bytes), np.uint8)
        ds = self._f["splits"][split]["codes"]
        where = f"{self.path}: /splits/{split}/codes"
        lo, hi = int(idx[0]), int(idx[-1]) + 1
        try:  # a contiguous run is one slice; otherwise an h5py point selection (increasing indices)
            block = ds[lo:hi] if hi - lo == idx.size else ds[idx.tolist()]
        except H5_ERRORS as exc:
            msg = f"{where} rows {lo}..{hi} cannot be read ({' '.join(str(exc).split())[:120]})."
            raise FormatError(msg) from None
        block = np.asarray(block, np.uint8).reshape(idx.size, -1)
        check_padding_block(block, self._mask, where, lo)
        return block

    @_guard
    def _column(self, split: str, name: str) -> np.ndarray:
        sg = self._f["splits"][self._check_split(split)]
        if name not in sg:
            msg = f"{self.path}: split {split!r} has no {name!r} dataset."
            raise FormatError(msg)
        try:
            values = np.asarray(sg[name][()], dtype=np.int64)
        except H5_ERRORS as exc:
            msg = f"{self.path}: /splits/{split}/{name} cannot be read ({exc}); the file is damaged."
            raise FormatError(msg) from None
        if name in spec.LABEL_COLUMNS:
            check_label_range(values, f"{self.path}: /splits/{split}/{name}")
        return values

    def labels(self, split: str) -> np.ndarray:
        """True labels of a split, int64 (n_samples,)."""
        out: np.ndarray = self._column(split, "labels")
        return out

    def predictions(self, split: str) -> np.ndarray:
        """The network's predicted classes, int64 (n_samples,); -1 where unknown."""
        out: np.ndarray = self._column(split, "predictions")
        return out

    def indices(self, split: str) -> np.ndarray:
        """Indices of the rows into their source dataset, int64 (n_samples,)."""
        out: np.ndarray = self._column(split, "indices")
        return out

    @_guard
    def training_labels(self, split: str) -> np.ndarray | None:
        """Labels the network was trained with, where they differ from ``labels`` (label noise)."""
        sg = self._f["splits"][self._check_split(split)]
        return self._column(split, "training_labels") if "training_labels" in sg else None

    def split_info(self, split: str) -> dict[str, float]:
        """The network's own metrics on a split (``loss``, ``accuracy``) when recorded."""
        return dict(self._h.split_info[self._check_split(split)])

    # -- results ----------------------------------------------------------------------------
    @_guard
    def results(self, kind: str) -> ResultTable | None:
        """The result table of ``kind`` ("measure" or "probe"), or None if absent."""
        if kind not in self._h.results:
            return None
        try:
            tg = self._f["results"][kind]["table"]
            cols = {
                c: tg[c].asstr()[()] if spec.RESULT_COLUMNS[c] == "str" else tg[c][()]
                for c in spec.RESULT_COLUMNS
            }
        except H5_ERRORS as exc:
            msg = f"{self.path}: /results/{kind}/table cannot be read ({' '.join(str(exc).split())[:120]})."
            raise FormatError(msg) from None
        return ResultTable(
            tuple(map(str, cols["split"])),
            tuple(map(str, cols["scope"])),
            tuple(map(str, cols["metric"])),
            tuple(float(v) for v in cols["value"]),
        )

    @_guard
    def result_params(self, kind: str) -> dict[str, Any]:
        """Parameters recorded with a result kind (empty when absent)."""
        if kind not in self._h.results:
            return {}
        return dict(json.loads(self._f["results"][kind].attrs["params"]))

    @_guard
    def result_arrays(self, kind: str) -> dict[str, np.ndarray]:
        """Arrays stored with a result kind, keyed by their path under ``arrays/``."""
        if kind not in self._h.results or "arrays" not in self._f["results"][kind]:
            return {}
        out: dict[str, np.ndarray] = {}
        root = self._f["results"][kind]["arrays"]

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                if obj.size * obj.dtype.itemsize > (256 << 20):
                    msg = f"{self.path}: result array {name} is larger than 256 MiB."
                    raise FormatError(msg)
                out[name] = obj[()]

        try:
            root.visititems(visit)
        except H5_ERRORS as exc:
            msg = f"{self.path}: /results/{kind}/arrays cannot be read ({' '.join(str(exc).split())[:120]})."
            raise FormatError(msg) from None
        return out

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> CodeFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_codes(path: str | Path) -> CodeFile:
    """Open and validate a neural-code file (structure now, pad bits as blocks are read)."""
    f = open_h5(path)
    try:
        header = read_header(f, path)
    except BaseException:
        f.close()
        raise
    return CodeFile(f, header)
