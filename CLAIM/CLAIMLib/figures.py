"""Montage figures of cases: basal, mid and apical slices with the label contours (matplotlib, no display)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_path  # noqa: E402
from .labels import Case  # noqa: E402
from .longaxis import detect_slice_order  # noqa: E402

CONTOURS = (("myocardium", "#31a354"), ("cavity", "#e34a33"), ("scar", "#fec44f"), ("mvo", "#3182bd"),
            ("rv", "#c51b8a"))


def representative_slices(case: Case) -> list[tuple[str, int]]:
    """(name, index) of a basal, a mid and an apical slice holding myocardium."""
    order = detect_slice_order(case.myocardium, case.masks.get("cavity"), case.geometry)
    base, apex = order.base_index, order.apex_index
    picks = [("basal", base), ("mid", int(round((base + apex) / 2))), ("apical", apex)]
    if abs(apex - base) >= 3:  # the very last slice is often the apical cap; show the apical ring instead
        step = 1 if apex > base else -1
        picks[2] = ("apical", apex - step)
    return picks


def _crop_box(mask: np.ndarray, margin: int = 18):
    ys, xs = np.nonzero(mask.any(axis=0))
    if ys.size == 0:
        return slice(None), slice(None)
    half = max(np.ptp(ys), np.ptp(xs)) // 2 + margin
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    return slice(max(cy - half, 0), cy + half), slice(max(cx - half, 0), cx + half)


def montage(cases: list[Case], path, extra: dict | None = None, title: str = "CLAIM demo",
            overlays: dict | None = None) -> None:
    """One row per case: three slices with contours, plus an optional column per case (e.g. AHA labels).

    ``extra`` maps case_id -> (column title, label volume, colormap) drawn on the mid slice; ``overlays`` maps
    case_id -> an AHA label volume (1-17) drawn over the three slices.
    """
    extra = extra or {}
    overlays = overlays or {}
    ncol = 3 + (1 if extra else 0)
    fig, axes = plt.subplots(len(cases), ncol, figsize=(2.6 * ncol, 2.7 * len(cases)), squeeze=False)
    for row, case in zip(axes, cases):
        ys, xs = _crop_box(case.myocardium)
        picks = representative_slices(case)
        image = case.image
        for ax, (name, k) in zip(row, picks):
            if image is not None:
                sl = image[k][ys, xs]
                ax.imshow(sl, cmap="gray", vmin=float(np.percentile(sl, 1)), vmax=float(np.percentile(sl, 99.5)))
            else:
                ax.imshow(np.zeros_like(case.myocardium[k][ys, xs], float), cmap="gray", vmin=0, vmax=1)
            if case.case_id in overlays:
                ax.imshow(np.ma.masked_equal(overlays[case.case_id][k][ys, xs], 0), cmap="tab20", vmin=1, vmax=17,
                          interpolation="nearest", alpha=0.8)
            for structure, colour in CONTOURS:
                if case.case_id in overlays and structure in ("myocardium", "cavity"):
                    continue
                m = case.masks.get(structure)
                if m is not None and m[k][ys, xs].any():
                    ax.contour(m[k][ys, xs].astype(float), [0.5], colors=[colour], linewidths=0.8)
            ax.set_title(f"{case.case_id}\n{name} (slice {k})", fontsize=7)
        if extra:
            ax = row[3]
            if case.case_id in extra:
                label, volume, cmap = extra[case.case_id]
                k = picks[1][1]
                shown = np.ma.masked_equal(volume[k][ys, xs], 0)
                if image is not None:
                    ax.imshow(image[k][ys, xs], cmap="gray")
                ax.imshow(shown, cmap=cmap, vmin=1, vmax=17, interpolation="nearest", alpha=0.85)
                ax.set_title(f"{label}\n(slice {k})", fontsize=7)
        for ax in row:
            ax.axis("off")
    handles = [plt.Line2D([], [], color=c, label=s) for s, c in CONTOURS]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)


REALISM_WINDOW = (-3.0, 5.0)  # display window in remote-myocardium SDs from the remote mean


def realism_montage(cases: list[Case], path, title: str = "Phantom and real LGE at the same window") -> dict:
    """Phantom and real cases side by side, one row each (basal, mid, apical slice), all at one window: intensities
    shown in units of each case's remote myocardium (mean 0, SD 1), from -3 to +5 SD, so scar and blood look as
    conspicuous as their contrast-to-noise really is. Titles carry blood and scar CNR and roughness. Returns
    {case id: lgestats.case_statistics}."""
    from .lgestats import case_statistics

    fig, axes = plt.subplots(len(cases), 3, figsize=(7.8, 2.7 * len(cases)), squeeze=False)
    lo, hi = REALISM_WINDOW
    measured = {}
    for row, case in zip(axes, cases):
        stats = measured[case.case_id] = case_statistics(case)
        scaled = (np.asarray(case.image, float) - stats["remote_mean"]) / stats["remote_sd"]
        ys, xs = _crop_box(case.myocardium)
        scar = stats["scar_cnr"]
        label = (f"{case.case_id}: blood CNR {stats['blood_cnr']:.1f}, "
                 f"scar CNR {'-' if scar is None else f'{scar:.1f}'}, roughness {stats['roughness']:.2f}")
        for ax, (name, k) in zip(row, representative_slices(case)):
            ax.imshow(scaled[k][ys, xs], cmap="gray", vmin=lo, vmax=hi)
            m = case.masks.get("scar")
            if m is not None and m[k][ys, xs].any():
                ax.contour(m[k][ys, xs].astype(float), [0.5], colors=["#fec44f"], linewidths=0.6)
            ax.set_title(f"{name} (slice {k})", fontsize=7)
            ax.axis("off")
        row[0].text(0, -0.18, label, transform=row[0].transAxes, fontsize=7, va="top")
    fig.suptitle(f"{title} ({lo:g} to {hi:g} remote SDs; scar outlined)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return measured


def fidelity_figure(panels: list[dict], path, titles: dict, limit: float = 6.0) -> None:
    """One row per case (``workflows.fidelity`` panels): the real scar slice, then each repainting and its
    difference from the real image in CNR units (remote SDs, clipped to +-``limit``); the scar's outline on every
    image, all at the real slice's window."""
    methods = [m for m in titles if any(m in p["images"] for p in panels)]
    ncol = 1 + 2 * len(methods)
    fig, axes = plt.subplots(len(panels), ncol, figsize=(2.1 * ncol, 2.3 * max(len(panels), 1)), squeeze=False)
    for row, p in zip(axes, panels):
        ys, xs = _crop_box(p["myocardium"][None])
        real = p["real"][ys, xs]
        lo, hi = float(np.percentile(real, 1)), float(np.percentile(real, 99.5))
        sd = p["remote"][1]
        pairs = [("real", real, None)] + [(m, p["images"][m][ys, xs], (p["images"][m][ys, xs] - real) / sd)
                                          for m in methods]
        cells = []
        for name, image, diff in pairs:
            cells.append((f"{p['case_id']}: real" if name == "real" else titles[name], image, "gray", lo, hi))
            if diff is not None:
                cells.append(("difference (SD)", diff, "RdBu_r", -limit, limit))
        for ax, (title, image, cmap, vmin, vmax) in zip(row, cells):
            ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
            ax.contour(p["scar"][ys, xs].astype(float), levels=[0.5], colors="#fec44f", linewidths=0.6)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.suptitle("Real scars and their repaintings (difference: repainted - real, in remote SDs)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
