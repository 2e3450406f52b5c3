"""The random draws of one phantom case: acquisition geometry, anatomy, scar, contrast and the patient frame.

Anatomy, scar and header are drawn from the case's generator in a fixed order; the contrast numbers come from a
child generator of their own, so that one seed gives the same heart at every difficulty level.
"""
from __future__ import annotations

import numpy as np

DIFFICULTIES = ("clinical", "easy")
HEADERS = ("oblique", "axial")
TERRITORY_WEIGHTS = {"LAD": 0.5, "RCA": 0.3, "LCX": 0.2}
# Where each territory's scars centre: angle range (deg from the septum toward anterior) and long-axis range
# (fraction of the cavity length from the base).
TERRITORY_CENTRES = {"LAD": ((20.0, 100.0), (0.35, 0.95)), "RCA": ((-100.0, -30.0), (0.1, 0.6)),
                     "LCX": ((140.0, 220.0), (0.1, 0.65))}
SHORT_STACK_PROBABILITY = 0.04  # 2-3 representative slices (basal, mid, apical), as quick protocols acquire


def rotation(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def draw_parameters(rng: np.random.Generator, pathological: bool, difficulty: str,
                    scar: dict | None = None) -> dict:
    """Every number of a case, in mm, radians and relative signal."""
    p = _draw_stack(rng)
    p.update(_draw_anatomy(rng, p))
    p["pathological"] = pathological
    p["scar"] = _draw_scar(rng, scar) if pathological else None
    p["contrast"] = draw_contrast(np.random.default_rng(rng.integers(2 ** 63)), difficulty)
    p["noise_seed"] = int(rng.integers(2 ** 63))
    return p


def _draw_stack(rng) -> dict:
    p = {"spacing": float(rng.uniform(1.25, 2.0)), "gap": float(rng.uniform(6.0, 13.0))}
    p["thickness"] = float(min(p["gap"] * rng.uniform(0.7, 1.0), 10.0))
    p["z0"] = float(rng.uniform(1.0, 4.0))  # first (basal) slice below the base plane, mm
    p["target_length"] = float(rng.uniform(62.0, 88.0))
    p["short_stack"] = int(rng.integers(2, 4)) if rng.random() < SHORT_STACK_PROBABILITY else 0
    p["fov"] = float(rng.uniform(170.0, 240.0))
    p["offset"] = rng.uniform(-15.0, 15.0, size=2).tolist()
    p["rotation"] = float(rng.uniform(0, 2 * np.pi))
    p["apex_first"] = bool(rng.random() < 0.5)
    return p


def _draw_anatomy(rng, stack: dict) -> dict:
    p = {"wall": float(rng.uniform(7.0, 12.0)), "cavity_radius": float(rng.uniform(20.0, 28.0))}
    p["wall_apex"] = float(p["wall"] * rng.uniform(0.45, 0.7))  # the apex is thinner
    c = float(rng.uniform(-0.7 * p["wall_apex"], 0.35 * stack["gap"]))  # cavity apex beyond the apical slice
    n_full = int(np.clip(round((stack["target_length"] - stack["z0"] - c) / stack["gap"]) + 1, 6, 14))
    p["cavity_length"] = stack["z0"] + (n_full - 1) * stack["gap"] + c
    p["n_slices"] = stack["short_stack"] or n_full
    if stack["short_stack"]:  # a quick protocol's representative slices: basal, mid (and apical), a third apart
        share = rng.uniform(0.36, 0.45) if stack["short_stack"] == 3 else rng.uniform(0.4, 0.6)
        p["gap"] = float(share * (p["cavity_length"] - stack["z0"]))
    p["equator"] = -float(rng.uniform(0.1, 0.25)) * p["cavity_length"]  # ellipsoid equator above the base
    p["tilt"] = rng.normal(0.0, 0.06, size=2).clip(-0.12, 0.12).tolist()  # axis drift per mm along z
    p["shape"] = {"ellipticity": float(rng.uniform(0.03, 0.14)), "ellipse_axis": float(rng.uniform(0, np.pi)),
                  "a1": float(rng.uniform(0, 0.05)), "p1": float(rng.uniform(0, 2 * np.pi)),
                  # wall thickness by sector: thicker septum and inferior base, thinner lateral wall
                  "septal_wall": float(rng.uniform(0.05, 0.2)), "b1": float(rng.uniform(0, 0.1)),
                  "p3": float(rng.uniform(0, 2 * np.pi)),
                  "endo_h": rng.normal(0, 0.008, size=(6, 2)).tolist(), "epi_h": rng.normal(0, 0.012, size=(4, 2)).tolist()}
    p["rv_angle"] = float(np.deg2rad(rng.uniform(55.0, 72.0)))
    p["rv_depth"] = float(rng.uniform(12.0, 24.0))
    p["rv_length"] = float(rng.uniform(0.7, 0.88))
    p["rv_wall"] = float(rng.uniform(2.0, 4.0))
    # the LV outflow tract: an anteroseptal gap in the wall of the most basal slices
    p["lvot"] = {"depth": float(rng.uniform(4.0, 12.0)) if rng.random() < 0.6 else 0.0,
                 "angle": float(np.deg2rad(rng.uniform(35.0, 75.0))), "width": float(np.deg2rad(rng.uniform(20.0, 28.0)))}
    p["papillary"] = [(float(np.deg2rad(rng.uniform(115, 150))), float(rng.uniform(3.5, 6.0))),
                      (float(np.deg2rad(rng.uniform(-155, -115))), float(rng.uniform(3.5, 6.0)))]
    p["trabeculae_mm"] = float(rng.uniform(1.5, 4.0))
    p["fat_mm"] = float(rng.uniform(2.0, 5.0))
    p["coil"] = float(rng.uniform(-40, 40))
    return p


def _draw_scar(rng, overrides: dict | None) -> dict:
    names = list(TERRITORY_WEIGHTS)
    territory = str(rng.choice(names, p=[TERRITORY_WEIGHTS[n] for n in names]))
    (a0, a1), (z0, z1) = TERRITORY_CENTRES[territory]
    s = {"territory": territory, "angle": float(np.deg2rad(rng.uniform(a0, a1))), "z": float(rng.uniform(z0, z1)),
         "angle_width": float(np.deg2rad(rng.uniform(26, 46))), "z_width": float(rng.uniform(0.25, 0.45)),
         "extent": float(rng.uniform(0.6, 1.0)), "mvo": bool(rng.random() < 0.5),
         "gray_zone_mm": float(rng.uniform(1.0, 2.5))}
    if overrides:  # drawn values first, so the rest of the case stays the same
        unknown = set(overrides) - set(s) - {"pattern"}
        if unknown:
            raise ValueError(f"unknown scar parameters: {sorted(unknown)}")
        s.update(overrides)
        if "territory" in overrides and "angle" not in overrides:
            (a0, a1), (z0, z1) = TERRITORY_CENTRES[overrides["territory"]]
            s["angle"], s["z"] = float(np.deg2rad((a0 + a1) / 2)), float((z0 + z1) / 2)
        for key in ("angle", "angle_width"):  # given in degrees
            if key in overrides:
                s[key] = float(np.deg2rad(overrides[key]))
    return s


def draw_contrast(rng: np.random.Generator, difficulty: str) -> dict:
    """Signal levels and noise of one case's inversion-recovery LGE, in relative units (blood pool ~0.6).

    Contrast is set in units of ``sd``, the spread of remote myocardium: ``blood_cnr`` and ``scar_cnr`` are the
    contrast-to-noise ratios aimed at. ``clinical`` matches real stacks (imperfect nulling, blood and scar two or
    three remote SDs above the myocardium, texture correlated over about two voxels); ``easy`` is the old
    conspicuous phantom (well-nulled myocardium, CNR 5-9, nearly white noise).
    """
    u = rng.uniform
    blood = 0.6 * u(0.85, 1.15)
    if difficulty == "clinical":
        # low contrast comes from imperfect nulling (as in real stacks), not from a noisy image: the remote
        # spread stays 10-22% of the blood signal, and the myocardium sits where that puts it
        cnr = float(np.exp(u(np.log(0.9), np.log(3.6))))
        c = {"blood_cnr": cnr, "scar_cnr": u(2.8, 5.2), "nulling": float(np.clip(1 - cnr * u(0.1, 0.22), 0.2, 0.9)),
             "noise": u(0.4, 0.55), "psf_px": u(0.7, 1.0), "texture": u(0.6, 0.85),
             "slice_drift": u(0.3, 0.7), "heterogeneity": u(0.12, 0.25), "gray_zone": u(0.35, 0.6),
             # chest wall, mediastinum and liver are not nulled: about as bright as blood, as in real stacks
             "tissue_level": u(0.6, 1.3), "liver_level": u(0.7, 1.3)}
    else:
        c = {"blood_cnr": u(8.0, 11.0), "scar_cnr": u(11.0, 14.0), "nulling": u(0.07, 0.12), "noise": u(0.5, 0.6),
             "psf_px": 0.45, "texture": u(0.6, 0.75), "slice_drift": 0.1, "heterogeneity": u(0.08, 0.14),
             "gray_zone": u(0.5, 0.7), "tissue_level": 0.25, "liver_level": 0.33}
    c = {k: float(v) for k, v in c.items()}
    myo = blood * c["nulling"]
    sd = (blood - myo) / c["blood_cnr"]
    c.update(difficulty=difficulty, blood=blood, myocardium=myo, sd=sd, scar=myo + c["scar_cnr"] * sd,
             mvo=myo * u(0.4, 0.9), fat=blood * u(0.95, 1.35), tissue=myo + (blood - myo) * c["tissue_level"],
             liver=myo + (blood - myo) * c["liver_level"], lung=0.03 * blood, bias=u(0.12, 0.3))
    return c


def patient_frame(rng: np.random.Generator, header: str, voxel_axes: np.ndarray) -> np.ndarray:
    """The heart frame (septum, anterior, base-to-apex columns) in LPS.

    ``oblique``: near the usual cardiac orientation of a supine patient, apex left-anterior-inferior and the RV
    to the right and in front, as a scanner's short-axis planning gives. ``axial``: whatever makes the voxel axes
    the LPS axes, so the header is axis-aligned like EMIDEC's and carries no anatomy.
    """
    jitter = rotation(rng.normal(size=3), np.deg2rad(rng.uniform(0, 15)))
    if header == "axial":
        return voxel_axes.T
    apex = jitter @ (np.array([1.0, -1.0, -1.0]) / np.sqrt(3))
    septum = jitter @ (np.array([-1.0, -1.0, 0.0]) / np.sqrt(2))
    septum -= apex * (septum @ apex)
    septum /= np.linalg.norm(septum)
    return np.stack([septum, np.cross(septum, apex), apex], axis=1)
