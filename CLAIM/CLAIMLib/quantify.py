"""Scar burden per AHA segment: myocardium and scar volume (mL), scar % of the segment, transmurality, MVO.

Transmurality is measured on chords: each short-axis slice is cut into thin angular wedges about the LV centre
(about two pixels of arc at mid-wall), and a wedge's transmurality is the fraction of its myocardium that is scar,
i.e. the scar's extent from endocardium to epicardium as a fraction of the wall. A segment reports the mean over
its wedges that hold scar (weighted by their wall, so that thin wedges at pixel scale do not bias it) and the
maximum.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from .aha import SEGMENT_NAMES, territory_of
from .geometry import Geometry

LEVEL_NAMES = {**{s: "basal" for s in range(1, 7)}, **{s: "mid" for s in range(7, 13)},
               **{s: "apical" for s in range(13, 17)}, 17: "apex"}
COLUMNS = ("segment", "name", "level", "territory", "myocardium_ml", "scar_ml", "scar_percent",
           "transmurality_mean", "transmurality_max", "mvo_ml", "gray_zone_ml")


def chord_transmurality(aha: np.ndarray, myocardium: np.ndarray, scar: np.ndarray, cavity: np.ndarray | None,
                        geometry: Geometry, long_axis=None) -> dict:
    """segment -> list of (scar pixels, myocardium pixels) of its wedges that hold scar. ``long_axis``: the
    myocardium's ``longaxis.LongAxis`` when already fitted."""
    from .longaxis import fit_long_axis

    out = {s: [] for s in range(1, 18)}
    if not scar.any():
        return out
    la = long_axis or fit_long_axis(myocardium, cavity if cavity is not None else np.zeros_like(myocardium),
                                    geometry)
    axis = la.order.axis
    n = la.base_to_apex
    ref = np.cross(n, [1.0, 0.0, 0.0])
    if np.linalg.norm(ref) < 1e-6:
        ref = np.cross(n, [0.0, 1.0, 0.0])
    e1 = ref / np.linalg.norm(ref)
    e2 = np.cross(n, e1)
    pixel = float(np.min(np.delete(np.asarray(geometry.spacing)[::-1], axis)))
    for k in la.slices:
        myo2 = np.take(myocardium, k, axis=axis)
        sc2 = np.take(scar, k, axis=axis) & myo2
        if not sc2.any():
            continue
        idx = np.argwhere(myo2)
        pts = geometry.index_to_physical(np.insert(idx, axis, k, axis=1)) - la.centres[k]
        radius = np.hypot(pts @ e1, pts @ e2)
        bins = int(np.clip(round(np.pi * np.median(radius) / pixel), 24, 360))
        wedge = ((np.arctan2(pts @ e2, pts @ e1) + np.pi) / (2 * np.pi) * bins).astype(int) % bins
        seg = np.take(aha, k, axis=axis)[idx[:, 0], idx[:, 1]]
        is_scar = sc2[idx[:, 0], idx[:, 1]]
        key = seg.astype(np.int64) * bins + wedge
        total = np.bincount(key, minlength=18 * bins)
        scarred = np.bincount(key, weights=is_scar, minlength=18 * bins)
        for code in np.flatnonzero(scarred > 0):
            s = int(code // bins)
            if 1 <= s <= 17:
                out[s].append((float(scarred[code]), float(total[code])))
    return out


def quantify(aha: np.ndarray, myocardium: np.ndarray, scar: np.ndarray | None, geometry: Geometry,
             mvo: np.ndarray | None = None, cavity: np.ndarray | None = None, gray_zone: np.ndarray | None = None,
             long_axis=None) -> dict:
    """Per-segment rows and totals. Scar, MVO and the gray zone (peri-infarct, outside the scar) count only inside
    the myocardium. ``long_axis``: the myocardium's ``longaxis.LongAxis`` when already fitted."""
    myocardium = np.asarray(myocardium, bool)
    scar = np.zeros_like(myocardium) if scar is None else np.asarray(scar, bool) & myocardium
    mvo = np.zeros_like(myocardium) if mvo is None else np.asarray(mvo, bool) & myocardium
    gray = np.zeros_like(myocardium) if gray_zone is None else np.asarray(gray_zone, bool) & myocardium & ~scar
    vox = geometry.voxel_volume_ml
    chords = chord_transmurality(aha, myocardium, scar, cavity, geometry, long_axis)
    rows = []
    for s in range(1, 18):
        seg = (aha == s) & myocardium
        myo_ml = np.count_nonzero(seg) * vox
        scar_ml = np.count_nonzero(seg & scar) * vox
        t = np.asarray(chords[s]).reshape(-1, 2)
        rows.append({"segment": s, "name": SEGMENT_NAMES[s], "level": LEVEL_NAMES[s], "territory": territory_of(s),
                     "myocardium_ml": myo_ml, "scar_ml": scar_ml,
                     "scar_percent": 100.0 * scar_ml / myo_ml if myo_ml > 0 else 0.0,
                     "transmurality_mean": float(t[:, 0].sum() / t[:, 1].sum()) if len(t) else 0.0,
                     "transmurality_max": float(np.max(t[:, 0] / t[:, 1])) if len(t) else 0.0,
                     "mvo_ml": np.count_nonzero(seg & mvo) * vox, "gray_zone_ml": np.count_nonzero(seg & gray) * vox})
    unlabelled = myocardium & ~((aha >= 1) & (aha <= 17))
    totals = {"myocardium_ml": np.count_nonzero(myocardium) * vox, "scar_ml": np.count_nonzero(scar) * vox,
              "mvo_ml": np.count_nonzero(mvo) * vox, "gray_zone_ml": np.count_nonzero(gray) * vox,
              "unlabelled_myocardium_ml": np.count_nonzero(unlabelled) * vox}
    totals["scar_percent"] = 100.0 * totals["scar_ml"] / totals["myocardium_ml"] if totals["myocardium_ml"] else 0.0
    return {"segments": rows, "totals": totals}


def mean_table(tables: list, column: str = "scar_ml") -> dict:
    """The per-segment mean of ``column`` over several ``quantify`` tables (a table ``values`` and the bull's-eye
    read)."""
    return {"segments": [{"segment": s, column: float(np.mean([t["segments"][s - 1][column] for t in tables]))}
                         for s in range(1, 18)]}


def values(table: dict, column: str) -> dict:
    """segment -> value of one column, for a bull's-eye."""
    return {r["segment"]: r[column] for r in table["segments"]}


def to_csv(table: dict) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in table["segments"]:
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in r.items()})
    t = table["totals"]
    writer.writerow({"segment": "total", "name": "all segments", "level": "", "territory": "",
                     "myocardium_ml": f"{t['myocardium_ml']:.4f}", "scar_ml": f"{t['scar_ml']:.4f}",
                     "scar_percent": f"{t['scar_percent']:.4f}", "transmurality_mean": "",
                     "transmurality_max": "", "mvo_ml": f"{t['mvo_ml']:.4f}",
                     "gray_zone_ml": f"{t['gray_zone_ml']:.4f}"})
    return buf.getvalue()
