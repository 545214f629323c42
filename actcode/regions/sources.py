"""The network and inputs behind a code file, rebuilt from its provenance and checked against its codes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from actcode.errors import InvalidParameterError
from actcode.extraction.run import make_recorder
from actcode.extraction.sites import SITE_MODES, Site, exact_fp32, find_sites

__all__ = ["FileModel", "load_file_model", "site_mode", "split_inputs"]

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
    dataset : Dataset
    source : dict
        Where the model came from (for the results' parameters).
    mode : {"ops", "modules"}
        How the file's extraction found its sites (:func:`site_mode`); ``sites`` were found
        the same way, so every analysis reads the bits the file's codes hold.
    """

    model: nn.Module
    sites: list[Site]
    file_sites: list[int]
    dataset: Any
    source: dict[str, Any]
    mode: str = "modules"


def site_mode(prov: dict[str, Any], where: object = "the code file") -> str:
    """The site discovery mode a file's codes were extracted with (``extract`` -> ``sites``).

    Files written before operator-level capture record none: their sites are module calls.

    Examples
    --------
    >>> site_mode({"extract": {"sites": "ops"}}), site_mode({})
    ('ops', 'modules')
    """
    mode = (prov.get("extract") or {}).get("sites") or "modules"
    if mode not in SITE_MODES:
        known = ", ".join(SITE_MODES)
        msg = f"{where}: its provenance records site mode {mode!r}; this actcode knows {known}."
        raise InvalidParameterError(msg)
    return str(mode)


def _checkpoint_path(prov: dict[str, Any], code_path: Path) -> tuple[Path, str | None]:
    inputs = prov.get("inputs") or []
    ck = (prov.get("checkpoint") or {}).get("path")
    candidates: list[tuple[Path, str | None]] = []
    for item in inputs:
        if isinstance(item, dict) and str(item.get("path", "")).endswith(".pt"):
            candidates.append((Path(item["path"]), item.get("sha256")))
    sha = candidates[0][1] if candidates else None
    if ck:
        candidates += [(Path(ck), sha), (code_path.parent / Path(ck).name, sha)]
    for p, s in candidates:
        if p.is_file():
            return p, s
    shown = ", ".join(str(p) for p, _ in candidates) or "none recorded"
    msg = (
        f"{code_path}: the checkpoint the codes came from is not found ({shown}). "
        "Give the network with --model FILE.py:FACTORY --weights FILE."
    )
    raise InvalidParameterError(msg)


def load_file_model(
    cf: Any,
    *,
    model: str | None = None,
    weights: str | Path | None = None,
    data_root: str | Path | None = None,
    trust_model_code: bool = False,
) -> FileModel:
    """Rebuild the network and dataset of an open code file.

    The checkpoint is the one recorded in the provenance (its SHA-256 must match), unless
    ``model`` (``FILE.py:FACTORY``) and ``weights`` are given. For a checkpoint of a custom
    model, ``model`` alone names the factory that builds it (checked against the one it
    records, as ``extract`` does); ``trust_model_code`` runs the recorded factory unnamed.
    The dataset is the recorded data spec (``data_root`` overrides its folder). The sites
    are found with the file's own site mode (:func:`site_mode`).
    """
    from actcode.data import DataSpec
    from actcode.extraction.api import load_dataset_cached

    prov = cf.provenance
    mode = site_mode(prov, cf.path)
    data = prov.get("data") or {}
    spec = DataSpec(
        str(data.get("name", "digits")), data.get("root") if data_root is None else str(data_root)
    )
    ds = load_dataset_cached(spec)
    recorded = prov.get("model") or {}
    from_checkpoint = bool(prov.get("checkpoint"))
    if model is not None and (weights is not None or not from_checkpoint or recorded.get("name") != "custom"):
        from actcode.extraction.custom import load_user_model

        net = load_user_model(model, weights, ds.input_shape, ds.n_classes)
        source: dict[str, Any] = {"model": model, "weights": None if weights is None else str(weights)}
    else:
        net, source = _checkpoint_model(cf, prov, model, trust_model_code)
    net = net.float().eval()
    example = split_inputs(cf, cf.splits[0], ds)[:2]
    sites = find_sites(net, example, mode=mode)
    names = [s.name for s in sites]
    missing = [layer.name for layer in cf.layers if layer.name not in names]
    if missing:
        msg = f"{cf.path}: the network has no activation site {missing[0]!r}; it is not the file's network."
        raise InvalidParameterError(msg)
    fm = FileModel(net, sites, [names.index(layer.name) for layer in cf.layers], ds, source, mode)
    _check_codes(cf, fm)
    return fm


def _checkpoint_model(
    cf: Any, prov: dict[str, Any], factory: str | None, trust_code: bool
) -> tuple[nn.Module, dict[str, Any]]:
    """The recorded checkpoint's network; a custom model's code runs only if named or trusted."""
    from actcode.checkpoints import load_checkpoint
    from actcode.io import file_sha256

    if (prov.get("model") or {}).get("name") == "custom" and not prov.get("checkpoint"):
        msg = f"{cf.path}: the codes came from a user's model; pass --model FILE.py:FACTORY --weights."
        raise InvalidParameterError(msg)
    path, sha = _checkpoint_path(prov, Path(cf.path))
    if sha and file_sha256(path) != sha:
        msg = f"{cf.path}: the checkpoint {path} changed since the codes were extracted (SHA-256 differs)."
        raise InvalidParameterError(msg)
    net = load_checkpoint(path).build_model(factory=factory, trust_code=trust_code)
    source: dict[str, Any] = {"checkpoint": str(path)}
    if factory is not None:
        source["model"] = factory
    return net, source


def split_inputs(cf: Any, split: str, ds: Any) -> torch.Tensor:
    """The inputs of a split's rows, from the dataset and the rows' source indices (float32)."""
    idx = cf.indices(split)
    prov = cf.provenance
    if split == "train":
        x = ds.x_train[idx]
    elif split == "test":
        x = ds.x_test[idx]
    elif split == "random":
        from actcode.extraction.inputs import RandomInputs

        ext = prov.get("extract") or {}
        n = int(ext.get("random") or (int(idx.max()) + 1 if idx.size else 0))
        x = RandomInputs(n, ds.input_shape, ds.value_range, int(ext.get("seed", 0))).head(n)[
            torch.as_tensor(idx)
        ]
    else:
        msg = f"{cf.path}: split {split!r} cannot be rebuilt from the dataset (train, test and random can)."
        raise InvalidParameterError(msg)
    return torch.as_tensor(x).to(torch.float32)


def _check_codes(cf: Any, fm: FileModel) -> None:
    """Re-encode the first rows of each split and compare with the file: same model, same data."""
    sites = [fm.sites[i] for i in fm.file_sites]
    with exact_fp32(), torch.inference_mode(), make_recorder(fm.model, sites, fm.sites) as rec:
        for split in cf.splits:
            n = min(CHECK_ROWS, cf.n_rows(split))
            x = split_inputs(cf, split, fm.dataset)[:n]
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
