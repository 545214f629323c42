"""Every stage's options: one frozen object each, whose fields hold each option's default, range and help."""

from __future__ import annotations

from actcode.options.core import Opt, Options, option
from actcode.options.extract import DEFAULT_SPLITS, SPLITS, ExtractOptions, parse_splits
from actcode.options.results import MeasureOptions, ProbeOptions, RegionsOptions

__all__ = [
    "DEFAULT_SPLITS",
    "SPLITS",
    "ExtractOptions",
    "MeasureOptions",
    "Opt",
    "ProbeOptions",
    "RegionsOptions",
    "Options",
    "option",
    "parse_splits",
]
