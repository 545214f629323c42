"""`actcode extract --shard I/N` and `actcode merge`: merged shards equal the unsharded file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from actcode.extraction import extract
from actcode.extraction.shards import Shard, parse_shard
from actcode.io import open_codes
from actcode.io.merge import merge_shards

ACTCODE = [sys.executable, "-m", "actcode"]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ACTCODE, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two checkpoints (seeds 0 and 1; label noise, so training_labels exist) and the unsharded
    extraction of the first (train, test, random)."""
    from actcode.config import ModelSpec, TrainConfig
    from actcode.training import train

    folder = tmp_path_factory.mktemp("shards")
    out = []
    for seed in (0, 1):
        cfg = TrainConfig(
            model=ModelSpec(width=12, depth=2), epochs=1, sample_size=60, label_noise=0.3, seed=seed,
            out=str(folder / str(seed)),
        )  # fmt: skip
        out.append(train(cfg)[-1])
    full = extract(out[0], output=folder / "full.h5", splits="train,test,random", random=37, device="cpu")
    return out[0], out[1], full


def _shards(ckpt: Path, n: int, folder: Path, **kw: object) -> list[Path]:
    return [
        extract(ckpt, output=folder / f"s{i}of{n}.h5", splits="train,test,random", random=37, device="cpu",
                shard=f"{i}/{n}", **kw)  # type: ignore[arg-type]
        for i in range(n)
    ]  # fmt: skip


def _assert_same_rows(a: Path, b: Path) -> None:
    with open_codes(a) as fa, open_codes(b) as fb:
        assert fa.splits == fb.splits
        assert [la.name for la in fa.layers] == [la.name for la in fb.layers]
        for s in fa.splits:
            np.testing.assert_array_equal(fa.codes(s), fb.codes(s))
            assert (fa.training_labels(s) is not None) == (s == "train")  # label noise
            for col in ("labels", "predictions", "indices", "training_labels"):
                x, y = getattr(fa, col)(s), getattr(fb, col)(s)
                assert (x is None) == (y is None)
                if x is not None:
                    np.testing.assert_array_equal(x, y)
            assert fa.split_info(s).keys() == fb.split_info(s).keys()
            for k, v in fa.split_info(s).items():
                assert fb.split_info(s)[k] == pytest.approx(v, rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_merged_shards_equal_the_unsharded_file(
    ckpts: tuple[Path, Path, Path], tmp_path: Path, n: int
) -> None:
    ckpt, _, full = ckpts
    shards = _shards(ckpt, n, tmp_path)
    with open_codes(shards[-1]) as cf:
        rec = cf.provenance["extract"]["shard"]
        assert (rec["index"], rec["count"]) == (n - 1, n)
        total = rec["splits"]["random"]["n_rows"]
        assert cf.n_rows("random") == total - Shard(n - 1, n).bounds(total)[0]
    if n == 3:  # as a user runs it: shards in any order, the merged path on stdout
        r = run("merge", shards[2], shards[0], shards[1], "-o", tmp_path / "merged.h5")
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"{tmp_path / 'merged.h5'}\n"
        merged = tmp_path / "merged.h5"
    else:
        merged = merge_shards(shards[::-1], tmp_path / "merged.h5", block_rows=7)
    _assert_same_rows(full, merged)
    with open_codes(merged) as m, open_codes(full) as f:
        assert "shard" not in m.provenance["extract"]
        assert m.provenance["extract"]["n_rows"] == f.provenance["extract"]["n_rows"]
        assert m.provenance["merge"]["count"] == n
        for k, v in f.provenance["network"].items():
            assert m.provenance["network"][k] == pytest.approx(v, rel=1e-12)
        assert m.provenance["inputs"] == f.provenance["inputs"]


def test_bad_shard_sets_are_refused_with_one_line(ckpts: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ckpt, other, full = ckpts
    s = _shards(ckpt, 3, tmp_path)
    foreign = extract(other, output=tmp_path / "foreign.h5", splits="train,test,random", random=37,
                      device="cpu", shard="1/3")  # fmt: skip
    cases = {
        "overlap": ([s[0], s[1], s[1], s[2]], "are both shard 1/3: their rows overlap"),
        "missing": ([s[0], s[2]], "shard 1/3 is missing"),
        "foreign": ([s[0], foreign, s[2]], "is not a shard of the same extraction"),
        "not a shard": ([s[0], s[1], s[2], full], "is not a shard"),
    }
    for name, (files, expected) in cases.items():
        out = tmp_path / f"out-{name}.h5"
        r = run("merge", *files, "-o", out)
        assert r.returncode == 5, (name, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, (name, r.stderr)
        assert lines[0].startswith("actcode merge: error: ")
        assert expected in lines[0], (name, lines[0])
        assert r.stdout == ""
        assert not out.exists()
    # a shard of another --random seed is another extraction, even of the same checkpoint
    seed = extract(ckpt, output=tmp_path / "seed.h5", splits="train,test,random", random=37, device="cpu",
                   shard="1/3", seed=5)  # fmt: skip
    r = run("merge", s[0], seed, s[2], "-o", tmp_path / "x.h5")
    assert r.returncode == 5
    assert "the extraction settings differ" in r.stderr


def test_bad_shard_option(ckpts: tuple[Path, Path, Path], tmp_path: Path) -> None:
    ckpt = ckpts[0]
    r = run("extract", ckpt, "--shard", "3/3", "-o", tmp_path / "x.h5")
    assert r.returncode == 5, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("actcode extract: error: --shard")
    for bad in ("1", "-1/2", "a/b", "0/0"):
        with pytest.raises(ValueError, match="--shard"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="would be empty"):
        extract(ckpt, output=tmp_path / "y.h5", splits="random", random=2, device="cpu", shard="0/3")
    assert parse_shard(" 2 / 5 ").bounds(11) == (4, 6)  # type: ignore[union-attr]
    assert [Shard(i, 4).bounds(10) for i in range(4)] == [(0, 2), (2, 5), (5, 7), (7, 10)]


_SLOW_MERGE = """
import sys, time
from actcode.io import codes
append = codes.CodeWriter.append
def slow(self, *a, **k):
    append(self, *a, **k)
    print("appended", flush=True)
    time.sleep(60)
codes.CodeWriter.append = slow
from actcode.cli.main import main
sys.argv = ["actcode", "merge", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_merge_leaves_nothing_under_the_final_name(
    ckpts: tuple[Path, Path, Path], tmp_path: Path, sig: signal.Signals
) -> None:
    shards = _shards(ckpts[0], 2, tmp_path)
    out = tmp_path / "merged.h5"
    p = subprocess.Popen([sys.executable, "-c", _SLOW_MERGE, *map(str, shards), "-o", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "appended"  # killed in the middle of the copy
        # the file being written has no name (O_TMPFILE) until it is complete
        assert not any(f.name.startswith(".merged.h5.tmp-") for f in tmp_path.iterdir())
        os.kill(p.pid, sig)
        p.wait(timeout=60)
    finally:
        p.kill()
    time.sleep(0.1)
    assert not out.exists()
    assert not any(f.name.startswith(".merged.h5.tmp-") for f in tmp_path.iterdir())  # even after SIGKILL
    if sig == signal.SIGINT:
        assert p.returncode == 130
    r = run("merge", *shards, "-o", out)  # and a rerun succeeds
    assert r.returncode == 0, r.stderr
    _assert_same_rows(ckpts[2], out)


def test_damaged_or_missing_shard_gives_one_line(ckpts: tuple[Path, Path, Path], tmp_path: Path) -> None:
    shards = _shards(ckpts[0], 2, tmp_path)
    damaged = tmp_path / "damaged.h5"
    damaged.write_bytes(shards[1].read_bytes()[: shards[1].stat().st_size // 2])
    for files, code in (([shards[0], damaged], 3), ([shards[0], tmp_path / "absent.h5"], 4)):
        r = run("merge", *files, "-o", tmp_path / "m.h5")
        assert r.returncode == code, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith("actcode merge: error: ")
        assert not (tmp_path / "m.h5").exists()
