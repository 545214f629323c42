"""The ``centroid`` probe: nearest class centroid in Hamming space (the majority bit of each class)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from actcode.errors import ProbeError
from actcode.metrics import Metric
from actcode.probes.registry import ProbeTask, ScopeCodes

#: Rows classified at once (bounds the unpacked block to BLOCK x bits bytes).
BLOCK = 4096


def majority_centroids(codes: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Packed centroids, one row per class: bit j is 1 when more than half the class's rows have it."""
    rows = []
    for c in classes:
        bits = np.unpackbits(codes[labels == c], axis=1)
        rows.append(np.packbits(2 * bits.sum(axis=0, dtype=np.int64) > bits.shape[0]))
    return np.stack(rows).astype(np.uint8)


def nearest_centroid(codes: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the Hamming-nearest centroid of each packed row (ties: the first)."""
    out = np.empty(codes.shape[0], np.int64)
    for s in range(0, codes.shape[0], BLOCK):
        block = codes[s : s + BLOCK]
        d = np.stack([np.unpackbits(block ^ c, axis=1).sum(axis=1, dtype=np.int64) for c in centroids], 1)
        out[s : s + block.shape[0]] = d.argmin(axis=1)
    return out


class CentroidProbe:
    """Fit on the training split; ``centroid_accuracy`` on every probed split."""

    title: str = "nearest-centroid"
    order: int = 100
    metrics: tuple[Metric, ...] = (
        Metric("centroid_accuracy", "probe", "nearest-centroid accuracy (Hamming)", "centroid", "",
               "accuracy", "centroid"),
    )  # fmt: skip
    dense_itemsize: int = 0
    uses_search: bool = False

    def check(self, task: ProbeTask, codes: Mapping[str, np.ndarray]) -> None:
        if task.classes.size < 2:
            msg = f"the {self.title} probe cannot run on {task.where}: the training split has a single class."
            raise ProbeError(msg)

    def params(self, task: ProbeTask) -> dict[str, Any]:
        return {"centroid": "majority bit per class", "distance": "hamming", "fit_split": task.train}

    def run(self, task: ProbeTask, scope: ScopeCodes) -> None:
        t0 = time.perf_counter()
        sc, lab = scope.codes, scope.labels
        centroids = majority_centroids(sc[task.train], lab[task.train], task.classes)
        for s in task.splits:
            predicted = task.classes[nearest_centroid(sc[s], centroids)]
            task.rows.append((s, scope.name, "centroid_accuracy", float((predicted == lab[s]).mean())))
        task.params["seconds"][f"{scope.name}/centroid"] = round(time.perf_counter() - t0, 3)
