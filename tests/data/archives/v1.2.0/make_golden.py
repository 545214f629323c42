"""Write the golden v1.2.0 neural-code file ``codes.h5`` next to this script.

Run from the repository root with: ``python tests/data/archives/v1.2.0/make_golden.py``.
The contents are a pure function of the seed below, so tests can rebuild the expected bits
with :func:`golden_contents` and compare them with what the committed file holds.

Beyond the v1.0.0 archive it holds what 1.1.0 and 1.2.0 added: operator sites
(``MODULE:OP#k``) beside module sites, a shard record in the extract provenance, and results of
the kind ``regions`` (with a ``naswot`` of -inf, the one value that may be infinite).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.io import CodeWriter, add_results, make_provenance
from actcode.results import ResultTable

SEED = 20261130
LAYERS = layout_layers(
    [
        LayerInfo("features.1", "ReLU", (2, 3, 3)),  # a module site, conv-shaped: 18 units
        LayerInfo("layer1.0:relu#0", "relu", (5,)),  # an operator site (F.relu in layer1.0)
        LayerInfo("layer1.0:relu#1", "relu", (5,), call_index=1),  # its second call
        LayerInfo("(root):leaky_relu#0", "leaky_relu", (9,)),  # a functional leaky ReLU in forward
        LayerInfo("classifier.3", "ReLU", (16,)),
    ]
)
SIZES = {"train": 48, "test": 20, "random": 8}
REGIONS = [
    ("train", "all", "naswot", float("-inf")),
    ("train", "all", "naswot_duplicates", 1.0),
    ("train", "all", "tenas_distinct", 47.0),
    ("train", "all", "lines_same_regions_mean", 6.5),
    ("train", "layer:classifier.3", "lines_same_regions_mean", 3.25),
    ("test", "all", "local_complexity_median", 4.0),
]


def golden_contents() -> dict[str, dict[str, np.ndarray]]:
    """Bits, labels, predictions and indices of every split."""
    rng = np.random.default_rng(SEED)
    d = sum(layer.n_units for layer in LAYERS)
    out = {}
    for split, n in SIZES.items():
        bits = rng.integers(0, 2, (n, d)).astype(np.uint8)
        bits[7] = bits[2]  # one collision in every split
        labels = np.full(n, -1) if split == "random" else rng.integers(0, 5, n)
        out[split] = {
            "bits": bits,
            "labels": labels,
            "predictions": rng.integers(0, 5, n),
            "indices": np.arange(n) * 2 + 1,
        }
    return out


def main() -> None:
    path = Path(__file__).with_name("codes.h5")
    factors = {"dataset": "synthetic", "model": "golden", "width": 53, "depth": 5, "epoch": 2,
               "sample_size": 48, "weight_decay": 0.0, "dropout": 0.0, "label_noise": 0.0,
               "seed": SEED}  # fmt: skip
    prov = make_provenance(
        command="make_golden.py",
        factors=factors,
        network={"test_accuracy": 0.2},
        extract={"sites": "ops", "shard": None, "seed": 0, "random": SIZES["random"]},
    )
    prov.update({"created": "2026-11-30T00:00:00+00:00", "argv": ["make_golden.py"], "environment": {}})
    with CodeWriter(path, LAYERS, prov) as w:
        for split, c in golden_contents().items():
            w.append(split, pack_bits(c["bits"], LAYERS), c["labels"], c["predictions"], c["indices"])
            w.set_split_info(split, accuracy=0.2, loss=1.75)
    rows = []
    for split, c in golden_contents().items():
        n = len(c["bits"])
        rows.append((split, "all", "redundancy", (n - len(np.unique(c["bits"], axis=0))) / n))
    add_results(path, "measure", ResultTable.from_rows(rows), params={"golden": True},
                arrays={"train/collision_sizes": np.array([0, 46, 1])})  # fmt: skip
    add_results(
        path, "regions", ResultTable.from_rows(REGIONS), params={"analyses": {"kernel": {"batch": 48}}},
        arrays={"train/kernel/rows": np.arange(48)},
    )  # fmt: skip


if __name__ == "__main__":
    main()
