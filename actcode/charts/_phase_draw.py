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
    style.grid_ticks(ax, axis, values, positions, log)


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
    present = {int(c) for c in np.unique(d.regimes_)} - {MISSING}
    art["legend_"] = _draw_legend(d, ax, present, segs, bool(missing)) if legend else None
    art["regime_labels_"] = _draw_labels(d.regimes_, ax, xp, yp, xe, ye)  # last: placed around the rest
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


def _draw_labels(
    reg: np.ndarray, ax: Axes, xp: np.ndarray, yp: np.ndarray, xe: np.ndarray, ye: np.ndarray
) -> dict[int, Any]:
    """A label per regime, on a cell of that regime where it covers no tick and no other label.

    Each regime's cells are tried from the one nearest its centre outwards. The label is
    centred on the cell, or moved just inside the axes (clear of the tick marks along their
    edges) when it would cross them, as long as it still touches the cell; a cell is taken
    when the label then overlaps no tick label and no label placed before. When no cell is
    clear, the label goes where it overlaps least. Extents are measured after the figure's
    layout has run.
    """
    fig = ax.get_figure(root=True)
    assert fig is not None
    if not hasattr(fig.canvas, "get_renderer"):  # a Figure made without pyplot: measure with Agg
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    fig.draw_without_rendering()  # run the layout engine: tick labels and axes at their places
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    taken = [t.get_window_extent(renderer) for t in _tick_labels(ax)]
    inner = _inner_box(ax, renderer)
    labels: dict[int, Any] = {}
    for code in (UNDER, CRITICAL, SUFFICIENT):
        cells = np.argwhere(reg == code)
        if cells.size == 0:
            continue
        centre = cells.mean(axis=0)
        order = cells[np.argsort(((cells - centre) ** 2).sum(axis=1), kind="stable")]
        text = ax.text(
            0, 0, REGIME_NAMES[code].replace("-", "-\n", 1), ha="center", va="center", fontsize=7.5,
            zorder=4, color=INK, linespacing=0.95, in_layout=False,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
        )  # fmt: skip
        best: tuple[float, Any] | None = None
        for i, j in order:
            at = _fit(ax, text, renderer, inner, (xp[j], yp[i]), (xe[j], ye[i], xe[j + 1], ye[i + 1]))
            box = _label_box(text, renderer)
            cost = _overlap(box, taken) + _outside(box, inner)
            if best is None or cost < best[0]:
                best = (cost, at)
            if cost == 0:
                break
        assert best is not None
        text.set_position(best[1])
        taken.append(_label_box(text, renderer))
        labels[code] = text
    return labels


def _fit(
    ax: Axes, text: Any, renderer: Any, inner: Any, centre: tuple[float, float], cell: tuple[float, ...]
) -> tuple[float, float]:
    """Put ``text`` at ``centre``, shifted inside ``inner`` if it still touches ``cell``; return where."""
    text.set_position(centre)
    box = _label_box(text, renderer)
    dx = max(inner.x0 - box.x0, 0.0) + min(inner.x1 - box.x1, 0.0)
    dy = max(inner.y0 - box.y0, 0.0) + min(inner.y1 - box.y1, 0.0)
    if dx == 0 and dy == 0:
        return centre
    to_px = ax.transData
    cx, cy = to_px.transform(centre)
    (x0, y0), (x1, y1) = to_px.transform([(cell[0], cell[1]), (cell[2], cell[3])])
    mx0, my0, mx1, my1 = box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy
    if mx0 < max(x0, x1) and mx1 > min(x0, x1) and my0 < max(y0, y1) and my1 > min(y0, y1):
        new = tuple(to_px.inverted().transform((cx + dx, cy + dy)))
        text.set_position(new)
        return (float(new[0]), float(new[1]))
    return centre


def _tick_labels(ax: Axes) -> list[Any]:
    """The visible, non-empty major and minor tick labels of both axes."""
    out = []
    for axis in (ax.xaxis, ax.yaxis):
        for t in [*axis.get_ticklabels(), *axis.get_ticklabels(minor=True)]:
            if t.get_visible() and t.get_text():
                out.append(t)
    return out


def _inner_box(ax: Axes, renderer: Any) -> Any:
    """The axes' box in pixels, less the length of the tick marks on every side."""
    pad = max(ax.xaxis.get_tick_padding(), ax.yaxis.get_tick_padding(), 1.0) * renderer.points_to_pixels(1.0)
    box = ax.get_window_extent(renderer)
    return box.expanded((box.width - 2 * pad) / box.width, (box.height - 2 * pad) / box.height)


def _label_box(text: Any, renderer: Any) -> Any:
    """The label's extent in pixels, its rounded white box included."""
    text.update_bbox_position_size(renderer)
    patch = text.get_bbox_patch()
    return patch.get_window_extent(renderer) if patch is not None else text.get_window_extent(renderer)


def _overlap(box: Any, others: list[Any]) -> float:
    """The area ``box`` shares with ``others`` (pixels squared)."""
    total = 0.0
    for o in others:
        w = float(min(box.x1, o.x1) - max(box.x0, o.x0))
        h = float(min(box.y1, o.y1) - max(box.y0, o.y0))
        if w > 0 and h > 0:
            total += w * h
    return total


def _outside(box: Any, inner: Any) -> float:
    """The area of ``box`` outside ``inner`` (pixels squared)."""
    w = float(min(box.x1, inner.x1) - max(box.x0, inner.x0))
    h = float(min(box.y1, inner.y1) - max(box.y0, inner.y0))
    return float(box.width * box.height) - max(w, 0.0) * max(h, 0.0)


def _draw_legend(d: PhaseGrid, ax: Axes, present: set[int], segs: dict[str, list[Any]], missing: bool) -> Any:
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
        if code in present
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
