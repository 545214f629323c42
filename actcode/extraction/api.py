"""``extract(checkpoint)``: a checkpoint's codes on its training examples, the test split, random inputs."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actcode.errors import InvalidParameterError
from actcode.extraction.inputs import NO_LABEL, ArrayInputs, RandomInputs, SplitInputs
from actcode.extraction.run import extract_model
from actcode.extraction.shards import Shard, parse_shard, shard_record, shard_splits
from actcode.io import file_sha256
from actcode.io.atomic import resolve_output
from actcode.scopes import DEFAULT_SPLITS, SPLITS, parse_splits

if TYPE_CHECKING:
    from actcode.checkpoints import Checkpoint
    from actcode.data import Dataset, DataSpec


def default_output(source: str | Path, shard: Shard | None = None) -> Path:
    """``runs/x.pt`` -> ``runs/x.h5`` (``runs/x.shard-1-of-4.h5`` for a shard); any other
    suffix gets ``.h5`` appended."""
    p = Path(source)
    stem = p.with_suffix("") if p.suffix == ".pt" else p
    tail = f".shard-{shard.index}-of-{shard.count}" if shard is not None else ""
    return stem.with_name(stem.name + tail + ".h5")


def distinct_in_order(indices: np.ndarray) -> np.ndarray:
    """Positions of the first occurrence of each value, in order (drops repeats that tiling adds).

    Examples
    --------
    >>> distinct_in_order(np.array([5, 2, 5, 7, 2])).tolist()
    [0, 1, 3]
    """
    _, first = np.unique(np.asarray(indices), return_index=True)
    return np.sort(first)


def dataset_splits(
    ds: Dataset,
    names: Sequence[str],
    *,
    train_indices: np.ndarray | None = None,
    train_labels: np.ndarray | None = None,
    with_training_labels: bool = False,
    random: int = 0,
    seed: int = 0,
) -> dict[str, SplitInputs]:
    """The inputs of each split, without copying the dataset.

    ``train`` is the rows ``train_indices`` of the official train split (each once, in
    order; all rows when None), with the true labels, and with ``training_labels`` when
    ``with_training_labels``. ``test`` is the official test split. ``random`` is ``random``
    uniform inputs in the data's value range, labels :data:`NO_LABEL`, indices 0..n-1.
    """
    out: dict[str, SplitInputs] = {}
    for name in names:
        if name == "train":
            idx = (
                np.arange(ds.n_train, dtype=np.int64)
                if train_indices is None
                else np.asarray(train_indices, np.int64)
            )
            keep = distinct_in_order(idx)
            idx = idx[keep]
            if idx.size and (idx.min() < 0 or idx.max() >= ds.n_train):
                msg = (
                    f"the checkpoint's train indices reach {idx.max()}, but the {ds.name} train split has "
                    f"only {ds.n_train} examples; the data is not the one the model was trained on."
                )
                raise InvalidParameterError(msg)
            fit = None
            if with_training_labels and train_labels is not None:
                fit = np.asarray(train_labels, np.int64)[keep]
            source = "official train split" + (
                " (the examples trained on)" if train_indices is not None else ""
            )
            out[name] = SplitInputs(
                ArrayInputs(ds.x_train, idx), ds.y_train[idx], idx, fit, {"source": source}
            )
        elif name == "test":
            n = ds.x_test.shape[0]
            out[name] = SplitInputs(
                ArrayInputs(ds.x_test),
                ds.y_test,
                np.arange(n, dtype=np.int64),
                None,
                {"source": "official test split"},
            )
        elif name == "random":
            r = RandomInputs(random, ds.input_shape, ds.value_range, seed)
            info = {
                "source": "random inputs",
                **r.describe(),
                "labels": "-1 (no label)",
                "predictions": "the network's",
            }
            out[name] = SplitInputs(
                r, np.full(random, NO_LABEL, np.int64), np.arange(random, dtype=np.int64), None, info
            )
    return out


@functools.lru_cache(maxsize=1)
def load_dataset_cached(spec: DataSpec) -> Dataset:
    """``load_dataset`` that keeps the last dataset, so a batch of checkpoints of one run loads it once."""
    from actcode.data import load_dataset

    return load_dataset(spec)


def data_section(ds: Dataset, spec: dict[str, Any]) -> dict[str, Any]:
    """Provenance ``data`` section: the data spec plus what was loaded."""
    return {
        **spec,
        "dataset": ds.name,
        "input_shape": list(ds.input_shape),
        "n_classes": int(ds.n_classes),
        "value_range": [float(ds.value_range[0]), float(ds.value_range[1])],
        "n_train_official": int(ds.n_train),
        "n_test": int(ds.x_test.shape[0]),
        "source": ds.source,
    }


def extract(
    checkpoint: str | Path | Checkpoint,
    *,
    output: str | Path | None = None,
    splits: str | Sequence[str] = DEFAULT_SPLITS,
    random: int = 0,
    layers: str | Sequence[str] | None = None,
    batch_size: int | None = None,
    device: str = "auto",
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    data_root: str | Path | None = None,
    compression: str | None = "auto",
    shard: str | Shard | None = None,
    model: str | None = None,
    trust_model_code: bool = False,
    sites: str = "ops",
) -> Path:
    """Extract a checkpoint's neural codes into a code file.

    Parameters
    ----------
    checkpoint : str, Path or Checkpoint
        A checkpoint written by ``actcode train`` (loaded without unpickling code).
    output : str or Path, optional
        Default: the checkpoint's path with ``.h5`` in place of ``.pt``.
    splits : str or sequence of str
        Among ``train`` (exactly the distinct examples the model was trained on, from the
        checkpoint's ``train_indices``, with ``training_labels`` under label noise), ``test``
        (the official test split) and ``random``.
    random : int
        Number of random inputs, drawn uniformly in the data's value range with the data's
        input shape (the paper's random-input experiment); > 0 adds the ``random`` split,
        whose labels are -1 (no label) and whose predictions are the network's.
    layers : str or sequence of str, optional
        Sites to keep (names, globs, indices); default all.
    batch_size : int, optional
        Rows per forward pass; default 256, lowered for very long codes.
    device : str
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    seed : int
        Seed of the random inputs.
    progress : callable, optional
        ``progress(rows_done, rows_total)`` after each batch.
    data_root : str or Path, optional
        Folder of the dataset's files, in place of the one recorded in the checkpoint.
    compression : {"auto", "gzip", None}
        Filter of the code matrices: ``auto`` deflates a split only when its first block
        shrinks to 70 % or less; None is faster for long codes that barely compress.
    shard : str or Shard, optional
        ``"I/N"``: code only the I-th of N contiguous row ranges of every split
        (:mod:`actcode.extraction.shards`); ``actcode merge`` stitches the N files. The default
        output name gets ``.shard-I-of-N``.
    model : str, optional
        For a checkpoint of a custom model: the factory (``FILE.py:FACTORY`` or
        ``MODULE:FACTORY``) the user names to rebuild it, checked against the one the
        checkpoint records. Without it (or ``trust_model_code``) no code from the checkpoint runs.
    trust_model_code : bool
        Run the factory the checkpoint records (an absolute path or a module name only).
    sites : {"ops", "modules"}
        See :func:`~actcode.extraction.run.extract_model`.

    Returns
    -------
    Path
        The code file written.
    """
    from actcode.checkpoints import Checkpoint, load_checkpoint
    from actcode.data import DataSpec

    names = parse_splits(splits, random)
    part = shard if isinstance(shard, Shard) or shard is None else parse_shard(shard)
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    out = Path(output) if output is not None else default_output(ckpt.path, part)
    cfg = ckpt.config
    spec = cfg.data if data_root is None else DataSpec(cfg.data.name, str(data_root), cfg.data.download)
    # the output must not destroy an input: the checkpoint, or a .npz dataset it names
    resolve_output(out, inputs=[ckpt.path, spec.name])
    ds = load_dataset_cached(spec)
    if ckpt.input_shape is not None and tuple(ckpt.input_shape) != tuple(ds.input_shape):
        msg = (
            f"{ckpt.path}: the model was trained on inputs of shape {tuple(ckpt.input_shape)}, but {ds.name} "
            f"gives {tuple(ds.input_shape)}."
        )
        raise InvalidParameterError(msg)
    net = ckpt.build_model(factory=model, trust_code=trust_model_code)
    noisy = cfg.label_noise > 0 or ckpt.noisy_indices.size > 0
    by_split = dataset_splits(
        ds,
        names,
        train_indices=ckpt.train_indices,
        train_labels=ckpt.train_labels,
        with_training_labels=noisy,
        random=random,
        seed=seed,
    )
    sections: dict[str, Any] = {
        "factors": ckpt.factors(),
        "model": cfg.model.to_dict(),
        "data": data_section(ds, spec.to_dict()),
        "train": cfg.to_dict(),
        "inputs": [{"path": str(Path(ckpt.path).resolve()), "sha256": file_sha256(ckpt.path)}],
        "checkpoint": {
            "path": str(ckpt.path),
            "epoch": ckpt.epoch,
            "format_version": ckpt.format_version,
            "metrics": ckpt.metrics,
            "versions": ckpt.versions,
        },
        "extract": {"seed": seed, "random": random, "source": "checkpoint"},
    }
    if part is not None:
        sections["extract"]["shard"] = shard_record(by_split, part)
        by_split = shard_splits(by_split, part)
    return extract_model(
        net,
        by_split,
        out,
        layers=layers,
        batch_size=batch_size,
        device=device,
        provenance=sections,
        progress=progress,
        compression=compression,
        sites=sites,
    )


__all__ = [
    "SPLITS",
    "data_section",
    "dataset_splits",
    "default_output",
    "distinct_in_order",
    "extract",
    "parse_splits",
]
