"""The metric registry names every metric that measure and probe write, with the right stage and kind."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from actcode import metrics
from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.measures import measure_codes
from actcode.probes import probe_codes
from actcode.testing import synthetic_bits

ROOT = Path(__file__).resolve().parents[2]


def _codes() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[LayerInfo]]:
    layers = layout_layers([LayerInfo("a", "ReLU", (5,)), LayerInfo("b", "ReLU", (7,))])
    b, y, protos = synthetic_bits(40, 12, n_classes=3, flip=0.2, seed=0)
    bt, yt, _ = synthetic_bits(30, 12, n_classes=3, flip=0.2, seed=1, prototypes=protos)
    codes = {"train": pack_bits(b, layers), "test": pack_bits(bt, layers)}
    return codes, {"train": y, "test": yt}, layers


def test_every_measured_metric_is_registered_as_measure() -> None:
    codes, labels, layers = _codes()
    table = measure_codes(codes, labels, layers).table
    written = {m for _, _, m, _ in table.rows()}
    assert written <= metrics.names_of("measure")
    assert {"redundancy", "nn_within_mean_norm", "hash_lookup_accuracy"} <= written


def test_every_probed_metric_is_registered_as_probe() -> None:
    codes, labels, layers = _codes()
    result = probe_codes(codes, labels, layers, network={"train": 0.9, "test": 0.8}, n_init=1)
    written = {m for _, _, m, _ in result.table.rows()}
    assert written == metrics.names_of("probe")


def test_the_format_spec_lists_exactly_the_registered_names() -> None:
    text = (ROOT / "formats" / "codes.md").read_text()
    listed: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("| measure |", "| probe |")):
            listed |= set(re.findall(r"`([a-z_]+)`", line.split("|")[2]))
    registered = metrics.names_of("measure") | metrics.names_of("probe")
    assert listed == {n for n in registered if not n.endswith(metrics.NORM_SUFFIX)}


def test_kinds_drive_the_chart_rules() -> None:
    assert metrics.is_ratio("redundancy")
    assert not metrics.is_accuracy("redundancy")
    assert metrics.is_accuracy("knn_accuracy")
    assert metrics.is_ratio("knn_accuracy")
    assert not metrics.is_ratio("nn_mean")
    assert metrics.is_ratio("nn_mean_norm")
    assert metrics.is_ratio("something_norm")  # unregistered distances divided by n_units
    assert metrics.label_of("nn_mean_norm") == "mean NN Hamming distance (fraction of bits)"
    assert metrics.short_of("nn_within_mean_norm") == "NN within (mean) / D"
    assert metrics.needs_labels(["redundancy", "n_mixed_groups", "nn_between_median_norm"]) == [
        "n_mixed_groups",
        "nn_between_median_norm",
    ]
