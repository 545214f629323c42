"""Atomic outputs (temporary name, fsync, rename) and the per-file results lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from actcode.errors import LockTimeoutError, OutputError

#: Temporary files being written by this process; removed on a second Ctrl-C.
_LIVE_TEMPS: set[Path] = set()
_INTERRUPTED = {"signal": 0}


def register_temp(path: Path) -> None:
    """Remember a temporary output so that a forced exit can remove it."""
    _LIVE_TEMPS.add(path)


def unregister_temp(path: Path) -> None:
    """Forget a temporary output (it was renamed or removed)."""
    _LIVE_TEMPS.discard(path)


def check_interrupted() -> None:
    """Raise KeyboardInterrupt if SIGINT/SIGTERM arrived (a library may have swallowed it)."""
    if _INTERRUPTED["signal"]:
        raise KeyboardInterrupt


def _on_signal(signum: int, frame: object) -> None:
    if _INTERRUPTED["signal"]:  # second signal: leave at once, removing partial outputs
        for tmp in list(_LIVE_TEMPS):
            with contextlib.suppress(OSError):
                tmp.unlink()
        with contextlib.suppress(OSError):
            os.write(2, b"actcode: error: interrupted again; stopped at once, partial outputs removed\n")
        os._exit(130 if signum == signal.SIGINT else 128 + signum)
    _INTERRUPTED["signal"] = signum
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt, remembered for :func:`check_interrupted`.

    The first signal unwinds the command (temporary outputs are removed by their context
    managers); if a library swallows the KeyboardInterrupt, the next block written raises it
    again. A second signal exits at once after removing the temporary outputs.
    """
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


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
    register_temp(tmp)
    try:
        yield tmp
        check_interrupted()
        commit(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        unregister_temp(tmp)


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float = 120.0) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``<path>.lock`` (fcntl.flock) while the block runs.

    Writers of results take it, so two processes adding results to one file take turns
    instead of losing each other's results. The holder removes the lock file before it
    releases the lock; a waiter that then wins the lock on the removed file sees that the
    name no longer points at its file and tries again, so no two processes ever both hold it.
    """
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            msg = f"cannot add results to {path}: cannot create the lock file {lock} ({exc.strerror})."
            raise OutputError(msg) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            if time.monotonic() > deadline:
                msg = (
                    f"another process has been adding results to {path} for over {timeout:.0f} s "
                    f"(lock {lock}). Wait for it to finish, or remove the lock file if no actcode runs."
                )
                raise LockTimeoutError(msg) from None
            time.sleep(0.05)
            continue
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)
