"""``extract``'s options: one frozen object, checked before any network runs, and the split rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actcode.errors import InvalidParameterError
from actcode.options.core import Options, label, option
from actcode.scopes import DEFAULT_SPLITS, SPLITS, parse_splits
from actcode.sizes import check_allocation

#: Compression of the code file's splits; ``none`` is stored as ``None`` by the writer.
COMPRESSIONS = ("auto", "gzip", "none")
#: How activation sites are found.
SITE_MODES = ("ops", "modules")
#: Most DataLoader processes decoding images (more only exhausts processes and file handles).
MAX_WORKERS = 64
#: The options of a user's model on data (refused with checkpoints).
_USER_MODEL = ("input_size", "mean", "std", "workers", "num_classes", "skip_bad", "download")
#: Rows per forward pass when ``--batch-size`` is not given (the size check of ``--input-size``).
DEFAULT_BATCH = 256


@dataclass(frozen=True)
class ExtractOptions(Options):
    """Options of :func:`actcode.extraction.extract` and ``extract_user_model`` (the command's options
    besides its inputs and outputs).

    The image options (``input_size``, ``mean``, ``std``, ``workers``, ``skip_bad``,
    ``download``) apply to a user's model on an image folder; a sweep extracts checkpoints, so
    its ``[extract]`` table does not take them.
    """

    STAGE = "extract"

    splits: tuple[str, ...] | None = option(
        None,
        "Comma-separated splits: train, test, random for checkpoints and study datasets [default: "
        "train,test]; those of an image folder (train, val, test) [default: all].",
        "strs",
    )
    random: int = option(
        0,
        "Add a 'random' split of N inputs drawn uniformly in the data's value range, with the data's "
        "input shape (labels -1: no label).",
        "int",
        lo=0,
    )
    seed: int = option(0, "Seed of the random inputs.", "seed")
    layers: tuple[str, ...] | None = option(
        None, "Sites to keep: comma-separated names, globs (layer1.*) or indices (0,-1).", "strs"
    )
    batch_size: int | None = option(
        None, "Rows per forward pass [default: 256, less for long codes].", "int", lo=1
    )
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.", "device")
    compression: str = option(
        "auto",
        "auto (deflate a split only if its first block shrinks to 70 % or less), gzip (deflate, "
        "readable everywhere) or none.",
        "str",
        choices=COMPRESSIONS,
    )
    sites: str = option(
        "ops",
        "ops: every ReLU-like op, whatever its spelling; modules: calls of nn.ReLU/LeakyReLU/PReLU/"
        "RReLU modules only (models that call F.relu are refused).",
        "str",
        choices=SITE_MODES,
    )
    input_size: int | None = option(
        None,
        "Images: the centre crop's side in pixels (the resize keeps its ratio) [default: from the "
        "weights' metadata; required for a FILE.py/MODULE factory on an image folder].",
        "int",
        lo=1,
        spec=False,
    )
    mean: tuple[float, ...] | None = option(
        None, "Images: per-channel mean, e.g. 0.485,0.456,0.406.", "floats", spec=False
    )
    std: tuple[float, ...] | None = option(
        None, "Images: per-channel std, e.g. 0.229,0.224,0.225.", "floats", spec=False
    )
    workers: int | None = option(
        None,
        "Processes decoding images (DataLoader workers) [default: CPUs/2, at most 4].",
        "int",
        lo=0,
        hi=MAX_WORKERS,
        spec=False,
    )
    num_classes: int | None = option(
        None,
        "The model's class count (its head's outputs) [default: the count the --weights file's head holds, "
        "so a fine-tuned head just works; a factory gets the data's].",
        "int",
        lo=1,
        spec=False,
    )
    skip_bad: bool = option(
        False,
        "Skip images that cannot be decoded (listed in the provenance) instead of stopping.",
        "bool",
        spec=False,
    )
    download: bool = option(
        False, "Allow --weights DEFAULT to download the pretrained weights.", "bool", spec=False
    )

    def check_together(self, table: str | None) -> None:
        """``--mean``/``--std`` have one value or one per channel (3); std > 0; the crop fits in memory."""
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is None:
                continue
            if len(value) not in (1, 3) or (name == "std" and min(value) <= 0):
                expected = "one number or 3 comma-separated numbers (one per channel)"
                msg = (
                    f"{label(name, table)} must be {expected}"
                    + (" > 0" if name == "std" else "")
                    + f". Got {','.join(map(str, value))} instead."
                )
                raise InvalidParameterError(msg)
        if self.input_size is not None:
            batch = self.batch_size or DEFAULT_BATCH
            check_allocation(
                3 * 4 * self.input_size**2 * batch,
                f"{label('input_size', table)} {self.input_size} (a batch of {batch} float32 RGB crops)",
            )

    def checkpoint_splits(self, table: str | None = None) -> list[str]:
        """The splits of a checkpoint's code file, checked and in order (see :func:`parse_splits`)."""
        return parse_splits(
            self.splits, self.random, option=label("splits", table), random_option=label("random", table)
        )

    def compression_arg(self) -> str | None:
        """The writer's compression: ``None`` for ``none``."""
        return None if self.compression == "none" else self.compression

    def checkpoint_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`actcode.extraction.extract` (a checkpoint's code file)."""
        return {**self._common(), "splits": self.checkpoint_splits()}

    def user_model_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`actcode.extraction.extract_user_model` (a user's model on data)."""
        images = {k: getattr(self, k) for k in _USER_MODEL}
        splits = None if self.splits is None else list(self.splits)
        return {**self._common(), **images, "splits": splits}

    def image_options_given(self) -> list[str]:
        """The image options set away from their defaults, as ``--name`` (they need a user's model)."""
        return [label(n, None) for n in _USER_MODEL if getattr(self, n) != self.default(n)]

    def _common(self) -> dict[str, Any]:
        names = ("random", "seed", "batch_size", "device", "sites")
        layers = None if self.layers is None else list(self.layers)
        return {
            **{n: getattr(self, n) for n in names},
            "layers": layers,
            "compression": self.compression_arg(),
        }


__all__ = [
    "COMPRESSIONS",
    "DEFAULT_SPLITS",
    "MAX_WORKERS",
    "SITE_MODES",
    "SPLITS",
    "ExtractOptions",
    "parse_splits",
]
