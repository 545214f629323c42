"""Atomic outputs (temporary name, fsync, rename) and the per-file results lock."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import signal
import stat
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from actcode.errors import DISK_FULL_ERRNOS, InvalidParameterError, LockTimeoutError, OutputError
from actcode.sizes import format_bytes

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


def interrupted_error(exc: BaseException) -> bool:
    """Whether ``exc`` (a SystemError out of h5py, say) stands for a SIGINT or SIGTERM.

    A KeyboardInterrupt raised inside a C library's callback (h5py's file-object driver)
    comes back as a SystemError, or is swallowed; the signal is remembered here either way.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return bool(_INTERRUPTED["signal"])


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


#: The name of a temporary output (:func:`temp_path_for`): the final name, the writer's pid, a token.
TEMP_PATTERN = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>[0-9]{1,10})-[0-9a-f]{8}$")
#: The most folder entries looked at for stale temporary files (a huge folder is not listed whole).
_MAX_SCAN = 100_000


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return pid > 2**22  # alive (someone else's) unless no such pid can exist
    return False


def remove_stale_temps(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove temporary outputs in ``folder`` left by writers that were killed (SIGKILL, power loss).

    A temporary file is stale when its name has the pattern of :func:`temp_path_for` (for
    ``name`` only, when given) and the process whose pid it carries is gone. Pids are
    those of this machine: on a folder shared between hosts, a temporary file of a live
    writer on another host whose pid is free here would be removed, so writers on shared
    folders should write different outputs. Returns the removed paths; never raises.
    """
    import itertools

    removed: list[Path] = []
    try:
        with os.scandir(folder) as entries:
            for e in itertools.islice(entries, _MAX_SCAN):
                m = TEMP_PATTERN.match(e.name)
                if m is None or (name is not None and m.group("name") != name):
                    continue
                if _process_gone(int(m.group("pid"))) and e.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        Path(e.path).unlink()
                        removed.append(Path(e.path))
    except OSError:
        pass
    return removed


_DISK_FULL_TEXT = re.compile(
    "|".join([rf"errno = {n}\b" for n in DISK_FULL_ERRNOS] + [os.strerror(n) for n in DISK_FULL_ERRNOS])
)


def _free_bytes(folder: Path) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return int(st.f_bavail) * int(st.f_frsize)


def disk_full_error(exc: BaseException, final: str | Path) -> OutputError | None:
    """The OutputError (exit 7) for an error that means a full disk, else None.

    That is an OSError with a full-disk errno, or an error of HDF5 or torch (RuntimeError,
    OSError) whose message carries one: HDF5 reports a failed write as ``errno = 28``.
    """
    if isinstance(exc, OutputError) or not isinstance(exc, OSError | RuntimeError):
        return None
    if not (getattr(exc, "errno", None) in DISK_FULL_ERRNOS or _DISK_FULL_TEXT.search(str(exc))):
        return None
    folder = Path(final).parent if str(Path(final).parent) else Path()
    free = _free_bytes(folder)
    left = f" ({format_bytes(free)} free)" if free is not None else ""
    msg = (
        f"cannot write {final}: no space left on the device of {folder}{left}. "
        "Free some space or choose an output folder on another disk; nothing was written."
    )
    return OutputError(msg)


def check_free_space(final: str | Path, need: int, *, what: str = "the output") -> None:
    """Refuse (exit 7) before writing ``need`` bytes next to ``final`` when the device has less free."""
    folder = Path(final).parent if str(Path(final).parent) else Path()
    free = _free_bytes(folder)
    if free is not None and need > free:
        msg = (
            f"cannot write {final}: {what} needs about {format_bytes(need)} but the device of {folder} has "
            f"{format_bytes(free)} free. Free some space or choose an output folder on another disk."
        )
        raise OutputError(msg)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def resolve_output(final: str | Path, *, inputs: Iterable[str | Path] = ()) -> Path:
    """Check an output path before any work and return the path to write.

    The rules, the same for every command (formats/README.md and the README's guarantees):

    - ``-`` (stdout) is refused (exit 5): stdout carries the output paths for the next command.
    - A path holding a line break (or another control character) is refused (exit 5): it could
      not travel through the one-path-per-line protocol.
    - A symbolic link is written through: the returned path is the link's final target, which
      is replaced by copy-on-write while the link stays a link.
    - A path that exists and is not a regular file (a folder, a device such as ``/dev/null``, a
      FIFO, a socket) is refused (exit 7): actcode only ever replaces regular files.
    - The folder must exist and be writable (exit 7).
    - An output that is one of ``inputs`` (the same file by device and inode, or the same real
      path) is refused (exit 5): writing it would destroy an input of the same command.
    """
    text = str(final)
    if text == "-":
        msg = (
            "cannot write an output to stdout ('-'): stdout carries the paths of the files written, "
            "one per line, for the next command. Give a file name."
        )
        raise InvalidParameterError(msg)
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        msg = (
            f"cannot write {text!r}: the path holds a line break or another control character, and "
            "outputs are passed on as one path per line. Choose a name without them."
        )
        raise InvalidParameterError(msg)
    given = Path(final)
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    _refuse_special(target, given)
    _check_folder(target)
    for src in inputs:
        if Path(src).exists() and _same_file(target, Path(src)):
            msg = (
                f"cannot write {given}: it is an input of this command ({src}), which the output would "
                "destroy. Choose another output path."
            )
            raise InvalidParameterError(msg)
    return target


def _refuse_special(target: Path, given: Path) -> None:
    try:
        st = target.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        msg = f"cannot write {given}: {exc.strerror or exc}."
        raise OutputError(msg) from None
    if stat.S_ISDIR(st.st_mode):
        msg = f"cannot write {given}: it is a folder. Give a file name."
        raise OutputError(msg)
    if not stat.S_ISREG(st.st_mode):
        kinds = [(stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                 (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")]  # fmt: skip
        kind = next((name for test, name in kinds if test(st.st_mode)), "not a regular file")
        msg = (
            f"cannot write {given}: it exists and is {kind}; actcode only replaces regular files "
            "(-o /dev/null is refused on purpose). Choose a file path."
        )
        raise OutputError(msg)


def kind_of(mode: int) -> str:
    """What a file of this mode is, for messages: a folder, a FIFO, a socket, a device."""
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")]  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def open_regular(path: str | Path, flags: int, mode: int = 0o644) -> int:
    """Open ``path`` (a link is followed) and return its descriptor, only if it is a regular file.

    A FIFO, a device, a socket or a folder in its place is refused with OutputError (exit 7)
    naming it, without blocking: the file is opened with ``O_NONBLOCK`` (which a FIFO without
    a reader would otherwise hang on), checked with ``fstat``, then set back to blocking. A
    full disk met while creating it is an OutputError too.
    """
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        full = disk_full_error(exc, path)
        if full is not None:
            raise full from None
        if exc.errno == errno.ENXIO:  # a FIFO opened for writing with no reader
            msg = f"cannot use {path}: it is a FIFO; actcode only reads and writes regular files here."
            raise OutputError(msg) from None
        msg = f"cannot use {path}: {exc.strerror or exc}."
        raise OutputError(msg) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        msg = (
            f"cannot use {path}: it is {kind_of(st.st_mode)}; actcode only reads and writes regular files "
            "here. Remove it, or choose another folder."
        )
        raise OutputError(msg)
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def check_output_dir(final: str | Path) -> None:
    """Check an output path before any work (every rule of :func:`resolve_output`, without inputs)."""
    resolve_output(final)


def _check_folder(final: Path) -> None:
    parent = final.parent if str(final.parent) else Path()
    if not parent.exists():
        msg = f"cannot write {final}: the folder {parent} does not exist. Create it or choose another path."
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


def create_temp(target: Path) -> Path:
    """Create the hidden temporary file of ``target`` (exclusively, never through a link).

    Stale temporary files of ``target`` left by killed writers are removed first.
    """
    remove_stale_temps(target.parent if str(target.parent) else Path(), target.name)
    tmp = temp_path_for(target)
    register_temp(tmp)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        unregister_temp(tmp)
        full = disk_full_error(exc, target)
        if full is not None:
            raise full from None
        msg = f"cannot write {target}: {exc.strerror or exc}. Choose another output path."
        raise OutputError(msg) from None
    os.close(fd)
    return tmp


def discard_temp(tmp: Path) -> None:
    """Remove a temporary output (never raising) and forget it."""
    fd = _UNNAMED.pop(tmp, None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)  # an unnamed file vanishes with its last descriptor
    with contextlib.suppress(OSError):
        tmp.unlink()
    unregister_temp(tmp)


#: Temporary outputs written as unnamed files (``O_TMPFILE``): the name they will be linked
#: under, and a descriptor that keeps the file.
_UNNAMED: dict[Path, int] = {}


def make_unnamed(tmp: Path) -> int | None:
    """Replace the temporary file ``tmp`` by an unnamed one in the same folder; return its descriptor.

    A process killed while writing then leaves nothing behind: the file has no name until
    :func:`commit` links it. Returns None (``tmp`` stays as it is) where the file system or
    the kernel has no ``O_TMPFILE``.
    """
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return None
    try:
        fd = os.open(tmp.parent if str(tmp.parent) else ".", flag | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    _UNNAMED[tmp] = os.dup(fd)
    with contextlib.suppress(OSError):
        tmp.unlink()
    return fd


def _link_unnamed(tmp: Path) -> None:
    fd = _UNNAMED.pop(tmp, None)
    if fd is None:
        return
    try:
        if not _linkat_follow(f"/proc/self/fd/{fd}", tmp):  # no linkat: copy the bytes under the name
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            try:
                size, done = os.fstat(fd).st_size, 0
                while done < size:
                    done += os.copy_file_range(fd, out, size - done, done, done) or _end(tmp)
            finally:
                os.close(out)
    finally:
        os.close(fd)


def _end(tmp: Path) -> int:
    msg = f"cannot write {tmp}: its temporary file ended early."
    raise OutputError(msg)


def _linkat_follow(src: str, dst: Path) -> bool:
    """``linkat(AT_FDCWD, src, AT_FDCWD, dst, AT_SYMLINK_FOLLOW)``: os.link does not follow /proc links."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, follow = -100, 0x400
        rc = libc.linkat(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(str(dst)), follow)
    except (OSError, AttributeError):
        return False
    if rc != 0:
        err = ctypes.get_errno()
        if err in DISK_FULL_ERRNOS or err == errno.EEXIST:
            raise OSError(err, os.strerror(err), str(dst))
        return False
    return True


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


def _keep_mode(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the mode (and, where allowed, the owner) of the file it replaces."""
    try:
        st = target.stat()
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        return
    if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
        with contextlib.suppress(OSError):
            os.chown(tmp, st.st_uid, st.st_gid)
    tmp.chmod(stat.S_IMODE(st.st_mode))


def commit(tmp: Path, final: Path) -> None:
    """fsync ``tmp``, rename it over ``final`` atomically, fsync the folder.

    ``final`` is resolved as :func:`resolve_output` does (a link is written through, a file
    that is not regular is never replaced), and the new file keeps the replaced file's mode.
    Other hard links to the replaced file keep pointing at the old content.
    """
    target = Path(os.path.realpath(final)) if Path(final).is_symlink() else Path(final)
    _refuse_special(target, Path(final))
    _link_unnamed(tmp)
    _keep_mode(tmp, target)
    fsync_path(tmp)
    tmp.replace(target)
    fsync_path(target.parent if str(target.parent) else Path())


@contextlib.contextmanager
def atomic_output(final: str | Path, *, inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield a temporary path; on success rename it to ``final``, on any error remove it.

    A reader of ``final`` sees either the old file or the complete new one, never a partial
    one, even when the process is killed (SIGKILL leaves at most a hidden ``.NAME.tmp-*``).
    ``final`` is checked first with :func:`resolve_output` (``inputs`` are the command's
    inputs, which it must not be); a full disk becomes an :class:`OutputError` (exit 7).
    """
    final = Path(final)
    target = resolve_output(final, inputs=inputs)
    tmp = create_temp(target)
    try:
        yield tmp
        check_interrupted()
        commit(tmp, target)
    except BaseException as exc:
        discard_temp(tmp)
        full = disk_full_error(exc, final)
        if full is not None:
            raise full from None
        raise
    finally:
        unregister_temp(tmp)


class GuardedFile:
    """The file object under an HDF5 file being written: a full disk never reaches HDF5.

    HDF5 writes cached chunks and metadata whenever it evicts them, also while an h5py object
    is being freed or at interpreter exit; a failed write there is printed as a traceback,
    loses data silently, or crashes the process (the SIGSEGV and SIGBUS of a full tmpfs). So
    HDF5 writes through this object (h5py's ``fileobj`` driver): a write that meets a full
    disk is kept in memory instead, HDF5 sees success, and :meth:`check` raises the
    OutputError (exit 7) at the next point the writer chooses. The file is then abandoned
    (closed, its temporary name removed), so the bytes kept in memory are only those written
    between the failure and that point.
    """

    def __init__(self, path: Path, final: str | Path, fd: int | None = None) -> None:
        self.final = final
        self._fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW) if fd is None else fd
        self._pos = 0
        self._size = os.fstat(self._fd).st_size
        self._held: dict[int, bytes] = {}
        self.error: OSError | None = None

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else (self._pos + pos if whence == 1 else self._size + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        data = os.pread(self._fd, len(view), self._pos)
        n = len(data)
        view[:n] = data
        for off, held in self._held.items():  # bytes the disk had no room for
            lo, hi = max(off, self._pos), min(off + len(held), self._pos + len(view))
            if lo < hi:
                view[lo - self._pos : hi - self._pos] = held[lo - off : hi - off]
                n = max(n, hi - self._pos)
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        buf = bytearray(max(0, self._size - self._pos) if size < 0 else size)
        n = self.readinto(buf)
        return bytes(buf[:n])

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        if self.error is None:
            try:
                done = 0
                while done < len(chunk):
                    done += os.pwrite(self._fd, chunk[done:], self._pos + done)
            except OSError as exc:
                if exc.errno not in DISK_FULL_ERRNOS:
                    raise
                self.error = exc
        if self.error is not None:
            self._held[self._pos] = chunk
        self._pos += len(chunk)
        self._size = max(self._size, self._pos)
        return len(chunk)

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                if exc.errno not in DISK_FULL_ERRNOS:
                    raise
                self.error = exc
        self._size = size
        return size

    def flush(self) -> None:
        return None

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        self._held.clear()

    def check(self) -> None:
        """Raise the OutputError (exit 7) of a full disk met by any write so far."""
        if self.error is not None:
            err = disk_full_error(self.error, self.final)
            raise err if err is not None else self.error


def open_h5_output(tmp: Path, final: str | Path) -> tuple[Any, GuardedFile]:
    """Open the temporary file ``tmp`` (made by :func:`create_temp`) as a new HDF5 file.

    Returns the h5py File and its :class:`GuardedFile`: call ``guard.check()`` after each
    block of writes and after closing the file, and :func:`abandon_h5` on any error. Where
    the file system allows, the file is unnamed (``O_TMPFILE``) until :func:`commit` links
    it into place, so a writer killed by SIGKILL leaves no temporary file.
    """
    import h5py

    guard = GuardedFile(tmp, final, make_unnamed(tmp))
    try:
        f = h5py.File(guard, "w", libver="earliest", track_order=True)
    except BaseException:
        guard.close()
        raise
    return f, guard


def abandon_h5(f: Any, guard: GuardedFile | None, tmp: Path) -> None:
    """Close an HDF5 file being written, ignoring every error, and remove its temporary name."""
    with contextlib.suppress(Exception):
        if f is not None and f.id.valid:
            f.close()
    if guard is not None:
        guard.close()
    discard_temp(tmp)


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
            same = os.fstat(fd).st_ino == lock.stat().st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        os.close(fd)
