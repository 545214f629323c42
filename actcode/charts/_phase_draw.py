"""Drawing of the phase chart: cells or contours, regime hatching, boundaries, labels and legend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from actcode.charts import style
from actcode.charts.regimes import CRITICAL, MISSING, REGIME_HATCHES, REGIME_NAMES, SUFFICIENT, UNDER

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from actcode.charts.phase_grid import PhaseGrid

#: Colour of the regime hatching, boundaries and label boxes (legible on every viridis shade
#: thanks to the white outline effect).
INK = "black"
MISSING_FACE = "0.88"
#: Line style of the boundaries of each kind.
BOUNDARY_STYLES: dict[str, Any] = {"under": "solid", "sufficient": (0, (4, 2))}


def _ticks(ax: Axes, axis: str, values: np.ndarray, positions: np.ndarray, log: bool) -> None:
    """Put ticks on the grid values (at most 12), so every row and column is labelled."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    if values.size > 12:
        return
    a = ax.xaxis if axis == "x" else ax.yaxis
    a.set_major_locator(FixedLocator(positions.tolist()))
    a.set_major_formatter(FixedFormatter([style.format_value(v) for v in values]))
    if log:
        a.set_minor_locator(NullLocator())


def draw_phase(d: PhaseGrid, ax: Axes, *, colorbar: bool, legend: bool) -> dict[str, Any]:
    """Draw ``d`` on ``ax``; return the artists by attribute name (``mesh_``, ``boundaries_``...)."""
    xp, yp = d.positions()
    xe, ye = style.cell_edges(xp, d.logx), style.cell_edges(yp, d.logy)
    if d.logx:
        ax.set_xscale("log")
    if d.logy:
        ax.set_yscale("log")
    mesh = _draw_values(d, ax, xp, yp, xe, ye)
    ax.grid(False)
    missing, hatched = _draw_cells(d, ax, mesh, xe, ye)
    segs = _boundary_segments(d.regimes_, xe, ye)
    art: dict[str, Any] = {
        "mesh_": mesh,
        "missing_patches_": missing,
        "regime_patches_": hatched,
        "boundaries_": _draw_boundaries(ax, segs),
        "regime_labels_": _draw_labels(d.regimes_, ax, xp, yp),
    }
    ax.set_xlabel(d.xlabel or style.factor_label(d.x))
    ax.set_ylabel(d.ylabel or style.factor_label(d.y))
    _ticks(ax, "x", d.xs, xp, d.logx)
    _ticks(ax, "y", d.ys, yp, d.logy)
    ax.set_title(d.title or _title(d))
    art["colorbar_"] = None
    if colorbar:
        cb = ax.figure.colorbar(mesh, ax=ax, pad=0.02)
        cb.set_label(f"{style.metric_label(d.metric.metric)} ({d.metric.split})")
        art["colorbar_"] = cb
    art["legend_"] = _draw_legend(d, ax, art["regime_labels_"], segs, bool(missing)) if legend else None
    return art


def _draw_values(
    d: PhaseGrid, ax: Axes, xp: np.ndarray, yp: np.ndarray, xe: np.ndarray, ye: np.ndarray
) -> Any:
    """The coloured cells (heatmap) or filled contours, with the axis limits."""
    ratio = style.is_ratio(d.metric.metric)
    vmin, vmax = (0.0, 1.0) if ratio else (np.nanmin(d.values), np.nanmax(d.values))
    masked = np.ma.masked_invalid(d.values)
    if d.kind == "heatmap":
        # Cells centred on the grid values, edges halfway in the axis' own scale (like
        # shading="nearest", but centred in log space on log axes).
        mesh: Any = ax.pcolormesh(xe, ye, masked, cmap=d.cmap, vmin=vmin, vmax=vmax, shading="flat")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        return mesh
    levels = np.linspace(vmin, vmax, 11)
    if not ratio and vmin == vmax:
        levels = np.linspace(vmin - 0.5, vmax + 0.5, 3)
    mesh = ax.contourf(xp, yp, masked, levels=levels, cmap=d.cmap, extend="both")
    ax.set_xlim(xp[0], xp[-1])  # contours exist only between the outer cell centres
    ax.set_ylim(yp[0], yp[-1])
    return mesh


def _draw_cells(
    d: PhaseGrid, ax: Axes, mesh: Any, xe: np.ndarray, ye: np.ndarray
) -> tuple[list[Any], list[Any]]:
    """Hatched grey cells where no run exists, and each regime's hatching over its cells."""
    from matplotlib.patches import Rectangle

    missing: list[Any] = []
    hatched: list[Any] = []
    for i in range(ye.size - 1):
        for j in range(xe.size - 1):
            box = (xe[j], ye[i]), xe[j + 1] - xe[j], ye[i + 1] - ye[i]
            if d.counts[i, j] == 0 or not np.isfinite(d.values[i, j]):
                p = Rectangle(
                    *box, facecolor=MISSING_FACE, edgecolor="0.55", hatch="xx", linewidth=0, zorder=2
                )
                ax.add_patch(p)
                missing.append(p)
                continue
            code = int(d.regimes_[i, j])
            if code != MISSING and REGIME_HATCHES[code]:
                rgba = mesh.cmap(mesh.norm(d.values[i, j]))
                dark = 0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2] < 0.5
                p = Rectangle(
                    *box,
                    fill=False,
                    hatch=REGIME_HATCHES[code],
                    edgecolor="white" if dark else INK,
                    linewidth=0,
                    alpha=0.45,
                    zorder=2,
                )
                ax.add_patch(p)
                hatched.append(p)
    return missing, hatched


def _boundary_segments(reg: np.ndarray, xe: np.ndarray, ye: np.ndarray) -> dict[str, list[Any]]:
    """Cell edges between different regimes, by kind (next to under-expressive cells or not)."""
    segs: dict[str, list[Any]] = {"under": [], "sufficient": []}
    ny, nx = reg.shape
    for i in range(ny):
        for j in range(nx):
            for di, dj in ((0, 1), (1, 0)):
                ii, jj = i + di, j + dj
                if ii >= ny or jj >= nx:
                    continue
                a, b = int(reg[i, j]), int(reg[ii, jj])
                if a == b or MISSING in (a, b):
                    continue
                kind = "under" if UNDER in (a, b) else "sufficient"
                if dj:  # vertical edge between columns j and j+1
                    segs[kind].append([(xe[j + 1], ye[i]), (xe[j + 1], ye[i + 1])])
                else:
                    segs[kind].append([(xe[j], ye[i + 1]), (xe[j + 1], ye[i + 1])])
    return segs


def _draw_boundaries(ax: Axes, segs: dict[str, list[Any]]) -> list[Any]:
    import matplotlib.patheffects as pe
    from matplotlib.collections import LineCollection

    outline = [pe.withStroke(linewidth=3.2, foreground="white")]
    out = []
    for kind, s in segs.items():
        if s:
            lc = LineCollection(
                s,
                colors=INK,
                linewidths=1.8,
                linestyles=BOUNDARY_STYLES[kind],
                zorder=3,
                path_effects=outline,
            )
            lc.set_gid(f"boundary-{kind}")
            ax.add_collection(lc)
            out.append(lc)
    return out


def _draw_labels(reg: np.ndarray, ax: Axes, xp: np.ndarray, yp: np.ndarray) -> dict[int, Any]:
    """Region labels at a representative cell of each regime."""
    labels: dict[int, Any] = {}
    for code in (UNDER, CRITICAL, SUFFICIENT):
        cells = np.argwhere(reg == code)
        if cells.size == 0:
            continue
        centre = cells.mean(axis=0)
        i, j = cells[np.argmin(((cells - centre) ** 2).sum(axis=1))]
        text = REGIME_NAMES[code].replace("-", "-\n", 1)
        labels[code] = ax.text(
            xp[j],
            yp[i],
            text,
            ha="center",
            va="center",
            fontsize=7.5,
            zorder=4,
            color=INK,
            linespacing=0.95,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
        )
    return labels


def _draw_legend(
    d: PhaseGrid, ax: Axes, labels: dict[int, Any], segs: dict[str, list[Any]], missing: bool
) -> Any:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [
        Patch(
            facecolor="white",
            edgecolor=INK,
            hatch=REGIME_HATCHES[code],
            linewidth=0.6,
            label=REGIME_NAMES[code],
        )
        for code in (UNDER, CRITICAL, SUFFICIENT)
        if code in labels
    ]
    if segs["under"]:
        handles.append(Line2D([], [], color=INK, linewidth=1.8, label="boundary of under-expressive"))
    if segs["sufficient"]:
        handles.append(
            Line2D(
                [],
                [],
                color=INK,
                linewidth=1.8,
                linestyle=(0, (4, 2)),
                label="boundary of sufficiently-expressive",
            )
        )
    if missing:
        handles.append(
            Patch(facecolor=MISSING_FACE, edgecolor="0.55", hatch="xx", linewidth=0.6, label="no run")
        )
    if not handles:
        return None
    return ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncols=2,
        fontsize=7,
        frameon=False,
        title=_rule_text(d),
        title_fontsize=7,
    )


def _title(d: PhaseGrid) -> str:
    what = f"{style.metric_short(d.metric.metric)} ({d.metric.split})"
    if d.metric.scope != "all":
        what += f" [{d.metric.scope}]"
    return f"{d.dataset}: {what}" if d.dataset else what


def _rule_text(d: PhaseGrid) -> str | None:
    """One line stating the rule with its numbers, so the chart reads without a caption."""
    if d.r_spec is None or d.a_spec is None:
        return None
    t = d.thresholds
    a = f"{style.metric_short(d.a_spec.metric)} {d.a_spec.split}"
    return (
        f"R = redundancy ({d.r_spec.split}), A = {a}, A* = {'' if t.plateau else 'max A = '}{d.plateau:.3g}\n"
        f"under: R > {t.r_high:g} or A < {t.a_low:g}\u00b7A*;  sufficient: R \u2264 {t.r_low:g} and "
        f"A \u2265 {t.a_high:g}\u00b7A*"
    )
