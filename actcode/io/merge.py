"""Stitch the shard files of one sharded extraction (``actcode extract --shard I/N``) into one code file.

The shards must come from the same checkpoint (the SHA-256 of ``provenance.inputs``), with the
same layer table, splits, shard count, split sizes and extraction settings, and together they
must hold every shard index 0..N-1 exactly once, so that their row ranges cover each split
exactly once. Rows are copied block by block through :class:`~actcode.io.CodeWriter`, whose
file appears under its name only when complete. The merged file holds, in its code matrices,
labels, predictions, indices and training labels, exactly the rows of an unsharded extraction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actcode.codes import LayerInfo
from actcode.errors import FormatError, InvalidParameterError
from actcode.io.atomic import check_interrupted, interrupted_error, resolve_output
from actcode.io.bounded import Fields
from actcode.io.codes import CodeFile, CodeWriter, open_codes
from actcode.io.provenance import file_sha256

__all__ = ["MAX_SHARDS", "merge_shards"]

#: extract settings that may differ between shards (where and how fast they ran).
_PER_SHARD = ("shard", "n_rows", "batch_size", "device", "split_info")
#: The most shards one merge takes (each is opened alone, so the open-file limit never applies).
MAX_SHARDS = 100_000
#: The most rows a shard's records may claim for a split (2**40: far above any dataset).
_MAX_ROWS = 1 << 40


@dataclass(frozen=True)
class _Shard:
    """What merge needs of one shard, read once with its file open, checked by type."""

    path: Path
    index: int
    count: int
    rule: Any
    rows: dict[str, tuple[int, int]]
    totals: dict[str, int]
    n_rows: dict[str, int]
    identity: dict[str, Any]
    provenance: dict[str, Any]
    compression: Any
    block_rows: int


def _read_shard(cf: CodeFile) -> _Shard:
    """The shard's records through the typed reader: a lying record is a FormatError naming the field."""
    source = f"{cf.path}: provenance"
    prov = Fields(cf.provenance, source)
    extract = prov.table("extract", default={})
    if not isinstance(extract.raw("shard"), dict) or not {"index", "count", "splits"} <= set(
        extract.raw("shard")
    ):
        msg = (
            f"{cf.path}: is not a shard (its provenance has no extract.shard); "
            "merge only takes the files of extract --shard I/N."
        )
        raise InvalidParameterError(msg)
    shard = extract.table("shard")
    count = shard.integer("count", lo=1, hi=MAX_SHARDS)
    index = shard.integer("index", lo=0, hi=count - 1)
    splits = shard.table("splits")
    rows: dict[str, tuple[int, int]] = {}
    totals: dict[str, int] = {}
    for split in cf.splits:
        info = splits.table(split)
        total = info.integer("n_rows", lo=0, hi=_MAX_ROWS)
        lo_hi = info.array("rows", max_len=2)
        if len(lo_hi) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in lo_hi):
            what = info.name("rows")
            msg = f"{source}: field '{what}' must be a list of two integers. Got {lo_hi!r} instead."
            raise FormatError(msg)
        lo, hi = int(lo_hi[0]), int(lo_hi[1])
        if not 0 <= lo <= hi <= total or hi - lo != cf.n_rows(split):
            msg = (
                f"{source}: field '{info.name('rows')}' says rows {lo}..{hi} of {total}, but the split "
                f"holds {cf.n_rows(split)} rows."
            )
            raise FormatError(msg)
        rows[split], totals[split] = (lo, hi), total
    if set(splits.data) != set(cf.splits):
        names = sorted(splits.data)
        msg = f"{source}: field '{splits.where}' names the splits {names}; the file has {cf.splits}."
        raise FormatError(msg)
    first = cf.splits[0]
    return _Shard(
        cf.path, index, count, shard.raw("rule"), rows, totals, {s: cf.n_rows(s) for s in cf.splits},
        _identity(cf, prov, count, totals), cf.provenance,
        cf._f["splits"][first]["codes"].compression, cf.block_rows(),
    )  # fmt: skip


def _identity(cf: CodeFile, prov: Fields, count: int, totals: dict[str, int]) -> dict[str, Any]:
    """What must be equal in every shard of one extraction."""
    extract = {k: v for k, v in prov.table("extract").data.items() if k not in _PER_SHARD}
    inputs = prov.array("inputs", default=[])
    return {
        "the checkpoint (provenance inputs)": [i.get("sha256") if isinstance(i, dict) else i for i in inputs],
        "the layer table": [(la.name, la.kind, la.shape, la.n_units) for la in cf.layers],
        "the splits": cf.splits,
        "the shard count": count,
        "the split sizes": totals,
        "the extraction settings": extract,
        "the factors": prov.raw("factors"),
    }


def _check(shards: list[_Shard]) -> list[_Shard]:
    """The shards in index order, or one clear error: foreign, overlapping, missing or inconsistent."""
    ref = shards[0].identity
    for sh in shards[1:]:
        for what, value in sh.identity.items():
            if value != ref[what]:
                msg = (
                    f"{sh.path}: is not a shard of the same extraction as {shards[0].path}: "
                    f"{what} differ{'s' if not what.endswith('s') else ''}."
                )
                raise InvalidParameterError(msg)
    count = shards[0].count
    by_index: dict[int, _Shard] = {}
    for sh in shards:
        if sh.index in by_index:
            other = by_index[sh.index].path
            msg = f"{sh.path} and {other} are both shard {sh.index}/{count}: their rows overlap."
            raise InvalidParameterError(msg)
        by_index[sh.index] = sh
    missing = [i for i in range(count) if i not in by_index]
    if missing:
        msg = (
            f"shard {missing[0]}/{count} is missing ({len(missing)} of {count} missing); "
            f"merge needs every shard 0..{count - 1} of the extraction."
        )
        raise InvalidParameterError(msg)
    ordered = [by_index[i] for i in range(count)]
    for split, total in ordered[0].totals.items():
        at = 0
        for sh in ordered:
            lo, hi = sh.rows[split]
            if lo != at:
                msg = f"{sh.path}: split {split!r} holds rows {lo}..{hi}, but rows from {at} were expected."
                raise InvalidParameterError(msg)
            at = hi
        if at != total:
            msg = f"the shards cover rows 0..{at} of split {split!r}, which has {total} rows."
            raise InvalidParameterError(msg)
    return ordered


def _provenance(ordered: list[_Shard], sha: list[str]) -> dict[str, Any]:
    """The first shard's record, with the whole-split numbers and the shards it was merged from."""
    prov = dict(ordered[0].provenance)
    extract = dict(prov.get("extract") or {})
    extract.pop("shard", None)
    extract["n_rows"] = dict(ordered[0].totals)
    prov["extract"] = extract
    network: dict[str, Any] = {}
    for key in prov.get("network") or {}:  # row-weighted means of the per-shard losses and accuracies
        split = next((s for s in extract["n_rows"] if key.startswith(f"{s}_")), None)
        values = [Fields(sh.provenance, f"{sh.path}: provenance").table("network").raw(key) for sh in ordered]
        known = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if split is None or len(known) != len(values):
            network[key] = None
            continue
        n = [sh.n_rows[split] for sh in ordered]
        network[key] = sum(v * m for v, m in zip(known, n, strict=True)) / max(1, sum(n))
    prov["network"] = network
    prov["merge"] = {
        "count": len(ordered),
        "rule": ordered[0].rule,
        "shards": [{"path": str(sh.path), "sha256": h} for sh, h in zip(ordered, sha, strict=True)],
    }
    return prov


def _copy_split(ordered: list[_Shard], split: str, w: CodeWriter, block_rows: int) -> None:
    """Copy one split, opening one shard at a time."""
    weights: dict[str, list[tuple[float, int]]] = {}
    fit: list[np.ndarray | None] = []
    for sh in ordered:
        with open_codes(sh.path) as cf:
            labels, pred, idx = cf.labels(split), cf.predictions(split), cf.indices(split)
            for start, block in cf.iter_codes(split, block_rows=block_rows):
                stop = start + block.shape[0]
                w.append(split, block, labels[start:stop], pred[start:stop], idx[start:stop])
            for key, value in cf.split_info(split).items():
                weights.setdefault(key, []).append((value, cf.n_rows(split)))
            fit.append(cf.training_labels(split))
        check_interrupted()
    if all(f is not None for f in fit):
        w.add_column(split, "training_labels", np.concatenate([f for f in fit if f is not None]))
    numbers = {
        k: sum(v * n for v, n in vals) / max(1, sum(n for _, n in vals))
        for k, vals in weights.items()
        if len(vals) == len(ordered)
    }
    if numbers:
        w.set_split_info(split, **numbers)


def _read_all(paths: Sequence[str | Path]) -> tuple[list[_Shard], list[LayerInfo]]:
    """Every shard's records, each file opened and closed in turn (never more than one open)."""
    shards: list[_Shard] = []
    layers: list[LayerInfo] = []
    for p in paths:
        with open_codes(p) as cf:
            shards.append(_read_shard(cf))
            layers = layers or cf.layers
        check_interrupted()
    return shards, layers


@contextlib.contextmanager
def _interrupts() -> Iterator[None]:
    """An interrupt that lands inside an h5py callback arrives as SystemError: make it KeyboardInterrupt."""
    try:
        yield
    except SystemError as exc:
        if interrupted_error(exc):
            raise KeyboardInterrupt from None
        raise
    check_interrupted()


def merge_shards(
    paths: Sequence[str | Path],
    output: str | Path,
    *,
    block_rows: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Merge the shard files of one extraction into ``output`` (atomic: all or nothing).

    Parameters
    ----------
    paths : sequence of str or Path
        Every shard 0..N-1 of one ``extract --shard I/N`` run, in any order (at most
        :data:`MAX_SHARDS`). Shards are opened one at a time, so any number of them merges
        under any limit of open files.
    output : str or Path
        The merged code file; nothing appears under this name unless the merge completes.
    block_rows : int, optional
        Rows copied at a time (default: about 32 MiB of codes).

    Returns
    -------
    Path

    Raises
    ------
    InvalidParameterError
        A file that is not a shard, shards of different extractions, two shards with one
        index (overlap), or a missing shard.
    FormatError
        A shard whose records lie (its index, count, rows or splits of the wrong type or
        out of range); the message names the file and the field.
    """
    say = log or (lambda _m: None)
    if not paths:
        msg = "merge needs the shard files of one extraction."
        raise InvalidParameterError(msg)
    if len(paths) > MAX_SHARDS:
        msg = f"merge takes at most {MAX_SHARDS} shards. Got {len(paths)} instead."
        raise InvalidParameterError(msg)
    out = resolve_output(output, inputs=paths)  # never over a shard
    with _interrupts():
        shards, layers = _read_all(paths)
        ordered = _check(shards)
        sha = [file_sha256(sh.path) for sh in ordered]
        first = ordered[0]
        with CodeWriter(out, layers, _provenance(ordered, sha), compression=first.compression) as w:
            for split in first.totals:
                say(f"merging split {split!r} from {len(ordered)} shards")
                _copy_split(ordered, split, w, block_rows or first.block_rows)
    return out
