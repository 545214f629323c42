"""Generators of issue 19 (round 3) for the sweep, merge and atomic-writer classes.

Every instance is made at test time; nothing is stored in the repository.

- ``MANIFEST_LINES`` (class 1): damaged ``sweep.jsonl`` lines: each field of a record with
  values of every wrong type, deep nesting, cut lines, huge lines.
- ``SNAPSHOTS`` (class 1): ``sweep.spec.json`` snapshots with a field of the wrong type.
- ``SHARD_LIES`` (class 1): edits of a merge shard's ``extract.shard`` record (row counts,
  index, count, splits, rows) that lie about the file.
- ``SPEC_SIZES`` (class 2): spec files whose grid, nesting or widths grow without a bound.
- ``SPECIAL_FILES`` (class 3): a FIFO, socket, folder or link to a device where a sweep writes.
- ``STALE_TEMPS`` (class 9): temporary names of killed writers, and names that must be kept.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: A valid manifest record; each generated line breaks one field of it.
GOOD_RECORD: dict[str, Any] = {
    "cell": "0123456789abcdef",
    "index": 0,
    "options": {"width": 4},
    "state": "done",
    "host": "h",
    "pid": 1,
    "time": "2026-01-01T00:00:00+00:00",
    "attempt": 1,
    "seconds": 1.5,
    "files": ["a.h5"],
    "checkpoints": ["a.pt"],
    "ran": ["train"],
}

_WRONG: dict[str, list[Any]] = {
    "str": [1, 2.5, True, None, [], ["x"], {}, {"a": 1}],
    "int": ["1", "abc", 1.5, True, [], [1], {}, -1, None],
    "num": ["1.5", "abc", [], [1.0], {}, {"s": 1}, True, -1, "NaN"],
    "list": ["a.h5", 1, {}, {"a": 1}, [1], [None], True],
    "dict": ["x", 1, [], [1], True],
}
_FIELDS = {
    "cell": "str",
    "index": "int",
    "options": "dict",
    "state": "str",
    "host": "str",
    "time": "str",
    "error": "str",
    "pid": "int",
    "attempt": "int",
    "exit_code": "int",
    "seconds": "num",
    "files": "list",
    "checkpoints": "list",
    "ran": "list",
}


def manifest_lines() -> dict[str, str]:
    """Damaged manifest lines by name (each is one line without its newline)."""
    out: dict[str, str] = {}
    for field, kind in _FIELDS.items():
        for i, value in enumerate(_WRONG[kind]):
            if field in ("index", "options") and value is None:
                continue  # an absent index or options is allowed
            if field in ("host", "time", "error", "pid", "attempt", "exit_code", "seconds") and value is None:
                continue  # a null optional field is absent
            if field in ("files", "checkpoints", "ran") and value is None:
                continue
            rec = {**GOOD_RECORD, field: value}
            out[f"{field}-{kind}-{i}"] = json.dumps(rec)
    out["state-unknown"] = json.dumps({**GOOD_RECORD, "state": "exploded"})
    out["cell-missing"] = json.dumps({k: v for k, v in GOOD_RECORD.items() if k != "cell"})
    out["state-missing"] = json.dumps({k: v for k, v in GOOD_RECORD.items() if k != "state"})
    out["cell-huge"] = json.dumps({**GOOD_RECORD, "cell": "c" * 10_000})
    for depth in (65, 1000, 100_000):
        nested = "[" * depth + "]" * depth
        out[f"nested-list-{depth}"] = json.dumps(GOOD_RECORD)[:-1] + ', "n": ' + nested + "}"
        out[f"nested-object-{depth}"] = '{"a":' * depth + "1" + "}" * depth
    out["seconds-infinite"] = json.dumps({**GOOD_RECORD, "seconds": float("inf")})
    for cut in (1, 10, 40):
        out[f"cut-{cut}"] = json.dumps(GOOD_RECORD)[:cut]
    out["not-an-object"] = "[1, 2, 3]"
    out["a-number"] = "42"
    out["binary"] = "\udcff\udcfe garbage"
    return out


#: Valid top-level fields of a spec snapshot, and wrong values for each.
_SNAPSHOT_WRONG: dict[str, list[Any]] = {
    "name": [1, None, [], {}],
    "stages": ["train", 1, [1], ["bogus"], None, {}],
    "train": ["x", 1, [], {"width": "wide"}, {"epochs": -3}, {"bogus": 1}],
    "grid": ["x", 1, [], {"width": 4}, {"width": []}, {"width": ["a"]}, {"bogus": [1]}],
    "extract": ["x", [], {"random": "many"}, {"splits": 5}],
    "measure": ["x", [], {"nn": "no"}],
    "probe": ["x", [], {"k": "five"}, {"probes": 3}],
    "slurm": ["x", [], {"time": []}],
    "ray": ["x", []],
    "path": [1, [], {}],
}


def snapshots(good: dict[str, Any]) -> dict[str, str]:
    """Damaged spec snapshots (JSON text) made from the valid snapshot ``good``."""
    out: dict[str, str] = {}
    for field, values in _SNAPSHOT_WRONG.items():
        for i, value in enumerate(values):
            out[f"{field}-{i}"] = json.dumps({**good, field: value})
    out["nested"] = '{"a":' * 100_000 + "1" + "}" * 100_000
    out["not-json"] = "{name = 'toml?'}"
    out["a-list"] = "[]"
    out["cut"] = json.dumps(good)[:20]
    return out


Edit = Callable[[dict[str, Any]], None]


def _set(path: tuple[str, ...], value: Any) -> Edit:
    def edit(prov: dict[str, Any]) -> None:
        node = prov
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def shard_lies(split: str) -> dict[str, Edit]:
    """Edits of a shard's provenance, by name; ``split`` is one of the shard's splits."""
    sh = ("extract", "shard")
    sp = (*sh, "splits", split)
    values: dict[tuple[str, ...], list[Any]] = {
        (*sh, "count"): [0, -1, 10**12, None, "2", [2], 2.5, True, {}],
        (*sh, "index"): ["abc", [0], -1, 99, None, 1.5, {}, "0"],
        (*sh, "splits"): [[], "train", None, 5, {}, {split: []}, {split: "x"}],
        (*sp, "rows"): ["0..3", [0], [0, 1, 2], ["a", "b"], None, [5, 2], [-1, 3], [0, 10**15], {}, [0.5, 2]],
        (*sp, "n_rows"): [-1, None, "7", 10**15, [7], 0, 1.5],
        ("extract",): ["x", [], 3],
        ("inputs",): ["abc", 5],
    }
    out: dict[str, Edit] = {}
    for path, vals in values.items():
        for i, v in enumerate(vals):
            out[f"{'.'.join(path)}={i}"] = _set(path, v)
    return out


def spec_sizes() -> dict[str, str]:
    """Spec files (TOML text) whose grid, nesting or sizes exceed the size rule."""
    head = 'name = "big"\n[train]\nepochs = 1\n'
    out: dict[str, str] = {}
    axes = ["seed", "batch_size", "lr", "width", "depth", "weight_decay"]
    for n_axes in (2, 3, 4, 5, 6):
        for length in (400, 1000, 10_000):
            if length**n_axes <= 100_000 or n_axes * length > 30_000:
                continue
            grid = "\n".join(f"{a} = [{', '.join(str(i + 1) for i in range(length))}]" for a in axes[:n_axes])
            out[f"grid-{n_axes}x{length}"] = head + "[grid]\n" + grid + "\n"
    for depth in (17, 50, 1000, 100_000):
        out[f"array-{depth}"] = head + "x = " + "[" * depth + "]" * depth + "\n"
        out[f"table-{depth}"] = head + "x = " + "{a = " * depth + "1" + "}" * depth + "\n"
        out[f"mixed-{depth}"] = (
            head + "x = " + "[{a = " * (depth // 2 + 1) + "1" + "}]" * (depth // 2 + 1) + "\n"
        )
        out[f"grid-value-{depth}"] = head + "[grid]\nseed = " + "[" * depth + "]" * depth + "\n"
    for width in (10**12, 10**15, 2**62):
        out[f"width-{width}"] = head + f"width = {width}\n"
        out[f"grid-width-{width}"] = head + f"[grid]\nwidth = [4, {width}]\n"
        out[f"widths-{width}"] = head + f"widths = [{width}, {width}]\n"
    out["width-1e6-depth-3"] = head + f"width = {10**6}\ndepth = 3\n"
    out["huge-file"] = head + "# " + "x" * (2 << 20) + "\n"
    return out


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _socket(p: Path) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(p))
    s.close()


def _folder(p: Path) -> None:
    p.mkdir()


def _link_to(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def link(p: Path) -> None:
        target = p.with_name(p.name + ".target")
        make(target)
        p.symlink_to(target)

    return link


def _link_devnull(p: Path) -> None:
    p.symlink_to("/dev/null")


#: Kinds of special file, each made at a path.
SPECIAL_KINDS: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "socket": _socket,
    "folder": _folder,
    "link-to-fifo": _link_to(_fifo),
    "link-to-folder": _link_to(_folder),
    "link-to-devnull": _link_devnull,
}
#: Where a sweep writes a file, relative to OUT.
SWEEP_FILES = (
    "sweep.jsonl",
    "sweep.spec.json",
    ".sweep.lock",
    "logs/workers.stderr",
    "logs/width=4-0123456789abcdef.log",
    "logs/other.log",
)


def stale_temps(dead_pid: int) -> tuple[list[str], list[str]]:
    """Names of temporary files left by a killed writer (process ``dead_pid``), and names to keep.

    To keep: temporary names of a live process (this one), and names that only look alike.
    """
    finals = [
        "m.h5",
        "a b.h5",
        "x.pt",
        "t.csv",
        "c.png",
        "sweep.spec.json",
        ".hidden.h5",
        "é.h5",
        "a.tmp-1.h5",
    ]
    tokens = ["deadbeef", "00000000", "0123abcd"]
    stale = [f".{f}.tmp-{dead_pid}-{t}" for f in finals for t in tokens]
    keep = [f".{f}.tmp-{os.getpid()}-{t}" for f in finals for t in tokens[:1]]
    keep += [f".m.h5.tmp-{dead_pid}-DEADBEEF", f"m.h5.tmp-{dead_pid}-deadbeef", f".m.h5.tmp-{dead_pid}-beef"]
    keep += [f".m.h5.tmp-x{dead_pid}-deadbeef", "m.h5", f".m.h5.tmp-{dead_pid}-deadbeef.bak"]
    return stale, keep
