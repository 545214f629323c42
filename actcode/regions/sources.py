"""The network and inputs behind a code file, rebuilt from its provenance and checked against its codes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from actcode.config import SEED_MAX
from actcode.errors import FormatError, InvalidParameterError, ProvenanceError
from actcode.extraction.run import make_recorder
from actcode.extraction.sites import SITE_MODES, Site, exact_fp32, find_sites
from actcode.io.provenance import ProvenanceFields
from actcode.sizes import check_allocation

__all__ = ["FileData", "FileModel", "file_data", "load_file_model", "site_mode", "split_inputs"]

#: Rows per split re-encoded to check that the model and data are those of the file.
CHECK_ROWS = 32


@dataclass
class FileModel:
    """A code file's network (float32, eval mode) with its sites matched to the file's layers.

    Attributes
    ----------
    model : torch.nn.Module
    sites : list of Site
        Every activation site of the model, in forward order.
    file_sites : list of int
        For each layer of the file, the index of its site in ``sites``.
    dataset : FileData
    source : dict
        Where the model came from (for the results' parameters).
    mode : {"ops", "modules"}
        How the file's extraction found its sites (:func:`site_mode`); ``sites`` were found
        the same way, so every analysis reads the bits the file's codes hold.
    """

    model: nn.Module
    sites: list[Site]
    file_sites: list[int]
    dataset: FileData
    source: dict[str, Any]
    mode: str = "modules"


@dataclass
class FileData:
    """The inputs behind a code file's rows: a source rebuilt from the provenance.

    Attributes
    ----------
    name : str
        The source (``digits``, ``imagefolder:DIR``, ``npy:FILE``, ...).
    input_shape : tuple of int
    n_classes : int
    getters : dict of str to callable
        Per split that can be rebuilt, the inputs at an array of source indices.
    sizes : dict of str to int
        Rows of each split's source: a file's indices must lie below.
    where : str
        The code file (for messages).
    """

    name: str
    input_shape: tuple[int, ...]
    n_classes: int
    getters: dict[str, Callable[[np.ndarray], torch.Tensor]]
    sizes: dict[str, int]
    where: str

    def inputs(self, split: str, idx: np.ndarray) -> torch.Tensor:
        """The inputs at the source indices ``idx`` of ``split`` (float32); a lying index is exit 3."""
        if split not in self.getters:
            msg = (
                f"{self.where}: split {split!r} cannot be rebuilt from {self.name} "
                f"(it gives {', '.join(self.getters)})."
            )
            raise InvalidParameterError(msg)
        n = self.sizes[split]
        idx = np.asarray(idx, np.int64)
        bad = idx[(idx < 0) | (idx >= n)]
        if bad.size:
            msg = (
                f"{self.where}: the indices of split {split!r} must lie in 0..{n - 1} (the rows of "
                f"{self.name}). Got {int(bad[0])} instead."
            )
            raise FormatError(msg)
        per_row = 4 * int(np.prod(self.input_shape))
        check_allocation(per_row * idx.size, f"the inputs of split {split!r}", from_file=self.where)
        if idx.size == 0:
            return torch.zeros((0, *self.input_shape))
        return torch.as_tensor(self.getters[split](idx)).to(torch.float32)


#: The data sources :func:`file_data` rebuilds, besides the study datasets.
REBUILT_PREFIXES = ("imagefolder", "npy")


def file_data(cf: Any, *, dataset: str | None = None, data_root: str | Path | None = None) -> FileData:
    """The data source of a code file, rebuilt as ``extract`` read it (same preprocessing).

    ``dataset`` replaces the recorded source (``digits``, ``cifar10``, a ``.npz``,
    ``imagefolder:DIR``, ``npy:FILE``); ``data_root`` its folder (for ``npy:``, the folder of
    the file). A source that cannot be rebuilt is refused, naming it.
    """
    fields = ProvenanceFields(cf.provenance, where=cf.path)
    name = dataset or fields.text("data.name") or fields.text("data.dataset")
    if not name:
        msg = f"{cf.path}: the provenance records no data source to rebuild the inputs from; give --dataset."
        raise InvalidParameterError(msg)
    kind, sep, rest = name.partition(":")
    if sep and kind == "imagefolder":
        return _image_data(fields, str(_locate(rest, cf.path)) if data_root is None else str(data_root))
    if sep and kind == "npy":
        path = _locate(rest, cf.path) if data_root is None else Path(data_root) / Path(rest).name
        labels = [cf.labels(sp) for sp in cf.splits]
        n_classes = max([1] + [int(y.max()) + 1 for y in labels if y.size and y.max() >= 0])
        return _npy_data(fields, path, n_classes)
    if sep and len(kind) > 1:
        known = ", ".join(f"{p}:" for p in REBUILT_PREFIXES)
        msg = (
            f"{cf.path}: the data source {name!r} cannot be rebuilt (regions rebuilds the study "
            f"datasets, a .npz and {known}); give --dataset."
        )
        raise InvalidParameterError(msg)
    return _study_data(cf, fields, name, data_root)


def _locate(recorded: str | Path, code_path: str | Path, also: list[Path] | None = None) -> Path:
    """A recorded path as it was (relative to where extract ran), else beside the code file."""
    path = Path(recorded)
    here = Path(code_path).parent
    for candidate in (path, *(also or []), here / path, here / path.name):
        if _is(candidate, "any"):
            return candidate
    return path


def _is(path: Path, kind: str) -> bool:
    """Whether a recorded path exists (as a file); a name the OS refuses (too long, ...) does not."""
    try:
        return path.is_file() if kind == "file" else path.exists()
    except (OSError, ValueError):
        return False


def _study_data(cf: Any, fields: ProvenanceFields, name: str, data_root: str | Path | None) -> FileData:
    from actcode.data import DataSpec
    from actcode.extraction.api import load_dataset_cached
    from actcode.extraction.inputs import RandomInputs

    root = str(data_root) if data_root is not None else fields.text("data.root")
    try:
        ds = load_dataset_cached(DataSpec(name, root))
    except OSError as exc:  # a name the OS refuses as a path (too long, ...): not a dataset
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        shown = name if len(name) <= 60 else name[:57] + "..."
        msg = f"{cf.path}: the data source {shown!r} cannot be loaded ({exc.strerror}); give --dataset."
        raise InvalidParameterError(msg) from None
    seed = fields.integer("extract.seed", default=0, lo=0, hi=SEED_MAX) or 0
    count = fields.integer("extract.random", default=0, lo=0, hi=1 << 62) or 0
    shape = tuple(int(v) for v in ds.input_shape)

    def random(idx: np.ndarray) -> torch.Tensor:
        m = int(idx.max()) + 1  # the stream's first m rows hold every wanted row
        check_allocation(4 * m * int(np.prod(shape)), "the random inputs drawn", from_file=str(cf.path))
        return RandomInputs(m, shape, ds.value_range, seed).head(m)[torch.as_tensor(idx)]

    getters: dict[str, Callable[[np.ndarray], torch.Tensor]] = {
        "train": lambda idx: torch.as_tensor(ds.x_train[idx]),
        "test": lambda idx: torch.as_tensor(ds.x_test[idx]),
        "random": random,
    }
    sizes = {"train": int(ds.x_train.shape[0]), "test": int(ds.x_test.shape[0]), "random": count or 1 << 62}
    return FileData(str(ds.name), shape, int(ds.n_classes), getters, sizes, str(cf.path))


def _preprocess(fields: ProvenanceFields) -> Any:
    """The recorded preprocessing of an image folder (typed: a lie is exit 3)."""
    from torchvision.transforms import InterpolationMode

    from actcode.data.preprocess import Preprocess

    base = "data.preprocess"
    if not fields.section(base):
        err = fields.error(base, "the preprocessing the images were read with", None)
        raise err
    resize = fields.integer(f"{base}.resize", default=None, lo=1, hi=1 << 14)
    crop = fields.numbers(f"{base}.crop", length=2, positive=True)
    mean = fields.numbers(f"{base}.mean", length=3)
    std = fields.numbers(f"{base}.std", length=3, positive=True)
    interp = fields.text(f"{base}.interpolation", default="bilinear", limit=32)
    if crop is None or any(c != int(c) or c > 1 << 14 for c in crop):
        err = fields.error(f"{base}.crop", "two pixel counts in 1..16384", fields.get(f"{base}.crop"))
        raise err
    if interp not in {m.value for m in InterpolationMode}:
        err = fields.error(f"{base}.interpolation", "a torchvision interpolation mode", interp)
        raise err
    if resize is None or mean is None or std is None:
        err = fields.error(base, "resize, crop, mean and std", fields.get(base))
        raise err
    c = (int(crop[0]), int(crop[1]))
    return Preprocess(resize, c, mean, std, str(interp), source="the code file's provenance")


def _image_data(fields: ProvenanceFields, root: str) -> FileData:
    from actcode.data.images import BadImageError, decode_image, scan_image_folder

    pre = _preprocess(fields)
    folder = scan_image_folder(root)

    def getter(files: tuple[Path, ...]) -> Callable[[np.ndarray], torch.Tensor]:
        def get(idx: np.ndarray) -> torch.Tensor:
            out = []
            for i in idx:
                try:
                    out.append(decode_image(files[int(i)], pre))
                except Exception as exc:  # PIL raises OSError, ValueError, ... on damaged files
                    msg = f"cannot decode the image {files[int(i)]} ({type(exc).__name__}: {exc})."
                    raise BadImageError(msg) from None
            return torch.stack(out)

        return get

    getters = {n: getter(s.files) for n, s in folder.splits.items()}
    sizes = {n: len(s.files) for n, s in folder.splits.items()}
    name = f"imagefolder:{root}"
    return FileData(name, (3, *pre.crop), max(1, len(folder.classes)), getters, sizes, fields.where)


def _npy_data(fields: ProvenanceFields, path: Path, n_classes: int) -> FileData:
    from actcode.data.npy import load_npy

    x, _ = load_npy(path)
    shape = tuple(int(s) for s in x.shape[1:])
    get = lambda idx: torch.from_numpy(np.asarray(x[idx], dtype=np.float32))  # noqa: E731
    return FileData(f"npy:{path}", shape, n_classes, {"test": get}, {"test": int(x.shape[0])}, fields.where)


def site_mode(prov: dict[str, Any], where: object = "the code file") -> str:
    """The site discovery mode a file's codes were extracted with (``extract`` -> ``sites``).

    Files written before operator-level capture record none: their sites are module calls.

    Examples
    --------
    >>> site_mode({"extract": {"sites": "ops"}}), site_mode({})
    ('ops', 'modules')
    """
    mode = ProvenanceFields(prov, where=where).text("extract.sites", limit=64) or "modules"
    if mode not in SITE_MODES:
        known = ", ".join(SITE_MODES)
        msg = f"{where}: the provenance field 'extract.sites' is {mode!r}; this actcode knows {known}."
        raise ProvenanceError(msg)
    return mode


def _checkpoint_path(fields: ProvenanceFields, code_path: Path) -> tuple[Path, str | None]:
    ck = fields.text("checkpoint.path")
    candidates: list[tuple[Path, str | None]] = [(p, s) for p, s in _inputs(fields) if p.suffix == ".pt"]
    sha = candidates[0][1] if candidates else None
    if ck:
        candidates += [(Path(ck), sha), (code_path.parent / Path(ck).name, sha)]
    for p, s in candidates:
        if _is(p, "file"):
            return p, s
    shown = ", ".join(str(p) for p, _ in candidates) or "none recorded"
    msg = (
        f"{code_path}: the checkpoint the codes came from is not found ({shown}). "
        "Give the network with --model FILE.py:FACTORY --weights FILE."
    )
    raise InvalidParameterError(msg)


def _inputs(fields: ProvenanceFields) -> list[tuple[Path, str | None]]:
    """The input files the provenance records, with their SHA-256 (typed: a lie is exit 3)."""
    items = fields.get("inputs") or []
    if not isinstance(items, list) or len(items) > 1000:
        err = fields.error("inputs", "a list of at most 1000 files", items)
        raise err
    out = []
    for i, _item in enumerate(items):
        path = fields.text(f"inputs.{i}.path") if isinstance(_item, dict) else None
        if path is None:
            err = fields.error(f"inputs.{i}", "an object with a path", _item)
            raise err
        out.append((Path(path), fields.text(f"inputs.{i}.sha256", limit=64)))
    return out


def load_file_model(
    cf: Any,
    *,
    model: str | None = None,
    weights: str | Path | None = None,
    dataset: str | None = None,
    data_root: str | Path | None = None,
    trust_model_code: bool = False,
) -> FileModel:
    """Rebuild the network and data of an open code file, and check them against its codes.

    The network is the recorded checkpoint (its SHA-256 must match), or the recorded library
    model (``torchvision:``/``timm:``) with its recorded weights file, or ``model``
    (``FILE.py:FACTORY``, ``torchvision:NAME``, ``timm:NAME``) with ``weights``. For a
    checkpoint of a custom model, ``model`` alone names the factory that builds it (checked
    against the one it records, as ``extract`` does); ``trust_model_code`` runs the recorded
    factory unnamed. The data is the recorded source, rebuilt with the recorded preprocessing
    (:func:`file_data`); ``dataset`` and ``data_root`` override the source and its folder.
    The sites are found with the file's own site mode (:func:`site_mode`).
    """
    fields = ProvenanceFields(cf.provenance, where=cf.path)
    mode = site_mode(cf.provenance, cf.path)
    data = file_data(cf, dataset=dataset, data_root=data_root)
    net, source = _network(cf, fields, data, model, weights, trust_model_code)
    net = net.float().eval()
    example = split_inputs(cf, cf.splits[0], data, rows=np.arange(min(2, cf.n_rows(cf.splits[0]))))
    sites = find_sites(net, example, mode=mode)
    names = [s.name for s in sites]
    missing = [layer.name for layer in cf.layers if layer.name not in names]
    if missing:
        msg = f"{cf.path}: the network has no activation site {missing[0]!r}; it is not the file's network."
        raise InvalidParameterError(msg)
    fm = FileModel(net, sites, [names.index(layer.name) for layer in cf.layers], data, source, mode)
    _check_codes(cf, fm)
    return fm


def _network(
    cf: Any,
    fields: ProvenanceFields,
    data: FileData,
    model: str | None,
    weights: str | Path | None,
    trust_code: bool,
) -> tuple[nn.Module, dict[str, Any]]:
    """The file's network: the override, the recorded checkpoint, or the recorded library/user model."""
    from actcode.extraction.user import build_user_model

    name = fields.text("model.name")
    from_checkpoint = fields.get("checkpoint") is not None
    if model is not None and (weights is not None or not from_checkpoint or name != "custom"):
        net, _, _, _ = build_user_model(
            model, weights=weights, input_shape=data.input_shape, n_classes=data.n_classes
        )
        return net, {"model": model, "weights": None if weights is None else str(weights)}
    if from_checkpoint:
        return _checkpoint_model(cf, fields, model, trust_code)
    factory = fields.text("model.factory")
    if name == "custom" and not trust_code:
        msg = (
            f"{cf.path}: the codes came from a user's model ({factory or 'a factory'}); pass --model "
            "FILE.py:FACTORY --weights FILE, or --trust-model-code to run the recorded factory."
        )
        raise InvalidParameterError(msg)
    ref = factory if name == "custom" else name
    if ref is None:
        msg = f"{cf.path}: the provenance records no model to rebuild; pass --model and --weights."
        raise InvalidParameterError(msg)
    recorded = fields.text("model.weights")
    wpath = _recorded_weights(cf, fields, recorded)
    net, _, _, _ = build_user_model(
        ref, weights=wpath, input_shape=data.input_shape, n_classes=data.n_classes
    )
    return net, {"model": ref, "weights": None if wpath is None else str(wpath)}


def _recorded_weights(cf: Any, fields: ProvenanceFields, recorded: str | None) -> Path | None:
    """The recorded weights file of a user's model, checked against its recorded SHA-256."""
    from actcode.io import file_sha256

    if recorded is None:
        return None
    path = _locate(recorded, cf.path, [p for p, _ in _inputs(fields) if p.name == Path(recorded).name])
    if not _is(path, "file"):
        msg = (
            f"{cf.path}: the weights the codes came from are not found ({path}). "
            "Give the network with --model and --weights."
        )
        raise InvalidParameterError(msg)
    shas = [s for p, s in _inputs(fields) if p == path.resolve() and s]
    if shas and file_sha256(path) != shas[0]:
        msg = f"{cf.path}: the weights {path} changed since the codes were extracted (SHA-256 differs)."
        raise InvalidParameterError(msg)
    return path


def _checkpoint_model(
    cf: Any, fields: ProvenanceFields, factory: str | None, trust_code: bool
) -> tuple[nn.Module, dict[str, Any]]:
    """The recorded checkpoint's network; a custom model's code runs only if named or trusted."""
    from actcode.checkpoints import load_checkpoint
    from actcode.io import file_sha256

    path, sha = _checkpoint_path(fields, Path(cf.path))
    if sha and file_sha256(path) != sha:
        msg = f"{cf.path}: the checkpoint {path} changed since the codes were extracted (SHA-256 differs)."
        raise InvalidParameterError(msg)
    net = load_checkpoint(path).build_model(factory=factory, trust_code=trust_code)
    source: dict[str, Any] = {"checkpoint": str(path)}
    if factory is not None:
        source["model"] = factory
    return net, source


def split_inputs(cf: Any, split: str, data: FileData, rows: np.ndarray | None = None) -> torch.Tensor:
    """The inputs of a split's rows (all, or ``rows``), rebuilt from the data and the rows' source indices."""
    idx = cf.indices(split)
    if rows is not None:
        idx = idx[rows]
    return data.inputs(split, idx)


def _check_codes(cf: Any, fm: FileModel) -> None:
    """Re-encode the first rows of each split and compare with the file: same model, same data."""
    sites = [fm.sites[i] for i in fm.file_sites]
    with exact_fp32(), torch.inference_mode(), make_recorder(fm.model, sites, fm.sites) as rec:
        for split in cf.splits:
            n = min(CHECK_ROWS, cf.n_rows(split))
            x = split_inputs(cf, split, fm.dataset, rows=np.arange(n))
            rec.begin(n, torch.device("cpu"))
            rec.forward(x)
            got = rec.packed()
            want = cf.codes_at(split, np.arange(n))  # only the rows checked, not the split
            if got.shape != want.shape or (np.count_nonzero(got != want) > 0 and _differs(got, want)):
                msg = (
                    f"{cf.path}: the network and data rebuilt from the provenance do not give the file's "
                    f"codes on split {split!r}; the checkpoint, data or --model/--weights are not its own."
                )
                raise InvalidParameterError(msg)


def _differs(got: np.ndarray, want: np.ndarray) -> bool:
    """More than a rounding difference (a few bits of a few rows; float32 sums differ across machines)."""
    bits = np.unpackbits(got ^ want, axis=1).sum()
    return bool(bits > max(2, 0.001 * got.size * 8))
