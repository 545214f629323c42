"""The registries (actcode.registry and its five users), entry-point plugins, and the typed strategies."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actcode.data.sources import dataset_name, dataset_names
from actcode.data.spec import DataSpec
from actcode.devices import HammingSearch, hamming_search, may_have_accelerator
from actcode.errors import InvalidParameterError, PluginError
from actcode.kernels.hamming import NumbaHamming
from actcode.models.sources import model_source_names
from actcode.probes.registry import Probe, get_probe, probe_names
from actcode.regions.registry import analysis_names
from actcode.registry import Registry
from actcode.sweep.executors import EXECUTORS, executor_names

GROUP = "actcode.testgroup"


def _install(site: Path, dist: str, entry_points: str, modules: dict[str, str]) -> None:
    """A distribution installed in ``site`` as pip leaves it: modules and a .dist-info with entry points."""
    for name, text in modules.items():
        (site / f"{name}.py").write_text(text, encoding="utf-8")
    info = site / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A good plugin ``seven`` and a broken one ``broken`` in the group actcode.testgroup."""
    _install(
        tmp_path,
        "good_plugin",
        f"[{GROUP}]\nseven = good_plugin_mod:SEVEN\n",
        {"good_plugin_mod": "SEVEN = 7\n"},
    )
    bad = {"bad_plugin_mod": "import no_such_module_here\n"}
    _install(tmp_path, "bad_plugin", f"[{GROUP}]\nbroken = bad_plugin_mod:X\n", bad)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    return tmp_path


def _accept_int(name: str, obj: object) -> int:
    if not isinstance(obj, int):
        msg = f"{name} is not an int"
        raise TypeError(msg)
    return obj


def test_a_plugin_is_loaded_only_when_its_name_is_asked_for(plugins: Path) -> None:
    reg: Registry[int] = Registry("number", GROUP, builtins=None, accept=_accept_int)
    reg.register("one", 1)
    assert reg.get("one") == 1
    assert "good_plugin_mod" not in sys.modules  # a built-in name loads no plugin
    assert reg.get("seven") == 7
    assert "good_plugin_mod" in sys.modules
    assert "bad_plugin_mod" not in sys.modules  # nor the broken one, which was not asked for


def test_a_broken_plugin_fails_only_when_named(plugins: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg: Registry[int] = Registry("number", GROUP, builtins=None, accept=_accept_int)
    reg.register("one", 1)
    what = r"number plugin 'broken' \(bad_plugin_mod:X, from bad_plugin\) failed to load: "
    with pytest.raises(
        PluginError, match=what + r"ModuleNotFoundError: No module named 'no_such_module_here'"
    ):
        reg.get("broken")
    assert reg.names() == ("one", "seven")  # listing names leaves it out
    assert capsys.readouterr().err == ""  # get() already reported it: no second report
    with pytest.raises(InvalidParameterError, match=r"the number must be one of one, seven\. Got 'nine'"):
        reg.get("nine")


def test_listing_names_reports_a_broken_plugin_in_one_line(
    plugins: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reg: Registry[int] = Registry("number", GROUP, builtins=None, accept=_accept_int)
    assert reg.names() == ("seven",)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("actcode: warning: number plugin 'broken' (bad_plugin_mod:X")
    assert line.endswith("; it is left out.")


def test_an_entry_point_of_the_wrong_kind_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(
        tmp_path, "str_plugin", f"[{GROUP}]\ntext = str_plugin_mod:TEXT\n", {"str_plugin_mod": "TEXT = 'x'\n"}
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    reg: Registry[int] = Registry("number", GROUP, builtins=None, accept=_accept_int)
    with pytest.raises(PluginError, match="TypeError: text is not an int"):
        reg.get("text")


def test_the_builtin_names_come_from_the_registries() -> None:
    assert probe_names()[:3] == ("knn", "kmeans", "logreg")
    assert analysis_names()[:4] == ("lines", "local", "kernel", "plane")
    assert executor_names()[:3] == ("local", "slurm", "ray")
    assert model_source_names()[:2] == ("torchvision", "timm")
    assert dataset_names()[:7] == ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "npz")
    assert isinstance(get_probe("kmeans"), Probe)


def test_dataset_names_resolve_through_the_registry() -> None:
    assert dataset_name(DataSpec("Fashion_MNIST")) == "fashion-mnist"
    assert dataset_name(DataSpec("x.npz")) == "npz"
    with pytest.raises(InvalidParameterError, match="unknown dataset 'blobs:4': expected one of digits"):
        dataset_name(DataSpec("blobs:4"))  # the example plugin is not installed here


def test_each_executor_has_its_own_strict_options() -> None:
    from actcode.sweep.executors.base import options_from_mapping

    slurm = EXECUTORS.get("slurm").Options
    assert options_from_mapping(slurm, {"partition": "gpu", "time": 30}, "[slurm]").partition == "gpu"
    with pytest.raises(
        InvalidParameterError, match=r"\[slurm\]: unknown option 'gpu'; the options are partition"
    ):
        options_from_mapping(slurm, {"gpu": 1}, "[slurm]")


def test_the_numba_and_torch_searches_agree() -> None:
    from actcode.search.torch_hamming import TorchHamming

    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (300, 9), dtype=np.uint8)
    queries = rng.integers(0, 256, (40, 9), dtype=np.uint8)
    train_labels, query_labels = rng.integers(0, 3, 300), rng.integers(0, 3, 40)
    numba, torch_cpu = hamming_search("cpu"), TorchHamming.for_device("cpu")
    assert isinstance(numba, NumbaHamming)
    assert isinstance(numba, HammingSearch)
    assert isinstance(torch_cpu, HammingSearch)
    d0, i0 = numba.topk(queries, train, 5)
    d1, i1 = torch_cpu.topk(queries, train, 5)
    np.testing.assert_array_equal(d0, d1)
    np.testing.assert_array_equal(i0, i1)
    brute = np.unpackbits(queries[:, None, :] ^ train[None, :, :], axis=2).sum(axis=2)
    np.testing.assert_array_equal(d0, np.sort(brute, axis=1)[:, :5])
    ap0 = numba.average_precision(queries, query_labels, train, train_labels)
    ap1 = torch_cpu.average_precision(queries, query_labels, train, train_labels)
    np.testing.assert_allclose(ap0, ap1)


SCRIPT = """
import json, sys
sys.argv = ["actcode", *sys.argv[2:]]
from actcode.cli.main import app
try:
    app()
except SystemExit as e:
    code = e.code
with open(sys.argv_out, "w") as f:
    json.dump({"code": code, "torch": "torch" in sys.modules}, f)
"""


@pytest.mark.parametrize(
    "command",
    [
        ["measure", "--device", "cpu"],
        ["probe", "--probes", "knn,kmeans,logreg", "--device", "cpu"],
        pytest.param(
            ["measure"], marks=pytest.mark.skipif(may_have_accelerator(), reason="auto may be a GPU")
        ),
        pytest.param(["probe"], marks=pytest.mark.skipif(may_have_accelerator(), reason="auto may be a GPU")),
    ],
)
def test_measure_and_probe_on_the_cpu_do_not_import_torch(tmp_path: Path, command: list[str]) -> None:
    from actcode.codes import LayerInfo, layout_layers
    from actcode.testing import synthetic_bits
    from actcode.testing.helpers import write_code_file

    b, y, protos = synthetic_bits(120, 20, n_classes=3, flip=0.1, seed=1)
    bt, yt, _ = synthetic_bits(40, 20, n_classes=3, flip=0.1, seed=2, prototypes=protos)
    layers = layout_layers([LayerInfo("fc0.relu", "ReLU", (20,))])
    path = write_code_file(tmp_path / "c.h5", {"train": b, "test": bt}, {"train": y, "test": yt}, layers)
    out = tmp_path / "out.json"
    script = SCRIPT.replace("sys.argv_out", repr(str(out)))
    r = subprocess.run(
        [sys.executable, "-c", script, "-", *command, str(path), "-o", str(tmp_path / "r.h5")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert result["code"] in (0, None), r.stderr
    assert result["torch"] is False
