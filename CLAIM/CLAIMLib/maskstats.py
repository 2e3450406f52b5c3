"""Realism metrics between two sets of scar masks (e.g. generated versus real).

Per case: scar volume, which AHA segments are involved, mean transmurality, number of connected components, and
the fraction of scar in components touching the endocardium. Between sets: the distance of the per-segment
involvement frequencies (a 17-vector), and Wasserstein distances of the per-case distributions.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import wasserstein_distance

from .quantify import chord_transmurality

INVOLVED_FRACTION = 0.05  # a segment is involved when scar fills at least 5% of it


def case_stats(scar: np.ndarray, myocardium: np.ndarray, cavity: np.ndarray | None, aha: np.ndarray,
               geometry) -> dict:
    scar = np.asarray(scar, bool) & np.asarray(myocardium, bool)
    vox = geometry.voxel_volume_ml
    involved = []
    for s in range(1, 18):
        seg = (aha == s) & myocardium
        n = np.count_nonzero(seg)
        if n and np.count_nonzero(scar & seg) >= max(1, INVOLVED_FRACTION * n):
            involved.append(s)
    chords = chord_transmurality(aha, myocardium, scar, cavity, geometry)
    pairs = np.asarray([p for v in chords.values() for p in v]).reshape(-1, 2)
    transmurality = float(pairs[:, 0].sum() / pairs[:, 1].sum()) if len(pairs) else 0.0
    _, components = ndimage.label(scar, np.ones((3, 3, 3), bool))
    endo = 0.0
    if scar.any() and cavity is not None and cavity.any():
        in_plane = np.zeros((3, 3, 3), bool)
        in_plane[1] = True
        lab, n = ndimage.label(scar, in_plane)
        near = ndimage.binary_dilation(cavity, in_plane)
        touching = np.unique(lab[near & scar])
        endo = float(np.isin(lab, touching[touching > 0]).sum() / scar.sum())
    return {"volume_ml": float(scar.sum() * vox), "involved": involved, "transmurality": transmurality,
            "components": int(components), "endocardial_fraction": endo}


def involvement_frequency(stats: list[dict]) -> np.ndarray:
    f = np.zeros(17)
    for st in stats:
        for s in st["involved"]:
            f[s - 1] += 1
    return f / max(len(stats), 1)


def compare(stats: list[dict], reference: list[dict]) -> dict:
    """Distances between two sets of per-case stats (lower is closer)."""
    if not stats or not reference:
        raise ValueError("both sets need at least one case")
    fa, fb = involvement_frequency(stats), involvement_frequency(reference)
    out = {
        "cases": len(stats), "reference_cases": len(reference),
        "involvement_l1": float(np.abs(fa - fb).sum()),
        "involvement_l2": float(np.linalg.norm(fa - fb)),
        "involvement_frequency": [round(float(v), 4) for v in fa],
        "reference_involvement_frequency": [round(float(v), 4) for v in fb],
    }
    for key in ("volume_ml", "transmurality", "components", "endocardial_fraction"):
        a = [st[key] for st in stats]
        b = [st[key] for st in reference]
        out[f"{key}_wasserstein"] = float(wasserstein_distance(a, b))
        out[f"{key}_mean"] = float(np.mean(a))
        out[f"{key}_reference_mean"] = float(np.mean(b))
    return out


def format_report(result: dict) -> str:
    lines = [f"{result['cases']} masks vs {result['reference_cases']} reference masks (lower is closer)",
             f"  involvement frequency  L1 {result['involvement_l1']:.3f}  L2 {result['involvement_l2']:.3f}"]
    for key, unit in (("volume_ml", "mL"), ("transmurality", ""), ("components", ""),
                      ("endocardial_fraction", "")):
        lines.append(f"  {key:<22} Wasserstein {result[f'{key}_wasserstein']:.3f}   mean {result[f'{key}_mean']:.3f} "
                     f"vs {result[f'{key}_reference_mean']:.3f} {unit}".rstrip())
    return "\n".join(lines)
