"""actcode: neural networks as hash encoders, from the shell and from Python.

The public API is re-exported here. Names that need torch, numba or scikit-learn are
imported on first use, so ``import actcode`` stays fast.

Examples
--------
>>> import actcode
>>> actcode.FORMAT_VERSION
'1.2.0'
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    # configuration, data and models
    "TrainConfig": "actcode.config",
    "ModelSpec": "actcode.config",
    "DataSpec": "actcode.data",
    "Dataset": "actcode.data",
    "load_dataset": "actcode.data",
    "build_model": "actcode.models",
    # train and checkpoints
    "train": "actcode.training",
    "EpochReport": "actcode.training",
    "Checkpoint": "actcode.checkpoints",
    "load_checkpoint": "actcode.checkpoints",
    # extract
    "extract": "actcode.extraction",
    "extract_model": "actcode.extraction",
    "extract_user_model": "actcode.extraction",
    "find_sites": "actcode.extraction",
    # the format
    "CodeFile": "actcode.io",
    "CodeWriter": "actcode.io",
    "open_codes": "actcode.io",
    "validate": "actcode.io",
    "add_results": "actcode.io",
    "make_provenance": "actcode.io",
    "FORMAT_VERSION": "actcode.io",
    "FACTOR_KEYS": "actcode.factors",
    "LayerInfo": "actcode.codes",
    "pack_bits": "actcode.codes",
    "unpack_bits": "actcode.codes",
    "ResultTable": "actcode.results",
    # measure and probe
    "measure_codes": "actcode.measures",
    "measure_file": "actcode.measures",
    "probe_codes": "actcode.probes",
    "run_probes": "actcode.probes",
    "HammingKNNClassifier": "actcode.probes",
    "KMeansProbe": "actcode.probes",
    # regions
    "regions_file": "actcode.regions",
    "RegionsConfig": "actcode.regions",
    "PieceRunner": "actcode.regions",
    "walk_segments": "actcode.regions",
    "partition_plane": "actcode.regions",
    # every stage's options object (what its command and a sweep spec's table build)
    "ExtractOptions": "actcode.options",
    "MeasureOptions": "actcode.options",
    "ProbeOptions": "actcode.options",
    "RegionsOptions": "actcode.options",
    # charts
    "CurvesDisplay": "actcode.charts",
    "SliceDisplay": "actcode.charts.regions",
    "PhaseChartDisplay": "actcode.charts",
    "classify_regimes": "actcode.charts",
    "load_runs": "actcode.charts",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'actcode' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
