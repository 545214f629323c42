"""Generate the roff man pages in man/ from the Typer application (``python -m actcode.cli._manpages``)."""

from __future__ import annotations

import enum
import sys
import typing
from pathlib import Path
from typing import Any

import typer
import typer._click as click
import typer.main

from actcode import __version__
from actcode.cli._errors import EXIT_CODES
from actcode.cli._man_extra import extra_sections

#: Where the pages live in the repository.
MAN_DIR = Path(__file__).resolve().parents[2] / "man"

_COMPLETION = (
    "Shell completion for bash, zsh, fish and PowerShell: run "
    "\\fBactcode \\-\\-install\\-completion\\fR once (it adds the completion script to the "
    "shell's start-up file), or \\fBactcode \\-\\-show\\-completion\\fR "
    "to print the script and install it by hand."
)


def _esc(text: str) -> str:
    """Escape text for roff: backslashes, minus signs, and control characters at line starts."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _paragraphs(text: str) -> list[str]:
    paras = [p.strip() for p in (text or "").split("\n\n")]
    return [p for p in paras if p]


def _metavar(param: Any) -> str:
    """TEXT, INT, FLOAT, {a|b} or '' (flag) from the parameter's annotation."""
    desc = getattr(param, "type_descriptor", None)
    ann = getattr(desc, "annotation", None)
    if typing.get_origin(ann) in (list, tuple):
        args = typing.get_args(ann)
        ann = args[0] if args else str
    if getattr(param, "param_type_name", "") == "argument":
        name = param.name.upper()
        return f"{name}..." if param.nargs != 1 else name
    if getattr(param, "is_flag", False) or getattr(param, "count", False) or ann is bool:
        return ""
    if isinstance(ann, type) and issubclass(ann, enum.Enum):
        return "{" + "|".join(str(m.value) for m in ann) + "}"
    names: dict[Any, str] = {int: "INT", float: "FLOAT", str: "TEXT", Path: "PATH"}
    return names.get(ann, "VALUE")


def _option_line(param: Any) -> str:
    meta = _metavar(param)
    names = ", ".join(f"\\fB{_esc(o)}\\fR" for o in param.opts)
    if param.secondary_opts:
        names += " / " + ", ".join(f"\\fB{_esc(o)}\\fR" for o in param.secondary_opts)
    return names + (f" \\fI{_esc(meta)}\\fR" if meta else "")


def _is_group(cmd: Any) -> bool:
    return isinstance(getattr(cmd, "commands", None), dict)


def _page_name(path: list[str]) -> str:
    return "-".join(path)


def render_page(cmd: Any, ctx: Any, path: list[str]) -> str:
    """The roff text of one command's page."""
    name = _page_name(path)
    short = cmd.get_short_help_str(limit=200).rstrip(".")
    out = [
        f'.TH "{name.upper()}" 1 "" "actcode {__version__}" "actcode manual"',
        ".SH NAME",
        f"{_esc(name)} \\- {_esc(short)}",
        ".SH SYNOPSIS",
    ]
    pieces = [p for p in cmd.collect_usage_pieces(ctx)]
    usage = " ".join(_esc(p) for p in pieces)
    usage = usage.replace("[paths]\\&...", "[PATHS]...").replace("[paths]...", "[PATHS]...")
    out.append(f".B {' '.join(path)}\n{usage}")
    out.append(".SH DESCRIPTION")
    epilog_paras = _paragraphs(cmd.epilog or "")
    for para in _paragraphs(cmd.help or ""):
        out += [".PP", _esc(para)]
    if _is_group(cmd) and cmd.commands:
        out.append(".SH COMMANDS")
        for sub_name, sub in cmd.commands.items():
            if getattr(sub, "hidden", False):
                continue
            sub_page = _page_name([*path, sub_name])
            out += [
                ".TP",
                f"\\fB{_esc(sub_name)}\\fR",
                f"{_esc(sub.get_short_help_str(limit=200))} See \\fB{_esc(sub_page)}\\fR(1).",
            ]
    records = []
    for param in cmd.get_params(ctx):
        rec = param.get_help_record(ctx)
        if rec is None:
            continue
        records.append((param, rec[1]))
    args = [(p, h) for p, h in records if getattr(p, "param_type_name", "") == "argument"]
    opts = [(p, h) for p, h in records if getattr(p, "param_type_name", "") != "argument"]
    if args:
        out.append(".SH ARGUMENTS")
        for p, h in args:
            out += [".TP", f"\\fI{_esc(_metavar(p))}\\fR", _esc(h)]
    if opts:
        out.append(".SH OPTIONS")
        for p, h in opts:
            out += [".TP", _option_line(p), _esc(h)]
    if len(path) == 1:
        out += [".SH SHELL COMPLETION", _COMPLETION]
    out += extra_sections(name, _esc)
    out.append(".SH EXIT STATUS")
    for code, text in EXIT_CODES.items():
        out += [".TP", f"\\fB{code}\\fR", _esc(text)]
    del epilog_paras  # the epilog is the exit-code table, rendered above
    see = ["actcode"] if len(path) > 1 else []
    if _is_group(cmd):
        see += [_page_name([*path, s]) for s in cmd.commands]
    if len(path) > 2:
        see.insert(1, _page_name(path[:-1]))
    if see:
        out += [".SH SEE ALSO", ",\n".join(f"\\fB{_esc(s)}\\fR(1)" for s in see)]
    return "\n".join(out) + "\n"


def render_all(app: typer.Typer | None = None) -> dict[str, str]:
    """Every page, keyed by file name (``actcode.1``, ``actcode-chart-phase.1``, ...)."""
    if app is None:
        from actcode.cli.main import app as main_app

        app = main_app
    root = typer.main.get_command(app)
    pages: dict[str, str] = {}

    def walk(cmd: Any, ctx: Any, path: list[str]) -> None:
        pages[f"{_page_name(path)}.1"] = render_page(cmd, ctx, path)
        if _is_group(cmd):
            for sub_name, sub in cmd.commands.items():
                if not getattr(sub, "hidden", False):
                    walk(sub, click.Context(sub, info_name=sub_name, parent=ctx), [*path, sub_name])

    walk(root, click.Context(root, info_name="actcode"), ["actcode"])
    return pages


def write_pages(out_dir: str | Path = MAN_DIR) -> list[Path]:
    """Write every page into ``out_dir`` and remove stale ``actcode*.1`` pages; return the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pages = render_all()
    for old in out.glob("actcode*.1"):
        if old.name not in pages:
            old.unlink()
    written = []
    for name, text in pages.items():
        p = out / name
        p.write_text(text, encoding="utf-8")
        written.append(p)
    return written


if __name__ == "__main__":
    for path in write_pages(sys.argv[1] if len(sys.argv) > 1 else MAN_DIR):
        print(path)
