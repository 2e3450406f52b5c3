"""AHA-17 bull's-eye plots (matplotlib) and hit testing.

Layout (Cerqueira et al. 2002), in plot coordinates where the plot is the unit disc:

- rings from the outside in: basal (1-6), mid (7-12), apical (13-16), apex (17) in the centre;
- segment 1 (anterior) at the top, 2 (anteroseptal) upper left, numbering counter-clockwise, septum on the left;
  13 (apical anterior) at the top, 14 septal left, 15 inferior bottom, 16 lateral right.

A segment's angle from the septum toward the anterior wall (``aha.segment_from_level_angle``) maps to the plot
angle ``180 - angle`` (degrees, counter-clockwise from +x).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .aha import segment_from_level_angle

RINGS = ((0.75, 1.0, 0), (0.5, 0.75, 1), (0.25, 0.5, 2), (0.0, 0.25, 3))  # (inner, outer, level)


def segment_at(x: float, y: float) -> int | None:
    """The segment under plot point (x, y) of the unit-disc bull's-eye, or None outside it."""
    r = float(np.hypot(x, y))
    if not np.isfinite(r) or r > 1.0:
        return None
    level = 3 if r < 0.25 else 2 if r < 0.5 else 1 if r < 0.75 else 0
    angle = 180.0 - np.degrees(np.arctan2(y, x))
    return int(segment_from_level_angle(np.array([level]), np.array([angle]))[0])


def wedge_angles(segment: int) -> tuple[float, float, float, float]:
    """(inner radius, outer radius, start, end) of a segment's wedge; plot angles in degrees, counter-clockwise."""
    if segment == 17:
        return 0.0, 0.25, 0.0, 360.0
    if segment <= 12:
        inner, outer = (0.75, 1.0) if segment <= 6 else (0.5, 0.75)
        i = (segment - 1) % 6  # 1 at the top (60..120), then counter-clockwise
        start = 60.0 + 60.0 * i
        return inner, outer, start, start + 60.0
    i = segment - 13  # 13 at the top (45..135), 14 left, 15 bottom, 16 right
    start = 45.0 + 90.0 * i
    return 0.25, 0.5, start, start + 90.0


def segment_centre(segment: int) -> tuple[float, float]:
    """Plot coordinates of the middle of a segment's wedge."""
    inner, outer, a0, a1 = wedge_angles(segment)
    if segment == 17:
        return 0.0, 0.0
    r, a = (inner + outer) / 2, np.deg2rad((a0 + a1) / 2)
    return float(r * np.cos(a)), float(r * np.sin(a))


def _as_values(values) -> dict:
    if values is None:
        return {}
    if isinstance(values, dict):
        return {int(k): float(v) for k, v in values.items()}
    arr = np.asarray(values, float).ravel()
    if arr.size != 17:
        raise ValueError(f"expected 17 segment values, got {arr.size}")
    return {s: float(arr[s - 1]) for s in range(1, 18)}


def draw(ax, values=None, title: str = "", unit: str = "", cmap: str = "YlOrRd", vmin=None, vmax=None,
         highlight=(), fmt: str = "{:.1f}", show_numbers: bool = True, colorbar: bool = True):
    """Draw one bull's-eye on a matplotlib axis. Returns the ScalarMappable (for a shared colour bar)."""
    import matplotlib as mpl
    from matplotlib.patches import Wedge

    vals = _as_values(values)
    finite = [v for v in vals.values() if np.isfinite(v)]
    lo = vmin if vmin is not None else (min(finite) if finite else 0.0)
    hi = vmax if vmax is not None else (max(finite) if finite else 1.0)
    if hi <= lo:
        hi = lo + 1.0
    norm = mpl.colors.Normalize(lo, hi)
    cm = mpl.colormaps[cmap]
    highlight = set(int(s) for s in highlight)
    for s in range(1, 18):
        inner, outer, a0, a1 = wedge_angles(s)
        v = vals.get(s, np.nan)
        face = cm(norm(v)) if np.isfinite(v) else (0.85, 0.85, 0.85, 1.0)
        ax.add_patch(Wedge((0, 0), outer, a0, a1, width=outer - inner, facecolor=face, edgecolor="white", lw=1.2))
    for s in sorted(highlight):
        inner, outer, a0, a1 = wedge_angles(s)
        ax.add_patch(Wedge((0, 0), outer, a0, a1, width=outer - inner, facecolor="none", edgecolor="#1f3fbf",
                           lw=3.0, zorder=3))
    for s in range(1, 18):
        x, y = segment_centre(s)
        v = vals.get(s, np.nan)
        rgba = cm(norm(v)) if np.isfinite(v) else (0.85, 0.85, 0.85, 1.0)
        dark = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2] < 0.5
        colour = "white" if dark else "black"
        if show_numbers and np.isfinite(v):
            ax.text(x, y - 0.035, fmt.format(v), ha="center", va="center", fontsize=7.5, color=colour)
            ax.text(x, y + 0.06, str(s), ha="center", va="center", fontsize=6, color=colour, alpha=0.75)
        else:
            ax.text(x, y, str(s), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xlim(-1.08, 1.08)
    ax.set_ylim(-1.08, 1.08)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=cm)
    if colorbar:
        cb = ax.figure.colorbar(sm, ax=ax, fraction=0.046, pad=0.02)
        cb.set_label(unit, fontsize=8)
        cb.ax.tick_params(labelsize=7)
    return sm


def plot(panels: list[dict], path, suptitle: str = "", dpi: int = 110, ncols: int | None = None) -> Path:
    """Side-by-side bull's-eyes written to PNG or SVG (by suffix), atomically.

    Each panel is a dict of ``draw`` arguments: values, title, unit, cmap, vmin, vmax, highlight, fmt, or None for
    an empty place. Panels fill rows of ``ncols`` (default: one row).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValueError(f"{path}: write .png or .svg")
    ncols = ncols or len(panels)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax, panel in zip(axes.ravel(), panels):
        if panel is None:  # an empty place in the grid
            ax.axis("off")
        else:
            draw(ax, **panel)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=fmt)
    plt.close(fig)
    return path


def scar_panels(table: dict, title_prefix: str = "") -> list[dict]:
    """The three standard scar panels of a quantification table: volume, % of segment, mean transmurality."""
    from .quantify import values

    absent = {r["segment"] for r in table["segments"] if r["myocardium_ml"] == 0}  # e.g. no apical cap imaged

    def v(column):
        return {s: (np.nan if s in absent else x) for s, x in values(table, column).items()}

    p = f"{title_prefix}: " if title_prefix else ""
    return [
        {"values": v("scar_ml"), "title": f"{p}scar volume", "unit": "mL", "fmt": "{:.2f}", "vmin": 0},
        {"values": v("scar_percent"), "title": f"{p}scar % of segment", "unit": "%", "fmt": "{:.0f}",
         "vmin": 0, "vmax": 100},
        {"values": v("transmurality_mean"), "title": f"{p}mean transmurality", "unit": "fraction of wall",
         "fmt": "{:.2f}", "vmin": 0, "vmax": 1},
    ]


def comparison_panels(truth: dict, prediction, column: str = "scar_ml", unit: str = "mL") -> list[dict]:
    """Ground truth / prediction / difference, as in the CLAIM paper's Fig. 6.

    ``prediction``: one ``quantify`` table (three panels in a row: truth, prediction, prediction - truth), or
    {name: table} for several (truth and each prediction on top, each difference below it; draw with
    ``ncols=len(prediction) + 1``). All panels share one scale for volumes and one for differences.
    """
    from .quantify import values

    named = prediction if isinstance(prediction, dict) and "segments" not in prediction else None
    preds = {name: values(t, column) for name, t in (named or {"prediction": prediction}).items()}
    a = values(truth, column)
    hi = max(list(a.values()) + [v for p in preds.values() for v in p.values()] + [1e-6])
    diffs = {name: {s: p[s] - a[s] for s in a} for name, p in preds.items()}
    lim = max([abs(v) for d in diffs.values() for v in d.values()] + [0.0]) or 1.0

    def panel(v, title):
        return {"values": v, "title": title, "unit": unit, "vmin": 0, "vmax": hi, "fmt": "{:.2f}"}

    def diff(name):
        return {"values": diffs[name], "title": f"{name} - truth", "unit": unit, "cmap": "RdBu_r", "vmin": -lim,
                "vmax": lim, "fmt": "{:+.2f}"}

    top = [panel(a, "ground truth")] + [panel(p, name) for name, p in preds.items()]
    if named is None:
        return top + [diff("prediction")]
    return top + [None] + [diff(name) for name in preds]
