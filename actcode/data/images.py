"""A folder of images as extraction inputs: ImageFolder labels, train/val/test splits, DataLoader decoding.

Layout rules (``--dataset imagefolder:PATH``):

- ``PATH/train`` plus ``PATH/val`` and/or ``PATH/test`` are splits of those names; otherwise
  ``PATH`` itself is one split, ``test``.
- In a split's folder, class subfolders give labels as torchvision's ``ImageFolder`` does
  (the sorted folder names are classes 0, 1, ...; one list across splits); images directly in
  a folder without class subfolders get label -1.
- Images are files with the extensions of :data:`IMAGE_EXTENSIONS` (case-insensitive), in
  sorted order; a row's source index is its position in that order.

Each image is decoded with PIL, converted to RGB, resized, centre-cropped, scaled to [0, 1]
and normalised (:class:`~actcode.data.preprocess.Preprocess`), in DataLoader worker processes.
A file that cannot be decoded stops the extraction with its name, or is skipped with
``skip_bad`` (and listed in the provenance). An entry with an image's name that is not a
regular file (a FIFO, a socket, a device) is such a file: it is refused from its ``stat``, and
never opened, so it cannot hang the extraction.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from actcode.errors import DataNotFoundError, FormatError

if TYPE_CHECKING:
    import torch

    from actcode.data.preprocess import Preprocess

#: Extensions read as images (torchvision's ``IMG_EXTENSIONS``).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: Sub-folders that become splits, in this order.
SPLIT_FOLDERS = ("train", "val", "test")
#: Label of an image that has no class folder.
NO_LABEL = -1


class BadImageError(FormatError):
    """An image file of a folder dataset cannot be decoded."""


def _is_image(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def _classes(folder: Path) -> list[str]:
    return sorted(
        e.name for e in os.scandir(folder) if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
    )


@dataclass(frozen=True)
class ImageSplit:
    """One split of an image folder: its files in order and their labels."""

    name: str
    folder: Path
    files: tuple[Path, ...]
    labels: np.ndarray


@dataclass(frozen=True)
class ImageFolderData:
    """An image folder scanned: its splits and class names."""

    root: Path
    splits: dict[str, ImageSplit]
    classes: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """JSON-safe description for provenance."""
        return {
            "dataset": f"imagefolder:{self.root}",
            "root": str(self.root),
            "classes": list(self.classes),
            "n_classes": len(self.classes),
            "splits": {n: {"folder": str(s.folder), "n_files": len(s.files)} for n, s in self.splits.items()},
        }


def _scan_split(name: str, folder: Path, classes: Sequence[str]) -> ImageSplit:
    own = [c for c in _classes(folder)]
    files: list[Path] = []
    labels: list[int] = []
    if own:
        for c in own:
            for dirpath, dirnames, names in os.walk(folder / c):
                dirnames.sort()
                for n in sorted(names):
                    if _is_image(Path(n)):
                        files.append(Path(dirpath) / n)
                        labels.append(classes.index(c))
    else:
        for n in sorted(e.name for e in os.scandir(folder) if not e.is_dir()):
            if _is_image(Path(n)):
                files.append(folder / n)
                labels.append(NO_LABEL)
    return ImageSplit(name, folder, tuple(files), np.asarray(labels, dtype=np.int64))


def scan_image_folder(path: str | Path) -> ImageFolderData:
    """Find the splits, classes and image files of ``path``.

    Raises
    ------
    DataNotFoundError
        ``path`` is not a folder, or a split holds no image.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        msg = f"imagefolder:{path}: {root.resolve()} is not a folder of images."
        raise DataNotFoundError(msg)
    sub = [s for s in SPLIT_FOLDERS if (root / s).is_dir()]
    folders = {s: root / s for s in sub} if "train" in sub and len(sub) > 1 else {"test": root}
    classes = sorted({c for f in folders.values() for c in _classes(f)})
    splits = {name: _scan_split(name, f, classes) for name, f in folders.items()}
    for s in splits.values():
        if not s.files:
            msg = (
                f"imagefolder:{path}: no image ({', '.join(IMAGE_EXTENSIONS)}) in {s.folder.resolve()}"
                + (" or its class subfolders" if classes else "")
                + "."
            )
            raise DataNotFoundError(msg)
    return ImageFolderData(root, splits, tuple(classes))


def decode_image(path: Path, pre: Preprocess) -> torch.Tensor:
    """One image as the model's input: RGB, resized, centre-cropped, scaled to [0, 1], normalised.

    The same operations, in the same order, as torchvision's ``ImageClassification`` transform.
    """
    import torch
    from PIL import Image
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    with _open_regular(path) as f, Image.open(f) as im:
        img = im.convert("RGB")
    mode = InterpolationMode(pre.interpolation)
    img = TF.resize(img, [pre.resize], interpolation=mode, antialias=True)
    img = TF.center_crop(img, list(pre.crop))
    t = TF.convert_image_dtype(TF.pil_to_tensor(img), torch.float)
    out: torch.Tensor = TF.normalize(t, list(pre.mean), list(pre.std))
    return out


def _open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (a FIFO is refused, never opened)."""
    if not stat.S_ISREG(path.stat().st_mode):
        msg = f"{path} is not a regular file (a FIFO, socket or device); it is never read as an image."
        raise BadImageError(msg)
    # O_NONBLOCK: if the name became a FIFO since the stat, opening it does not wait for a writer
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            msg = f"{path} is not a regular file (a FIFO, socket or device); it is never read as an image."
            raise BadImageError(msg)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


class _Decoded:
    """A torch Dataset of one split's images; a bad file gives its error text instead of raising."""

    def __init__(self, files: Sequence[Path], pre: Preprocess) -> None:
        self.files = list(files)
        self.pre = pre

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Any, int, str]:
        try:
            return decode_image(self.files[i], self.pre), i, ""
        except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError... on damaged files
            return None, i, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"


def _collate(items: list[tuple[Any, int, str]]) -> tuple[Any, np.ndarray, list[tuple[int, str]]]:
    import torch

    good = [(x, i) for x, i, err in items if not err]
    bad = [(i, err) for _, i, err in items if err]
    x = torch.stack([g[0] for g in good]) if good else None
    return x, np.asarray([g[1] for g in good], dtype=np.int64), bad


@dataclass
class ImageInputs:
    """One split of an image folder as extraction inputs (see :mod:`actcode.extraction.inputs`).

    Parameters
    ----------
    split : ImageSplit
    preprocess : Preprocess
    workers : int
        DataLoader worker processes (0: decode in this process).
    skip_bad : bool
        Skip files that cannot be decoded (listed in :attr:`skipped`) instead of stopping.
    pin_memory : bool
        Pin the batches in page-locked memory (for copies to a GPU).
    """

    split: ImageSplit
    preprocess: Preprocess
    workers: int = 0
    skip_bad: bool = False
    pin_memory: bool = False
    skipped: list[tuple[str, str]] = field(default_factory=list)
    training_labels: np.ndarray | None = None

    @property
    def info(self) -> dict[str, Any]:
        """Provenance of the split, including skipped files."""
        return {
            "source": f"image folder {self.split.folder}",
            "n_files": len(self.split.files),
            "skip_bad": self.skip_bad,
            "n_skipped": len(self.skipped),
            "skipped": [{"file": f, "error": e} for f, e in self.skipped[:100]],
        }

    @property
    def n_rows(self) -> int:
        """Images in the split, less those skipped so far."""
        return len(self.split.files) - len(self.skipped)

    def _bad(self, i: int, err: str) -> None:
        f = self.split.files[i]
        if not self.skip_bad:
            msg = f"cannot decode the image {f} ({err}); fix or remove it, or pass --skip-bad."
            raise BadImageError(msg)
        self.skipped.append((str(f), err))

    def head(self, n: int) -> torch.Tensor:
        """The first ``n`` decodable images (for the probe pass), decoded here."""
        import torch

        ds = _Decoded(self.split.files, self.preprocess)
        out = []
        for i in range(len(ds)):
            x, _, err = ds[i]
            if err:
                if not self.skip_bad:
                    self._bad(i, err)
                continue
            out.append(x)
            if len(out) == n:
                break
        if not out:
            msg = f"no image of {self.split.folder} can be decoded."
            raise BadImageError(msg)
        return torch.stack(out)

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, np.ndarray, np.ndarray, None]]:
        """Decoded batches (x, labels, source indices, None), in file order."""
        from torch.utils.data import DataLoader

        self.skipped = []
        loader: Any = DataLoader(
            _Decoded(self.split.files, self.preprocess),  # type: ignore[arg-type]
            batch_size=batch_size,
            shuffle=False,
            num_workers=self.workers,
            collate_fn=_collate,
            pin_memory=self.pin_memory,
            persistent_workers=False,
        )
        for x, idx, bad in loader:
            for i, err in bad:
                self._bad(i, err)
            if x is None:
                continue
            yield x, self.split.labels[idx], idx, None


__all__ = [
    "IMAGE_EXTENSIONS",
    "NO_LABEL",
    "SPLIT_FOLDERS",
    "BadImageError",
    "ImageFolderData",
    "ImageInputs",
    "ImageSplit",
    "decode_image",
    "scan_image_folder",
]
