"""Synthesis fidelity: how a repainted scar compares with the real one, and a quality gate for synthetic cases.

Everything is in units of the case's remote myocardium (myocardium without scar): a voxel's CNR is its difference
from the remote mean over the remote SD. EMIDEC's intensities carry a large offset, so plain ratios mislead; these
units do not move with an offset or a gain. Repainting changes only the scar, so the real and the repainted image
share their remote myocardium and blood pool, and the units are the same for both.

Per case (scar = infarct without MVO):
- ``scar_cnr_error``: the repainted scar's mean CNR minus the real one's;
- ``scar_blood_error``: the same for the scar-to-blood contrast, (scar - remote) / (blood - remote): 1 is as bright
  as the blood pool, 0 as remote myocardium;
- ``wasserstein``: the 1-Wasserstein distance between the real and the repainted scar's CNR values;
- ``texture_error``: the relative error of the scar's texture, its mean |in-plane neighbour difference| over the
  remote SD (``lgestats.neighbour_differences``);
- ``mvo_cnr_error``: the MVO core's mean CNR error, where the case has MVO.

The two baselines a generator must beat: ``remote_fill`` (scar voxels drawn from the case's remote myocardium: no
enhancement) and ``mean_fill`` (the training scars' mean brightness with Gaussian noise of their SD: the right
brightness on average, no texture).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance

from .lgestats import neighbour_differences

METRICS = ("scar_cnr_error", "scar_blood_error", "wasserstein", "texture_error", "mvo_cnr_error")
MIN_VOXELS = 5


def units(image, myocardium, scar) -> tuple[float, float]:
    """The remote myocardium's mean and SD (myocardium without scar)."""
    remote = np.asarray(myocardium, bool) & ~np.asarray(scar, bool)
    if np.count_nonzero(remote) < MIN_VOXELS:
        raise ValueError("no remote myocardium")
    values = np.asarray(image, np.float64)[remote]
    return float(values.mean()), float(max(values.std(), 1e-6))


def scar_statistics(image, scar, mvo, cavity, remote: tuple[float, float]) -> dict:
    """The scar's (infarct without MVO) CNR values, mean CNR, scar-to-blood contrast and texture; the MVO's mean CNR
    (None without MVO)."""
    img = np.asarray(image, np.float64)
    mean, sd = remote
    mvo = np.asarray(mvo, bool)
    core = np.asarray(scar, bool) & ~mvo
    if np.count_nonzero(core) < MIN_VOXELS:
        raise ValueError("no scar")
    cnr = (img[core] - mean) / sd
    blood = (float(img[np.asarray(cavity, bool)].mean()) - mean) / sd if np.any(cavity) else None
    diffs = neighbour_differences(img, core)
    return {"cnr_values": cnr, "scar_cnr": float(cnr.mean()),
            "scar_blood": float(cnr.mean()) / blood if blood else None,
            "texture": float(diffs.mean()) / sd if len(diffs) else None,
            "mvo_cnr": float(((img[mvo] - mean) / sd).mean()) if np.count_nonzero(mvo) >= MIN_VOXELS else None}


def _difference(a, b):
    return None if a is None or b is None else float(a - b)


def compare(real: dict, repainted: dict) -> dict:
    """The per-case fidelity metrics (``METRICS``) of a repainted scar against the real one (``scar_statistics``)."""
    tex = None
    if real["texture"] and repainted["texture"] is not None:
        tex = (repainted["texture"] - real["texture"]) / real["texture"]
    return {"scar_cnr_error": repainted["scar_cnr"] - real["scar_cnr"],
            "scar_blood_error": _difference(repainted["scar_blood"], real["scar_blood"]),
            "wasserstein": float(wasserstein_distance(real["cnr_values"], repainted["cnr_values"])),
            "texture_error": tex,
            "mvo_cnr_error": _difference(repainted["mvo_cnr"], real["mvo_cnr"]),
            "scar_cnr": repainted["scar_cnr"], "texture": repainted["texture"]}


def pooled(rows: list[dict]) -> dict:
    """Median over cases of each metric's magnitude (cases without it left out), and the number of cases."""
    out = {"cases": len(rows)}
    for key in METRICS:
        values = [abs(r[key]) for r in rows if r.get(key) is not None]
        out[key] = float(np.median(values)) if values else None
    return out


def remote_fill(rng: np.random.Generator, image, myocardium, scar) -> np.ndarray:
    """A copy of the image with every scar voxel drawn (with replacement) from the remote myocardium's voxels."""
    out = np.array(image, np.float64, copy=True)
    scar = np.asarray(scar, bool)
    pool = out[np.asarray(myocardium, bool) & ~scar]
    out[scar] = rng.choice(pool, size=int(np.count_nonzero(scar)))
    return out


def mean_fill(rng: np.random.Generator, image, scar, mean: float, sd: float) -> np.ndarray:
    """A copy of the image with every scar voxel drawn from N(mean, sd), in the image's own units."""
    out = np.array(image, np.float64, copy=True)
    scar = np.asarray(scar, bool)
    out[scar] = rng.normal(mean, max(sd, 0.0), size=int(np.count_nonzero(scar)))
    return out


# ------------------------------------------------------------------------------------------------ quality gate
QC_METHOD = "nsd:2"  # remote mean + 2 SD: FWHM's 5-SD seed misses much of a clinical-contrast scar (CNR 2-4)
QC_MIN_DICE = 0.2
QC_MARGIN = 0.25  # each training range is widened by this fraction of its span on both sides
RANGES = {"brightness": "scar_minus_remote_range_norm", "texture": "scar_roughness_range_norm"}


def training_range(stats: dict, what: str):
    """The (lo, hi) of the training slices' scar brightness over remote myocardium (``what`` "brightness") or scar
    texture, mean |in-plane neighbour difference| ("texture"), in [-1, 1] units, widened by QC_MARGIN of its span;
    None for a checkpoint that did not record it."""
    r = stats.get(RANGES[what])
    if not r:
        return None
    lo, hi = float(r[0]), float(r[1])
    pad = QC_MARGIN * (hi - lo)
    return lo - pad, hi + pad


def qc_verdict(dice: float, measured: dict, ranges: dict, min_dice: float = QC_MIN_DICE) -> str | None:
    """Why a synthetic case fails the gate (None: it passes). ``dice``: the threshold method's scar against the
    scar the case's labels hold; ``measured``: the painted scar's "brightness" (mean minus the remote mean) and
    "texture", in the training's [-1, 1] units; ``ranges``: ``training_range`` of each (None: not checked)."""
    if not dice >= min_dice:
        return f"not enhanced: threshold Dice {dice:.2f} < {min_dice:g}"
    for what, value in measured.items():
        r = ranges.get(what)
        if r is not None and not r[0] <= value <= r[1]:
            return f"{what} outside the training range: {value:.3f} not in [{r[0]:.3f}, {r[1]:.3f}]"
    return None
