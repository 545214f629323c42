"""Every released format version's golden file is read by the current reader, bit for bit."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actcode.codes import unpack_bits
from actcode.io import open_codes, validate

ARCHIVES = Path(__file__).parents[1] / "data" / "archives"


def _golden_module(version: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"golden_{version}", ARCHIVES / version / "make_golden.py")
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_archive_has_a_readme_and_a_file() -> None:
    versions = sorted(p.name for p in ARCHIVES.iterdir() if p.is_dir())
    assert "v1.0.0" in versions
    for v in versions:
        assert (ARCHIVES / v / "codes.h5").is_file()
        assert "make_golden.py" in (ARCHIVES / v / "readme.md").read_text()


def test_golden_v1_0_0_reads_bit_for_bit() -> None:
    path = ARCHIVES / "v1.0.0" / "codes.h5"
    mod = _golden_module("v1.0.0")
    header = validate(path)
    assert header.version == (1, 0, 0)
    with open_codes(path) as cf:
        assert cf.layers == mod.LAYERS
        assert cf.splits == ["train", "test", "random"]
        for split, c in mod.golden_contents().items():
            assert np.array_equal(unpack_bits(cf.codes(split), cf.layers), c["bits"])
            assert np.array_equal(cf.labels(split), c["labels"])
            assert np.array_equal(cf.predictions(split), c["predictions"])
            assert np.array_equal(cf.indices(split), c["indices"])
            assert cf.split_info(split) == {"loss": 1.5, "accuracy": 0.25}
        assert cf.factors["seed"] == mod.SEED
        assert cf.results("measure").get("train", "all", "redundancy") == pytest.approx(1 / 60)
        assert cf.results("probe").get("test", "all", "knn_accuracy") == 0.25
        assert cf.result_arrays("measure")["train/collision_sizes"].tolist() == [0, 58, 1]


def test_golden_v1_2_0_reads_bit_for_bit_without_a_warning() -> None:
    path = ARCHIVES / "v1.2.0" / "codes.h5"
    mod = _golden_module("v1.2.0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the current version: no OldFormatWarning
        header = validate(path)
        assert header.version == (1, 2, 0)
        with open_codes(path) as cf:
            assert cf.layers == mod.LAYERS
            assert [layer.name for layer in cf.layers][1:4] == [
                "layer1.0:relu#0",
                "layer1.0:relu#1",
                "(root):leaky_relu#0",
            ]
            assert cf.splits == ["train", "test", "random"]
            for split, c in mod.golden_contents().items():
                assert np.array_equal(unpack_bits(cf.codes(split), cf.layers), c["bits"])
                assert np.array_equal(cf.labels(split), c["labels"])
                assert np.array_equal(cf.predictions(split), c["predictions"])
                assert np.array_equal(cf.indices(split), c["indices"])
                assert cf.split_info(split) == {"loss": 1.75, "accuracy": 0.2}
            assert cf.factors["seed"] == mod.SEED
            assert cf.results("measure").get("train", "all", "redundancy") == pytest.approx(1 / 48)
            regions = cf.results("regions")
            for split, scope, metric, value in mod.REGIONS:
                assert regions.get(split, scope, metric) == value
            assert cf.result_arrays("regions")["train/kernel/rows"].tolist() == list(range(48))


needs_h5dump = pytest.mark.skipif(
    shutil.which("h5dump") is None and not os.environ.get("CI"),
    reason="h5dump (Debian hdf5-tools) is not installed; .ci/run installs it, so CI always runs this",
)


@needs_h5dump
def test_h5dump_reads_the_golden_file() -> None:
    """A collaborator without actcode can read the file with the HDF Group's own tool."""
    path = ARCHIVES / "v1.0.0" / "codes.h5"
    assert shutil.which("h5dump"), "h5dump is missing: install Debian's hdf5-tools"
    header = subprocess.run(["h5dump", "-H", str(path)], capture_output=True, text=True, check=True).stdout
    for element in (
        'GROUP "layers"',
        'GROUP "splits"',
        'GROUP "results"',
        'DATASET "codes"',
        "encoding-type",
    ):
        assert element in header
    data = subprocess.run(
        ["h5dump", "-d", "/splits/train/codes", "-s", "0,0", "-c", "1,3", "-y", "-w", "0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    block = data.split("DATA {", 1)[1].split("}", 1)[0]
    values = [int(v) for v in block.replace(",", " ").split()]
    with open_codes(path) as cf:
        assert values == cf.codes("train")[0, :3].tolist()


def test_published_provenance_schema_is_the_one_the_reader_uses() -> None:
    import json

    from actcode.io import provenance_schema

    published = json.loads((Path(__file__).parents[2] / "formats" / "provenance.schema.json").read_text())
    assert published == provenance_schema()
