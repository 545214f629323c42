"""MNIST and Fashion-MNIST from the four standard IDX files (gzipped or not, flat or torchvision layout)."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np

from actcode.data.dataset import Dataset, check_labels, download_with_torchvision
from actcode.data.spec import DataSpec
from actcode.errors import DataNotFoundError, ForeignFileError, ShapeError, StorageError

#: The four files, by role, as the datasets' distributions name them (``.gz`` optional).
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: Sub-folders of the data root searched before the root itself, per dataset.
SUBFOLDERS: dict[str, tuple[str, ...]] = {
    "mnist": ("MNIST/raw", "mnist"),
    "fashion-mnist": ("FashionMNIST/raw", "fashion-mnist", "fashion_mnist"),
}

_UBYTE = 0x08
_CHUNK = 1 << 20


def candidate_folders(name: str, root: Path) -> list[Path]:
    """Folders searched for ``name``'s files, in order: torchvision's layout, then flat."""
    return [root / sub for sub in SUBFOLDERS[name]] + [root]


def find_idx_file(folder: Path, base: str) -> Path | None:
    """The file for ``base`` in ``folder``: plain, ``.gz``, or with ``.idx`` spelled with a dot."""
    dotted = base.replace("-idx", ".idx")
    for stem in (base, dotted):
        for suffix in ("", ".gz"):
            p = folder / f"{stem}{suffix}"
            if p.is_file():
                return p
    return None


def read_idx(path: str | Path, *, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes, gzipped or not, checking it before allocating.

    The header (magic ``0x00 0x00 0x08 ndim``, then ``ndim`` big-endian uint32 sizes) is
    checked against the number of bytes the file really holds: a plain file's size must be
    exactly header + product of sizes; a gzipped one is decompressed in 1 MiB chunks and
    must hold exactly that many bytes, so a lying header never makes us allocate memory.

    Parameters
    ----------
    path : str or Path
    ndim : int
        Expected number of dimensions (3 for images, 1 for labels).

    Returns
    -------
    ndarray of shape (n, ...), dtype=np.uint8

    Raises
    ------
    ForeignFileError
        Wrong magic number, wrong element type or wrong number of dimensions.
    StorageError
        The file is shorter or longer than its header says, or its gzip stream is broken.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    what = "gzipped IDX file" if gz else "IDX file"
    try:
        stream = cast(BinaryIO, gzip.open(path, "rb") if gz else open(path, "rb"))
        with stream:
            header = _read_exact(stream, 4)
            if len(header) < 4 or header[0:2] != b"\x00\x00" or header[2] != _UBYTE or header[3] != ndim:
                msg = (
                    f"{path} is not an IDX file of unsigned bytes with {ndim} dimension(s): its magic number "
                    f"is {header.hex() or '(empty file)'}, expected 000008{ndim:02x}. Is it the right file?"
                )
                raise ForeignFileError(msg)
            dims_raw = _read_exact(stream, 4 * ndim)
            if len(dims_raw) < 4 * ndim:
                msg = f"{path} is truncated inside its header ({4 + len(dims_raw)} bytes); download it again."
                raise StorageError(msg)
            dims = struct.unpack(f">{ndim}I", dims_raw)
            header_len = 4 + 4 * ndim
            expected = math.prod(dims)
            if not gz:
                actual = path.stat().st_size - header_len
                if actual != expected:
                    raise StorageError(_size_msg(path, what, dims, expected, actual))
                payload = _read_exact(stream, expected)
            else:
                payload = _read_exact(stream, expected + 1)
                if len(payload) != expected:
                    raise StorageError(_size_msg(path, what, dims, expected, len(payload)))
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        msg = f"{path}: the gzip stream is damaged or truncated ({exc}); download the file again."
        raise StorageError(msg) from exc
    if expected == 0:
        msg = f"{path} holds no examples (its header gives sizes {dims})."
        raise ShapeError(msg)
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def _size_msg(path: Path, what: str, dims: tuple[int, ...], expected: int, actual: int) -> str:
    kind = "truncated" if actual < expected else "longer than its header says"
    return (
        f"{path} is {kind}: the {what} header gives sizes {dims}, i.e. {expected} data bytes, but the "
        f"file holds {actual if actual <= expected else 'more than ' + str(expected)}. Download it again."
    )


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read up to ``n`` bytes in bounded chunks, so memory grows only with real data."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(min(_CHUNK, n - got))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def load_idx_dataset(spec: DataSpec) -> Dataset:
    """MNIST or Fashion-MNIST from the data folder, pixels scaled by 1/255, images (1, 28, 28).

    Looks in ``<root>/MNIST/raw`` (``<root>/FashionMNIST/raw``), ``<root>/mnist``
    (``<root>/fashion-mnist``) and then ``<root>`` itself for the four files of
    :data:`IDX_FILES`, each either plain or ``.gz``.
    """
    name = spec.canonical_name()
    root = spec.resolved_root()
    files = _locate(name, root)
    if files is None and spec.download:
        _download(name, root)
        files = _locate(name, root)
    if files is None:
        raise DataNotFoundError(_missing_msg(name, root))
    arrays = {role: read_idx(p, ndim=3 if role.endswith("images") else 1) for role, p in files.items()}
    splits = {}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            msg = (
                f"{name}: {files[f'{split}_images']} holds {images.shape[0]} images but "
                f"{files[f'{split}_labels']} holds {labels.shape[0]} labels; they must match."
            )
            raise ShapeError(msg)
        y = check_labels(name, labels, 10, str(files[f"{split}_labels"]))
        x = (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]
        splits[split] = (x, y)
    if splits["train"][0].shape[1:] != splits["test"][0].shape[1:]:
        msg = (
            f"{name}: train images are {splits['train'][0].shape[2:]} but test images are "
            f"{splits['test'][0].shape[2:]}; both must have the same size."
        )
        raise ShapeError(msg)
    return Dataset(
        name=name,
        x_train=splits["train"][0],
        y_train=splits["train"][1],
        x_test=splits["test"][0],
        y_test=splits["test"][1],
        n_classes=10,
        input_shape=tuple(int(s) for s in splits["train"][0].shape[1:]),
        value_range=(0.0, 1.0),
        source=str(files["train_images"].parent),
    )


def _locate(name: str, root: Path) -> dict[str, Path] | None:
    for folder in candidate_folders(name, root):
        found = {role: find_idx_file(folder, base) for role, base in IDX_FILES.items()}
        if all(found.values()):
            return {k: v for k, v in found.items() if v is not None}
    return None


def _missing_msg(name: str, root: Path) -> str:
    folders = candidate_folders(name, root)
    best = max(folders, key=lambda f: sum(find_idx_file(f, b) is not None for b in IDX_FILES.values()))
    missing = [b for b in IDX_FILES.values() if find_idx_file(best, b) is None]
    others = ", ".join(str(f) for f in folders if f != best)
    return (
        f"{name}: the IDX files {', '.join(f'{b}[.gz]' for b in IDX_FILES.values())} are not in {best} "
        f"(missing there: {', '.join(missing)}; also looked in {others}). Put the four files in {root} "
        "(or its sub-folder as torchvision lays them out), pass --data-root, or add --download."
    )


def _download(name: str, root: Path) -> None:
    def fetch() -> None:
        from torchvision import datasets

        cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
        cls(str(root), train=True, download=True)
        cls(str(root), train=False, download=True)

    download_with_torchvision(name, root, fetch)
