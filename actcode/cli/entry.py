"""Console entry point: handles Ctrl-C from the very first moment, before the heavy imports."""

from __future__ import annotations

import os
import signal


def _interrupted_while_starting(signum: int, frame: object) -> None:
    try:
        os.write(2, b"actcode: error: interrupted while starting; nothing was written\n")
    finally:
        os._exit(130 if signum == signal.SIGINT else 128 + signum)


def main() -> None:
    """Run the ``actcode`` application (``actcode`` and ``python -m actcode``)."""
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    signal.signal(signal.SIGTERM, _interrupted_while_starting)
    from actcode.cli.main import main as run_app

    run_app()
