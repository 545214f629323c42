"""The sweep's manifest ``OUT/sweep.jsonl``: one JSON line per event of an attempt, appended atomically."""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The manifest's file name inside a sweep's folder.
MANIFEST = "sweep.jsonl"

#: States an attempt record can have: ``running`` when a worker starts the cell, then one of
#: the others when it ends (``cancelled`` by Ctrl-C, SIGTERM or the sweep's cancellation).
ATTEMPT_STATES = ("running", "done", "failed", "cancelled")


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def attempt_record(cell: str, index: int, point: dict[str, Any], state: str, **extra: Any) -> dict[str, Any]:
    """A manifest record: the cell, its grid values, its state, the host, the time, and ``extra``.

    ``extra`` holds, where known: ``attempt`` (1, 2, ... with retries), ``files`` (the code
    files made or found), ``ran`` (the stages that ran), ``seconds``, ``error``,
    ``exit_code`` and ``gpus`` (the worker's ``CUDA_VISIBLE_DEVICES``).
    """
    return {
        "cell": cell,
        "index": index,
        "options": point,
        "state": state,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "time": now(),
        **extra,
    }


def append_record(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as one line, in a single ``write`` under an exclusive lock, then fsync.

    Writers on several processes or hosts (on a shared folder) never interleave their lines,
    and a process killed at any moment leaves either the whole line or none of it. The
    manifest must be a regular file (a FIFO or a device in its place is refused, exit 7,
    instead of blocking), and a full disk is an OutputError (exit 7) with one line.
    """
    from actcode.io.atomic import disk_full_error, open_regular

    line = (json.dumps(record, sort_keys=True, default=str, allow_nan=True) + "\n").encode()
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        with contextlib.suppress(OSError):
            os.fsync(fd)
    except OSError as exc:
        full = disk_full_error(exc, path)
        if full is not None:
            raise full from None
        raise
    finally:
        os.close(fd)  # closing releases the lock


#: The longest manifest line read (a record is a few hundred bytes; a longer line is damaged).
MAX_LINE_BYTES = 1 << 20


def read_manifest(path: str | Path, damaged: list[str] | None = None) -> list[dict[str, Any]]:
    """Every well-formed record of a manifest, in order (an absent file has none).

    Each line is parsed by the bounded reader (:mod:`actcode.io.bounded`) and its fields are
    checked by type. A damaged line (cut by a full disk, edited, nested too deep, a field of
    the wrong type) is skipped, never the others; its one-line reason, naming the file, the
    line and the field, is appended to ``damaged`` when given. A manifest that is not a
    regular file (a FIFO) is refused with FormatError (exit 3) instead of blocking.
    """
    from actcode.errors import FormatError
    from actcode.io.atomic import open_regular

    p = Path(path)
    if not p.exists() and not p.is_symlink():
        return []
    out: list[dict[str, Any]] = []
    try:
        fd = open_regular(p, os.O_RDONLY)
    except OSError as exc:
        raise FormatError(str(exc)) from None
    with os.fdopen(fd, "rb") as f:
        for number, line in enumerate(_lines(f), start=1):
            if line is not None and not line.strip():
                continue
            try:
                out.append(check_record(line, f"{p} line {number}"))
            except FormatError as exc:
                if damaged is not None:
                    damaged.append(str(exc))
    return out


def _lines(f: Any) -> Iterable[bytes | None]:
    """The file's lines; None for a line longer than MAX_LINE_BYTES (read past in bounded memory)."""
    while True:
        line = f.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while True:  # skip to the end of this line, bounded memory
                rest = f.readline(MAX_LINE_BYTES)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line


def check_record(line: bytes | str | None, source: str) -> dict[str, Any]:
    """One manifest line as a record whose known fields have their types, else FormatError (exit 3).

    ``None`` stands for a line longer than :data:`MAX_LINE_BYTES`.
    """
    from actcode.io.bounded import Fields, parse_json

    if line is None:
        from actcode.errors import FormatError

        msg = f"{source}: longer than {MAX_LINE_BYTES} bytes; not a manifest record."
        raise FormatError(msg)
    rec = Fields(parse_json(line, source, max_chars=MAX_LINE_BYTES), source)
    out: dict[str, Any] = {
        "cell": rec.text("cell", max_len=64),
        "index": rec.integer("index", lo=0, default=0),
        "options": dict(rec.table("options", default={}).data),
        "state": rec.text("state", choices=ATTEMPT_STATES),
    }
    for key in ("host", "time", "gpus", "error"):
        if rec.has(key):
            out[key] = rec.text(key)
    for key in ("pid", "attempt", "exit_code"):
        if rec.has(key):
            out[key] = rec.integer(key, lo=0)
    if rec.has("seconds"):
        out["seconds"] = rec.number("seconds", lo=0)
    for key in ("files", "checkpoints", "ran", "notes"):
        if rec.has(key):
            out[key] = rec.texts(key)
    return out


def last_records(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last finished record (done, failed or cancelled) of each cell."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.get("state") in ATTEMPT_STATES[1:]:
            out[rec["cell"]] = rec
    return out


__all__ = [
    "ATTEMPT_STATES",
    "MANIFEST",
    "append_record",
    "attempt_record",
    "check_record",
    "last_records",
    "read_manifest",
]
