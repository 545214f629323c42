"""Issue 19 (round 3), merge's classes: shard records that lie (1), open-file limits (5), interrupts (7).

Every lie of ``corpus_round3.shard_lies`` is put into each of the two shards of one extraction;
``merge`` must refuse it with one line (exit 3 for a record of the wrong type or range, exit 5
for shards that do not fit together), write nothing and leave the shards unchanged.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from actcode.errors import ActcodeError
from actcode.io import open_codes
from actcode.io.merge import _interrupts, merge_shards
from tests.reliability._run import ACTCODE, error_lines, run
from tests.reliability.corpus_round3 import shard_lies

LIES = shard_lies("test")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from actcode.config import ModelSpec, TrainConfig
    from actcode.training import train

    folder = tmp_path_factory.mktemp("ckpt")
    cfg = TrainConfig(model=ModelSpec(width=8, depth=2), epochs=1, sample_size=60, out=str(folder))
    return train(cfg)[-1]


def _shards(checkpoint: Path, n: int, folder: Path) -> list[Path]:
    from actcode.extraction import extract

    folder.mkdir(parents=True, exist_ok=True)
    return [
        extract(checkpoint, output=folder / f"s{i}.h5", splits="test", device="cpu", shard=f"{i}/{n}")
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def pair(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _shards(checkpoint, 2, tmp_path_factory.mktemp("pair"))


def _lie(src: Path, dst: Path, name: str) -> None:
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        prov = json.loads(f.attrs["provenance"])
        LIES[name](prov)
        f.attrs["provenance"] = json.dumps(prov)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_the_generator_makes_at_least_50_instances() -> None:
    assert 2 * len(LIES) >= 50


@pytest.mark.parametrize("which", [0, 1])
def test_each_lying_shard_record_is_refused_with_one_clear_error(
    pair: list[Path], tmp_path: Path, which: int
) -> None:
    for name in LIES:
        folder = tmp_path / f"{which}-{name}".replace("/", "_")
        folder.mkdir()
        shards = [shutil.copy(p, folder / p.name) for p in pair]
        paths = [Path(p) for p in shards]
        _lie(pair[which], paths[which], name)
        before = [_sha(p) for p in paths]
        with pytest.raises(ActcodeError) as info:
            merge_shards(paths, folder / "m.h5")
        assert info.value.exit_code in (3, 5), (name, info.value)
        assert "\n" not in str(info.value)
        if info.value.exit_code == 3:
            assert str(paths[which]) in str(info.value), (name, str(info.value))
        assert not (folder / "m.h5").exists()
        assert [_sha(p) for p in paths] == before
        assert sorted(f.name for f in folder.iterdir()) == sorted(p.name for p in paths)


@pytest.mark.parametrize(
    "name",
    [
        "extract.shard.count=3",
        "extract.shard.index=0",
        "extract.shard.splits=1",
        "extract.shard.splits.test.rows=7",
    ],
)
def test_merge_refuses_a_lying_shard_with_one_line(pair: list[Path], tmp_path: Path, name: str) -> None:
    paths = [Path(shutil.copy(p, tmp_path / p.name)) for p in pair]
    _lie(pair[1], paths[1], name)
    r = run("merge", *paths, "-o", tmp_path / "m.h5", timeout=120)
    assert "Traceback" not in r.stderr
    assert r.returncode == 3, r.stderr
    assert len(error_lines(r.stderr, "merge")) == 1
    assert str(paths[1]) in r.stderr
    assert r.stdout == ""


def _limit_open_files(n: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def test_merge_of_more_shards_than_open_files_allowed(checkpoint: Path, tmp_path: Path) -> None:
    shards = _shards(checkpoint, 40, tmp_path / "many")
    out = tmp_path / "merged.h5"
    r = subprocess.run(
        [*ACTCODE, "merge", "-o", str(out), *map(str, shards)],
        capture_output=True, text=True, timeout=300, preexec_fn=lambda: _limit_open_files(32),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    with open_codes(out) as merged:
        whole = merged.n_rows("test")
    with open_codes(shards[0]) as first:
        assert whole == first.provenance["extract"]["shard"]["splits"]["test"]["n_rows"]


def test_an_interrupt_inside_an_h5py_callback_is_an_interrupt() -> None:
    def callback() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            msg = "<built-in function ...> returned a result with an exception set"
            raise SystemError(msg) from exc

    with pytest.raises(KeyboardInterrupt), _interrupts():
        callback()

    def bug() -> None:
        msg = "a bug"
        raise SystemError(msg)

    with pytest.raises(SystemError), _interrupts():  # a SystemError of its own stays one
        bug()


def test_merge_interrupted_is_exit_130_and_leaves_nothing(pair: list[Path], tmp_path: Path) -> None:
    script = (
        "import os, signal, sys\n"
        "from actcode.io import codes\n"
        "append = codes.CodeWriter.append\n"
        "def interrupted(self, *a, **k):\n"
        "    append(self, *a, **k)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "codes.CodeWriter.append = interrupted\n"
        "from actcode.cli.main import main\n"
        "sys.argv = ['actcode', 'merge', *sys.argv[1:]]\n"
        "main()\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", script, *map(str, pair), "-o", str(tmp_path / "m.h5")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 130, r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
