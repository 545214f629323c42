"""The sweep spec: every error path, the grid's product and the command-line overrides, cell identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from actcode.config import ModelSpec, TrainConfig
from actcode.errors import ActcodeFileNotFoundError, InvalidParameterError
from actcode.sweep import load_spec, make_cells
from actcode.sweep.spec import parse_minutes
from actcode.train_options import train_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    return p


BAD = [
    ("wat = 1\n", "unknown key 'wat'"),
    ("[train]\nwidht = 4\n", "unknown key 'train.widht'"),
    ("[grid]\nwidht = [4]\n", "unknown key 'grid.widht'"),
    ("[measure]\nnn_samples = 3\n", "unknown key 'measure.nn_samples'"),
    ("[probe]\nprobe = 'knn'\n", "unknown key 'probe.probe'"),
    ("[extract]\nrandom = 'many'\n", "'extract.random' must be an integer"),
    ("[extract]\nsplits = ['train', 'val']\n", "'extract.splits': unknown split 'val'"),
    ("[train]\nout = 'x'\n", "'train.out' cannot be set"),
    ("[train]\nwidth = 'wide'\n", "'train.width' must be an integer"),
    ("[train]\nlr = true\n", "'train.lr' must be a number"),
    ("[train]\nbn = 1\n", "'train.bn' must be true or false"),
    ("[train]\nsave_at = [0, 'x']\n", "'train.save_at' must be a list of integers"),
    ("[train]\nwidth = 4\n[grid]\nwidth = [4, 8]\n", "'width' is both a fixed train option and a grid axis"),
    ("[grid]\nwidth = 4\n", "'grid.width' must be a non-empty list"),
    ("[grid]\nwidth = []\n", "'grid.width' must be a non-empty list"),
    ("[grid]\nwidth = [4, 'x']\n", "'grid.width' must be an integer"),
    ("grid = 3\n", "'grid' must be a table"),
    ("train = 3\n", "'train' must be a table"),
    ("stages = ['train', 'measure']\n", "'stages' must be train, then extract"),
    ("stages = []\n", "'stages' must be train, then extract"),
    ("stages = ['extract', 'train']\n", "'stages' must be train, then extract"),
    ("stages = ['train', 'extract', 'probe', 'measure']\n", "'stages' must be train, then extract"),
    ("[measure]\nmax_memory = 'lots'\n", "'measure.max_memory' must be a positive size"),
    ("[probe]\nn_init = 0\n", "'probe.n_init' must be 'auto' or a positive integer"),
    ("[slurm]\ntime = 'soon'\n", "'slurm.time' must be minutes"),
    ("[slurm]\nqueue = 'x'\n", "unknown key 'slurm.queue'"),
    ("[ray]\nnum_cpus = 'two'\n", "'ray.num_cpus' must be a number"),
    ("[train]\nepochs = 2\nsave_at = [5]\n", "--save-at 5 asks for epoch(s) 5"),
    ("[grid]\nwidth = [4, 0]\n", "cell width=0: --width must be at least 1"),
    ("[grid]\nthreads = [1, 2]\n", "are the same training run"),
    ("this is not toml\n", "not a valid TOML file"),
]


@pytest.mark.parametrize(("text", "needle"), BAD)
def test_every_bad_spec_is_refused_with_one_line_naming_the_key_and_the_file(
    tmp_path: Path, text: str, needle: str
) -> None:
    p = write(tmp_path, text)
    with pytest.raises(InvalidParameterError) as info:
        load_spec(p)
    message = str(info.value)
    assert needle in message
    assert str(p) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("sets", "grids", "needle"),
    [
        (["train.epochs"], [], "--set 'train.epochs'"),
        (["a.b.c=1"], [], "--set 'a.b.c=1'"),
        (["train.widht=3"], [], "unknown key 'train.widht'"),
        (["train.width=wide"], [], "'train.width' must be an integer"),
        ([], ["width"], "--grid 'width'"),
        ([], ["width="], "--grid 'width='"),
        ([], ["colour=red"], "unknown key 'grid.colour'"),
    ],
)
def test_bad_overrides_are_refused(tmp_path: Path, sets: list[str], grids: list[str], needle: str) -> None:
    p = write(tmp_path, "[train]\nepochs = 1\n")
    with pytest.raises(InvalidParameterError) as info:
        load_spec(p, sets=sets, grids=grids)
    assert needle in str(info.value)


def test_a_missing_spec_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ActcodeFileNotFoundError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")


def test_the_cells_are_the_product_of_the_axes_in_grid_order(tmp_path: Path) -> None:
    p = write(tmp_path, "[train]\nepochs = 3\n[grid]\nwidth = [4, 16]\nseed = [0, 1, 2]\n")
    spec = load_spec(p)
    points = [(c.point["width"], c.point["seed"]) for c in make_cells(spec)]
    assert points == [(4, 0), (4, 1), (4, 2), (16, 0), (16, 1), (16, 2)]
    assert spec.name == "s"
    assert spec.out == Path("sweeps/s")
    assert spec.stages == ("train", "extract", "measure", "probe")


def test_overrides_set_values_replace_axes_and_add_axes(tmp_path: Path) -> None:
    text = 'name = "n"\nout = "o"\nstages = ["train"]\n'
    text += "[train]\nepochs = 3\nwidth = 8\n[grid]\nseed = [0, 1]\n"
    p = write(tmp_path, text)
    spec = load_spec(
        p,
        out=tmp_path / "elsewhere",
        sets=["train.epochs=5", "train.seed=7", "extract.random=500", "stages=['train', 'extract']"],
        grids=["width=4,8", "weight-decay=0,1e-4"],
    )
    assert spec.out == tmp_path / "elsewhere"
    assert spec.train == {"epochs": 5, "seed": 7}
    assert spec.grid == {"width": [4, 8], "weight_decay": [0.0, 1e-4]}
    assert spec.extract == {"random": 500}
    assert spec.stages == ("train", "extract")
    assert len(make_cells(spec)) == 4


def test_dashed_and_comma_spellings_give_the_same_cells(tmp_path: Path) -> None:
    a = load_spec(write(tmp_path, "[train]\nsave-at = '0,1'\nepochs = 1\nweight-decay = 0\n"))
    b = load_spec(write(tmp_path, "[train]\nsave_at = [0, 1]\nepochs = 1\nweight_decay = 0.0\n"))
    assert [c.key for c in make_cells(a)] == [c.key for c in make_cells(b)]


def test_a_cell_is_identified_by_the_run_hash_of_the_same_train_options(tmp_path: Path) -> None:
    p = write(tmp_path, "[train]\nepochs = 2\nlr = 1\n[grid]\nwidth = [4, 8]\nseed = [3]\n")
    cells = make_cells(load_spec(p))
    by_hand = TrainConfig(model=ModelSpec(width=8), epochs=2, lr=1.0, seed=3, out="anywhere")
    assert cells[1].key == by_hand.run_hash()
    assert cells[1].key == train_config({"width": 8, "epochs": 2, "lr": 1.0, "seed": 3}).run_hash()
    assert cells[0].key != cells[1].key
    assert cells[1].options["out"] == str(Path("sweeps/s/runs"))


def test_slurm_times() -> None:
    assert parse_minutes("4:00:00") == 240
    assert parse_minutes("1-12:00") == 36 * 60
    assert parse_minutes("0:00:30") == 1
    with pytest.raises(InvalidParameterError, match="--time"):
        parse_minutes("tomorrow", "--time")


#: The sweep specs of examples/ (the example plugin's pyproject.toml is not one).
EXAMPLES = sorted(
    p for p in (Path(__file__).parents[2] / "examples").rglob("*.toml") if p.name != "pyproject.toml"
)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_spec_loads(path: Path) -> None:
    spec = load_spec(path)
    cells = make_cells(spec)
    assert cells
    text = path.read_text(encoding="utf-8")
    if path.parent.name == "paper":  # the study's full grids: on SLURM, with an estimate
        assert spec.train["dataset"] in ("mnist", "cifar10")
        assert spec.slurm["gpus_per_task"] == 1
        assert spec.slurm["time"] > 0
        assert "Estimated GPU time" in text
        assert f"= {len(cells)} cells" in text
    else:
        assert spec.train["dataset"] == "digits"


def test_there_is_a_spec_per_study() -> None:
    names = {p.stem for p in EXAMPLES}
    assert {"model_size", "training_time", "sample_size", "phase_chart_epoch"} <= names
    for ds in ("mnist", "cifar10"):
        assert {f"{ds}_model_size", f"{ds}_training_time", f"{ds}_sample_size"} <= names
