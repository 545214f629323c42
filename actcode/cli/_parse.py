"""The options object a stage's command builds from its arguments, without running it (tests, tools)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer.main

from actcode.cli._options import options_from_params
from actcode.cli.main import app
from actcode.cli.train import train_config_of
from actcode.config import TrainConfig
from actcode.options import ExtractOptions, MeasureOptions, Options, ProbeOptions, RegionsOptions

#: The commands that build a stage's options object, and its class.
COMMAND_OPTIONS: dict[str, type[Options]] = {
    "extract": ExtractOptions,
    "measure": MeasureOptions,
    "probe": ProbeOptions,
    "regions": RegionsOptions,
}


def _params(command: str, args: Sequence[str]) -> dict[str, Any]:
    group = typer.main.get_command(app)
    cmd = group.commands[command]  # type: ignore[attr-defined]
    return dict(cmd.make_context(command, list(args)).params)


def command_options(command: str, args: Sequence[str]) -> Options:
    """What ``actcode COMMAND ARGS`` would build as its options object (parsed by Click, as a run does)."""
    return options_from_params(COMMAND_OPTIONS[command], _params(command, args))


def train_command_config(args: Sequence[str]) -> TrainConfig:
    """What ``actcode train ARGS`` would build as its TrainConfig, without training."""
    return train_config_of(_params("train", args))


__all__ = ["COMMAND_OPTIONS", "command_options", "train_command_config"]
