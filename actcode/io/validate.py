"""Validation of neural-code files, cheapest checks first, one FormatError leaf per rule."""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from actcode.codes import LayerInfo, pad_mask
from actcode.errors import (
    ActcodeFileNotFoundError,
    DtypeError,
    EmptySplitError,
    FileInUseError,
    ForeignFileError,
    FormatError,
    LabelRangeError,
    MissingElementError,
    NewerMinorVersionWarning,
    NotHDF5Error,
    OldFormatWarning,
    PaddingBitsError,
    ShapeError,
    StorageError,
    UnknownElementError,
    VersionTooNewError,
    VersionTooOldError,
)
from actcode.io import spec
from actcode.io.contained import check_self_contained
from actcode.io.provenance import parse_provenance, strict_json

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: What HDF5 says when another process holds the file open for writing (file locking, or the
#: consistency flags of a file being written with SWMR-capable superblocks).
_IN_USE = re.compile(r"unable to lock file|errno = 11\b|already open for write|file is already open", re.I)


@dataclass
class Header:
    """What validation learned about a file; the reader hands it out."""

    path: Path
    version: tuple[int, int, int]
    layers: list[LayerInfo]
    n_units: int
    n_bytes: int
    splits: dict[str, int]
    provenance: dict[str, Any]
    results: list[str] = field(default_factory=list)
    split_info: dict[str, dict[str, float]] = field(default_factory=dict)


def open_h5(path: str | Path) -> h5py.File:
    """Open ``path`` read-only after checking that it exists and looks like HDF5."""
    p = Path(path)
    if not p.exists():
        msg = f"{p}: no such file. Check the path (inputs are read from arguments or stdin, one per line)."
        raise ActcodeFileNotFoundError(msg)
    if p.is_dir():
        msg = f"{p}: is a folder, not a neural-code file."
        raise NotHDF5Error(msg)
    size = p.stat().st_size
    if size == 0:
        msg = f"{p}: the file is empty (0 bytes), not an HDF5 neural-code file."
        raise NotHDF5Error(msg)
    with p.open("rb") as fh:
        found = False
        offset = 0
        while offset + 8 <= size and not found:
            fh.seek(offset)
            found = fh.read(8) == _HDF5_SIGNATURE
            offset = 512 if offset == 0 else offset * 2
    if not found:
        msg = (
            f"{p}: not an HDF5 file (no HDF5 signature). actcode reads neural-code files written by 'actcode "
            "extract'."
        )
        raise NotHDF5Error(msg)
    try:
        return h5py.File(p, "r")
    except OSError as exc:
        if _IN_USE.search(str(exc)):
            msg = (
                f"{p}: the file is in use: another process holds it open for writing (HDF5 file lock). "
                "Wait for that process to finish, then run the command again."
            )
            raise FileInUseError(msg) from None
        msg = (
            f"{p}: HDF5 cannot open the file; it is truncated or damaged ({_short(exc)}). Re-create or "
            "re-copy it."
        )
        raise NotHDF5Error(msg) from None


#: What h5py raises on a damaged file: every reader turns these into FormatError.
H5_ERRORS: tuple[type[BaseException], ...] = (OSError, RuntimeError, ValueError, TypeError, KeyError)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160]


def damaged_file_error(path: Path, exc: BaseException) -> FormatError:
    """The one FormatError of a file that h5py cannot read: it names the file and h5py's reason."""
    msg = f"{path}: the file is damaged and cannot be read ({_short(exc)}). Re-create or re-copy it."
    return FormatError(msg)


def _attr(obj: h5py.HLObject, name: str, where: str) -> Any:
    if name not in obj.attrs:
        msg = f"{where} is missing the required attribute '{name}'."
        raise MissingElementError(msg)
    try:
        value = obj.attrs[name]
    except (OSError, TypeError, ValueError) as exc:
        msg = f"{where} attribute '{name}' cannot be read ({_short(exc)})."
        raise DtypeError(msg) from None
    return value


def _str_attr(obj: h5py.HLObject, name: str, where: str) -> str:
    value = _attr(obj, name, where)
    info = h5py.check_string_dtype(obj.attrs.get_id(name).dtype)
    if info is None or info.length is not None or info.encoding != "utf-8":
        msg = f"{where} attribute '{name}' must be a variable-length UTF-8 string."
        raise DtypeError(msg)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        msg = f"{where} attribute '{name}' must be a string. Got {type(value).__name__} instead."
        raise DtypeError(msg)
    return value


def _int_attr(obj: h5py.HLObject, name: str, where: str) -> int:
    value = _attr(obj, name, where)
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if not isinstance(value, int | np.integer) or isinstance(value, bool):
        msg = f"{where} attribute '{name}' must be an integer. Got {value!r} instead."
        raise DtypeError(msg)
    return int(value)


def _member(group: h5py.Group, name: str, where: str, kind: type) -> Any:
    try:
        obj = group.get(name)
    except H5_ERRORS as exc:
        msg = f"{where}/{name} cannot be read ({_short(exc)}); the file is damaged."
        raise FormatError(msg) from None
    if obj is None:
        msg = f"{where} is missing the required {'group' if kind is h5py.Group else 'dataset'} '{name}'."
        raise MissingElementError(msg)
    if not isinstance(obj, kind):
        msg = f"{where}/{name} must be {'a group' if kind is h5py.Group else 'a dataset'}."
        raise MissingElementError(msg)
    return obj


def check_identity(f: h5py.File, p: Path) -> tuple[int, int, int]:
    """Check the root identification and the version policy; return the file's version."""
    where = f"{p}: the root group"
    if spec.ENCODING_TYPE not in f.attrs:
        msg = (
            f"{p}: an HDF5 file but not an actcode neural-code file (the root has no '{spec.ENCODING_TYPE}' "
            f"attribute). Write code files with 'actcode extract'."
        )
        raise ForeignFileError(msg)
    etype = _str_attr(f, spec.ENCODING_TYPE, where)
    if etype != spec.CODES_TYPE:
        msg = f"{p}: an HDF5 file of another kind: encoding-type is {etype!r}, expected {spec.CODES_TYPE!r}."
        raise ForeignFileError(msg)
    text = _str_attr(f, spec.ENCODING_VERSION, where)
    try:
        version = spec.parse_version(text)
    except ValueError:
        msg = f"{where} attribute 'encoding-version' must be MAJOR.MINOR.PATCH. Got {text!r} instead."
        raise DtypeError(msg) from None
    ours = spec.parse_version(spec.FORMAT_VERSION)
    if version[0] > max(spec.READABLE_MAJORS):
        msg = (
            f"{p}: format version {text} is newer than this actcode reads (up to {ours[0]}.x). "
            f"Upgrade actcode to read it."
        )
        raise VersionTooNewError(msg)
    if version[0] not in spec.READABLE_MAJORS:
        msg = (
            f"{p}: format version {text} is older than any this actcode reads (major {spec.READABLE_MAJORS})."
        )
        raise VersionTooOldError(msg)
    if version[1] > ours[1]:
        warnings.warn(
            f"{p}: format version {text} is newer than {spec.FORMAT_VERSION}; additions this actcode does "
            "not know are ignored.",
            NewerMinorVersionWarning,
            stacklevel=3,
        )
    elif version[1] < ours[1]:
        warnings.warn(f"{p}: reading older format version {text}.", OldFormatWarning, stacklevel=3)
    return version


def _read_column(ds: h5py.Dataset, kind: str, where: str, n: int | None) -> np.ndarray:
    if ds.ndim != 1:
        msg = f"{where} must be 1-D. Got shape {ds.shape} instead."
        raise ShapeError(msg)
    if n is not None and ds.shape[0] != n:
        msg = f"{where} must have {n} entries (one per row of the table). Got {ds.shape[0]} instead."
        raise ShapeError(msg)
    if kind == "str":
        info = h5py.check_string_dtype(ds.dtype)
        if info is None or info.length is not None or info.encoding != "utf-8":
            msg = f"{where} must hold variable-length UTF-8 strings. Got dtype {ds.dtype} instead."
            raise DtypeError(msg)
        values = ds.asstr()[()]
        return np.array([str(v) for v in values], dtype=object)
    if np.dtype(kind) != ds.dtype:
        msg = f"{where} must have dtype {kind}. Got {ds.dtype} instead."
        raise DtypeError(msg)
    return np.asarray(ds[()])


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_layer_strings(cols: dict[str, np.ndarray], i: int, lw: str) -> None:
    """kind and shape are non-empty and bounded like names; call_index counts calls (>= 0)."""
    for col in ("kind", "shape"):
        text = cols[col][i]
        if not text or len(text) > spec.MAX_NAME_LENGTH:
            limit = spec.MAX_NAME_LENGTH
            msg = f"{lw}: {col} must be a non-empty string of at most {limit} characters. Got {len(text)}."
            raise FormatError(msg)
    if int(cols["call_index"][i]) < 0:
        got = int(cols["call_index"][i])
        msg = f"{lw}: call_index counts earlier calls of the module, so it must be >= 0. Got {got}."
        raise FormatError(msg)


def check_layers(f: h5py.File, p: Path) -> tuple[list[LayerInfo], int, int]:
    """Check the layer table against the root's n_units and n_bytes."""
    g = _member(f, "layers", f"{p}: the root group", h5py.Group)
    where = f"{p}: /layers"
    cols: dict[str, np.ndarray] = {}
    n: int | None = None
    for name, kind in spec.LAYER_COLUMNS.items():
        ds = _member(g, name, where, h5py.Dataset)
        if n is None:
            if ds.ndim != 1:
                msg = f"{where}/{name} must be 1-D. Got shape {ds.shape} instead."
                raise ShapeError(msg)
            n = int(ds.shape[0])
            if n == 0:
                msg = f"{where} has no layers; a code file needs at least one activation site."
                raise ShapeError(msg)
            if n > 1_000_000:
                msg = f"{where} claims {n} layers; refusing a table that large."
                raise ShapeError(msg)
        cols[name] = _read_column(ds, kind, f"{where}/{name}", n)
    assert n is not None
    layers: list[LayerInfo] = []
    offset = 0
    seen: set[str] = set()
    for i in range(n):
        lname = cols["name"][i]
        lw = f"{where} row {i} ({lname!r})"
        if not lname or len(lname) > spec.MAX_NAME_LENGTH or lname in seen:
            msg = (
                f"{lw}: layer names must be unique non-empty strings of at most {spec.MAX_NAME_LENGTH} "
                "characters."
            )
            raise FormatError(msg)
        seen.add(lname)
        _check_layer_strings(cols, i, lw)
        try:
            shape = json.loads(cols["shape"][i])
            if not isinstance(shape, list) or not shape or not all(_positive_int(s) for s in shape):
                raise ValueError
        except ValueError:
            msg = (
                f'{lw}: shape must be a JSON list of positive integers such as "[16, 8, 8]". Got '
                f"{cols['shape'][i]!r}."
            )
            raise ShapeError(msg) from None
        units = math.prod(shape)
        if int(cols["n_units"][i]) != units:
            msg = (
                f"{lw}: n_units must equal the product of shape {shape} = {units}. Got "
                f"{int(cols['n_units'][i])} instead."
            )
            raise ShapeError(msg)
        if int(cols["n_bytes"][i]) != (units + 7) // 8:
            msg = (
                f"{lw}: n_bytes must be ceil(n_units/8) = {(units + 7) // 8}. Got {int(cols['n_bytes'][i])} "
                "instead."
            )
            raise ShapeError(msg)
        if int(cols["byte_offset"][i]) != offset:
            msg = (
                f"{lw}: byte_offset must be {offset} (segments are back to back). Got "
                f"{int(cols['byte_offset'][i])} instead."
            )
            raise ShapeError(msg)
        layers.append(
            LayerInfo(lname, str(cols["kind"][i]), tuple(shape), offset, int(cols["call_index"][i]))
        )
        offset += (units + 7) // 8
    n_units = _int_attr(f, "n_units", f"{p}: the root group")
    n_bytes = _int_attr(f, "n_bytes", f"{p}: the root group")
    total = sum(layer.n_units for layer in layers)
    if n_units != total:
        msg = f"{p}: root attribute n_units must be the layers' total {total}. Got {n_units} instead."
        raise ShapeError(msg)
    if n_bytes != offset:
        msg = f"{p}: root attribute n_bytes must be the layers' total {offset}. Got {n_bytes} instead."
        raise ShapeError(msg)
    return layers, n_units, n_bytes


def check_storage(ds: h5py.Dataset, where: str) -> None:
    """Refuse foreign filters, huge chunks, and datasets that claim more than they store."""
    plist = ds.id.get_create_plist()
    filters = set()
    for i in range(plist.get_nfilters()):
        code = plist.get_filter(i)[0]
        filters.add({1: "gzip", 2: "shuffle", 3: "fletcher32"}.get(code, f"filter {code}"))
    bad = filters - spec.ALLOWED_FILTERS
    if bad:
        msg = f"{where} uses {sorted(bad)}; the format allows only deflate (gzip), shuffle and fletcher32."
        raise FormatError(msg)
    itemsize = ds.dtype.itemsize
    if ds.chunks is not None:
        chunk_bytes = math.prod(ds.chunks) * itemsize
        if chunk_bytes > spec.MAX_CHUNK_BYTES:
            msg = f"{where} has chunks of {chunk_bytes} bytes; at most {spec.MAX_CHUNK_BYTES} are allowed."
            raise StorageError(msg)
        expected = (
            math.prod(math.ceil(s / c) for s, c in zip(ds.shape, ds.chunks, strict=True)) if ds.size else 0
        )
        stored = ds.id.get_num_chunks()
        if stored != expected:
            msg = (
                f"{where} claims shape {ds.shape} but stores {stored} of its {expected} chunks; "
                f"the file is truncated or forged. Re-create it."
            )
            raise StorageError(msg)
    else:
        need = ds.size * itemsize
        have = ds.id.get_storage_size()
        if have < need:
            msg = (
                f"{where} claims shape {ds.shape} ({need} bytes) but stores {have} bytes; the file is "
                "truncated or forged."
            )
            raise StorageError(msg)


def check_split_info(sg: h5py.Group, where: str) -> dict[str, float]:
    """The optional numeric attributes of a split (the network's loss and accuracy on it)."""
    info: dict[str, float] = {}
    for key in spec.SPLIT_NUMBER_ATTRS:
        if key in sg.attrs:
            value = sg.attrs[key]
            if isinstance(value, np.ndarray) and value.shape == ():
                value = value[()]
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                msg = f"{where} attribute '{key}' must be a number. Got {value!r} instead."
                raise DtypeError(msg)
            info[key] = float(value)
    return info


def check_splits(f: h5py.File, p: Path, n_bytes: int, version: tuple[int, int, int]) -> dict[str, int]:
    """Check every split group; return ``{split: n_rows}``."""
    g = _member(f, "splits", f"{p}: the root group", h5py.Group)
    if len(g) == 0:
        msg = f"{p}: /splits holds no split; a code file needs at least one (train, test, random, ...)."
        raise MissingElementError(msg)
    out: dict[str, int] = {}
    for name in g:
        where = f"{p}: /splits/{name}"
        if not re.match(spec.SPLIT_NAME_PATTERN, name):
            msg = f"{where}: split names must match {spec.SPLIT_NAME_PATTERN}."
            raise FormatError(msg)
        sg = _member(g, name, f"{p}: /splits", h5py.Group)
        codes = _member(sg, "codes", where, h5py.Dataset)
        if codes.dtype != np.uint8:
            msg = f"{where}/codes must have dtype uint8. Got {codes.dtype} instead."
            raise DtypeError(msg)
        if codes.ndim != 2 or codes.shape[1] != n_bytes:
            msg = (
                f"{where}/codes must have shape (n_samples, {n_bytes}) for the layer table. Got "
                f"{codes.shape} instead."
            )
            raise ShapeError(msg)
        n = int(codes.shape[0])
        if n == 0:
            msg = f"{where}/codes has no rows; an empty split is not allowed. Leave the split out instead."
            raise EmptySplitError(msg)
        if codes.chunks is None or codes.chunks[1] != n_bytes:
            msg = (
                f"{where}/codes must be chunked by whole rows, chunk shape (r, {n_bytes}). "
                f"Got {'contiguous storage' if codes.chunks is None else f'chunks {codes.chunks}'} instead."
            )
            raise StorageError(msg)
        check_storage(codes, f"{where}/codes")
        for col in spec.SPLIT_DATASETS[1:] + tuple(c for c in spec.OPTIONAL_SPLIT_DATASETS if c in sg):
            ds = _member(sg, col, where, h5py.Dataset)
            if ds.dtype != np.int64:
                msg = f"{where}/{col} must have dtype int64. Got {ds.dtype} instead."
                raise DtypeError(msg)
            if ds.shape != (n,):
                msg = f"{where}/{col} must have shape ({n},), one entry per code row. Got {ds.shape} instead."
                raise ShapeError(msg)
            check_storage(ds, f"{where}/{col}")
        known = set(spec.SPLIT_DATASETS) | set(spec.OPTIONAL_SPLIT_DATASETS)
        extra = sorted(set(sg) - known)
        if extra and version[1] <= spec.parse_version(spec.FORMAT_VERSION)[1]:
            msg = f"{where} holds elements the format does not define: {extra}."
            raise UnknownElementError(msg)
        out[name] = n
    return out


def check_results(f: h5py.File, p: Path, version: tuple[int, int, int]) -> list[str]:
    """Check the optional /results group; return the result kinds present."""
    if "results" not in f:
        return []
    g = _member(f, "results", f"{p}: the root group", h5py.Group)
    kinds = []
    ours_minor = spec.parse_version(spec.FORMAT_VERSION)[1]
    for kind in g:
        where = f"{p}: /results/{kind}"
        if kind not in spec.RESULT_KIND_TYPES:
            if version[1] <= ours_minor:
                msg = f"{where}: unknown result kind; the format defines {sorted(spec.RESULT_KIND_TYPES)}."
                raise UnknownElementError(msg)
            continue
        kg = _member(g, kind, f"{p}: /results", h5py.Group)
        etype = _str_attr(kg, spec.ENCODING_TYPE, where)
        if etype != spec.RESULT_KIND_TYPES[kind]:
            msg = (
                f"{where} attribute encoding-type must be {spec.RESULT_KIND_TYPES[kind]!r}. Got {etype!r} "
                "instead."
            )
            raise FormatError(msg)
        rv = _str_attr(kg, spec.ENCODING_VERSION, where)
        try:
            rmajor = spec.parse_version(rv)[0]
        except ValueError:
            msg = f"{where} attribute encoding-version must be MAJOR.MINOR.PATCH. Got {rv!r} instead."
            raise DtypeError(msg) from None
        if rmajor > spec.parse_version(spec.RESULT_VERSION)[0]:
            msg = f"{where}: results version {rv} is newer than this actcode reads. Upgrade actcode."
            raise VersionTooNewError(msg)
        for name in ("actcode_version", "created"):
            _str_attr(kg, name, where)
        try:
            params = strict_json(_str_attr(kg, "params", where))
        except ValueError as exc:
            msg = f"{where} attribute 'params' is not valid JSON ({exc})."
            raise FormatError(msg) from None
        if not isinstance(params, dict):
            msg = f"{where} attribute 'params' must be a JSON object. Got {type(params).__name__} instead."
            raise FormatError(msg)
        tg = _member(kg, "table", where, h5py.Group)
        n = None
        for col, ckind in spec.RESULT_COLUMNS.items():
            ds = _member(tg, col, f"{where}/table", h5py.Dataset)
            n = ds.shape[0] if n is None and ds.ndim == 1 else n
            if ds.size > 10_000_000:
                msg = f"{where}/table/{col} claims {ds.size} rows; refusing a table that large."
                raise ShapeError(msg)
            check_storage(ds, f"{where}/table/{col}")
            _read_column(ds, ckind, f"{where}/table/{col}", n)
        kinds.append(kind)
    return kinds


def read_header(f: h5py.File, path: str | Path) -> Header:
    """Run every structural check, cheapest first, and return the header."""
    p = Path(path)
    try:
        version = check_identity(f, p)
        check_self_contained(f, p)  # before anything else is read: nothing may come from elsewhere
        where = f"{p}: the root group"
        for name in spec.ROOT_ATTRS:
            _attr(f, name, where)
        bitorder = _str_attr(f, "bitorder", where)
        if bitorder != spec.BITORDER:
            msg = f"{where} attribute 'bitorder' must be {spec.BITORDER!r}. Got {bitorder!r} instead."
            raise FormatError(msg)
        for name in spec.ROOT_MEMBERS:
            _member(f, name, where, h5py.Group)
        extra = sorted(set(f) - set(spec.ROOT_MEMBERS) - set(spec.OPTIONAL_ROOT_MEMBERS))
        if extra and version[1] <= spec.parse_version(spec.FORMAT_VERSION)[1]:
            msg = f"{where} holds elements the format does not define: {extra}."
            raise UnknownElementError(msg)
        layers, n_units, n_bytes = check_layers(f, p)
        splits = check_splits(f, p, n_bytes, version)
        split_info = {name: check_split_info(f["splits"][name], f"{p}: /splits/{name}") for name in splits}
        provenance = parse_provenance(_attr(f, "provenance", where), where=f"{p}: provenance")
        results = check_results(f, p, version)
    except FormatError:
        raise
    except H5_ERRORS as exc:
        raise damaged_file_error(p, exc) from None
    return Header(p, version, layers, n_units, n_bytes, splits, provenance, results, split_info)


def check_label_range(values: np.ndarray, where: str) -> None:
    """Raise LabelRangeError unless every value is in [LABEL_MIN, LABEL_MAX] (-1 means no label)."""
    if values.size == 0:
        return
    lo, hi = int(values.min()), int(values.max())
    if lo < spec.LABEL_MIN or hi > spec.LABEL_MAX:
        bad = lo if lo < spec.LABEL_MIN else hi
        msg = (
            f"{where} holds the class {bad}; classes must be integers from 0 to {spec.LABEL_MAX}, "
            f"or {spec.LABEL_MIN} for no label. Renumber the classes (for example with numpy.unique)."
        )
        raise LabelRangeError(msg)


def check_label_columns(f: h5py.File, path: Path, split: str) -> None:
    """Check the range of every class column of a split (labels, predictions, training_labels)."""
    sg = f["splits"][split]
    for col in spec.LABEL_COLUMNS:
        if col in sg:
            column = sg[col]
            for start in range(0, column.shape[0], 1 << 20):
                check_label_range(column[start : start + (1 << 20)], f"{path}: /splits/{split}/{col}")


def check_padding_block(block: np.ndarray, mask: np.ndarray, where: str, start: int) -> None:
    """Raise PaddingBitsError if any pad bit of ``block`` is set."""
    if not mask.any():
        return
    bad = (block & mask).any(axis=1)
    if bad.any():
        row = start + int(np.argmax(bad))
        msg = f"{where} row {row} has non-zero pad bits; pad bits at the end of each layer segment must be 0."
        raise PaddingBitsError(msg)


def validate(path: str | Path, *, full: bool = True) -> Header:
    """Validate a neural-code file against formats/codes.md.

    Structural checks run first (identification, version, required elements, dtypes and
    shapes, storage, provenance, results); with ``full`` every row's pad bits are read and
    checked too. Raises the first :class:`~actcode.errors.FormatError` found.
    """
    with open_h5(path) as f:
        header = read_header(f, path)
        if full:
            mask = pad_mask(header.layers)
            for split, n in header.splits.items():
                where = f"{header.path}: /splits/{split}/codes"
                step = max(1, spec.CHUNK_TARGET_BYTES * 8 // max(1, header.n_bytes))
                try:
                    ds = f["splits"][split]["codes"]
                    for start in range(0, n, step):
                        check_padding_block(ds[start : start + step], mask, where, start)
                    check_label_columns(f, header.path, split)
                except FormatError:
                    raise
                except H5_ERRORS as exc:
                    msg = f"{where} cannot be read ({_short(exc)}); the file is damaged."
                    raise FormatError(msg) from None
    return header
