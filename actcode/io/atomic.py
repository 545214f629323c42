"""Atomic outputs (temporary name, fsync, rename) and the per-file results lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from actcode.errors import LockTimeoutError, OutputError


def temp_path_for(final: Path) -> Path:
    """A hidden, unique temporary name in the same folder as ``final`` (same file system)."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def check_output_dir(final: Path) -> None:
    """Raise OutputError unless ``final``'s folder exists and is writable."""
    parent = final.parent if str(final.parent) else Path()
    if not parent.exists():
        msg = f"cannot write {final}: the folder {parent} does not exist. Create it or choose another output path."
        raise OutputError(msg)
    if not parent.is_dir():
        msg = f"cannot write {final}: {parent} is not a folder."
        raise OutputError(msg)
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f"cannot write {final}: the folder {parent} is not writable. Choose another output path."
        raise OutputError(msg)
    if final.is_dir():
        msg = f"cannot write {final}: it is a folder. Give a file name."
        raise OutputError(msg)


def fsync_path(path: Path) -> None:
    """fsync a file or folder by path (best effort for folders)."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: Path, final: Path) -> None:
    """fsync ``tmp``, rename it to ``final`` atomically, fsync the folder."""
    fsync_path(tmp)
    os.replace(tmp, final)
    fsync_path(final.parent if str(final.parent) else Path())


@contextlib.contextmanager
def atomic_output(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``final``, on any error remove it.

    A reader of ``final`` sees either the old file or the complete new one, never a partial
    one, even when the process is killed (SIGKILL leaves at most a hidden ``.NAME.tmp-*``).
    """
    final = Path(final)
    check_output_dir(final)
    tmp = temp_path_for(final)
    try:
        yield tmp
        commit(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float = 120.0) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<path>.lock`` (fcntl.flock) while the block runs.

    Writers of results take it, so two processes adding results to one file take turns
    instead of losing each other's results. The lock file is left in place (removing it
    would race with a waiting process).
    """
    lock = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        msg = f"cannot add results to {path}: cannot create the lock file {lock} ({exc.strerror})."
        raise OutputError(msg) from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    msg = (
                        f"another process has been adding results to {path} for over {timeout:.0f} s "
                        f"(lock {lock}). Wait for it to finish, or remove the lock file if no actcode runs."
                    )
                    raise LockTimeoutError(msg) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
