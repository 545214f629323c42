"""The 2-D slice chart: a plane's linear regions, coloured by predicted class, with the decision boundary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from actcode.charts.style import OKABE_ITO, check_output, format_value, rc, save_figure
from actcode.errors import InvalidParameterError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["CLASS_COLOURS", "SliceDisplay", "slice_title", "write_slice"]

#: One colour per class for up to 10 classes: Okabe & Ito's eight (black lightened to grey,
#: as fills) and two of Tol's muted palette; colour-blind safe.
CLASS_COLOURS: tuple[str, ...] = (*OKABE_ITO[:6], "#777777", OKABE_ITO[7], "#882255", "#44AA99")


def _ragged(path: str | Path, name: str, verts: np.ndarray, offs: np.ndarray) -> list[np.ndarray]:
    """Polygons ``verts[offs[i]:offs[i + 1]]``, after checking the arrays read from the file."""
    offs = np.asarray(offs)
    ok = (
        verts.ndim == 2 and verts.shape[1] == 2 and np.issubdtype(verts.dtype, np.floating)
        and offs.ndim == 1 and offs.size >= 1 and np.issubdtype(offs.dtype, np.integer)
        and offs[0] == 0 and offs[-1] == verts.shape[0] and bool((np.diff(offs) >= 3).all())
    )  # fmt: skip
    if not ok:
        msg = f"{path}: its plane partition's {name} are damaged (not polygons); run 'actcode regions' again."
        raise InvalidParameterError(msg)
    return [verts[offs[i] : offs[i + 1]] for i in range(offs.size - 1)]


@dataclass
class SliceDisplay:
    """A stored plane partition (``actcode regions --analyses plane``), ready to draw.

    Build with :meth:`from_file`, draw with :meth:`plot`; ``figure_`` and ``ax_`` are set by plot.
    """

    regions: list[np.ndarray]  # the affine pieces (the regions themselves without max-pools)
    cells: list[np.ndarray]
    cell_class: np.ndarray
    boundary: np.ndarray
    points: np.ndarray
    point_labels: np.ndarray
    window: np.ndarray
    split: str
    title: str = ""
    n_regions: int | None = None  # regions (connected sets of one code); None: one per piece
    figure_: Figure | None = None
    ax_: Axes | None = None

    @classmethod
    def from_file(cls, path: str | Path, split: str | None = None) -> SliceDisplay:
        """Read the partition of ``split`` (default: test, else the first split that has one)."""
        from actcode.io import open_codes

        with open_codes(path) as cf:
            arrays = cf.result_arrays("regions") if "regions" in cf.result_kinds else {}
            have = sorted({k.split("/")[0] for k in arrays if k.endswith("/plane/vertices")})
            if not have:
                msg = f"{path}: holds no plane partition; run 'actcode regions --analyses plane' on it first."
                raise InvalidParameterError(msg)
            chosen = split or ("test" if "test" in have else have[0])
            if chosen not in have:
                msg = (
                    f"{path}: has no plane partition for split {chosen!r}; it has one for {', '.join(have)}."
                )
                raise InvalidParameterError(msg)
            a = {k[len(chosen) + 7 :]: v for k, v in arrays.items() if k.startswith(f"{chosen}/plane/")}
            labels = cf.labels(chosen)[a["rows"]] if "rows" in a else np.full(len(a["points"]), -1)
            f = cf.factors
        title = f"{slice_title(f)}: {chosen}"
        pieces = _ragged(path, "pieces", a["vertices"], a["offsets"])
        region = np.asarray(a.get("region", np.arange(len(pieces))))
        if region.shape != (len(pieces),) or not np.issubdtype(region.dtype, np.integer):
            msg = f"{path}: its plane partition's region numbers are damaged; run 'actcode regions' again."
            raise InvalidParameterError(msg)
        return cls(
            pieces,
            _ragged(path, "class cells", a["cell_vertices"], a["cell_offsets"]),
            a["cell_class"],
            a["boundary"].reshape(-1, 2, 2),
            a["points"],
            np.asarray(labels),
            a["window"],
            chosen,
            title,
            int(np.unique(region).size),
        )

    def plot(self, ax: Axes | None = None) -> SliceDisplay:
        """Draw class cells (fill), region edges (thin), the decision boundary (thick) and the examples."""
        from matplotlib.collections import LineCollection, PolyCollection
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        with rc():
            if ax is None:
                fig = Figure(figsize=(6.4, 4.8), layout="constrained")
                ax = fig.subplots()
            else:
                fig = ax.figure  # type: ignore[assignment]
            colours = [CLASS_COLOURS[c % len(CLASS_COLOURS)] for c in self.cell_class]
            ax.add_collection(PolyCollection(self.cells, facecolors=colours, edgecolors="none", alpha=0.45))
            ax.add_collection(
                PolyCollection(self.regions, facecolors="none", edgecolors="#333333", linewidths=0.3)
            )
            if self.boundary.size:
                ax.add_collection(LineCollection(list(self.boundary), colors="black", linewidths=1.6))
            ax.scatter(self.points[:, 0], self.points[:, 1], s=60, c="white", edgecolors="black", zorder=3)
            for (x, y), lab in zip(self.points, self.point_labels, strict=False):
                ax.annotate(f"class {lab}" if lab >= 0 else "example", (x, y), textcoords="offset points",
                            xytext=(6, 6), fontsize=8)  # fmt: skip
            lo, hi = self.window.min(axis=0), self.window.max(axis=0)
            pad = 0.03 * (hi - lo).max()
            ax.set_xlim(lo[0] - pad, hi[0] + pad)
            ax.set_ylim(lo[1] - pad, hi[1] + pad)
            ax.set_aspect("equal")
            ax.set_xlabel("plane coordinate 1 (input units)")
            ax.set_ylabel("plane coordinate 2 (input units)")
            classes = sorted(set(self.cell_class.tolist()))
            handles = [
                Rectangle((0, 0), 1, 1, color=CLASS_COLOURS[c % len(CLASS_COLOURS)], alpha=0.45)
                for c in classes
            ]
            ax.legend(  # beside the plane, never over it
                handles, [f"predicted {c}" for c in classes], fontsize=7, loc="upper left",
                bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False,
            )  # fmt: skip
            n = len(self.regions) if self.n_regions is None else self.n_regions
            pieces = (
                f" ({len(self.regions)} affine pieces: max-pool switches)" if n != len(self.regions) else ""
            )
            ax.set_title(f"{self.title}\n{n} linear regions{pieces}; black: decision boundary", fontsize=9)
        self.figure_, self.ax_ = fig, ax
        return self


def write_slice(
    path: str | Path, output: str | Path, *, split: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """Draw a file's stored plane partition to ``output`` (PNG, SVG or PDF); return the path and a summary."""
    check_output(output)
    d = SliceDisplay.from_file(path, split).plot()
    assert d.figure_ is not None
    out = save_figure(d.figure_, output)
    return out, {
        "split": d.split,
        "regions": len(d.regions),
        "cells": len(d.cells),
        "boundary_edges": int(d.boundary.shape[0]),
    }


def slice_title(factors: dict[str, Any]) -> str:
    """The run a slice comes from: dataset, the model by its name, and width and epoch where the
    factors have them (a custom model has no width).

    Examples
    --------
    >>> slice_title({"dataset": "digits", "model": "mlp", "width": 32, "epoch": 30})
    'digits mlp width 32 epoch 30'
    >>> slice_title({"dataset": "imagefolder:/data/pets", "model": "/home/me/nets.py:make", "width": None})
    'imagefolder:/data/pets nets.py:make'
    """
    model = str(factors.get("model") or "")
    target, sep, fn = model.rpartition(":")
    if sep and "/" in target:  # a factory file: its name, not its folders
        model = f"{target.rsplit('/', 1)[-1]}:{fn}"
    parts = [str(factors.get("dataset") or ""), model]
    parts += [f"{k} {format_value(factors[k])}" for k in ("width", "epoch") if factors.get(k) is not None]
    return " ".join(p for p in parts if p)
