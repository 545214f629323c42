"""The ray executor on a local Ray of 2 CPUs (one ``ray.init`` for the module): same files as local."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from actcode.errors import InvalidParameterError
from actcode.sweep import ExecutorOptions, Progress, load_spec, run_sweep
from actcode.sweep.manifest import read_manifest

from .conftest import SweptGrid, contents, final_states


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    import ray  # the optional extra actcode[ray]; CI installs it

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_tasks_give_the_same_files(swept: SweptGrid, tmp_path: Path, local_ray: Any) -> None:
    spec = load_spec(swept.spec, out=tmp_path / "out")
    lines: list[str] = []
    report = run_sweep(spec, executor="ray", options=ExecutorOptions(ray={"num_cpus": 1}), log=lines.append)
    assert report.exit_code == 0
    assert [p.name for p in report.paths] == [p.name for p in swept.paths]
    assert contents(report.paths) == swept.contents()
    assert "ray: 4 task(s), 1 CPU and 0 GPU each" in lines
    assert not any("starting a local Ray" in line for line in lines)  # it used the Ray already running
    assert local_ray.is_initialized()  # and left it running
    records = read_manifest(tmp_path / "out" / "sweep.jsonl")
    assert sorted(r["state"] for r in records) == ["done"] * 4 + ["running"] * 4


def test_without_ray_the_executor_says_what_to_install(
    swept: SweptGrid, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    spec = load_spec(swept.spec, out=tmp_path / "out", grids=["width=5"])
    with pytest.raises(InvalidParameterError, match=r"pip install 'actcode\[ray\]'"):
        run_sweep(spec, executor="ray")


def test_interrupting_a_ray_sweep_cancels_its_tasks(
    swept: SweptGrid, tmp_path: Path, local_ray: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a short cell and a long one: the long one is still running when the short one ends
    grids, sets = ["epochs=1,3000", "width=4", "seed=5"], ["stages=['train']", "train.save_at=[1]"]
    spec = load_spec(swept.spec, out=tmp_path / "out", grids=grids, sets=sets)
    cancelled: list[Any] = []
    real_cancel = local_ray.cancel

    def spy(ref: Any, **kw: Any) -> Any:
        cancelled.append(ref)
        return real_cancel(ref, **kw)

    monkeypatch.setattr(local_ray, "cancel", spy)

    def interrupt(p: Progress) -> None:
        if p.record is not None:  # Ctrl-C as the first cell ends: the other is still running
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, executor="ray", options=ExecutorOptions(ray={"num_cpus": 1}), progress=interrupt)
    assert len(cancelled) == 1
    assert final_states(tmp_path / "out") == {1: {"done"}, 3000: {"cancelled"}}
    assert local_ray.is_initialized()
