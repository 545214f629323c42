"""Hostile code files of issue 11 (round 2), generated from a valid file at test time.

- ``OUTSIDE``: elements whose data lives outside the file (class 2): external storage, external
  and soft links, virtual datasets, at every place of the file, results included.
- ``BROKEN_MUSTS``: files that break a MUST of formats/codes.md that the validator let through
  (class 6), and labels and factors out of the spec's range (class 4).

Every file here must be refused with exit code 3 and one line naming it.
``python -m tests.reliability.corpus_round2 OUTDIR`` writes them to a folder.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from actcode.io.results_io import add_results
from actcode.results import ResultTable
from tests.reliability.corpus import valid_code_file

#: A file whose bytes must never be read on a code file's behalf.
SECRET = Path("/etc/hostname") if Path("/etc/hostname").is_file() else Path("/etc/passwd")

Edit = Callable[[h5py.File, Path], None]


def _external_storage(where: str) -> Edit:
    """Replace the dataset at ``where`` by one of the same shape and dtype stored in SECRET."""

    def change(f: h5py.File, folder: Path) -> None:
        ds = f[where]
        shape, dtype = ds.shape, ds.dtype
        parent, name = where.rsplit("/", 1)
        del f[where]
        size = int(np.prod(shape)) * dtype.itemsize
        f[parent].create_dataset(name, shape=shape, dtype=dtype, external=[(str(SECRET), 0, size)])

    return change


def _external_link(where: str) -> Edit:
    """Replace the dataset at ``where`` by an ExternalLink to a copy of it in another file."""

    def change(f: h5py.File, folder: Path) -> None:
        other = folder / f"elsewhere-{where.replace('/', '_')}.h5"
        with h5py.File(other, "w") as g:
            g.create_dataset("data", data=f[where][()])
        parent, name = where.rsplit("/", 1)
        del f[where]
        f[parent][name] = h5py.ExternalLink(other.name, "/data")  # relative: resolved from the file's folder

    return change


def _soft_link(where: str) -> Edit:
    def change(f: h5py.File, folder: Path) -> None:
        parent, name = where.rsplit("/", 1)
        f.create_dataset("hidden_copy", data=f[where][()])
        del f[where]
        f[parent][name] = h5py.SoftLink("/hidden_copy")

    return change


def _virtual(where: str) -> Edit:
    def change(f: h5py.File, folder: Path) -> None:
        other = folder / f"source-{where.replace('/', '_')}.h5"
        data = f[where][()]
        with h5py.File(other, "w") as g:
            g.create_dataset("data", data=data)
        layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
        layout[...] = h5py.VirtualSource(other.name, "data", shape=data.shape)
        parent, name = where.rsplit("/", 1)
        del f[where]
        f[parent].create_virtual_dataset(name, layout)

    return change


#: Places an element can be: codes, labels, the other per-row columns, layer table, results.
PLACES = [
    "splits/train/codes",
    "splits/train/labels",
    "splits/test/predictions",
    "splits/test/indices",
    "layers/n_units",
    "results/measure/table/value",
    "results/measure/arrays/train/collision_sizes",
]

OUTSIDE: dict[str, Edit] = {}
for _place in PLACES:
    _tag = _place.replace("/", ".")
    OUTSIDE[f"external-storage:{_tag}"] = _external_storage(_place)
    OUTSIDE[f"external-link:{_tag}"] = _external_link(_place)
    OUTSIDE[f"soft-link:{_tag}"] = _soft_link(_place)
OUTSIDE["virtual:splits.train.codes"] = _virtual("splits/train/codes")
OUTSIDE["virtual:splits.train.labels"] = _virtual("splits/train/labels")


def _split_elsewhere(f: h5py.File, folder: Path) -> None:
    other = folder / "elsewhere-split.h5"
    with h5py.File(other, "w") as g:
        f.copy(f["splits/test"], g, name="split")
    del f["splits/test"]
    f["splits"]["test"] = h5py.ExternalLink(other.name, "/split")


OUTSIDE["external-link:whole-split"] = _split_elsewhere


def _set_column(where: str, values: Callable[[np.ndarray], np.ndarray]) -> Edit:
    def change(f: h5py.File, folder: Path) -> None:
        old = f[where][()]
        parent, name = where.rsplit("/", 1)
        del f[where]
        f[parent].create_dataset(name, data=values(old))

    return change


def _codes_storage(**kwargs: object) -> Edit:
    def change(f: h5py.File, folder: Path) -> None:
        data = f["splits/train/codes"][()]
        attrs = dict(f["splits/train/codes"].attrs)
        del f["splits/train/codes"]
        ds = f["splits/train"].create_dataset("codes", data=data, **kwargs)
        ds.attrs.update(attrs)

    return change


def _fixed_strings(f: h5py.File, folder: Path) -> None:
    names = [s.encode("ascii") for s in f["layers/name"].asstr()[()]]
    del f["layers/name"]
    f["layers"].create_dataset("name", data=np.array(names, dtype="S32"))


def _layer_string(column: str, text: str) -> Edit:
    def change(f: h5py.File, folder: Path) -> None:
        f["layers"][column][0] = text

    return change


def _provenance(edit: Callable[[str], str]) -> Edit:
    def change(f: h5py.File, folder: Path) -> None:
        f.attrs["provenance"] = edit(f.attrs["provenance"])

    return change


def _factor(value_text: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        record = json.loads(text)
        record["factors"]["epoch"] = "@@"
        return json.dumps(record).replace('"@@"', value_text)

    return edit


def _results_attr(name: str, value: object | None) -> Edit:
    def change(f: h5py.File, folder: Path) -> None:
        attrs = f["results/measure"].attrs
        if value is None:
            del attrs[name]
        else:
            attrs[name] = value

    return change


BROKEN_MUSTS: dict[str, Edit] = {
    "codes-contiguous": _codes_storage(chunks=None),
    "codes-chunks-1x1": _codes_storage(chunks=(1, 1)),
    "codes-chunks-split-rows": _codes_storage(chunks=(8, 1)),
    "names-fixed-ascii": _fixed_strings,
    "shape-with-true": _layer_string("shape", "[true, 5]"),
    "shape-with-float": _layer_string("shape", "[5.0]"),
    "kind-100000-chars": _layer_string("kind", "R" * 100_000),
    "kind-empty": _layer_string("kind", ""),
    "call-index-negative": lambda f, folder: f["layers/call_index"].__setitem__(0, -5),
    "provenance-nan": _provenance(lambda t: t.replace('"width":17', '"width":NaN')),
    "provenance-infinity": _provenance(lambda t: t.replace('"width":17', '"width":Infinity')),
    "factor-10^400": _provenance(_factor("1" + "0" * 400)),
    "factor-1e400": _provenance(_factor("1e400")),
    "factor-2^70": _provenance(_factor(str(2**70))),
    "results-no-created": _results_attr("created", None),
    "results-no-version": _results_attr("actcode_version", None),
    "params-a-list": _results_attr("params", "[1, 2]"),
    "params-a-number": _results_attr("params", "3"),
    "params-nan": _results_attr("params", '{"k": NaN}'),
    "labels-int64-min-max": _set_column(
        "splits/train/labels", lambda a: np.where(a % 2 == 0, -(2**63), 2**63 - 1)
    ),
    "labels-2^62": _set_column("splits/train/labels", lambda a: np.where(a == 0, 0, 2**62)),
    "labels-2^31": _set_column("splits/test/labels", lambda a: a + 2**31),
    "labels-minus-5": _set_column("splits/test/labels", lambda a: a - 5),
    "predictions-10^12": _set_column("splits/test/predictions", lambda a: a + 10**12),
}


def valid_with_results(path: Path) -> Path:
    """A valid code file that also holds measure results with an ``arrays`` group."""
    valid_code_file(path)
    table = ResultTable.from_rows([("train", "all", "redundancy", 0.1), ("test", "all", "redundancy", 0.2)])
    add_results(path, "measure", table, params={"seed": 0}, arrays={"train/collision_sizes": np.arange(6)})
    return path


def write_round2(folder: Path, which: dict[str, Edit]) -> dict[str, Path]:
    """Write every file of ``which`` into ``folder``; return name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    valid = valid_with_results(folder / "valid.h5")
    out = {}
    for i, (name, change) in enumerate(which.items()):
        path = folder / f"{i:02d}-{name.replace(':', '-')}.h5"
        shutil.copy(valid, path)
        with h5py.File(path, "r+") as f:
            change(f, folder)
        out[name] = path
    return out


if __name__ == "__main__":
    for name, path in write_round2(Path(sys.argv[1]), {**OUTSIDE, **BROKEN_MUSTS}).items():
        print(name, path)
