"""Pipe protocol shared by every command: input paths, output paths, consoles and progress."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape as markup_escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from actcode.errors import InvalidParameterError, NoInputError

#: Human output (progress, tables, logs) goes here; stdout is for the next command.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

_state: dict[str, int] = {"verbosity": 0}


def set_verbosity(level: int) -> None:
    """-1 quiet, 0 normal, 1 verbose."""
    _state["verbosity"] = level


def verbosity() -> int:
    """Current verbosity (-1 quiet, 0 normal, 1+ verbose)."""
    return _state["verbosity"]


#: Control characters (C0, DEL, C1): a string from a file never reaches the terminal with them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def escape_control(text: str) -> str:
    r"""``text`` with every control character written as ``\xNN`` (so ESC, BEL or a newline
    in a layer name, a path or a message cannot drive the terminal or split a line).

    Examples
    --------
    >>> escape_control("relu\x1b]0;PWNED\x07")
    'relu\\x1b]0;PWNED\\x07'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def printable(value: object) -> str:
    """A string from a file, made safe for a rich table or line: control characters escaped,
    rich markup (``[bold]``) shown as typed."""
    return markup_escape(escape_control(str(value)))


def log(message: str, *, level: int = 0) -> None:
    """Print a log line on stderr when the verbosity allows it (control characters escaped)."""
    if verbosity() >= level:
        err_console.print(escape_control(message))


def read_input_paths(paths: list[str] | None, *, what: str = "input files") -> list[str]:
    """Paths from arguments, or from stdin (one per line) when none are given or for ``-``.

    Blank lines are skipped; surrounding whitespace other than inside the path is kept, so
    paths with spaces work. Raises :class:`NoInputError` when there is nothing to read.
    """
    args = list(paths or [])
    out: list[str] = []
    if not args or args == ["-"] or "-" in args:
        if sys.stdin is None or sys.stdin.closed or (not args and sys.stdin.isatty()):
            msg = f"no {what} given: pass paths as arguments or pipe them on stdin, one per line."
            raise NoInputError(msg)
        stdin_paths = [line.rstrip("\r\n") for line in sys.stdin]
        stdin_paths = [p for p in stdin_paths if p.strip()]
        for a in args or ["-"]:
            if a == "-":
                out.extend(stdin_paths)
            else:
                out.append(a)
    else:
        out = args
    if not out:
        msg = f"no {what} given: stdin was empty. Pass paths as arguments or pipe them, one per line."
        raise NoInputError(msg)
    for path in out:
        _one_line(path)
    return out


def _one_line(path: str) -> None:
    if "\n" in path or "\r" in path:
        msg = (
            f"the path {escape_control(path)!r} holds a line break; paths travel one per line between "
            "commands, so actcode refuses them. Rename the file."
        )
        raise InvalidParameterError(msg)


#: The real stdout once :func:`protect_stdout` has sent file descriptor 1 to stderr.
_paths_out: list[TextIO] = []


def protect_stdout() -> None:
    """From now on, only :func:`emit_path` and :func:`emit_json` reach stdout.

    A command about to run a user's code calls this: file descriptor 1 is pointed at stderr for
    the rest of the process, so whatever that code prints (from ``forward``, or from a thread it
    started, even after the command's own work) lands on stderr, and stdout keeps only paths.
    Without real descriptors (output captured in a test) it does nothing.
    """
    if _paths_out:
        return
    try:
        sys.stdout.flush()
        fd, err = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return
    saved = os.dup(fd)
    os.dup2(err, fd)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    _paths_out.append(os.fdopen(saved, "w", encoding=encoding, errors="surrogateescape"))


def _stdout() -> TextIO:
    return _paths_out[0] if _paths_out else sys.stdout


def emit_path(path: str | Path) -> None:
    """Write one output path to stdout for the next command, flushed at once."""
    _one_line(str(path))
    out = _stdout()
    out.write(f"{path}\n")
    out.flush()


def emit_json(record: dict[str, Any]) -> None:
    """Write one JSON record (one line) to stdout."""
    out = _stdout()
    out.write(json.dumps(record, default=_json_default, allow_nan=True) + "\n")
    out.flush()


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    msg = f"not JSON serialisable: {type(obj).__name__}"
    raise TypeError(msg)


@contextmanager
def progress(*, transient: bool = True, extra: Sequence[ProgressColumn] = ()) -> Iterator[Progress]:
    """A rich progress display on stderr that never touches stdout; silent with ``-q``.

    ``extra`` columns (a task's own counts) come after the done/total count.
    """
    p = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        *extra,
        TimeElapsedColumn(),
        console=err_console,
        transient=transient,
        redirect_stdout=False,
        redirect_stderr=False,
        disable=verbosity() < 0,
    )
    with p:
        yield p
