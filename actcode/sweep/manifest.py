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
    and a process killed at any moment leaves either the whole line or none of it.
    """
    line = (json.dumps(record, sort_keys=True, default=str, allow_nan=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Every well-formed record of a manifest, in order (an absent file has none).

    A line that is not a JSON object (a disk that filled up mid-line) is skipped.
    """
    p = Path(path)
    if not p.is_file():
        return []
    out: list[dict[str, Any]] = []
    for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("cell"), str):
            out.append(rec)
    return out


def last_records(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last finished record (done, failed or cancelled) of each cell."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        if rec.get("state") in ATTEMPT_STATES[1:]:
            out[rec["cell"]] = rec
    return out


__all__ = ["ATTEMPT_STATES", "MANIFEST", "append_record", "attempt_record", "last_records", "read_manifest"]
