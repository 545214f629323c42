"""Tests of actcode.data: every loader on tiny synthetic files in the exact standard formats."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from actcode.data import Dataset, DataSpec, default_root, load_dataset
from actcode.data.cifar import read_batch
from actcode.data.idx import read_idx
from actcode.errors import (
    DataNotFoundError,
    DtypeError,
    ForeignFileError,
    FormatError,
    InvalidParameterError,
    ShapeError,
    StorageError,
)

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# ----------------------------------------------------------------------------- writers


def idx_bytes(a: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: magic 0x0000 08 ndim, big-endian uint32 sizes, data."""
    return bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes()


def write_idx(path: Path, a: np.ndarray, *, gz: bool) -> Path:
    data = idx_bytes(a)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def make_mnist(
    folder: Path, *, gz: bool, n_train: int = 30, n_test: int = 10, seed: int = 0
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for role, a in arrays.items():
        write_idx(folder / IDX_NAMES[role], a, gz=gz)
    return arrays


class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickles as Python 2's cPickle wrote the CIFAR batches: str as BINSTRING, numpy.core globals."""

    _GLOBALS = {
        id(np.ndarray): ("numpy", "ndarray"),
        id(np.dtype): ("numpy", "dtype"),
    }

    def __init__(self, f: io.BytesIO) -> None:
        super().__init__(f, protocol=2)
        from numpy._core.multiarray import _reconstruct

        self._GLOBALS = dict(self._GLOBALS)
        self._GLOBALS[id(_reconstruct)] = ("numpy.core.multiarray", "_reconstruct")
        self.dispatch = dict(self.dispatch)

    def _save_binstring(self, data: bytes) -> None:
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)

    def save_bytes(self, obj: bytes) -> None:
        self._save_binstring(obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:
        self._save_binstring(obj.encode("latin1"))
        self.memoize(obj)

    def save_global(self, obj: object, name: str | None = None) -> None:
        module, qual = self._GLOBALS[id(obj)]
        self.write(pickle.GLOBAL + f"{module}\n{qual}\n".encode())
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]
    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf).dump(obj)
    return buf.getvalue()


def make_cifar(root: Path, *, n_classes: int = 10, per_batch: int = 8, style: str = "py2") -> None:
    rng = np.random.default_rng(1)
    if n_classes == 10:
        folder = root / "cifar-10-batches-py"
        files = {f"data_batch_{i}": per_batch for i in range(1, 6)} | {"test_batch": per_batch}
        key = "labels"
    else:
        folder = root / "cifar-100-python"
        files = {"train": per_batch * 5, "test": per_batch}
        key = "fine_labels"
    folder.mkdir(parents=True)
    for fname, n in files.items():
        d = {
            "batch_label": f"synthetic {fname}",
            key: [int(v) for v in rng.integers(0, n_classes, n)],
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "filenames": [f"img_{i}.png" for i in range(n)],
        }
        if n_classes == 100:
            d["coarse_labels"] = [v // 5 for v in d[key]]
        blob = py2_pickle(d) if style == "py2" else pickle.dumps(d, protocol=4 if style == "py3" else 5)
        (folder / fname).write_bytes(blob)


# ----------------------------------------------------------------------------- specs and digits


def test_spec_names_and_unknown() -> None:
    assert DataSpec("Fashion_MNIST").canonical_name() == "fashion-mnist"
    assert DataSpec("CIFAR-10").canonical_name() == "cifar10"
    with pytest.raises(InvalidParameterError, match="unknown dataset 'imagenet'"):
        load_dataset(DataSpec("imagenet"))


def test_default_root_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ACTCODE_DATA", str(tmp_path))
    assert default_root() == tmp_path
    assert DataSpec("mnist").resolved_root() == tmp_path
    monkeypatch.delenv("ACTCODE_DATA")
    assert default_root() == Path.home() / ".cache" / "actcode" / "data"
    assert DataSpec("mnist", root=str(tmp_path / "x")).resolved_root() == tmp_path / "x"


def test_digits() -> None:
    ds = load_dataset(DataSpec())
    assert ds.input_shape == (1, 8, 8)
    assert ds.n_classes == 10
    assert ds.x_train.shape == (1438, 1, 8, 8)
    assert ds.x_test.shape == (359, 1, 8, 8)
    assert ds.x_train.dtype == np.float32
    assert ds.y_train.dtype == np.int64
    assert ds.x_train.min() == 0.0
    assert ds.x_train.max() == 1.0
    assert ds.n_fit == 1150
    from sklearn.datasets import load_digits

    raw = load_digits()
    np.testing.assert_array_equal(ds.x_test[0, 0] * 16, raw.images[4])  # every 5th is a test digit
    np.testing.assert_array_equal(ds.y_train[:4], raw.target[:4])


# ----------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("name", "sub"), [("mnist", ""), ("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw")]
)
def test_idx_layouts(tmp_path: Path, gz: bool, name: str, sub: str) -> None:
    arrays = make_mnist(tmp_path / sub if sub else tmp_path, gz=gz)
    ds = load_dataset(DataSpec(name, root=str(tmp_path)))
    assert ds.name == name
    assert ds.input_shape == (1, 28, 28)
    assert ds.n_classes == 10
    np.testing.assert_allclose(ds.x_train[:, 0] * 255, arrays["train_images"], atol=1e-4)
    np.testing.assert_array_equal(ds.y_test, arrays["test_labels"])
    assert ds.value_range == (0.0, 1.0)


def test_idx_prefers_torchvision_layout_over_flat(tmp_path: Path) -> None:
    make_mnist(tmp_path, gz=False, n_train=20)
    make_mnist(tmp_path / "FashionMNIST" / "raw", gz=True, n_train=40)
    assert load_dataset(DataSpec("fashion-mnist", root=str(tmp_path))).x_train.shape[0] == 40
    assert load_dataset(DataSpec("mnist", root=str(tmp_path))).x_train.shape[0] == 20


def test_idx_missing_files_named(tmp_path: Path) -> None:
    make_mnist(tmp_path, gz=True)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError) as e:
        load_dataset(DataSpec("mnist", root=str(tmp_path)))
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte" in msg
    assert str(tmp_path) in msg
    assert "train-images-idx3-ubyte" in msg


def test_idx_wrong_magic(tmp_path: Path) -> None:
    p = tmp_path / "x"
    p.write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 3) + b"abc")
    with pytest.raises(ForeignFileError, match="magic number is 00000801, expected 00000803"):
        read_idx(p, ndim=3)
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(ForeignFileError, match="not an IDX file"):
        read_idx(p, ndim=1)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated(tmp_path: Path, gz: bool) -> None:
    data = idx_bytes(np.zeros((5, 28, 28), np.uint8))[:-100]
    p = tmp_path / "t.gz"
    p.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(StorageError, match="truncated"):
        read_idx(p, ndim=3)


def test_idx_truncated_gzip_stream(tmp_path: Path) -> None:
    blob = gzip.compress(idx_bytes(np.arange(5000, dtype=np.uint8) % 10))
    p = tmp_path / "l.gz"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(StorageError, match="gzip stream is damaged or truncated"):
        read_idx(p, ndim=1)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_lying_header_is_not_trusted(tmp_path: Path, gz: bool) -> None:
    # The header claims 4 billion 28x28 images (about 3 TB); the file holds 10 bytes of data.
    data = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 2**32 - 1, 28, 28) + b"0123456789"
    p = tmp_path / "big"
    p.write_bytes(gzip.compress(data) if gz else data)
    t0 = time.perf_counter()
    with pytest.raises(StorageError, match="truncated"):
        read_idx(p, ndim=3)
    assert time.perf_counter() - t0 < 5


def test_idx_count_mismatch(tmp_path: Path) -> None:
    make_mnist(tmp_path, gz=False)
    write_idx(tmp_path / IDX_NAMES["train_labels"], np.zeros(29, np.uint8), gz=False)
    with pytest.raises(ShapeError, match="30 images but .* 29 labels"):
        load_dataset(DataSpec("mnist", root=str(tmp_path)))


def test_idx_label_out_of_range(tmp_path: Path) -> None:
    make_mnist(tmp_path, gz=False)
    write_idx(tmp_path / IDX_NAMES["test_labels"], np.full(10, 12, np.uint8), gz=False)
    with pytest.raises(ShapeError, match=r"integers in \[0, 9\]"):
        load_dataset(DataSpec("mnist", root=str(tmp_path)))


def test_download_failure_becomes_data_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    def no_network(*args: object, **kwargs: object) -> None:
        msg = "Network is unreachable"
        raise OSError(msg)

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_network)
    with pytest.raises(DataNotFoundError, match="could not download .* Network is unreachable"):
        load_dataset(DataSpec("mnist", root=str(tmp_path), download=True))


# ----------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("style", ["py2", "py3", "py3-protocol5"])
def test_cifar10_batches(tmp_path: Path, style: str) -> None:
    make_cifar(tmp_path, style=style)
    ds = load_dataset(DataSpec("cifar10", root=str(tmp_path)))
    assert ds.x_train.shape == (40, 3, 32, 32)
    assert ds.x_test.shape == (8, 3, 32, 32)
    assert ds.n_classes == 10
    assert ds.input_shape == (3, 32, 32)
    raw = read_batch(tmp_path / "cifar-10-batches-py" / "data_batch_2")
    np.testing.assert_allclose(ds.x_train[8:16].reshape(8, -1) * 255, raw["data"], atol=1e-3)
    np.testing.assert_array_equal(ds.y_train[8:16], raw["labels"])
    # the red plane comes first: pixel (0, 0) of channel 1 is byte 1024
    assert ds.x_train[8, 1, 0, 0] * 255 == pytest.approx(raw["data"][0, 1024], abs=1e-3)


def test_py2_batch_really_is_python2_style(tmp_path: Path) -> None:
    import pickletools

    blob = py2_pickle({"data": np.zeros((1, 3072), np.uint8), "labels": [3]})
    ops = {op.name for op, _, _ in pickletools.genops(blob)}
    assert "SHORT_BINSTRING" in ops
    assert "GLOBAL" in ops
    assert "BINUNICODE" not in ops
    assert b"numpy.core.multiarray\n_reconstruct" in blob


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    make_cifar(tmp_path, n_classes=100)
    ds = load_dataset(DataSpec("cifar100", root=str(tmp_path)))
    assert ds.n_classes == 100
    assert ds.x_train.shape[0] == 40
    raw = read_batch(tmp_path / "cifar-100-python" / "train")
    np.testing.assert_array_equal(ds.y_train, raw["fine_labels"])


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_cifar_batch_with_code_is_refused(tmp_path: Path) -> None:
    make_cifar(tmp_path)
    marker = tmp_path / "marker"
    bad = {"data": np.zeros((8, 3072), np.uint8), "labels": [0] * 8, "x": _Evil(marker)}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(bad))
    with pytest.raises(ForeignFileError, match="global builtins.exec is not allowed"):
        load_dataset(DataSpec("cifar10", root=str(tmp_path)))
    assert not marker.exists()


def test_cifar_damaged_and_missing(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="data_batch_1.*cifar-10-batches-py"):
        load_dataset(DataSpec("cifar10", root=str(tmp_path)))
    make_cifar(tmp_path)
    p = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(ForeignFileError, match="truncated or damaged"):
        load_dataset(DataSpec("cifar10", root=str(tmp_path)))


def test_cifar_wrong_shape(tmp_path: Path) -> None:
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(
        pickle.dumps({"data": np.zeros((8, 100), np.uint8), "labels": [0] * 8})
    )
    with pytest.raises(ShapeError, match=r"shape \(n, 3072\)"):
        load_dataset(DataSpec("cifar10", root=str(tmp_path)))


# ----------------------------------------------------------------------------- SVHN


def make_svhn(folder: Path, n: int = 12) -> np.ndarray:
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(-1, 1)  # 1..10, 10 = digit 0
    for fname in ("train_32x32.mat", "test_32x32.mat"):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        savemat(folder / fname, {"X": x, "y": y})
    return y


def test_svhn(tmp_path: Path) -> None:
    make_svhn(tmp_path)
    ds = load_dataset(DataSpec("svhn", root=str(tmp_path)))
    assert ds.x_train.shape == (12, 3, 32, 32)
    assert ds.input_shape == (3, 32, 32)
    assert ds.y_train.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    from scipy.io import loadmat

    x = loadmat(tmp_path / "train_32x32.mat")["X"]
    assert ds.x_train[3, 2, 5, 7] * 255 == pytest.approx(
        x[5, 7, 2, 3], abs=1e-3
    )  # (H, W, C, N) -> (N, C, H, W)


def test_svhn_missing_and_foreign(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="train_32x32.mat"):
        load_dataset(DataSpec("svhn", root=str(tmp_path)))
    make_svhn(tmp_path / "svhn")
    (tmp_path / "svhn" / "test_32x32.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(FormatError):
        load_dataset(DataSpec("svhn", root=str(tmp_path)))


# ----------------------------------------------------------------------------- npz


def test_npz_tabular(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    p = tmp_path / "toy.npz"
    np.savez(
        p,
        x_train=rng.normal(size=(20, 5)),
        y_train=np.arange(20) % 3,
        x_test=rng.normal(size=(6, 5)),
        y_test=np.arange(6) % 3,
    )
    ds = load_dataset(DataSpec(str(p)))
    assert isinstance(ds, Dataset)
    assert ds.name == "toy"
    assert ds.input_shape == (5,)
    assert ds.n_classes == 3
    assert ds.x_train.dtype == np.float32
    assert ds.y_train.dtype == np.int64
    lo, hi = ds.value_range
    assert lo == pytest.approx(min(ds.x_train.min(), ds.x_test.min()))
    assert hi == pytest.approx(max(ds.x_train.max(), ds.x_test.max()))


def test_npz_relative_to_root(tmp_path: Path) -> None:
    np.savez_compressed(
        tmp_path / "imgs.npz",
        x_train=np.zeros((4, 1, 4, 4)),
        y_train=[0, 1, 0, 1],
        x_test=np.zeros((2, 1, 4, 4)),
        y_test=[1, 0],
    )
    ds = load_dataset(DataSpec("imgs.npz", root=str(tmp_path)))
    assert ds.input_shape == (1, 4, 4)


def test_npz_errors(tmp_path: Path) -> None:
    p = tmp_path / "bad.npz"
    with pytest.raises(DataNotFoundError, match="bad.npz"):
        load_dataset(DataSpec(str(p)))
    np.savez(p, x_train=np.zeros((3, 2)), y_train=[0, 1, 2])
    with pytest.raises(ForeignFileError, match="lacks the array"):
        load_dataset(DataSpec(str(p)))
    obj = np.array([{"a": 1}] * 3, dtype=object)
    np.savez(p, x_train=obj, y_train=[0, 1, 2], x_test=np.zeros((1, 2)), y_test=[0])
    with pytest.raises(DtypeError, match="would need pickle"):
        load_dataset(DataSpec(str(p)))
    p.write_bytes(b"plain text")
    with pytest.raises(ForeignFileError, match="not a zip archive"):
        load_dataset(DataSpec(str(p)))


def test_npz_lying_array_header(tmp_path: Path) -> None:
    import zipfile

    p = tmp_path / "lie.npz"
    good = io.BytesIO()
    np.lib.format.write_array(good, np.zeros((2, 3), np.float32))
    blob = good.getvalue().replace(b"(2, 3)", b"(9, 3)")  # claims 9 rows, stores 2
    with zipfile.ZipFile(p, "w") as zf:
        for k in ("x_train", "x_test"):
            zf.writestr(f"{k}.npy", blob)
        for k in ("y_train", "y_test"):
            b = io.BytesIO()
            np.lib.format.write_array(b, np.zeros(2, np.int64))
            zf.writestr(f"{k}.npy", b.getvalue())
    with pytest.raises(StorageError, match=r"claims shape \(9, 3\)"):
        load_dataset(DataSpec(str(p)))
