"""Every command that reads code files ends each bad input with one clear line and exit code 3.

The whole corpus goes through each command as one batch: the batch goes on after a bad input
(the documented policy), so each bad file must produce exactly one error line, naming it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.reliability._run import error_lines, run
from tests.reliability.corpus import BAD_CODE_FILES, write_corpus

COMMANDS = {
    "info": [],
    "validate": [],
    "measure": ["--no-nn"],
    "probe": ["--probes", "knn"],
    "chart": ["curves", "--x", "epoch", "--y", "redundancy_train", "-o", "{tmp}/c.png"],
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("command", ["info", "validate", "measure", "probe"])
def test_each_bad_code_file_gives_one_line_and_exit_3(
    command: str, corpus: dict[str, Path], tmp_path: Path
) -> None:
    # info reads metadata only, so it does not scan the pad bits of every row
    names = [n for n in BAD_CODE_FILES if not (command == "info" and n == "pad-bits")]
    files = [corpus[name] for name in names]
    before = {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in corpus.items()}
    r = run(command, *[a.format(tmp=tmp_path) for a in COMMANDS[command]], *files)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = error_lines(r.stderr, command)
    assert len(lines) == len(files), "\n".join(lines)
    for line, path in zip(lines, files, strict=True):
        assert f"{path}:" in line
    assert r.stdout == ""
    assert before == {name: hashlib.sha256(p.read_bytes()).hexdigest() for name, p in corpus.items()}


def test_chart_refuses_bad_files_with_one_line_each(corpus: dict[str, Path], tmp_path: Path) -> None:
    files = [corpus[name] for name in ("random-bytes", "truncated-half", "foreign-hdf5", "newer-major")]
    r = run("chart", *[a.format(tmp=tmp_path) for a in COMMANDS["chart"]], *files)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert len(error_lines(r.stderr, "chart")) >= 1
    assert not (tmp_path / "c.png").exists()


def test_bad_checkpoints_give_one_line(tmp_path: Path, corpus: dict[str, Path]) -> None:
    import torch

    wrong = tmp_path / "wrong-shapes.pt"
    torch.save({"format": "actcode.checkpoint", "format_version": "1.0.0",
                "state_dict": {"w": torch.zeros(2)}, "config": "{}"}, wrong)  # fmt: skip
    newer = tmp_path / "newer.pt"
    torch.save(
        {"format": "actcode.checkpoint", "format_version": "7.0.0", "state_dict": {}, "config": "{}"}, newer
    )
    no_config = tmp_path / "no-config.pt"
    torch.save({"format": "actcode.checkpoint", "format_version": "1.0.0", "state_dict": {}}, no_config)
    files = [wrong, newer, no_config, corpus["random-bytes"], corpus["empty"]]
    r = run("extract", "--out-dir", tmp_path, *files)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = error_lines(r.stderr, "extract")
    assert len(lines) == len(files), "\n".join(lines)
    assert "newer" in lines[1].lower() or "upgrade" in lines[1].lower()
    assert not list(tmp_path.glob("*.h5"))


def test_pickle_payload_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(marker), "w"))

    import torch

    evil = tmp_path / "evil.pt"
    torch.save({"format": "actcode.checkpoint", "payload": Payload()}, evil)
    r = run("extract", evil)
    assert r.returncode == 3
    assert len(error_lines(r.stderr, "extract")) == 1
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (
            "train-images-idx3-ubyte",
            b"\x00\x00\x08\x03\x00\x00\x00\x05\x00\x00\x00\x1c\x00\x00\x00\x1c" + b"\x01" * 100,
        ),
        ("train-images-idx3-ubyte", b"\x12\x34\x56\x78" + b"\x00" * 100),
    ],
    ids=["truncated-idx", "wrong-magic"],
)
def test_bad_data_folders_give_one_line(tmp_path: Path, name: str, content: bytes) -> None:
    import gzip

    root = tmp_path / "mnist"
    root.mkdir()
    good_labels = b"\x00\x00\x08\x01\x00\x00\x00\x05" + bytes(range(5))
    good_images = b"\x00\x00\x08\x03\x00\x00\x00\x05\x00\x00\x00\x1c\x00\x00\x00\x1c" + b"\x00" * (5 * 784)
    for stem in ("train", "t10k"):
        (root / f"{stem}-labels-idx1-ubyte").write_bytes(good_labels)
        (root / f"{stem}-images-idx3-ubyte").write_bytes(good_images)
    (root / name).write_bytes(content)
    with gzip.open(root / "unused.gz", "wb") as fh:
        fh.write(b"")
    r = run(
        "train",
        "--dataset",
        "mnist",
        "--data-root",
        root,
        "--epochs",
        "1",
        "--width",
        "4",
        "--out",
        tmp_path / "runs",
    )
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = error_lines(r.stderr, "train")
    assert len(lines) == 1
    assert "train-images-idx3-ubyte" in lines[0]
    assert not list((tmp_path / "runs").glob("*.pt")) if (tmp_path / "runs").exists() else True


def test_missing_data_folder_names_the_files(tmp_path: Path) -> None:
    r = run("train", "--dataset", "cifar10", "--data-root", tmp_path / "nothing", "--epochs", "1")
    assert r.returncode == 4
    lines = error_lines(r.stderr, "train")
    assert len(lines) == 1
    assert "data_batch_1" in lines[0]
    assert str(tmp_path / "nothing") in lines[0]
