"""Generate the corpus of bad inputs that the reliability suite feeds to every command.

Nothing here is stored in the repository: every bad file is made from a valid one at test
time. ``python -m tests.reliability.corpus OUTDIR`` writes the corpus to a folder for manual use.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from actcode.testing.helpers import tiny_layers, write_code_file


def valid_code_file(path: Path, *, n_train: int = 40, n_test: int = 12, seed: int = 0) -> Path:
    """A small valid code file with train and test splits and three classes."""
    rng = np.random.default_rng(seed)
    layers = tiny_layers((5, 12))
    bits = {"train": rng.integers(0, 2, (n_train, 17)), "test": rng.integers(0, 2, (n_test, 17))}
    labels = {"train": np.arange(n_train) % 3, "test": np.arange(n_test) % 3}
    factors = {"dataset": "synthetic", "model": "mlp", "width": 17, "depth": 2, "epoch": 1, "seed": seed}
    return write_code_file(path, bits, labels, layers, factors=factors)


def _edit(change: Callable[[h5py.File], None]) -> Callable[[Path, Path], None]:
    def make(valid: Path, out: Path) -> None:
        shutil.copy(valid, out)
        with h5py.File(out, "r+") as f:
            change(f)

    return make


def _bytes(data: Callable[[bytes], bytes]) -> Callable[[Path, Path], None]:
    def make(valid: Path, out: Path) -> None:
        out.write_bytes(data(valid.read_bytes()))

    return make


def _foreign(valid: Path, out: Path) -> None:
    with h5py.File(out, "w") as f:
        f["X"] = np.zeros((3, 3))
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"


def _replace_codes(dtype: type, cols: int | None = None) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        data = f["splits/train/codes"][()]
        data = data if cols is None else data[:, :cols]
        del f["splits/train/codes"]
        f["splits/train"].create_dataset("codes", data=data.astype(dtype), chunks=(8, data.shape[1]))

    return change


def _pad_bits(f: h5py.File) -> None:
    ds = f["splits/test/codes"]
    row = ds[3]
    row[0] |= 1
    ds[3] = row


def _bomb(rows: int) -> Callable[[h5py.File], None]:
    def change(f: h5py.File) -> None:
        for name in ("codes", "labels", "predictions", "indices"):
            f["splits/train"][name].resize(rows, axis=0)

    return change


def _huge_layer(f: h5py.File) -> None:
    f["layers/shape"][0] = "[4000000000, 4000000000]"


#: name -> function(valid_path, out_path) writing one bad file.
BAD_CODE_FILES: dict[str, Callable[[Path, Path], object]] = {
    "random-bytes": lambda v, o: o.write_bytes(np.random.default_rng(3).bytes(5000)),
    "empty": lambda v, o: o.write_bytes(b""),
    "text": lambda v, o: o.write_text("x_train,y_train\n1,2\n"),
    "truncated-16": _bytes(lambda b: b[:16]),
    "truncated-quarter": _bytes(lambda b: b[: len(b) // 4]),
    "truncated-half": _bytes(lambda b: b[: len(b) // 2]),
    "truncated-last-byte": _bytes(lambda b: b[:-1]),
    "foreign-hdf5": _foreign,
    "no-encoding-type": _edit(lambda f: f.attrs.__delitem__("encoding-type")),
    "no-version": _edit(lambda f: f.attrs.__delitem__("encoding-version")),
    "no-provenance": _edit(lambda f: f.attrs.__delitem__("provenance")),
    "no-n_bytes": _edit(lambda f: f.attrs.__delitem__("n_bytes")),
    "no-layers": _edit(lambda f: f.__delitem__("layers")),
    "no-splits": _edit(lambda f: f.__delitem__("splits")),
    "no-layer-names": _edit(lambda f: f["layers"].__delitem__("name")),
    "no-labels": _edit(lambda f: f["splits/test"].__delitem__("labels")),
    "no-codes": _edit(lambda f: f["splits/train"].__delitem__("codes")),
    "codes-int16": _edit(_replace_codes(np.int16)),
    "codes-float": _edit(_replace_codes(np.float32)),
    "codes-narrow": _edit(_replace_codes(np.uint8, cols=1)),
    "shape-bomb-rows": _edit(_bomb(10**12)),
    "shape-larger-than-data": _edit(_bomb(10**5)),
    "absurd-layer-shape": _edit(_huge_layer),
    "pad-bits": _edit(_pad_bits),
    "provenance-not-json": _edit(lambda f: f.attrs.__setitem__("provenance", "{{{")),
    "provenance-wrong-schema": _edit(lambda f: f.attrs.__setitem__("provenance", '{"schema": 3}')),
    "newer-major": _edit(lambda f: f.attrs.__setitem__("encoding-version", "9.0.0")),
    "version-garbage": _edit(lambda f: f.attrs.__setitem__("encoding-version", "v1")),
    "n_units-wrong-type": _edit(lambda f: f.attrs.__setitem__("n_units", "many")),
}


def write_corpus(folder: Path) -> dict[str, Path]:
    """Write every bad code file into ``folder``; return name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    valid = valid_code_file(folder / "valid.h5")
    out = {}
    for name, make in BAD_CODE_FILES.items():
        path = folder / f"{name}.h5"
        make(valid, path)
        out[name] = path
    return out


if __name__ == "__main__":
    for name, path in write_corpus(Path(sys.argv[1])).items():
        print(name, path)
