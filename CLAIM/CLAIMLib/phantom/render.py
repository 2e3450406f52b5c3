"""Sampling the analytic heart on a clinical short-axis stack and acquiring it as inversion-recovery LGE.

- Partial volume: each voxel is the mean of 2 x 2 in-plane sub-samples on 3 planes across the slice thickness;
  labels, AHA and RV truth are point samples at the voxel centres.
- Signal: per-tissue levels from the case's contrast draw, with smooth regional texture, a slice-to-slice
  drift of the myocardial nulling, heterogeneous scar with a gray-zone rim, a point-spread blur, a coil bias
  field and Rician noise whose complex components are filtered to the scanner's point-spread (so texture is
  correlated from voxel to voxel, as in real stacks).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..aha17 import segment_from_level_angle
from ..geometry import Geometry
from .heart import NONE, TISSUES, Heart, T, chest, smooth_noise
from .parameters import patient_frame

SUB_OFFSETS = ((-0.25, -0.25), (-0.25, 0.25), (0.25, -0.25), (0.25, 0.25))  # in-plane sub-samples, in voxels
FULL_SCALE = 1.45  # relative signal stored as 4095


@dataclass
class Stack:
    """Where the voxels lie: heart-frame coordinates of the voxel centres and the LPS header."""
    geometry: Geometry
    z: np.ndarray  # long-axis position of each slice, mm from the base plane
    x: np.ndarray  # heart-frame x of each in-plane voxel centre (nj, ni)
    y: np.ndarray
    step_i: np.ndarray  # heart-frame step of one voxel along i (x, y)
    step_j: np.ndarray
    to_lps: np.ndarray  # heart frame -> LPS (columns: septum, anterior, base-to-apex)
    base_point: np.ndarray


def place_stack(p: dict, rng: np.random.Generator, header: str) -> Stack:
    s, n = p["spacing"], p["n_slices"]
    nxy = int(round(p["fov"] / s))
    ci, cj = (nxy - 1) / 2 + p["offset"][0] / s, (nxy - 1) / 2 + p["offset"][1] / s
    beta = p["rotation"]
    d_i = np.array([np.cos(beta), np.sin(beta), 0.0])
    d_j = np.array([-np.sin(beta), np.cos(beta), 0.0])
    d_k = np.array([0.0, 0.0, -1.0 if p["apex_first"] else 1.0])
    # the heart frame (septum, anterior, apex) is left-handed in a patient, so the voxel axes must be too for the
    # direction matrix to be a proper rotation; the grid is the same whichever header is written
    if np.linalg.det(np.stack([d_i, d_j, d_k], axis=1)) > 0:
        d_j = -d_j
    to_lps = patient_frame(rng, header, np.stack([d_i, d_j, d_k], axis=1))
    z = p["z0"] + p["gap"] * np.arange(n)
    if p["apex_first"]:
        z = z[::-1]
    base_point = rng.uniform(-30, 30, size=3)  # LV axis on the base plane, LPS mm
    origin = -ci * s * d_i - cj * s * d_j + np.array([0.0, 0.0, z[0]])
    direction = to_lps @ np.stack([d_i, d_j, d_k], axis=1)
    geometry = Geometry((n, nxy, nxy), (s, s, p["gap"]), tuple((base_point + to_lps @ origin).tolist()),
                        tuple(direction.ravel().tolist()))
    jj, ii = np.mgrid[0:nxy, 0:nxy].astype(float)
    x = (ii - ci) * s * d_i[0] + (jj - cj) * s * d_j[0]
    y = (ii - ci) * s * d_i[1] + (jj - cj) * s * d_j[1]
    return Stack(geometry, z, x, y, s * d_i[:2], s * d_j[:2], to_lps, base_point)


def _level(z: float, base: float, cavity_apex: float) -> int:
    """AHA level at long-axis position z, as a reader would: the LV from the basal-most short-axis slice to the
    apical end of the cavity, in equal thirds; beyond the cavity lies the apex (segment 17)."""
    if z > cavity_apex:
        return 3
    f = (z - base) / (cavity_apex - base)
    return 0 if f < 1 / 3 else 1 if f < 2 / 3 else 2


def _labels(tissue, t) -> np.ndarray:
    lab = np.zeros(tissue.shape, np.uint8)
    lab[np.isin(tissue, (T["blood"], T["papillary"])) & (t <= 1.0)] = 1
    lab[tissue == T["myocardium"]] = 2
    lab[tissue == T["scar"]] = 3
    lab[tissue == T["mvo"]] = 4
    return lab


def sample_anatomy(p: dict, heart: Heart, stack: Stack):
    """Tissue fractions (n, nj, ni, tissues) with partial volume, and the point-sampled labels, AHA and RV."""
    n, nj, ni = stack.geometry.shape
    nt = len(TISSUES)
    fractions = np.zeros((n, nj * ni, nt), np.float32)
    labels = np.zeros((n, nj, ni), np.uint8)
    aha = np.zeros((n, nj, ni), np.uint8)
    rv = np.zeros((n, nj, ni), bool)
    subs = [(stack.x + a * stack.step_i[0] + b * stack.step_j[0], stack.y + a * stack.step_i[1] + b * stack.step_j[1])
            for a, b in SUB_OFFSETS]
    chests = [chest(p, xs, ys) for xs, ys in subs]
    planes = (-p["thickness"] / 3, 0.0, p["thickness"] / 3)
    rows = np.arange(nj * ni) * nt
    for k, zk in enumerate(stack.z):
        cx, cy = heart.centre(zk)
        near = np.flatnonzero(np.hypot(stack.x - cx, stack.y - cy).ravel() < heart.reach)
        for dz in planes:
            for (xs, ys), (body, liver) in zip(subs, chests):
                tissue = body.ravel().copy()
                if zk + dz > 0.45 * heart.le:
                    tissue[liver.ravel()] = T["liver"]
                ht = heart.tissue(xs.ravel()[near], ys.ravel()[near], zk + dz)[0]
                tissue[near[ht != NONE]] = ht[ht != NONE]
                fractions[k] += np.bincount(rows + tissue, minlength=nj * ni * nt).reshape(nj * ni, nt)
        ht, phi, rvb, t = heart.tissue(stack.x.ravel()[near], stack.y.ravel()[near], zk)
        lab = _labels(ht, t)
        labels[k].flat[near], rv[k].flat[near] = lab, rvb
        myo = lab >= 2
        level = _level(zk, p["z0"], heart.lc)
        aha[k].flat[near[myo]] = segment_from_level_angle(np.full(myo.sum(), level), np.rad2deg(phi[myo]))
    fractions /= len(planes) * len(SUB_OFFSETS)
    return fractions.reshape(n, nj, ni, nt), labels, aha, rv


def gray_zone(labels: np.ndarray, spacing: float, width_mm: float) -> np.ndarray:
    """The peri-infarct rim: infarct voxels (not MVO) within ``width_mm`` in plane of non-infarcted myocardium."""
    rim = np.zeros(labels.shape, bool)
    for k in range(labels.shape[0]):
        healthy, scar = labels[k] == 2, labels[k] == 3
        if healthy.any() and scar.any():
            rim[k] = scar & (ndimage.distance_transform_edt(~healthy, sampling=spacing) <= width_mm)
    return rim


def lge_signal(p: dict, fractions: np.ndarray, rim: np.ndarray, labels: np.ndarray, rng) -> np.ndarray:
    """Noise-free LGE signal from tissue fractions: each tissue's level with its texture, mixed by fraction."""
    c = p["contrast"]
    n, nj, ni, nt = fractions.shape
    s, sd = p["spacing"], c["sd"]
    out = np.empty((n, nj, ni))
    for k in range(n):
        tex = {name: smooth_noise(rng, (nj, ni), mm / s, mode="reflect")
               for name, mm in (("tissue", 6.0), ("blood", 5.0), ("myo", 9.0), ("scar", 1.5))}
        myo = c["myocardium"] + c["slice_drift"] * sd * rng.standard_normal()
        level = np.empty((nj, ni, nt))
        level[..., T["air"]] = 0.0
        level[..., T["tissue"]] = c["tissue"] * (1 + 0.08 * tex["tissue"])
        level[..., T["fat"]] = c["fat"] * (1 + 0.04 * tex["tissue"])
        level[..., T["lung"]] = c["lung"]
        level[..., T["liver"]] = c["liver"] * (1 + 0.06 * tex["tissue"])
        level[..., T["aorta"]] = c["blood"] * 1.03
        level[..., T["blood"]] = c["blood"] + 0.35 * sd * tex["blood"]
        level[..., T["rv_blood"]] = 0.95 * c["blood"] + 0.35 * sd * tex["blood"]
        level[..., T["myocardium"]] = myo + c["texture"] * sd * tex["myo"]
        level[..., T["papillary"]] = level[..., T["myocardium"]]
        level[..., T["rv_wall"]] = 1.1 * level[..., T["myocardium"]]
        weight = np.where(rim[k] | (labels[k] != 3), c["gray_zone"], 1.0)  # PV voxels at the border are gray
        level[..., T["scar"]] = myo + (c["scar"] - myo) * weight * (1 + c["heterogeneity"] * tex["scar"])
        level[..., T["mvo"]] = c["mvo"] + 0.5 * c["texture"] * sd * tex["myo"]
        out[k] = ndimage.gaussian_filter((fractions[k] * level).sum(-1), 0.4)
    return out


def acquire(p: dict, signal: np.ndarray, stack: Stack, heart: Heart, rng) -> np.ndarray:
    """Coil bias field (anterior surface coil), Rician noise with correlated components, 12-bit values."""
    c = p["contrast"]
    sigma = c["noise"] * c["sd"]
    coil_y = p["cavity_radius"] + p["wall"] + 60.0
    out = np.empty_like(signal)
    for k, zk in enumerate(stack.z):
        d2 = (stack.x - p["coil"]) ** 2 + (stack.y - coil_y) ** 2 + (zk - heart.lc / 2) ** 2
        bias = 1 - c["bias"] + 2 * c["bias"] * np.exp(-d2 / (2 * 110.0 ** 2))
        real, imag = (smooth_noise(rng, signal[k].shape, c["psf_px"], mode="reflect") for _ in range(2))
        out[k] = np.hypot(signal[k] * bias + sigma * real, sigma * imag)
    return np.clip(np.round(out / FULL_SCALE * 4095), 0, 4095).astype(np.float64)
