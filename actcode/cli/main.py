"""The ``actcode`` application: global options and the subcommands, composed in one place."""

from __future__ import annotations

import re
import signal
import sys
import warnings
from collections.abc import Sequence
from typing import Any, TextIO

import typer

from actcode import __version__
from actcode.cli import chart, extract, info, measure, merge, probe, regions, sweep, table, train, validate
from actcode.cli._common import escape_control, set_verbosity
from actcode.cli._errors import EPILOG, interrupt_reported, print_error
from actcode.io.atomic import install_signal_handlers

app = typer.Typer(
    name="actcode",
    help=(
        "Study neural networks as hash encoders: train ReLU networks, extract their neural codes "
        "(activation patterns), measure determinism and probe categorization, and chart the results. "
        "Commands read input paths from arguments or stdin and write output paths to stdout, so they chain "
        "with pipes: actcode train | actcode extract | actcode measure | actcode probe."
    ),
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"actcode {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="More log lines on stderr, and every library warning."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bars, tables or library warnings on stderr."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    level = -1 if quiet else verbose
    set_verbosity(level)
    set_warning_filter(level)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    text = escape_control(" ".join(str(message).split()))
    print(f"actcode: warning: {category.__name__}: {text}", file=sys.stderr if file is None else file)


def set_warning_filter(level: int) -> None:
    """Library warnings (scikit-learn's ``ConvergenceWarning``, torch's, actcode's) on stderr, one
    line each: none with ``-q``, each one every time with ``-v``, Python's default (once per
    place) otherwise."""
    warnings.showwarning = _show_warning
    if level < 0:
        warnings.simplefilter("ignore")
    elif level > 0:
        warnings.simplefilter("always")


# Subcommands, in the order of the pipeline.
app.command("train", epilog=EPILOG)(train.command)
app.command("extract", epilog=EPILOG)(extract.command)
app.command("merge", epilog=EPILOG)(merge.command)
app.command("measure", epilog=EPILOG)(measure.command)
app.command("probe", epilog=EPILOG)(probe.command)
app.command("regions", epilog=EPILOG)(regions.command)
app.add_typer(chart.app, name="chart")
app.command("info", epilog=EPILOG)(info.command)
app.command("validate", epilog=EPILOG)(validate.command)
app.add_typer(sweep.app, name="sweep")
app.command("table", epilog=EPILOG)(table.command)


#: The root's own options; all are flags, so they may also follow a subcommand (``actcode train -v``).
_GLOBAL_FLAG = re.compile(r"^(-v+|-q|--verbose|--quiet)$")


def _takes_value(command: Any) -> set[str]:
    names: set[str] = set()
    for param in command.params:
        if param.param_type_name == "option" and not (param.is_flag or param.count):
            names.update(param.opts + param.secondary_opts)
    return names


def hoist_global_options(args: Sequence[str], root: Any) -> list[str]:
    """``args`` with the root's flags (``-v``, ``-q``) that follow a subcommand moved before it.

    A token is moved only where it is an option of its own: never the value of a subcommand's
    option (``--title -v``), never after ``--``, never when the subcommand has such an option.

    Examples
    --------
    >>> hoist_global_options(["train", "--epochs", "3", "-v"], typer.main.get_command(app))
    ['-v', 'train', '--epochs', '3']
    """
    args = list(args)
    command = root  # a click Group (typer's own copy of click: duck-typed)
    i = 0
    while i < len(args) and hasattr(command, "commands"):
        if args[i] in command.commands:
            command = command.commands[args[i]]
        elif not args[i].startswith("-"):
            return args  # an unknown command: click says so
        i += 1
    if command is root:
        return args
    own = {opt for p in command.params for opt in getattr(p, "opts", [])}
    valued = _takes_value(command)
    hoisted: list[str] = []
    rest = args[:i]
    while i < len(args):
        token = args[i]
        if token == "--":
            rest += args[i:]
            break
        if token in valued:
            rest += args[i : i + 2]
            i += 2
            continue
        (hoisted if _GLOBAL_FLAG.match(token) and token not in own else rest).append(token)
        i += 1
    return hoisted + rest


def main() -> None:
    """Console-script entry point: Ctrl-C and SIGTERM unwind cleanly (exit 130)."""
    install_signal_handlers()
    try:
        app(args=hoist_global_options(sys.argv[1:], typer.main.get_command(app)))
    except SystemExit as exc:
        # Typer turns a Ctrl-C outside a command body (while parsing) into a silent exit 130.
        if exc.code == 130 and not interrupt_reported():
            print_error("", KeyboardInterrupt("interrupted; nothing was written"))
        raise
    finally:
        # the work is done or already unwound: a late Ctrl-C must not interrupt the exit
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
