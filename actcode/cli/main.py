"""The ``actcode`` application: global options and the subcommands, composed in one place."""

from __future__ import annotations

import signal

import typer

from actcode import __version__
from actcode.cli import chart, extract, info, measure, merge, probe, regions, sweep, table, train, validate
from actcode.cli._common import set_verbosity
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
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log lines on stderr."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables on stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    set_verbosity(-1 if quiet else verbose)


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


def main() -> None:
    """Console-script entry point: Ctrl-C and SIGTERM unwind cleanly (exit 130)."""
    install_signal_handlers()
    try:
        app()
    except SystemExit as exc:
        # Typer turns a Ctrl-C outside a command body (while parsing) into a silent exit 130.
        if exc.code == 130 and not interrupt_reported():
            print_error("", KeyboardInterrupt("interrupted; nothing was written"))
        raise
    finally:
        # the work is done or already unwound: a late Ctrl-C must not interrupt the exit
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
