"""Global options (-v, -q) after the subcommand, and -q/-v on library warnings."""

from __future__ import annotations

import warnings

import pytest
import typer
from sklearn.exceptions import ConvergenceWarning

from actcode.cli.main import app, hoist_global_options, set_warning_filter

ROOT = typer.main.get_command(app)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "-v"], ["-v", "train"]),
        (["train", "--epochs", "3", "--quiet"], ["--quiet", "train", "--epochs", "3"]),
        (["-q", "measure", "a.h5"], ["-q", "measure", "a.h5"]),
        (["chart", "curves", "a.h5", "-vv"], ["-vv", "chart", "curves", "a.h5"]),
        # the value of a subcommand's option is never taken for a global flag
        (["chart", "curves", "a.h5", "--title", "-v"], ["chart", "curves", "a.h5", "--title", "-v"]),
        (["extract", "--", "-q"], ["extract", "--", "-q"]),
        (["nosuchcommand", "-v"], ["nosuchcommand", "-v"]),
    ],
)
def test_global_flags_after_the_subcommand_move_before_it(args: list[str], expected: list[str]) -> None:
    assert hoist_global_options(args, ROOT) == expected


def _converge_warning() -> None:
    warnings.warn("lbfgs failed to converge", ConvergenceWarning, stacklevel=1)


@pytest.mark.parametrize(("level", "count"), [(-1, 0), (0, 1), (1, 2)])
def test_quiet_silences_library_warnings_and_verbose_shows_each(
    level: int, count: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings():
        warnings.resetwarnings()
        set_warning_filter(level)
        for _ in range(2):
            _converge_warning()
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["actcode: warning: ConvergenceWarning: lbfgs failed to converge"] * count
