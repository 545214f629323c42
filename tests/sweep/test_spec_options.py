"""Stage options in a sweep spec, generated from the options objects themselves.

Every option with a range or a choice gets bad values from its :class:`~actcode.options.Opt`,
so a new option is covered without a new test: each is refused when the spec loads (exit 5,
one line naming the key and the file), before any checkpoint is written. The command line and
the sweep build equal options objects from the same values (a property test), and the run
hashes of existing configurations are pinned.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actcode.cli._parse import command_options, train_command_config
from actcode.config import DEVICES, SEED_MAX, ModelSpec, TrainConfig
from actcode.options import Opt, Options
from actcode.options.core import cli_text
from actcode.sweep import load_spec, make_cells
from actcode.sweep.spec import STAGE_OPTIONS
from actcode.train_options import train_config
from tests.sweep.conftest import actcode


def bad_values(opt: Opt) -> list[Any]:
    """Values outside the option's range or choices, as a spec would hold them."""
    out: list[Any] = []
    if opt.kind in ("int", "float") and opt.lo is not None:
        out.append(int(opt.lo) - 1 if opt.kind == "int" else opt.lo - 1.0)
    if opt.kind in ("int", "float") and opt.hi is not None:
        out.append(int(opt.hi) + 1 if opt.kind == "int" else opt.hi + 1.0)
    extra: dict[str, list[Any]] = {
        "seed": [-1, 2**40],
        "size": ["lots"],
        "intauto": [0],
        "device": ["tpu"],
        "rows3": [[0, 0, 1]],
    }
    out += extra.get(opt.kind, [])
    if opt.choice_list():
        out.append(["bogus"] if opt.kind == "strs" else "bogus")
    return out


CASES = [
    (stage, name, value)
    for stage, cls in STAGE_OPTIONS.items()
    for name in cls.spec_keys()
    for value in bad_values(cls.options()[name][1])
]


def spec_text(tables: dict[str, dict[str, Any]]) -> str:
    """A spec of one tiny cell that runs every stage, with ``tables`` added."""
    text = 'stages = ["train", "extract", "measure", "probe", "regions"]\n[train]\nepochs = 1\nwidth = 4\n'
    for table, values in tables.items():
        text += f"[{table}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
    return text


def test_the_generated_cases_cover_every_stage_and_the_reported_values() -> None:
    assert {stage for stage, _, _ in CASES} == set(STAGE_OPTIONS)
    reported = [("extract", "compression", "bogus"), ("probe", "probes", ["bogus"]), ("probe", "k", 0)]
    reported += [("extract", "seed", -1), ("extract", "seed", 2**40), ("regions", "window", "bogus")]
    for case in reported:
        assert case in CASES


@pytest.mark.parametrize(("stage", "name", "value"), CASES, ids=[f"{s}.{n}={v}" for s, n, v in CASES])
def test_a_bad_stage_option_is_refused_at_load_before_any_checkpoint(
    tmp_path: Path, stage: str, name: str, value: Any
) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(spec_text({stage: {name: value}}), encoding="utf-8")
    out = tmp_path / "out"
    r = actcode("sweep", spec, "--out", out)
    assert r.returncode == 5, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("actcode sweep: error: ")
    assert f"'{stage}.{name}'" in lines[0]
    assert str(spec) in lines[0]
    assert not list(out.rglob("*.pt")) if out.exists() else True


@pytest.mark.parametrize(
    "tables",
    [
        {"extract": {"compression": "lzf"}},
        {"probe": {"probes": ["svm"]}},
        {"measure": {"splits": "bogus"}},
        {"probe": {"splits": ["train", "random"]}},
        {"regions": {"splits": ["val"]}},
        {"extract": {"splits": ["train", "val"]}},
        {"probe": {"k": 0}},
        {"extract": {"seed": -1}},
        {"extract": {"seed": 2**40}},
        {"extract": {"workers": 2}},
    ],
)
def test_dry_run_checks_every_stage_option(tmp_path: Path, tables: dict[str, dict[str, Any]]) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(spec_text(tables), encoding="utf-8")
    r = actcode("sweep", "run", spec, "--out", tmp_path / "out", "--dry-run")
    assert r.returncode == 5, r.stderr
    ((stage, values),) = tables.items()
    assert f"'{stage}.{next(iter(values))}'" in r.stderr
    assert str(spec) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# -- the command line and the sweep build equal options objects ------------------------------------

_LAYERS = st.lists(st.sampled_from(["fc1", "layer*", "0", "-1"]), min_size=1, max_size=3, unique=True)
_SPLITS = st.lists(st.sampled_from(["train", "test"]), min_size=1, max_size=2, unique=True)


def value_strategy(name: str, opt: Opt) -> st.SearchStrategy[Any]:
    """Valid values of an option, as a spec holds them."""
    choices = opt.choice_list()
    lo = int(opt.lo) if opt.lo is not None else 0
    kinds: dict[str, st.SearchStrategy[Any]] = {
        "int": st.integers(lo, int(opt.hi) if opt.hi is not None else lo + 10_000),
        "float": st.floats(0.001, 100.0),
        "bool": st.booleans(),
        "seed": st.integers(0, SEED_MAX),
        "size": st.integers(1, 1 << 40),
        "intauto": st.one_of(st.just("auto"), st.integers(1, 50)),
        "device": st.sampled_from([*DEVICES, "cuda:1"]),
        "rows3": st.lists(st.integers(0, 100), min_size=3, max_size=3, unique=True),
    }
    if opt.kind == "strs":
        items = st.sampled_from(choices) if choices else None
        if items is not None:
            return st.lists(items, min_size=1, max_size=len(choices), unique=True)
        return _SPLITS if name == "splits" else _LAYERS
    if opt.kind == "str":
        return st.sampled_from(choices)
    return kinds[opt.kind]


@st.composite
def stage_values(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    stage = draw(st.sampled_from(sorted(STAGE_OPTIONS)))
    cls = STAGE_OPTIONS[stage]
    names = draw(st.lists(st.sampled_from(cls.spec_keys()), unique=True))
    values = {n: draw(value_strategy(n, cls.options()[n][1])) for n in names}
    if stage == "extract" and values.get("random", 0) == 0 and "splits" in values:
        values["splits"] = [s for s in values["splits"] if s != "random"] or ["train"]
    return stage, values


def cli_args(cls: type[Options], values: dict[str, Any]) -> list[str]:
    """The command-line spelling of ``values``."""
    args: list[str] = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if value != cls.default(name):
                args.append(flag if value else f"--no-{name.replace('_', '-')}")
            continue
        args += [flag, str(cli_text(tuple(value) if isinstance(value, list) else value, "any"))]
    return args


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stage_values())
def test_the_cli_and_the_sweep_build_equal_options(case: tuple[str, dict[str, Any]]) -> None:
    stage, values = case
    cls = STAGE_OPTIONS[stage]
    from_cli = command_options(stage, cli_args(cls, values))
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "s.toml"
        spec.write_text(spec_text({stage: values}), encoding="utf-8")
        from_spec = load_spec(spec).stage_options(stage)
    assert from_cli == from_spec
    assert cls.from_mapping(from_cli.to_dict()) == from_cli


def test_an_unknown_key_is_refused_naming_it() -> None:
    for cls in STAGE_OPTIONS.values():
        with pytest.raises(ValueError, match="unknown key 'x.colour'"):
            cls.from_mapping({"colour": 1}, table="x")


# -- run hashes of existing configurations ---------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (TrainConfig(), "2753d9aebc882453"),
        (TrainConfig(model=ModelSpec(width=8), epochs=2, lr=1.0, seed=3), "2f14295f11f44fb1"),
        (
            train_config({"model": "vgg11", "dataset": "cifar10", "width_mult": 0.25, "epochs": 3}),
            "47c3e07d6b7a5605",
        ),
        (
            train_config({"width": 40, "sample_size": 100, "sample_order": "stratified", "early_stop": 5}),
            "eceb39094ec0c742",
        ),
    ],
)
def test_run_hashes_of_existing_configurations_are_unchanged(config: TrainConfig, expected: str) -> None:
    assert config.run_hash() == expected
    assert config.run_hash(8) == expected[:8]  # the names of runs before the 16-digit hashes


# -- train: the command's TrainConfig is the sweep cell's ------------------------------------------


@st.composite
def train_values(draw: st.DrawFn) -> dict[str, Any]:
    """Valid MLP training options, as a spec's [train] table holds them."""
    epochs = draw(st.integers(0, 50))
    pool: dict[str, st.SearchStrategy[Any]] = {
        "width": st.integers(1, 512),
        "depth": st.integers(1, 4),
        "lr": st.floats(1e-5, 1.0),
        "weight_decay": st.floats(0.0, 0.1),
        "batch_size": st.integers(1, 512),
        "seed": st.integers(0, SEED_MAX),
        "optimizer": st.sampled_from(["adam", "sgd"]),
        "momentum": st.floats(0.0, 0.99),
        "lr_schedule": st.sampled_from(["step", "cosine", "none"]),
        "sample_size": st.integers(1, 1000),
        "sample_order": st.sampled_from(["first", "stratified", "random"]),
        "label_noise": st.floats(0.0, 1.0),
        "noise_mode": st.sampled_from(["permute", "uniform"]),
        "early_stop": st.integers(0, 10),
        "activation": st.sampled_from(["relu", "leaky_relu", "prelu"]),
        "bn": st.booleans(),
        "tile": st.booleans(),
        "dropout": st.floats(0.0, 0.9),
        "save_at": st.lists(st.integers(0, epochs), min_size=1, max_size=3, unique=True),
    }
    names = draw(st.lists(st.sampled_from(sorted(pool)), unique=True))
    values = {n: draw(pool[n]) for n in names}
    if values.get("width", 4) < values.get("depth", 1):
        values["width"] = values.get("depth", 1)
    return {"epochs": epochs, **values}


def train_args(values: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if name == "bn":
            args.append("--bn" if value else "--no-bn")
        elif isinstance(value, bool):
            args += [flag] if value else []
        else:
            args += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return args


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(train_values())
def test_the_train_command_and_a_sweep_cell_build_the_same_config(values: dict[str, Any]) -> None:
    from_cli = train_command_config(train_args(values))
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "s.toml"
        text = "stages = ['train']\n[train]\n" + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in values.items()
        )
        spec.write_text(text, encoding="utf-8")
        sweep = load_spec(spec)
        from_spec = train_config(sweep.cell_options({}))
    assert replace(from_cli, out="x") == replace(from_spec, out="x")
    assert from_cli.run_hash() == from_spec.run_hash() == make_cells(sweep)[0].key
