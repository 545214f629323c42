"""The stage options objects: strict build, every check naming its option, and a lossless dump."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from actcode.errors import InvalidParameterError
from actcode.extraction.plan import plan_outputs
from actcode.lists import select_indices
from actcode.options import ExtractOptions, MeasureOptions, ProbeOptions, RegionsOptions
from actcode.options.core import Options

ALL: list[type[Options]] = [ExtractOptions, MeasureOptions, ProbeOptions, RegionsOptions]


@pytest.mark.parametrize("cls", ALL)
def test_defaults_are_valid_and_survive_a_round_trip(cls: type[Options]) -> None:
    opts = cls().validate()
    assert cls.from_mapping(opts.to_dict()) == opts
    assert all(opt.help for _, opt in cls.options().values())  # the help lives here, once


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"workers": 10000}, "--workers must be an integer from 0 to 64. Got 10000"),
        ({"input_size": 100000}, "--input-size 100000"),
        ({"input_size": 0}, "--input-size must be an integer >= 1"),
        ({"mean": "0.5,0.5"}, "--mean must be one number or 3 comma-separated numbers"),
        ({"mean": "a,b,c"}, "--mean must be a list of numbers"),
        ({"std": "nan"}, "--std must be finite"),
        ({"std": "0.2,inf,0.2"}, "--std must be finite"),
        ({"std": "0.2,0,0.2"}, "--std must be one number or 3 comma-separated numbers (one per channel) > 0"),
        ({"std": -1.0}, "--std must be one number or 3 comma-separated numbers (one per channel) > 0"),
        ({"seed": -1}, "--seed must be an integer from 0 to 4294967295"),
        ({"seed": 2**40}, "--seed must be an integer from 0 to 4294967295"),
        ({"compression": "lzf"}, "--compression must be one of auto, gzip, none. Got 'lzf'"),
        ({"sites": "all"}, "--sites must be one of ops, modules"),
        ({"batch_size": 0}, "--batch-size must be an integer >= 1"),
        ({"device": "tpu"}, "--device must be auto, cpu, cuda, cuda:N or mps"),
        ({"colour": 1}, "unknown key extract option 'colour'"),
    ],
)
def test_extract_options_refuse_each_bad_value_in_one_line(values: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        ExtractOptions.from_mapping(values)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_image_options_within_bounds_are_kept() -> None:
    opts = ExtractOptions.from_mapping(
        {"input_size": 224, "mean": "0.485,0.456,0.406", "std": 0.5, "workers": 4}
    )
    assert opts.mean == (0.485, 0.456, 0.406)
    assert opts.std == (0.5,)
    assert opts.user_model_kwargs()["workers"] == 4
    assert opts.image_options_given() == ["--input-size", "--mean", "--std", "--workers"]


def test_the_split_rule_has_one_home() -> None:
    assert ExtractOptions().checkpoint_splits() == ["train", "test"]
    assert ExtractOptions.from_mapping({"splits": "test,train", "random": 5}).checkpoint_splits() == [
        "test", "train", "random"
    ]  # fmt: skip
    with pytest.raises(InvalidParameterError, match="'extract.splits' random needs 'extract.random' N"):
        ExtractOptions.from_mapping({"splits": ["random"]}, table="extract").checkpoint_splits(
            table="extract"
        )


def test_probe_and_regions_read_their_names_from_one_function_each() -> None:
    with pytest.raises(InvalidParameterError, match="--probes must be a comma list of knn, kmeans, logreg"):
        ProbeOptions.from_mapping({"probes": "knn,svm"})
    with pytest.raises(InvalidParameterError, match="--analyses must be a comma list of lines, local"):
        RegionsOptions.from_mapping({"analyses": "walls"})
    regions = RegionsOptions.from_mapping({"analyses": "kernel,lines", "plane": "0,5,9"})
    assert regions.config_kwargs()["analyses"] == ("lines", "kernel")  # in the order they run
    assert regions.plane == (0, 5, 9)
    with pytest.raises(InvalidParameterError, match="--plane must be three different row numbers"):
        RegionsOptions.from_mapping({"plane": "0,5,5"})
    with pytest.raises(InvalidParameterError, match="--weights needs --model"):
        RegionsOptions.from_mapping({"weights": "w.pth"})


def test_sizes_are_bytes_so_both_spellings_are_equal() -> None:
    assert MeasureOptions.from_mapping({"max_memory": "1GiB"}) == MeasureOptions.from_mapping(
        {"max_memory": 1 << 30}
    )


def test_output_planning_refuses_collisions_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "codes"
    assert plan_outputs(["a/x.pt", "b/y.pt"], out_dir=out) == [out / "x.h5", out / "y.h5"]
    with pytest.raises(InvalidParameterError, match="share the name 'x'"):
        plan_outputs(["a/x.pt", "b/x.pt"], out_dir=tmp_path / "other")
    with pytest.raises(InvalidParameterError, match="names one file but 2 checkpoints"):
        plan_outputs(["a/x.pt", "b/y.pt"], output=tmp_path / "one.h5")
    assert not (tmp_path / "other").exists() or not list((tmp_path / "other").iterdir())


def test_one_selection_rule_for_sites_and_layers() -> None:
    select = functools.partial(
        select_indices, where="w", what="layer", owner="the file", listing="Layers are"
    )
    names = ["fc1", "fc2", "out"]
    assert select(names, "-1,fc1") == [0, 2]
    assert select(names, []) == [0, 1, 2]
    with pytest.raises(InvalidParameterError, match="w: index 3 is out of range; the file has 3 layers"):
        select(names, "3")
    with pytest.raises(InvalidParameterError, match="w: no layer matches 'conv'. Layers are: fc1, fc2, out."):
        select(names, "conv")
    with pytest.raises(InvalidParameterError, match="selects no layer"):
        select(names, ",")
