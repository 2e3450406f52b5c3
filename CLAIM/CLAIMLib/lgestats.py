"""How an LGE stack reads: contrast and texture against remote myocardium, in offset-invariant units.

Used by the phantom's realism report (``bench/bench_phantom.py``), the demo's realism montage and the phantom's
tests, on phantoms and real cases alike.
"""
from __future__ import annotations

import numpy as np

from .labels import EMIDEC, LabelScheme

KEYS = ("blood_cnr", "scar_cnr", "roughness", "blood_remote", "scar_remote")


def neighbour_differences(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """|difference| of every in-plane pair of 4-neighbours that both lie in ``mask``."""
    out = []
    for axis in (1, 2):
        a, m = np.moveaxis(image, axis, 0), np.moveaxis(mask, axis, 0)
        both = m[1:] & m[:-1]
        out.append(np.abs(a[1:] - a[:-1])[both])
    return np.concatenate(out)


def lge_statistics(image: np.ndarray, cavity: np.ndarray, myocardium: np.ndarray, scar: np.ndarray | None = None,
                   mvo: np.ndarray | None = None) -> dict:
    """Contrast-to-noise of blood pool and scar against remote myocardium (mean difference over the remote SD),
    the roughness of remote myocardium (mean |in-plane neighbour difference| over the remote SD), and the
    scar/remote and blood/remote ratios after subtracting the background (the 1st percentile of non-zero voxels,
    so zero padding does not count). Remote is myocardium without scar; scar is the infarct without MVO.
    """
    img = np.asarray(image, np.float64)
    none = np.zeros(img.shape, bool)
    scar = none if scar is None else np.asarray(scar, bool)
    core = scar & ~(none if mvo is None else np.asarray(mvo, bool))
    remote, blood = np.asarray(myocardium, bool) & ~scar, np.asarray(cavity, bool)
    if not remote.any() or not blood.any():
        raise ValueError("no remote myocardium or blood pool")
    mean, sd = float(img[remote].mean()), float(img[remote].std())
    background = float(np.percentile(img[img > 0], 1)) if np.any(img > 0) else 0.0
    return {"remote_mean": mean, "remote_sd": sd, "background": background,
            "blood_cnr": (float(img[blood].mean()) - mean) / sd,
            "scar_cnr": (float(img[core].mean()) - mean) / sd if core.any() else None,
            "roughness": float(neighbour_differences(img, remote).mean()) / sd,
            "blood_remote": (float(img[blood].mean()) - background) / (mean - background),
            "scar_remote": (float(img[core].mean()) - background) / (mean - background) if core.any() else None}


def label_statistics(image: np.ndarray, labels: np.ndarray, scheme: LabelScheme = EMIDEC) -> dict:
    """``lge_statistics`` from a label map (EMIDEC scheme by default)."""
    lab = np.rint(labels).astype(np.int32)
    return lge_statistics(image, scheme.mask(lab, "cavity"), scheme.mask(lab, "myocardium"),
                          scheme.mask(lab, "scar"), scheme.mask(lab, "mvo"))


def case_statistics(case) -> dict:
    """``lge_statistics`` of a ``Case`` (its image and canonical masks)."""
    m = case.masks
    return lge_statistics(case.image, m.get("cavity"), case.myocardium, m.get("scar"), m.get("mvo"))


def cohort_medians(stats: list[dict]) -> dict:
    """Median of each statistic over the cases that have it (None where none has)."""
    out = {}
    for key in KEYS:
        values = [s[key] for s in stats if s.get(key) is not None]
        out[key] = float(np.median(values)) if values else None
    return out
