"""Adding measure/probe results to a code file by copy-on-write, so the codes are never at risk."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from actcode import __version__
from actcode.errors import InvalidParameterError
from actcode.io import spec
from actcode.io.atomic import (
    abandon_h5,
    atomic_output,
    check_free_space,
    file_lock,
    open_h5_output,
    resolve_output,
)
from actcode.io.codes import _STR, CodeFile, _stamp
from actcode.io.provenance import dumps
from actcode.io.validate import check_label_columns, open_h5, read_header
from actcode.results import ResultTable

#: What a merging writer computes from the file as it is under the lock: the table, arrays and
#: parameters to store.
Merge = Callable[[CodeFile], tuple[ResultTable, dict[str, np.ndarray] | None, dict[str, Any]]]


def _write_table(g: h5py.Group, table: ResultTable) -> None:
    tg = g.create_group("table")
    _stamp(tg, spec.RESULT_TABLE_TYPE, spec.RESULT_VERSION)
    tg.create_dataset("split", data=list(table.split), dtype=_STR)
    tg.create_dataset("scope", data=list(table.scope), dtype=_STR)
    tg.create_dataset("metric", data=list(table.metric), dtype=_STR)
    tg.create_dataset("value", data=np.asarray(table.value, dtype=np.float64))


def _raise_version(out: h5py.File, since: str) -> None:
    """Stamp the copy with the format version that defines the kind being added, if its own is older.

    A reader of an older minor version then warns and ignores the kind it does not know,
    instead of refusing the file.
    """
    current = out.attrs.get(spec.ENCODING_VERSION)
    text = current.decode() if isinstance(current, bytes) else str(current)
    if spec.parse_version(text) < spec.parse_version(since):
        out.attrs[spec.ENCODING_VERSION] = since


def add_results(
    path: str | Path,
    kind: str,
    table: ResultTable,
    *,
    params: dict[str, Any],
    arrays: dict[str, np.ndarray] | None = None,
    output: str | Path | None = None,
    merge: Merge | None = None,
) -> Path:
    """Store ``table`` as the ``kind`` results of a code file; return the path written.

    The file is never modified in place. Under an exclusive lock on ``<path>.lock``, the
    source is validated, copied object by object (HDF5 copies compressed chunks as they are)
    into a hidden temporary file together with the new ``/results/<kind>`` group (replacing
    an older one of the same kind; other kinds are kept), and the copy is renamed over
    ``path``, or written to ``output`` when given. A reader that has the old file open keeps
    reading the old file; a process killed at any point leaves ``path`` as it was.

    Parameters
    ----------
    kind : {"measure", "probe", "regions"}
        A kind newer than the file's format version raises the copy's root
        ``encoding-version`` to the version that defines it (see ``spec.RESULT_KIND_SINCE``).
    params : dict
        JSON-serialisable parameters of the computation (seeds, k, approximations...).
    arrays : dict of str to ndarray, optional
        Extra arrays stored under ``/results/<kind>/arrays/<key>`` (keys may contain ``/``).
    merge : callable, optional
        A writer that keeps part of the earlier ``kind`` results (``regions`` keeps the analyses
        it did not rerun) passes ``merge(code_file) -> (table, arrays, params)`` instead of
        reading them itself: it is called under the lock, on the file as it is then, so two
        runs at once each keep the other's rows. ``table``, ``arrays`` and ``params`` are then
        ignored.
    """
    if kind not in spec.RESULT_KIND_TYPES:
        msg = f"result kind must be one of {sorted(spec.RESULT_KIND_TYPES)}. Got {kind!r} instead."
        raise InvalidParameterError(msg)
    src = Path(path)
    dst = Path(output) if output is not None else src
    # an explicit output must not be the input; a symlink is written through to its target,
    # and the lock is taken on that target, so every name of one file shares one lock
    target = resolve_output(dst, inputs=[src] if output is not None else [])
    with file_lock(target):
        with open_h5(src) as f:
            header = read_header(f, src)
            for split in header.splits:  # the copy must not carry classes out of range
                check_label_columns(f, src, split)
            if merge is not None:  # what an earlier writer stored, read under the lock
                table, arrays, params = merge(CodeFile(f, header))
            need = src.stat().st_size + _arrays_bytes(table, arrays)
            check_free_space(target, need, what="the copy with results")
            with atomic_output(target, inputs=[src] if output is not None else []) as tmp:
                out, guard = open_h5_output(tmp, dst)
                try:
                    _copy_with_results(f, out, kind, table, params, arrays)
                    out.close()
                    guard.check()
                    guard.close()
                except BaseException:
                    abandon_h5(out, guard, tmp)
                    raise
    return dst


def _arrays_bytes(table: ResultTable, arrays: dict[str, np.ndarray] | None) -> int:
    return 64 * len(table.value) + sum(int(np.asarray(a).nbytes) for a in (arrays or {}).values())


def _copy_with_results(
    f: h5py.File,
    out: h5py.File,
    kind: str,
    table: ResultTable,
    params: dict[str, Any],
    arrays: dict[str, np.ndarray] | None,
) -> None:
    for key, value in f.attrs.items():
        out.attrs[key] = value
    _raise_version(out, spec.RESULT_KIND_SINCE[kind])
    for name in f:
        if name != "results":
            f.copy(f[name], out, name=name)
    rg = out.create_group("results", track_order=True)
    _stamp(rg, spec.RESULTS_TYPE, spec.RESULT_VERSION)
    if "results" in f:
        for other in f["results"]:
            if other != kind:
                f.copy(f["results"][other], rg, name=other)
    kg = rg.create_group(kind)
    _stamp(kg, spec.RESULT_KIND_TYPES[kind], spec.RESULT_VERSION)
    kg.attrs["params"] = dumps(params)
    kg.attrs["actcode_version"] = __version__
    kg.attrs["created"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    _write_table(kg, table)
    if arrays:
        ag = kg.create_group("arrays")
        for key, arr in arrays.items():
            ag.create_dataset(key, data=np.asarray(arr), compression="gzip")
