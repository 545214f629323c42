"""A plain-dict summary of a code file, for ``actcode info`` and for users."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actcode.io.codes import open_codes


def summarize(path: str | Path) -> dict[str, Any]:
    """Splits, rows, units, layers, factors and results of a code file (validated first)."""
    with open_codes(path) as cf:
        return {
            "path": str(path),
            "format_version": cf.format_version,
            "n_units": cf.n_units,
            "n_bytes": cf.n_bytes,
            "splits": {
                s: {
                    "n_samples": cf.n_rows(s),
                    **cf.split_info(s),
                    "n_classes": int(len(set(cf.labels(s).tolist()))),
                }
                for s in cf.splits
            },
            "layers": [
                {
                    "name": ly.name,
                    "kind": ly.kind,
                    "shape": list(ly.shape),
                    "n_units": ly.n_units,
                    "byte_offset": ly.byte_offset,
                }
                for ly in cf.layers
            ],  # fmt: skip
            "factors": cf.factors,
            "network": cf.provenance.get("network", {}),
            "results": {k: len(cf.results(k) or []) for k in cf.result_kinds},
        }
