"""``measure``'s, ``probe``'s and ``regions``' options: the stages that add results to a code file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actcode.errors import InvalidParameterError
from actcode.options.core import Options, label, option
from actcode.scopes import DEFAULT_MAX_MEMORY

#: Where the Hamming search runs (help of measure's and probe's ``--device``).
SEARCH_DEVICE_HELP = (
    "Where the Hamming nearest-neighbour search runs: auto (CUDA when available), cpu (Numba kernels), "
    "cuda, cuda:N or mps (exact torch matrix products; same results)."
)
#: The plane analysis' windows.
WINDOWS = ("triangle", "box")


def _probe_names() -> tuple[str, ...]:
    from actcode.probes.registry import probe_names  # deferred: the probes import scikit-learn

    return probe_names()


def _is_probe(name: str) -> bool:
    from actcode.probes.registry import PROBES  # deferred: the probes import scikit-learn

    found = name in PROBES  # loads only the plugin of that name
    PROBES.check_loaded(name)  # a plugin of that name that failed to load: its own error
    return found


def _knn_tie_rules() -> tuple[str, ...]:
    from actcode.probes.knn import TIE_RULES  # deferred: the probes import scikit-learn

    return tuple(TIE_RULES)


def _analysis_names() -> tuple[str, ...]:
    from actcode.regions.registry import analysis_names  # deferred: the analyses import torch

    return analysis_names()


@dataclass(frozen=True)
class MeasureOptions(Options):
    """Options of :func:`actcode.measures.measure_file` (the command's, besides inputs and outputs)."""

    STAGE = "measure"

    splits: tuple[str, ...] | None = option(None, "Comma list of splits to measure (default: all).", "strs")
    layers: tuple[str, ...] | None = option(
        None, "Comma list of sites (names, globs or indices) for the per-layer and prefix scopes.", "strs"
    )
    per_layer: bool = option(True, "Scopes layer:<site>.", "bool")
    prefixes: bool = option(True, "Scopes upto:<site> (cumulative).", "bool")
    nn: bool = option(True, "Hamming nearest-neighbour statistics.", "bool")
    nn_sample: int | None = option(
        None,
        "Query rows per split for the NN statistics; 0 = all. Default: all up to 20000 rows, else "
        "10000 (seeded).",
        "int",
        lo=0,
    )
    seed: int = option(0, "Seed of the NN query sample.", "seed")
    max_memory: int = option(
        DEFAULT_MAX_MEMORY, "Hold codes in memory up to this size, else stream them (e.g. 4GiB).", "size"
    )
    device: str = option("auto", SEARCH_DEVICE_HELP, "device")

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``measure_file``."""
        d = {f: getattr(self, f) for f, _ in self.options().values()}
        return {**d, "splits": _list(self.splits), "layers": _list(self.layers)}


@dataclass(frozen=True)
class ProbeOptions(Options):
    """Options of :func:`actcode.probes.run_probes` (the command's, besides inputs and outputs)."""

    STAGE = "probe"

    probes: tuple[str, ...] = option(
        ("knn", "kmeans", "logreg"),
        "Comma list of knn, kmeans, logreg, or installed plugins' probes.",
        "strs",
        choices=_probe_names,
        member=_is_probe,
    )
    k: int = option(9, "Neighbours of the Hamming K-NN probe.", "int", lo=1)
    knn_ties: str = option(
        "distance",
        "How the K-NN breaks a tied vote: 'distance' (the tied class whose neighbours have the "
        "smallest sum of Hamming distances, then the smallest label) or 'label' (plain majority, "
        "ties to the smallest label, as scikit-learn). Neighbours tied in distance at the k-th "
        "place are taken by the smaller training index.",
        "str",
        choices=_knn_tie_rules,
    )
    ovo: bool = option(False, "One-vs-one logistic regression (the study's) instead of multinomial.", "bool")
    layers: tuple[str, ...] | None = option(
        None,
        "Probe these sites (comma list of names, globs, indices) one by one instead of the whole code.",
        "strs",
    )
    splits: tuple[str, ...] | None = option(
        None,
        "Comma list: the training split first, then the splits to evaluate (default: train, then all "
        "others).",
        "strs",
    )
    seed: int = option(9, "random_state of K-Means and logistic regression (the study used 9).", "seed")
    n_init: int | str = option(
        "auto", "K-Means restarts: 'auto' (1) or a number (the study's scikit-learn used 10).", "intauto"
    )
    knn_map: bool = option(True, "Also compute the mAP of the Hamming ranking.", "bool", name="map")
    max_memory: int = option(
        DEFAULT_MAX_MEMORY,
        "Memory for K-Means and LR: the span path's Gram matrix (about 64*N*N bytes for N "
        "rows) and tiles of inner products, or else the largest dense matrix (float64 for "
        "K-Means, float32 for LR), beyond which a seeded random subset of columns is used.",
        "size",
    )
    device: str = option("auto", SEARCH_DEVICE_HELP, "device")

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``run_probes``."""
        d = {f: getattr(self, f) for f, _ in self.options().values()}
        return {**d, "probes": list(self.probes), "splits": _list(self.splits), "layers": _list(self.layers)}


@dataclass(frozen=True)
class RegionsOptions(Options):
    """Options of :func:`actcode.regions.regions_file` (the command's, besides inputs and outputs).

    ``model``, ``weights``, ``data_root`` and ``trust_model_code`` say where the network and
    data come from; a sweep sets them from each cell, so its ``[regions]`` table does not.
    """

    STAGE = "regions"

    analyses: tuple[str, ...] | None = option(
        None,
        "Comma list of lines, local, kernel, plane (default: all; a plugin analysis without max-pool "
        "support is refused for a network with max-pools).",
        "strs",
        choices=_analysis_names,
    )
    splits: tuple[str, ...] | None = option(None, "Comma list of splits (default: all).", "strs")
    layers: tuple[str, ...] | None = option(
        None, "Sites (names, globs or indices) that get per-layer scopes (default: all).", "strs"
    )
    segments: int = option(64, "lines: segments per relation (same, different, random).", "int", lo=1)
    radius: float | None = option(
        None,
        "lines: length of the random segments; local: star radius. Default: 0.01 x the data's scale.",
        "float",
        lo=0,
    )
    directions: int = option(8, "local: random orthonormal directions P.", "int", lo=1)
    max_rows: int = option(1000, "local: examples per split (seeded sample).", "int", lo=1)
    batch: int | None = option(
        None,
        "kernel: codes per batch (seeded sample). Default: min(128, D + 1), as NASWOT's kernel "
        "(rank <= D + 1) is singular above, and its score -inf.",
        "int",
        lo=2,
    )
    plane: tuple[int, int, int] | None = option(
        None, "plane: three rows of the split, such as 0,5,9 (default: seeded).", "rows3", lo=0
    )
    window: str = option(
        "triangle", "plane: triangle (of the three examples) or box (around it).", "str", choices=WINDOWS
    )
    seed: int = option(0, "Seed of every sample and direction.", "seed")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.", "device")
    model: str | None = option(
        None,
        "The network as FILE.py:FACTORY, torchvision:NAME or timm:NAME: with --weights, instead of "
        "the recorded one; alone, it names the code of a custom-model checkpoint (checked against the "
        "one it records).",
        "str",
        spec=False,
    )
    weights: str | None = option(None, "With --model: its state_dict file.", "str", spec=False)
    dataset: str | None = option(
        None,
        "The data instead of the recorded source: a study dataset, a .npz, imagefolder:DIR or "
        "npy:FILE (read with the recorded preprocessing). kernel needs no data.",
        "str",
        spec=False,
    )
    data_root: str | None = option(
        None,
        "Folder of the dataset's files (instead of the one a checkpoint records). "
        "Default: $ACTCODE_DATA or ~/.cache/actcode/data.",
        "str",
        spec=False,
    )
    trust_model_code: bool = option(
        False,
        "Run the model factory a custom-model checkpoint records (absolute paths and modules only) "
        "without naming it with --model.",
        "bool",
        spec=False,
    )

    def check_together(self, table: str | None) -> None:
        """A positive radius; ``--weights`` needs ``--model``."""
        if self.radius is not None and self.radius <= 0:
            msg = f"{label('radius', table)} must be positive. Got {self.radius} instead."
            raise InvalidParameterError(msg)
        if self.weights is not None and self.model is None:
            msg = (
                "--weights needs --model (FILE.py:FACTORY, torchvision:NAME or timm:NAME builds the network)."
            )
            raise InvalidParameterError(msg)

    def config_kwargs(self) -> dict[str, Any]:
        """The fields of :class:`actcode.regions.RegionsConfig`."""
        d = {f: getattr(self, f) for f, _ in self.options().values()}
        if self.analyses is not None:  # in the order they run
            d["analyses"] = tuple(a for a in _analysis_names() if a in self.analyses)
        return {**d, "splits": _list(self.splits), "layers": _list(self.layers)}


def _list(value: tuple[str, ...] | None) -> list[str] | None:
    return None if value is None else list(value)


__all__ = ["SEARCH_DEVICE_HELP", "WINDOWS", "MeasureOptions", "ProbeOptions", "RegionsOptions"]
