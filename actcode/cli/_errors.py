"""The one place where exceptions become exit codes and one-line messages on stderr."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from actcode.cli._common import escape_control
from actcode.errors import DISK_FULL_ERRNOS, ActcodeError, exit_code_for
from actcode.io.atomic import interrupted_error

F = TypeVar("F", bound=Callable[..., Any])

#: Exit codes of every actcode command. Code 2 is reserved for usage errors found by the
#: option parser (unknown option, missing argument).
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "failure: an error that is not one of the kinds below, or some inputs of a batch failed",
    2: "usage error: unknown option, bad option value or missing argument (reported by the parser)",
    3: "invalid or unsupported file: not HDF5, not an actcode file, malformed, or a newer major version",
    4: "input not found: a path or a dataset's files do not exist",
    5: "invalid parameter: an option is out of range or does not fit the data",
    6: "a probe cannot run on these codes (for example a single class)",
    7: "an output cannot be written",
    8: "another process holds the file's results lock, or holds the file open for writing",
    130: "interrupted (Ctrl-C / SIGINT); outputs in progress were discarded",
}

#: The epilog of every command's help: the exit-code table.
EPILOG = "Exit codes:\n\n" + "\n\n".join(f"  {k}  {v}" for k, v in EXIT_CODES.items())

_REPORTED = {"interrupt": False}


def interrupt_reported() -> bool:
    """Whether a command already printed its 'interrupted' line."""
    return _REPORTED["interrupt"]


def error_line(command: str, exc: BaseException) -> str:
    """Format the one line printed for a user error."""
    text = " ".join(escape_control(str(exc)).split()) or type(exc).__name__
    return f"actcode {command}: error: {text}" if command else f"actcode: error: {text}"


def print_error(command: str, exc: BaseException) -> None:
    """Print ``error_line`` to stderr, never raising (stderr may be closed)."""
    try:
        sys.stderr.write(error_line(command, exc) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


#: What becomes one line and an exit code; anything else is a bug and keeps its traceback.
USER_ERRORS = (ActcodeError, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def _is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, USER_ERRORS) or (isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS)


def handle_errors(command: str) -> Callable[[F], F]:
    """Decorate a command: user errors become one stderr line and their exit code.

    ``ActcodeError`` (and missing files, permission problems) print ``actcode <command>:
    error: <message>`` and exit with the code from :data:`EXIT_CODES`. ``KeyboardInterrupt``
    exits 130 with a short message. A ``BrokenPipeError`` on stdout (``| head -1``) ends the
    command quietly with status 0. Anything else is a bug and keeps its traceback.
    """

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except typer.Exit:
                raise
            except BrokenPipeError:
                silence_stdout()
                raise typer.Exit(0) from None
            except KeyboardInterrupt:
                print_error(command, KeyboardInterrupt("interrupted; partial outputs were removed"))
                _REPORTED["interrupt"] = True
                raise typer.Exit(130) from None
            except OSError as exc:
                if not _is_user_error(exc):
                    raise
                print_error(command, exc)
                raise typer.Exit(exit_code_for(exc)) from None
            except ActcodeError as exc:
                print_error(command, exc)
                raise typer.Exit(exit_code_for(exc)) from None
            except Exception as exc:
                # a Ctrl-C raised inside a C callback (h5py) comes out as another exception,
                # SystemError for one: once a signal has arrived, whatever unwinds is the interrupt
                if not interrupted_error(exc):
                    raise
                print_error(command, KeyboardInterrupt("interrupted; partial outputs were removed"))
                _REPORTED["interrupt"] = True
                raise typer.Exit(130) from None

        return wrapper  # type: ignore[return-value]

    return deco


def silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's exit flush does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def run_batch(command: str, items: list[str], fn: Callable[[str], Any]) -> list[Any]:
    """Apply ``fn`` to every input; a failing input does not stop the batch.

    Each failure prints its one line on stderr as it happens. After the last input the
    command exits with the exit code of the first failure (so a batch with any failure
    exits non-zero), or returns the results when all succeeded. Outputs of the inputs that
    succeeded are complete and were already printed.
    """
    results: list[Any] = []
    codes: list[int] = []
    for item in items:
        try:
            results.append(fn(item))
        except BrokenPipeError:
            silence_stdout()
            raise typer.Exit(0) from None
        except (ActcodeError, OSError) as exc:
            if not _is_user_error(exc):
                raise
            print_error(command, exc)
            codes.append(exit_code_for(exc))
    if codes:
        raise typer.Exit(codes[0])
    return results
