"""Realism distances between two sets of scar masks (e.g. generated against real infarcts).

Per case: where the scar lies (the share of it in each AHA segment, and which segments it involves), its volume
(mL and fraction of the myocardium), its mean normalised wall depth (0 endocardium, 1 epicardium) and its number
of 3D-connected components (26-connectivity). Between sets, the four distances ``claim mask-stats`` reports:

1. the L1 distance of the mean per-segment shares (0: same distribution over segments, 2: disjoint);
2. the Wasserstein distance of volume, in mL and as a fraction of the myocardium;
3. the Wasserstein distance of mean wall depth;
4. the Wasserstein distance of the number of components.

The mL distance compares raw sizes, which do not transfer between hearts and slice thicknesses; the fraction does.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import wasserstein_distance

INVOLVED_FRACTION = 0.05  # a segment is involved when scar fills at least 5% of it
DISTANCES = (("segment_l1", "segment distribution L1", ""), ("volume_ml", "volume", "mL"),
             ("volume_fraction", "volume fraction", ""), ("mean_depth", "mean wall depth", ""),
             ("components", "3D components", ""))


def case_stats(scar: np.ndarray, myocardium: np.ndarray, cavity: np.ndarray | None, aha: np.ndarray,
               geometry, depth: np.ndarray | None = None) -> dict:
    """One mask's statistics. ``depth``: the normalised wall depth (``smile.wall_depth``), computed when absent."""
    from .longaxis import stack_axis
    from .smile import wall_depth

    myocardium = np.asarray(myocardium, bool)
    scar = np.asarray(scar, bool) & myocardium
    cavity = np.zeros_like(myocardium) if cavity is None else np.asarray(cavity, bool)
    if depth is None:
        depth = wall_depth(myocardium, cavity, geometry, stack_axis(geometry))
    vox = geometry.voxel_volume_ml
    n = int(np.count_nonzero(scar))
    share, involved = np.zeros(17), []
    for s in range(1, 18):
        seg = (aha == s) & myocardium
        hit = int(np.count_nonzero(scar & seg))
        share[s - 1] = hit / n if n else 0.0
        size = int(np.count_nonzero(seg))
        if size and hit >= max(1, INVOLVED_FRACTION * size):
            involved.append(s)
    _, components = ndimage.label(scar, np.ones((3, 3, 3), bool))
    d = depth[scar]
    d = d[np.isfinite(d)]
    return {"volume_ml": float(n * vox), "volume_fraction": float(n / max(np.count_nonzero(myocardium), 1)),
            "segment_share": share.round(6).tolist(), "involved": involved,
            "mean_depth": float(d.mean()) if d.size else 0.0, "components": int(components)}


def involvement_frequency(stats: list[dict]) -> np.ndarray:
    """How often each segment is involved (a 17-vector of case fractions)."""
    f = np.zeros(17)
    for st in stats:
        for s in st["involved"]:
            f[s - 1] += 1
    return f / max(len(stats), 1)


def mean_share(stats: list[dict]) -> np.ndarray:
    """The mean per-segment share of the scar (a 17-vector summing to 1 over cases with scar)."""
    rows = [st["segment_share"] for st in stats if st["volume_ml"] > 0]
    return np.mean(rows, axis=0) if rows else np.zeros(17)


def compare(stats: list[dict], reference: list[dict]) -> dict:
    """The four distances between two sets of per-case stats (lower is closer), with each set's means."""
    if not stats or not reference:
        raise ValueError("both sets need at least one case")
    sa, sb = mean_share(stats), mean_share(reference)
    out = {"cases": len(stats), "reference_cases": len(reference),
           "segment_l1": float(np.abs(sa - sb).sum()),
           "segment_share": sa.round(4).tolist(), "reference_segment_share": sb.round(4).tolist(),
           "involvement_l1": float(np.abs(involvement_frequency(stats) - involvement_frequency(reference)).sum())}
    for key in ("volume_ml", "volume_fraction", "mean_depth", "components"):
        a = [st[key] for st in stats]
        b = [st[key] for st in reference]
        out[key] = float(wasserstein_distance(a, b))
        out[f"{key}_mean"] = float(np.mean(a))
        out[f"{key}_reference_mean"] = float(np.mean(b))
    return out


def format_report(result: dict, baseline: dict | None = None) -> str:
    """The distances as a table; with a baseline (balls on the same hearts), side by side."""
    head = f"{result['cases']} masks vs {result['reference_cases']} reference masks (distances: lower is closer)"
    lines = [head, f"  {'':<26}{'masks':>10}" + (f"{'ball':>10}" if baseline else "") + "   means (masks / ref)"]
    for key, name, unit in DISTANCES:
        row = f"  {name + (' (' + unit + ')' if unit else ''):<26}{result[key]:>10.3f}"
        if baseline:
            row += f"{baseline[key]:>10.3f}"
        if key != "segment_l1":
            row += f"   {result[key + '_mean']:.3f} / {result[key + '_reference_mean']:.3f}"
        lines.append(row)
    if baseline:
        wins = [name for key, name, _ in DISTANCES if result[key] < baseline[key]]
        lines.append(f"  closer than the ball on: {', '.join(wins) if wins else 'nothing'}")
    return "\n".join(lines)
