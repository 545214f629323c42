"""Write the golden v1.0.0 neural-code file ``codes.h5`` next to this script.

Run from the repository root with: ``python tests/data/archives/v1.0.0/make_golden.py``.
The contents are a pure function of the seed below, so tests can rebuild the expected bits
with :func:`golden_contents` and compare them with what the committed file holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actcode.codes import LayerInfo, layout_layers, pack_bits
from actcode.io import CodeWriter, add_results, make_provenance
from actcode.results import ResultTable

SEED = 20210114
LAYERS = layout_layers(
    [
        LayerInfo("features.1", "ReLU", (2, 3, 3)),  # 18 units: 3 bytes, 6 pad bits
        LayerInfo("classifier.1", "LeakyReLU", (7,)),  # 7 units: 1 byte, 1 pad bit
        LayerInfo("classifier.3#0", "ReLU", (16,), call_index=0),  # 16 units: no pad bits
        LayerInfo("classifier.3#1", "ReLU", (16,), call_index=1),
    ]
)
SIZES = {"train": 60, "test": 25, "random": 10}


def golden_contents() -> dict[str, dict[str, np.ndarray]]:
    """Bits, labels, predictions and indices of every split."""
    rng = np.random.default_rng(SEED)
    d = sum(layer.n_units for layer in LAYERS)
    out = {}
    for split, n in SIZES.items():
        bits = rng.integers(0, 2, (n, d)).astype(np.uint8)
        bits[5] = bits[3]  # one collision in every split
        labels = np.full(n, -1) if split == "random" else rng.integers(0, 4, n)
        out[split] = {
            "bits": bits,
            "labels": labels,
            "predictions": rng.integers(0, 4, n),
            "indices": np.arange(n) * 3,
        }
    return out


def main() -> None:
    path = Path(__file__).with_name("codes.h5")
    factors = {"dataset": "synthetic", "model": "golden", "width": 57, "depth": 4, "epoch": 1,
               "sample_size": 60, "weight_decay": 0.0, "dropout": 0.0, "label_noise": 0.0,
               "seed": SEED}  # fmt: skip
    prov = make_provenance(command="make_golden.py", factors=factors, network={"test_accuracy": 0.25})
    prov.update({"created": "2026-11-27T00:00:00+00:00", "argv": ["make_golden.py"], "environment": {}})
    with CodeWriter(path, LAYERS, prov) as w:
        for split, c in golden_contents().items():
            w.append(split, pack_bits(c["bits"], LAYERS), c["labels"], c["predictions"], c["indices"])
            w.set_split_info(split, accuracy=0.25, loss=1.5)
    rows = []
    for split, c in golden_contents().items():
        n = len(c["bits"])
        rows.append((split, "all", "redundancy", (n - len(np.unique(c["bits"], axis=0))) / n))
    add_results(path, "measure", ResultTable.from_rows(rows), params={"golden": True},
                arrays={"train/collision_sizes": np.array([0, 58, 1])})  # fmt: skip
    add_results(
        path, "probe", ResultTable.from_rows([("test", "all", "knn_accuracy", 0.25)]), params={"k": 9}
    )


if __name__ == "__main__":
    main()
