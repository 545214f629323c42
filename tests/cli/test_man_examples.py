"""The man pages' EXAMPLES name real commands and options, and every page has ENVIRONMENT."""

from __future__ import annotations

import shlex

import pytest
import typer.main

from actcode.cli._man_extra import ENVIRONMENT, EXAMPLES
from actcode.cli._manpages import render_all
from actcode.cli.main import app, hoist_global_options

ROOT = typer.main.get_command(app)


def _check(argv: list[str]) -> None:
    """Parse ``actcode ARGS`` as the CLI would (options and their values), without running it."""
    args = hoist_global_options(argv, ROOT)
    command = ROOT
    while args and args[0].startswith("-"):
        args = args[1:]
    while hasattr(command, "commands") and args:
        if args[0] not in command.commands and "run" in command.commands:
            args.insert(0, "run")  # `actcode sweep SPEC` is `actcode sweep run SPEC` (_RunByDefault)
        if args[0] not in command.commands:
            break
        command = command.commands[args.pop(0)]
    assert not hasattr(command, "commands"), f"no subcommand in {argv}"
    ctx = command.make_context("actcode", list(args), resilient_parsing=True)
    ctx.resilient_parsing = False  # built without running anything; now parse strictly
    parser = command.make_parser(ctx)
    parser.parse_args(list(args))  # raises on an unknown option or a missing value


@pytest.mark.parametrize("page", sorted(EXAMPLES))
def test_examples_parse(page: str) -> None:
    for _, line in EXAMPLES[page]:
        for part in line.split("|"):
            argv = shlex.split(part)
            if argv and argv[0] == "actcode":
                _check(argv[1:])


def test_every_page_has_environment_and_the_main_pages_have_examples() -> None:
    pages = render_all()
    for name, text in pages.items():
        assert ".SH ENVIRONMENT" in text, name
        for var in ENVIRONMENT:
            assert var in text, (name, var)
    assert set(EXAMPLES) <= {n[:-2] for n in pages}
    for name in ("actcode", "actcode-train", "actcode-extract", "actcode-chart-curves", "actcode-sweep"):
        assert ".SH EXAMPLES" in pages[f"{name}.1"], name


def test_a_bad_option_is_caught() -> None:
    with pytest.raises(Exception, match="No such option: --no-such-option"):
        _check(["train", "--no-such-option"])
