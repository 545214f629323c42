"""The options object a stage's command builds from its arguments, without running it (tests, tools)."""

from __future__ import annotations

from collections.abc import Sequence

import typer.main

from actcode.cli._options import options_from_params
from actcode.cli.main import app
from actcode.options import ExtractOptions, MeasureOptions, Options, ProbeOptions, RegionsOptions

#: The commands that build a stage's options object, and its class.
COMMAND_OPTIONS: dict[str, type[Options]] = {
    "extract": ExtractOptions,
    "measure": MeasureOptions,
    "probe": ProbeOptions,
    "regions": RegionsOptions,
}


def command_options(command: str, args: Sequence[str]) -> Options:
    """What ``actcode COMMAND ARGS`` would build as its options object (parsed by Click, as a run does)."""
    group = typer.main.get_command(app)
    cmd = group.commands[command]  # type: ignore[attr-defined]
    ctx = cmd.make_context(command, list(args))
    return options_from_params(COMMAND_OPTIONS[command], ctx.params)


__all__ = ["COMMAND_OPTIONS", "command_options"]
