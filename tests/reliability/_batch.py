"""Run many ``actcode`` command lines in one process, as the console script runs each one.

A generated class of round 3 has 50 or more instances; one interpreter (torch imported once)
runs them all. ``python -m tests.reliability._batch CASES.json RESULTS.json`` reads a list of
``{"id": ..., "args": [...]}`` and writes ``{"id": {"code": EXIT}}``. Before each case it
writes ``### case ID`` on stderr, so that each case's stderr can be told apart; stdout holds
only what the commands emitted (their paths), in case order. A command that escapes the
error handler (a traceback) is recorded with the code ``"traceback"``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import click

from actcode.cli.main import app
from actcode.io.atomic import install_signal_handlers

MARK = "### case "


def run_one(args: list[str]) -> int | str:
    try:
        code = app(args=args, prog_name="actcode", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:  # what the console script would exit with
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return "traceback"
    return code if isinstance(code, int) else 0


def main(cases_path: str, results_path: str) -> None:
    install_signal_handlers()
    cases = json.loads(Path(cases_path).read_text())
    results: dict[str, dict[str, int | str]] = {}
    for case in cases:
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(2, f"\n{MARK}{case['id']}\n".encode())
        results[case["id"]] = {"code": run_one([str(a) for a in case["args"]])}
        Path(results_path).write_text(json.dumps(results))
    sys.stdout.flush()


def stderr_by_case(stderr: str) -> dict[str, str]:
    """Each case's stderr, from the markers :func:`main` writes."""
    out: dict[str, str] = {}
    current = None
    for line in stderr.splitlines():
        if line.startswith(MARK):
            current = line[len(MARK) :]
            out[current] = ""
        elif current is not None:
            out[current] += line + "\n"
    return out


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
