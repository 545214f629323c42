"""Option types and option parsers shared by several commands, written once."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from actcode.cli._common import emit_json, emit_path, err_console, printable, verbosity
from actcode.errors import InvalidParameterError
from actcode.io.atomic import resolve_output
from actcode.lists import comma_list
from actcode.options.core import Options, cli_text
from actcode.options.results import SEARCH_DEVICE_HELP
from actcode.results import ResultTable
from actcode.sizes import parse_bytes as parse_bytes

#: Input code files: arguments, or stdin when none are given or for '-'.
CodeFilesArg = Annotated[
    list[str] | None, typer.Argument(help="Code files; '-' or none reads paths from stdin.")
]
#: Write a copy with the results instead of updating the input in place.
ResultsOutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write a copy with the results here instead of updating the input (one input only).",
    ),
]
#: JSON records on stdout instead of paths.
ResultsJsonOpt = Annotated[
    bool, typer.Option("--json", help="One JSON record per result row on stdout instead of paths.")
]


def device_option(panel: str | None = None) -> Any:
    """``--device`` of the commands that run a network (train, extract, regions)."""
    return typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel=panel)


def data_root_option(panel: str | None = None) -> Any:
    """``--data-root`` of the commands that read a dataset (train, extract, regions)."""
    return typer.Option(
        "--data-root",
        help="Folder of the dataset's files (instead of the one a checkpoint records). "
        "Default: $ACTCODE_DATA or ~/.cache/actcode/data.",
        rich_help_panel=panel,
    )


def trust_model_code_option(panel: str | None = None) -> Any:
    """``--trust-model-code`` of the commands that rebuild a checkpoint's network (extract, regions)."""
    return typer.Option(
        "--trust-model-code",
        help="Run the model factory a custom-model checkpoint records (absolute paths and modules only) "
        "without naming it with --model.",
        rich_help_panel=panel,
    )


#: Run the factory a custom-model checkpoint records without naming it.
TrustModelCodeOpt = Annotated[bool, trust_model_code_option()]
#: The device a network runs on.
DeviceOpt = Annotated[str, device_option()]
#: Where a dataset's files are (one type, str, in every command).
DataRootOpt = Annotated[str | None, data_root_option()]

#: Where the Hamming search of measure and probe runs.
SearchDeviceOpt = Annotated[str, typer.Option("--device", help=SEARCH_DEVICE_HELP)]


def stage_option(cls: type[Options], name: str, *flags: str, panel: str | None = None) -> Any:
    """The ``typer.Option`` of the stage option ``name``: its help from the options object (see
    :func:`actcode.options.option`); flags ``--name`` (``--name/--no-name`` for a flag on by default)."""
    opt = cls.options()[name][1]
    if not flags:
        dashed = name.replace("_", "-")
        on = opt.kind == "bool" and cls.default(name) is True
        flags = (f"--{dashed}/--no-{dashed}",) if on else (f"--{dashed}",)
    return typer.Option(*flags, help=opt.help, rich_help_panel=panel)


_Opts = TypeVar("_Opts", bound=Options)


def options_from_params(cls: type[_Opts], params: Mapping[str, Any]) -> _Opts:
    """The checked options object of a command's parsed parameters (named as the option or its field,
    such as ``knn_map`` for ``--map``); the others are not options (inputs, outputs)."""
    values: dict[str, Any] = {}
    for name, (field_name, _) in cls.options().items():
        key = name if name in params else field_name
        if key in params:
            values[name] = params[key]
    return cls.from_mapping(values)


def stage_default(cls: type[Options], name: str) -> Any:
    """The default of the stage option ``name`` as the command line spells it (``4GiB``, ``knn,kmeans``)."""
    return cli_text(cls.default(name), cls.options()[name][1].kind)


def emit_results(kind: str, out: Path, table: ResultTable, *, as_json: bool) -> None:
    """What measure, probe and regions write on stdout: the file's path, or with ``--json`` one record
    per result row (an infinity, such as NASWOT's -inf, as ``value_text``: strict JSON has none)."""
    if not as_json:
        emit_path(out)
        return
    for rec, (*_, value) in zip(table.to_records(), table.rows(), strict=True):
        if math.isinf(value):
            rec = {**rec, "value": None, "value_text": "-inf" if value < 0 else "inf"}
        emit_json({"path": str(out), "kind": kind, **rec})


def split_list(text: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    if text is None:
        return None
    return comma_list(text) or None


def check_output(output: Path | None, files: list[str]) -> None:
    """``--output`` names one file, so it needs exactly one input; it is checked before any work."""
    if output is not None and len(files) == 1:
        resolve_output(output, inputs=files)
    if output is not None and len(files) != 1:
        msg = (
            f"--output writes one file, so it needs exactly one input; got {len(files)} inputs. "
            "Drop --output to update each file in place."
        )
        raise InvalidParameterError(msg)


def fmt(v: float) -> str:
    """A compact number for tables."""
    if math.isnan(v):
        return "-"
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e12 else f"{v:.4g}"


def print_table(title: str, table: ResultTable, columns: list[tuple[str, str]]) -> None:
    """One row per (split, scope) with the given (metric, header) columns, on stderr."""
    if verbosity() < 0:
        return
    t = Table(title=printable(title))
    t.add_column("split")
    t.add_column("scope")
    for _, header in columns:
        t.add_column(header, justify="right")
    values = {(s, c, m): v for s, c, m, v in table.rows()}
    for split in table.splits:
        for scope in table.scopes:
            if not any((split, scope, m) in values for m, _ in columns):
                continue
            cells = [fmt(values.get((split, scope, m), float("nan"))) for m, _ in columns]
            t.add_row(printable(split), printable(scope), *cells)
    # a pipe or file has no width: do not squeeze the columns into 80 characters
    console = err_console if err_console.is_terminal else Console(file=sys.stderr, width=240, highlight=False)
    console.print(t)
