"""The public API: every exported name resolves, and importing actcode stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import actcode


def test_every_public_name_resolves() -> None:
    for name in actcode.__all__:
        assert getattr(actcode, name) is not None, name
    assert set(dir(actcode)) == set(actcode.__all__)


def test_import_actcode_does_not_import_torch_or_numba() -> None:
    code = "import sys, actcode, actcode.io; print('torch' in sys.modules, 'numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        actcode.no_such_thing  # noqa: B018
