"""One copy of each shared piece: exit codes, the checkpoint version rule, safe torch.load, comma lists."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest
import torch

from actcode import errors
from actcode.checkpoints import check_version
from actcode.cli._errors import EXIT_CODES
from actcode.errors import CheckpointError, VersionTooNewError, exit_code_for
from actcode.lists import comma_list
from actcode.safe_load import torch_load_safe


def test_every_error_class_exit_code_is_in_the_table() -> None:
    classes = [
        c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.ActcodeError)
    ]
    assert len(classes) > 10
    for cls in classes:
        assert cls.exit_code in EXIT_CODES, cls
        assert exit_code_for(cls("x")) == cls.exit_code
    assert exit_code_for(PermissionError()) == errors.OutputError.exit_code == 7
    assert exit_code_for(OSError(28, "No space left on device")) == 7


def test_checkpoint_version_rule_is_the_format_rule(tmp_path: Path) -> None:
    assert check_version(tmp_path, "1.4.2") == (1, 4, 2)
    with pytest.raises(VersionTooNewError, match="Upgrade actcode"):
        check_version(tmp_path, "2.0.0")
    with pytest.raises(CheckpointError, match=r"reads 1\.x\.$"):
        check_version(tmp_path, "0.9.0")
    with pytest.raises(CheckpointError, match="version one"):
        check_version(tmp_path, "one")


class _Code:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.getcwd, ())


def test_safe_load_refuses_code_and_non_zip(tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(2)}, good)
    kw = {"not_zip": "not zip", "refused": lambda e: "refused", "damaged": lambda e: "damaged"}
    assert torch.equal(torch_load_safe(good, **kw)["w"], torch.ones(2))  # type: ignore[arg-type]
    evil = tmp_path / "evil.pt"
    torch.save({"x": _Code()}, evil)
    with pytest.raises(CheckpointError, match="^refused$"):
        torch_load_safe(evil, **kw)  # type: ignore[arg-type]
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="^not zip$"):
        torch_load_safe(legacy, **kw)  # type: ignore[arg-type]


def test_comma_lists() -> None:
    assert comma_list("a, b,,c ") == ["a", "b", "c"]
    assert comma_list(("x", " y")) == ["x", "y"]
    assert comma_list("") == []
