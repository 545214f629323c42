"""actcode: neural networks as hash encoders, from the shell and from Python."""

from __future__ import annotations

__version__ = "0.1.0"
