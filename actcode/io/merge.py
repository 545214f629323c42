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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actcode.errors import InvalidParameterError
from actcode.io.atomic import resolve_output
from actcode.io.codes import CodeFile, CodeWriter, open_codes
from actcode.io.provenance import file_sha256

__all__ = ["merge_shards"]

#: extract settings that may differ between shards (where and how fast they ran).
_PER_SHARD = ("shard", "n_rows", "batch_size", "device", "split_info")


def _shard(cf: CodeFile) -> dict[str, Any]:
    rec = (cf.provenance.get("extract") or {}).get("shard")
    if not isinstance(rec, dict) or not {"index", "count", "splits"} <= set(rec):
        msg = (
            f"{cf.path}: is not a shard (its provenance has no extract.shard); "
            "merge only takes the files of extract --shard I/N."
        )
        raise InvalidParameterError(msg)
    return rec


def _identity(cf: CodeFile) -> dict[str, Any]:
    """What must be equal in every shard of one extraction."""
    prov = cf.provenance
    extract = {k: v for k, v in (prov.get("extract") or {}).items() if k not in _PER_SHARD}
    shard = _shard(cf)
    return {
        "the checkpoint (provenance inputs)": [i.get("sha256") for i in prov.get("inputs") or []],
        "the layer table": [(la.name, la.kind, la.shape, la.n_units) for la in cf.layers],
        "the splits": cf.splits,
        "the shard count": shard["count"],
        "the split sizes": {s: v.get("n_rows") for s, v in shard["splits"].items()},
        "the extraction settings": extract,
        "the factors": prov.get("factors"),
    }


def _check(files: list[CodeFile]) -> list[CodeFile]:
    """The shards in index order, or one clear error: foreign, overlapping, missing or inconsistent."""
    ref = _identity(files[0])
    for cf in files[1:]:
        for what, value in _identity(cf).items():
            if value != ref[what]:
                msg = (
                    f"{cf.path}: is not a shard of the same extraction as {files[0].path}: "
                    f"{what} differ{'s' if not what.endswith('s') else ''}."
                )
                raise InvalidParameterError(msg)
    count = int(ref["the shard count"])
    by_index: dict[int, CodeFile] = {}
    for cf in files:
        i = int(_shard(cf)["index"])
        if i in by_index:
            msg = f"{cf.path} and {by_index[i].path} are both shard {i}/{count}: their rows overlap."
            raise InvalidParameterError(msg)
        by_index[i] = cf
    missing = [i for i in range(count) if i not in by_index]
    if missing:
        msg = (
            f"shard {missing[0]}/{count} is missing ({len(missing)} of {count} missing); "
            f"merge needs every shard 0..{count - 1} of the extraction."
        )
        raise InvalidParameterError(msg)
    ordered = [by_index[i] for i in range(count)]
    for split, info in _shard(ordered[0])["splits"].items():
        at = 0
        for cf in ordered:
            lo, hi = _shard(cf)["splits"][split]["rows"]
            if lo != at or cf.n_rows(split) != hi - lo:
                msg = (
                    f"{cf.path}: split {split!r} holds rows {lo}..{hi} ({cf.n_rows(split)} rows), "
                    f"but rows from {at} were expected."
                )
                raise InvalidParameterError(msg)
            at = hi
        if at != info["n_rows"]:
            msg = f"the shards cover rows 0..{at} of split {split!r}, which has {info['n_rows']} rows."
            raise InvalidParameterError(msg)
    return ordered


def _provenance(ordered: list[CodeFile], sha: list[str]) -> dict[str, Any]:
    """The first shard's record, with the whole-split numbers and the shards it was merged from."""
    prov = dict(ordered[0].provenance)
    extract = dict(prov.get("extract") or {})
    shards = [_shard(cf) for cf in ordered]
    extract.pop("shard", None)
    extract["n_rows"] = {s: v["n_rows"] for s, v in shards[0]["splits"].items()}
    prov["extract"] = extract
    network: dict[str, Any] = {}
    for key in (prov.get("network") or {}):  # row-weighted means of the per-shard losses and accuracies
        split = next((s for s in extract["n_rows"] if key.startswith(f"{s}_")), None)
        values = [(cf.provenance.get("network") or {}).get(key) for cf in ordered]
        known = [float(v) for v in values if v is not None]
        if split is None or len(known) != len(values):
            network[key] = None
            continue
        n = [cf.n_rows(split) for cf in ordered]
        network[key] = sum(v * m for v, m in zip(known, n, strict=True)) / sum(n)
    prov["network"] = network
    prov["merge"] = {
        "count": len(ordered),
        "rule": shards[0].get("rule"),
        "shards": [{"path": str(cf.path), "sha256": h} for cf, h in zip(ordered, sha, strict=True)],
    }
    return prov


def _copy_split(ordered: list[CodeFile], split: str, w: CodeWriter, block_rows: int) -> None:
    weights: dict[str, list[tuple[float, int]]] = {}
    fit = [cf.training_labels(split) for cf in ordered]
    for cf in ordered:
        labels, pred, idx = cf.labels(split), cf.predictions(split), cf.indices(split)
        for start, block in cf.iter_codes(split, block_rows=block_rows):
            stop = start + block.shape[0]
            w.append(split, block, labels[start:stop], pred[start:stop], idx[start:stop])
        for key, value in cf.split_info(split).items():
            weights.setdefault(key, []).append((value, cf.n_rows(split)))
    if all(f is not None for f in fit):
        w.add_column(split, "training_labels", np.concatenate([f for f in fit if f is not None]))
    numbers = {
        k: sum(v * n for v, n in vals) / sum(n for _, n in vals)
        for k, vals in weights.items()
        if len(vals) == len(ordered)
    }
    if numbers:
        w.set_split_info(split, **numbers)


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
        Every shard 0..N-1 of one ``extract --shard I/N`` run, in any order.
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
    """
    say = log or (lambda _m: None)
    if not paths:
        msg = "merge needs the shard files of one extraction."
        raise InvalidParameterError(msg)
    out = resolve_output(output, inputs=paths)  # never over a shard
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(open_codes(p)) for p in paths]
        ordered = _check(files)
        sha = [file_sha256(cf.path) for cf in ordered]
        first = ordered[0]
        compression = first._f["splits"][first.splits[0]]["codes"].compression
        with CodeWriter(out, first.layers, _provenance(ordered, sha), compression=compression) as w:
            for split in first.splits:
                say(f"merging split {split!r} from {len(ordered)} shards")
                _copy_split(ordered, split, w, block_rows or first.block_rows())
    return out
