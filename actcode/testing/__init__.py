"""Test support shipped with actcode: hypothesis strategies, small files, and synthetic codes."""

from __future__ import annotations

from actcode.testing.synthetic import synthetic_bits

__all__ = ["synthetic_bits"]
