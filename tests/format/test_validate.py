"""One test per validation rule of formats/codes.md, each asserting the exact message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from actcode import errors as E
from actcode.io import open_codes, validate


def mutated(src: Path, tmp_path: Path, change: Callable[[h5py.File], None], name: str = "bad.h5") -> Path:
    dst = tmp_path / name
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        change(f)
    return dst


def expect(path: Path, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc) as info:
        validate(path)
    assert str(info.value) == message


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.h5"
    expect(
        p,
        E.ActcodeFileNotFoundError,
        f"{p}: no such file. Check the path (inputs are read from arguments or stdin, one per line).",
    )


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "empty.h5"
    p.write_bytes(b"")
    expect(p, E.NotHDF5Error, f"{p}: the file is empty (0 bytes), not an HDF5 neural-code file.")


def test_non_hdf5_file(tmp_path: Path) -> None:
    p = tmp_path / "random.h5"
    p.write_bytes(np.random.default_rng(1).bytes(4096))
    expect(
        p,
        E.NotHDF5Error,
        f"{p}: not an HDF5 file (no HDF5 signature). actcode reads neural-code files "
        "written by 'actcode extract'.",
    )


@pytest.mark.parametrize("keep", [8, 200, 0.5, 0.9])
def test_truncated_file(code_file: Path, tmp_path: Path, keep: float) -> None:
    data = code_file.read_bytes()
    n = int(keep * len(data)) if isinstance(keep, float) else keep
    p = tmp_path / "trunc.h5"
    p.write_bytes(data[:n])
    with pytest.raises(E.FormatError) as info:
        validate(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: ")
    assert "truncated" in msg or "damaged" in msg


def test_hdf5_file_of_another_kind(tmp_path: Path) -> None:
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(3)
    expect(
        p,
        E.ForeignFileError,
        f"{p}: an HDF5 file but not an actcode neural-code file (the root has no 'encoding-type' attribute). "
        "Write code files with 'actcode extract'.",
    )


def test_hdf5_file_of_another_encoding_type(code_file: Path, tmp_path: Path) -> None:
    p = mutated(code_file, tmp_path, lambda f: f.attrs.__setitem__("encoding-type", "anndata"))
    expect(
        p,
        E.ForeignFileError,
        f"{p}: an HDF5 file of another kind: encoding-type is 'anndata', expected 'actcode.codes'.",
    )


def test_newer_major_version_is_refused(code_file: Path, tmp_path: Path) -> None:
    p = mutated(code_file, tmp_path, lambda f: f.attrs.__setitem__("encoding-version", "2.0.0"))
    expect(
        p,
        E.VersionTooNewError,
        f"{p}: format version 2.0.0 is newer than this actcode reads (up to "
        "1.x). Upgrade actcode to read it.",
    )


def test_newer_minor_version_is_read_with_a_warning(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        f.attrs["encoding-version"] = "1.3.0"
        f.create_group("future_addition")

    p = mutated(code_file, tmp_path, change)
    with pytest.warns(E.NewerMinorVersionWarning, match="newer than 1.2.0"):
        with open_codes(p) as cf:
            assert cf.n_rows("train") == 40


def test_unparseable_version(code_file: Path, tmp_path: Path) -> None:
    p = mutated(code_file, tmp_path, lambda f: f.attrs.__setitem__("encoding-version", "one"))
    expect(
        p,
        E.DtypeError,
        f"{p}: the root group attribute 'encoding-version' must be MAJOR.MINOR.PATCH. Got 'one' instead.",
    )


@pytest.mark.parametrize(
    "attr", ["encoding-version", "provenance", "bitorder", "n_units", "n_bytes", "created_by"]
)
def test_missing_root_attribute(code_file: Path, tmp_path: Path, attr: str) -> None:
    p = mutated(code_file, tmp_path, lambda f: f.attrs.__delitem__(attr))
    expect(p, E.MissingElementError, f"{p}: the root group is missing the required attribute '{attr}'.")


@pytest.mark.parametrize("group", ["layers", "splits"])
def test_missing_group(code_file: Path, tmp_path: Path, group: str) -> None:
    p = mutated(code_file, tmp_path, lambda f: f.__delitem__(group))
    expect(p, E.MissingElementError, f"{p}: the root group is missing the required group '{group}'.")


@pytest.mark.parametrize(
    "column", ["name", "kind", "shape", "n_units", "byte_offset", "n_bytes", "call_index"]
)
def test_missing_layer_column(code_file: Path, tmp_path: Path, column: str) -> None:
    p = mutated(code_file, tmp_path, lambda f: f["layers"].__delitem__(column))
    expect(p, E.MissingElementError, f"{p}: /layers is missing the required dataset '{column}'.")


@pytest.mark.parametrize("column", ["codes", "labels", "predictions", "indices"])
def test_missing_split_dataset(code_file: Path, tmp_path: Path, column: str) -> None:
    p = mutated(code_file, tmp_path, lambda f: f["splits/test"].__delitem__(column))
    expect(p, E.MissingElementError, f"{p}: /splits/test is missing the required dataset '{column}'.")


def test_unknown_root_element(code_file: Path, tmp_path: Path) -> None:
    p = mutated(code_file, tmp_path, lambda f: f.create_group("extra"))
    expect(
        p, E.UnknownElementError, f"{p}: the root group holds elements the format does not define: ['extra']."
    )


def test_wrong_codes_dtype(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        data = f["splits/test/codes"][()]
        del f["splits/test/codes"]
        f["splits/test"].create_dataset("codes", data=data.astype(np.int16), chunks=(10, data.shape[1]))

    p = mutated(code_file, tmp_path, change)
    expect(p, E.DtypeError, f"{p}: /splits/test/codes must have dtype uint8. Got int16 instead.")


def test_wrong_codes_shape(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        data = f["splits/test/codes"][()]
        del f["splits/test/codes"]
        f["splits/test"].create_dataset("codes", data=data[:, :2], chunks=(10, 2))

    p = mutated(code_file, tmp_path, change)
    expect(
        p,
        E.ShapeError,
        f"{p}: /splits/test/codes must have shape (n_samples, 3) for the layer table. Got (10, 2) instead.",
    )


def test_mismatched_label_length(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        del f["splits/train/labels"]
        f["splits/train"].create_dataset("labels", data=np.zeros(39, np.int64))

    p = mutated(code_file, tmp_path, change)
    expect(
        p,
        E.ShapeError,
        f"{p}: /splits/train/labels must have shape (40,), one entry per code row. Got (39,) instead.",
    )


def test_wrong_label_dtype(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        del f["splits/train/labels"]
        f["splits/train"].create_dataset("labels", data=np.zeros(40, np.float32))

    p = mutated(code_file, tmp_path, change)
    expect(p, E.DtypeError, f"{p}: /splits/train/labels must have dtype int64. Got float32 instead.")


def test_empty_split(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        for name in ("codes", "labels", "predictions", "indices"):
            f["splits/test"][name].resize(0, axis=0)

    p = mutated(code_file, tmp_path, change)
    expect(
        p,
        E.EmptySplitError,
        f"{p}: /splits/test/codes has no rows; an empty split is not allowed. Leave the split out instead.",
    )


def test_no_split_at_all(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        del f["splits/test"]
        del f["splits/train"]

    p = mutated(code_file, tmp_path, change)
    expect(
        p,
        E.MissingElementError,
        f"{p}: /splits holds no split; a code file needs at least one (train, test, random, ...).",
    )


def test_nonzero_pad_bits(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        codes = f["splits/train/codes"]
        row = codes[7]
        row[0] |= 0b00000001  # site fc0 has 5 units: the 3 low bits of byte 0 are padding
        codes[7] = row

    p = mutated(code_file, tmp_path, change)
    msg = (
        f"{p}: /splits/train/codes row 7 has non-zero pad bits; pad bits at the end of each layer segment "
        "must be 0."
    )
    expect(p, E.PaddingBitsError, msg)
    with open_codes(p) as cf, pytest.raises(E.PaddingBitsError) as info:
        cf.codes("train")
    assert str(info.value) == msg


def test_layer_table_n_units_disagrees_with_shape(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        f["layers/n_units"][1] = 13

    p = mutated(code_file, tmp_path, change)
    expect(
        p,
        E.ShapeError,
        f"{p}: /layers row 1 ('fc1.relu'): n_units must equal the product of shape [12] "
        "= 12. Got 13 instead.",
    )


def test_layer_offsets_must_be_back_to_back(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        f["layers/byte_offset"][1] = 2

    p = mutated(code_file, tmp_path, change)
    expect(
        p,
        E.ShapeError,
        f"{p}: /layers row 1 ('fc1.relu'): byte_offset must be 1 (segments are back to back). Got 2 instead.",
    )


def test_root_totals_must_match_layers(code_file: Path, tmp_path: Path) -> None:
    p = mutated(code_file, tmp_path, lambda f: f.attrs.__setitem__("n_units", np.int64(99)))
    expect(p, E.ShapeError, f"{p}: root attribute n_units must be the layers' total 17. Got 99 instead.")


def test_claimed_shape_larger_than_stored_data(code_file: Path, tmp_path: Path) -> None:
    """An allocation bomb: the header claims 10^9 rows, the file stores a few chunks."""

    def change(f: h5py.File) -> None:
        for name in ("codes", "labels", "predictions", "indices"):
            f["splits/train"][name].resize(10**9, axis=0)

    p = mutated(code_file, tmp_path, change)
    with pytest.raises(E.StorageError) as info:
        validate(p)
    assert str(info.value).startswith(
        f"{p}: /splits/train/codes claims shape (1000000000, 3) but stores 1 of its "
    )
    assert str(info.value).endswith("chunks; the file is truncated or forged. Re-create it.")


def test_foreign_compression_filter(code_file: Path, tmp_path: Path) -> None:
    def change(f: h5py.File) -> None:
        data = f["splits/test/codes"][()]
        del f["splits/test/codes"]
        f["splits/test"].create_dataset("codes", data=data, chunks=(10, 3), compression="lzf")

    p = mutated(code_file, tmp_path, change)
    expect(
        p,
        E.FormatError,
        f"{p}: /splits/test/codes uses ['filter 32000']; the format allows only deflate "
        "(gzip), shuffle and fletcher32.",
    )


def test_provenance_not_json(code_file: Path, tmp_path: Path) -> None:
    p = mutated(code_file, tmp_path, lambda f: f.attrs.__setitem__("provenance", "{not json"))
    expect(
        p,
        E.ProvenanceError,
        f"{p}: provenance attribute is not valid JSON (Expecting property name "
        "enclosed in double quotes at character 1).",
    )


def test_provenance_not_following_schema(code_file: Path, tmp_path: Path) -> None:
    p = mutated(
        code_file, tmp_path, lambda f: f.attrs.__setitem__("provenance", '{"schema": "actcode.provenance/1"}')
    )
    expect(
        p,
        E.ProvenanceError,
        f"{p}: provenance record does not follow its schema at (top level): "
        "'actcode_version' is a required property.",
    )


def test_every_format_error_is_one_line_with_exit_code_3(code_file: Path, tmp_path: Path) -> None:
    bad = mutated(code_file, tmp_path, lambda f: f.attrs.__setitem__("encoding-version", "2.0.0"))
    r = subprocess.run(
        [sys.executable, "-m", "actcode", "validate", str(code_file), str(bad)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    assert r.returncode == 3
    assert r.stdout == f"{code_file}\n"
    errors = [line for line in r.stderr.splitlines() if line.startswith("actcode validate: error:")]
    assert errors == [
        f"actcode validate: error: {bad}: format version 2.0.0 is newer than this actcode "
        "reads (up to 1.x). Upgrade actcode to read it."
    ]
    assert "Traceback" not in r.stderr
