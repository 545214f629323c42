"""The man pages in man/ are generated from the Typer app and must be up to date."""

from __future__ import annotations

import difflib
from pathlib import Path

import typer.main

from actcode.cli._errors import EXIT_CODES
from actcode.cli._manpages import MAN_DIR, render_all, write_pages
from actcode.cli.main import app

REGENERATE = "python -m actcode.cli._manpages"


def _all_commands() -> list[str]:
    names = ["actcode"]

    def walk(cmd: object, path: list[str]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            names.append("-".join([*path, name]))
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), ["actcode"])
    return names


def test_man_pages_are_up_to_date(tmp_path: Path) -> None:
    written = write_pages(tmp_path)
    fresh = {p.name: p.read_text("utf-8") for p in written}
    stored = {p.name: p.read_text("utf-8") for p in MAN_DIR.glob("actcode*.1")}
    problems = []
    for name in sorted(set(fresh) | set(stored)):
        if name not in stored:
            problems.append(f"man/{name} is missing")
        elif name not in fresh:
            problems.append(f"man/{name} belongs to no command")
        elif fresh[name] != stored[name]:
            diff = difflib.unified_diff(
                stored[name].splitlines(),
                fresh[name].splitlines(),
                f"man/{name}",
                "generated",
                lineterm="",
                n=1,
            )
            problems.append("\n".join(list(diff)[:30]))
    assert not problems, f"man/ is stale; regenerate it with `{REGENERATE}`:\n" + "\n".join(problems)


def test_every_command_has_a_page_with_the_exit_codes() -> None:
    pages = render_all()
    assert sorted(pages) == sorted(f"{n}.1" for n in _all_commands())
    for name, text in pages.items():
        assert text.startswith(f'.TH "{name[:-2].upper()}" 1 ')
        assert ".SH NAME" in text
        assert ".SH SYNOPSIS" in text
        assert ".SH EXIT STATUS" in text
        for code in EXIT_CODES:
            assert f"\\fB{code}\\fR" in text, (name, code)
    assert "actcode\\-chart\\-phase" in pages["actcode-chart.1"]
    phase = pages["actcode-chart-phase.1"]
    assert "\\fB\\-\\-r\\-high\\fR \\fIFLOAT\\fR" in phase
    assert "\\fB\\-\\-style\\fR \\fI{heatmap|contour}\\fR" in phase
    assert "UNDER\\-expressive if R > r_high" in phase
    assert "\\-\\-install\\-completion" in pages["actcode.1"]


def test_no_roff_control_lines_from_text() -> None:
    for name, text in render_all().items():
        for line in text.splitlines():
            if line.startswith((".", "'")):
                assert line.split()[0] in {".TH", ".SH", ".PP", ".TP", ".B"}, (name, line)
