"""The LGE phantom: realistic short-axis LGE stacks with known anatomy, scar and AHA-17 ground truth.

Each case is drawn from an analytic heart in its own frame (x toward the septum, y toward the anterior wall,
z along the LV long axis from the base plane toward the apex) and sampled on a short-axis grid:

- geometry: 6-12 slices, 1.25-2 mm in plane, 8-13 mm apart, a random in-plane rotation, apex- or base-first
  order, and an oblique direction matrix that puts the heart in a plausible patient (LPS) orientation;
- anatomy: a truncated ellipsoidal LV whose cavity radius and wall thickness (6-12 mm) vary by case and
  narrow toward an apical cap, a slightly tilted long axis, papillary muscles, a crescent RV blood pool with
  its free wall attached to the septum, epicardial fat, lungs, liver, descending aorta and chest wall;
- LGE contrast: bright blood, nulled dark myocardium, bright textured scar growing from the endocardium
  inside one coronary territory (LAD / RCA / LCX), and a dark MVO core in some scars;
- acquisition: through-slice partial volume, a smooth coil bias field and Rician noise, 12-bit intensities
  stored as float64, like EMIDEC.

Everything is drawn from ``numpy.random.Generator`` objects seeded from (seed, case index): a cohort is
deterministic for a seed and each case does not depend on how many others are drawn.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from .aha import segment_from_level_angle
from .geometry import Geometry
from .io import atomic_dir, write_json, write_volume

# Relative LGE signal of each tissue (blood ~0.7, nulled myocardium ~0.06).
SIGNAL = {"air": 0.0, "tissue": 0.22, "fat": 0.58, "lung": 0.03, "liver": 0.27, "aorta": 0.72,
          "blood": 0.70, "rv_blood": 0.66, "myocardium": 0.06, "scar": 0.92, "mvo": 0.07}
TERRITORY_WEIGHTS = {"LAD": 0.5, "RCA": 0.3, "LCX": 0.2}
# Where each territory's scars centre: angle range (deg from the septum toward anterior) and long-axis range
# (fraction of the cavity length from the base).
_TERRITORY_CENTRES = {"LAD": ((20.0, 100.0), (0.35, 0.95)), "RCA": ((-100.0, -30.0), (0.1, 0.6)),
                      "LCX": ((140.0, 220.0), (0.1, 0.65))}


@dataclass
class PhantomCase:
    case_id: str
    geometry: Geometry
    image: np.ndarray  # float64, 12-bit values
    labels: np.ndarray  # uint8, EMIDEC scheme
    aha: np.ndarray  # uint8, AHA segment 1..17 on the myocardium
    rv: np.ndarray  # bool, RV blood pool
    truth: dict = field(default_factory=dict)


def case_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index)])


def cohort_plan(n_cases: int, seed: int, normal_fraction: float = 0.3) -> list[tuple[str, bool]]:
    """(case_id, pathological) for each case of a cohort; the normal cases are a seeded random subset."""
    n_normal = int(round(n_cases * normal_fraction))
    normal = set(np.random.default_rng([int(seed), 1_000_003]).permutation(n_cases)[:n_normal].tolist())
    return [(f"Phantom_{'N' if i in normal else 'P'}{i + 1:03d}", i not in normal) for i in range(n_cases)]


def generate_cohort(n_cases: int, seed: int, normal_fraction: float = 0.3):
    """Yield ``PhantomCase`` objects one by one."""
    for index, (case_id, pathological) in enumerate(cohort_plan(n_cases, seed, normal_fraction)):
        yield generate_case(case_rng(seed, index), case_id, pathological)


# ------------------------------------------------------------------------------------------------ parameters
def _rotation(axis, angle) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _draw_parameters(rng: np.random.Generator, pathological: bool, scar: dict | None = None) -> dict:
    p = {}
    p["spacing"] = float(rng.uniform(1.25, 2.0))
    p["gap"] = float(rng.uniform(8.0, 13.0))
    p["thickness"] = float(p["gap"] * rng.uniform(0.65, 0.95))
    p["wall"] = float(rng.uniform(6.0, 12.0))
    p["wall_apex"] = float(p["wall"] * rng.uniform(0.55, 0.8))
    p["cavity_radius"] = float(rng.uniform(21.0, 29.0))
    p["z0"] = float(rng.uniform(1.0, 4.0))  # first (basal) slice below the base plane, mm
    target_length = rng.uniform(62.0, 88.0)
    c = float(rng.uniform(-0.7 * p["wall_apex"], 0.35 * p["gap"]))  # cavity apex beyond the apical slice
    p["n_slices"] = int(np.clip(round((target_length - p["z0"] - c) / p["gap"]) + 1, 6, 12))
    p["cavity_length"] = p["z0"] + (p["n_slices"] - 1) * p["gap"] + c
    p["equator"] = -float(rng.uniform(0.1, 0.25)) * p["cavity_length"]  # ellipsoid equator above the base
    p["tilt"] = rng.normal(0.0, 0.06, size=2).clip(-0.12, 0.12).tolist()  # axis drift per mm along z
    p["shape"] = {"a1": float(rng.uniform(0, 0.06)), "p1": float(rng.uniform(0, 2 * np.pi)),
                  "a2": float(rng.uniform(0, 0.06)), "p2": float(rng.uniform(0, np.pi)),
                  "b1": float(rng.uniform(0, 0.12)), "p3": float(rng.uniform(0, 2 * np.pi)),
                  # trabeculated endocardium and a less regular epicardium: small higher harmonics
                  "endo_h": rng.normal(0, 0.006, size=(6, 2)).tolist(), "epi_h": rng.normal(0, 0.01, size=(4, 2)).tolist()}
    p["rv_angle"] = float(np.deg2rad(rng.uniform(55.0, 70.0)))
    p["rv_depth"] = float(rng.uniform(12.0, 22.0))
    p["rv_length"] = float(rng.uniform(0.7, 0.88))
    p["fov"] = float(rng.uniform(170.0, 240.0))
    p["offset"] = rng.uniform(-15.0, 15.0, size=2).tolist()
    p["rotation"] = float(rng.uniform(0, 2 * np.pi))
    p["apex_first"] = bool(rng.random() < 0.5)
    p["noise"] = float(rng.uniform(0.018, 0.035))
    p["bias"] = float(rng.uniform(0.15, 0.35))
    p["blood"] = float(SIGNAL["blood"] * rng.uniform(0.9, 1.1))
    p["myocardium"] = float(SIGNAL["myocardium"] * rng.uniform(0.7, 1.3))
    p["papillary"] = [(float(np.deg2rad(rng.uniform(115, 145))), float(rng.uniform(3.5, 5.5))),
                      (float(np.deg2rad(rng.uniform(-150, -120))), float(rng.uniform(3.5, 5.5)))]
    p["pathological"] = pathological
    if pathological:
        names = list(TERRITORY_WEIGHTS)
        territory = str(rng.choice(names, p=[TERRITORY_WEIGHTS[n] for n in names]))
        (a0, a1), (z0, z1) = _TERRITORY_CENTRES[territory]
        p["scar"] = {"territory": territory, "angle": float(np.deg2rad(rng.uniform(a0, a1))),
                     "z": float(rng.uniform(z0, z1)), "angle_width": float(np.deg2rad(rng.uniform(26, 46))),
                     "z_width": float(rng.uniform(0.25, 0.45)), "extent": float(rng.uniform(0.6, 1.0)),
                     "mvo": bool(rng.random() < 0.5), "signal": float(SIGNAL["scar"] * rng.uniform(0.92, 1.08))}
        if scar:  # overrides, drawn values first so the rest of the case stays the same
            unknown = set(scar) - set(p["scar"]) - {"pattern"}
            if unknown:
                raise ValueError(f"unknown scar parameters: {sorted(unknown)}")
            p["scar"].update(scar)
            if "territory" in scar and "angle" not in scar:
                (a0, a1), (z0, z1) = _TERRITORY_CENTRES[scar["territory"]]
                p["scar"]["angle"], p["scar"]["z"] = float(np.deg2rad((a0 + a1) / 2)), float((z0 + z1) / 2)
            for key in ("angle", "angle_width"):  # given in degrees
                if key in scar:
                    p["scar"][key] = float(np.deg2rad(scar[key]))
    return p


def _patient_frame(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Septum, anterior and base-to-apex unit vectors in LPS, near the usual cardiac orientation.

    The LV long axis points left, anterior and inferior; the RV lies to the right and in front.
    """
    apex = np.array([1.0, -1.0, -1.0]) / np.sqrt(3)
    septum = np.array([-1.0, -1.0, 0.0]) / np.sqrt(2)
    jitter = _rotation(rng.normal(size=3), np.deg2rad(rng.uniform(0, 15)))
    apex, septum = jitter @ apex, jitter @ septum
    septum -= apex * (septum @ apex)
    septum /= np.linalg.norm(septum)
    anterior = np.cross(septum, apex)
    return septum, anterior, apex


# ------------------------------------------------------------------------------------------------ anatomy
class _Heart:
    """Analytic LV/RV model in the heart frame; all lengths in mm."""

    def __init__(self, p: dict):
        self.p = p
        self.lc = p["cavity_length"]
        self.le = self.lc + p["wall_apex"]
        self.eq = p["equator"]

    def centre(self, z):
        return self.p["tilt"][0] * z, self.p["tilt"][1] * z

    def radii(self, phi):
        s = self.p["shape"]
        endo = 1 + s["a1"] * np.cos(phi - s["p1"]) + s["a2"] * np.cos(2 * (phi - s["p2"]))
        for h, (a, b) in enumerate(s["endo_h"], start=3):
            endo = endo + a * np.cos(h * phi) + b * np.sin(h * phi)
        wall = 1 + s["b1"] * np.cos(phi - s["p3"])
        for h, (a, b) in enumerate(s["epi_h"], start=2):
            wall = wall + a * np.cos(h * phi) + b * np.sin(h * phi)
        r_endo, wall = self.p["cavity_radius"] * endo, self.p["wall"] * wall
        return r_endo, wall

    def depth(self, r, phi, z):
        """Normalised wall depth t: the point lies on the ellipsoid between endo (t=0) and epi (t=1) surfaces.

        Negative inside the cavity, above 1 outside the epicardium (clipped to [-1, 3]).
        """
        r_endo, wall = self.radii(phi)
        zz = z - self.eq
        a_endo, a_wall = self.lc - self.eq, self.p["wall_apex"]

        def f(t):
            return (r / (r_endo + t * wall)) ** 2 + (zz / (a_endo + t * a_wall)) ** 2 - 1.0

        lo, hi = np.full(np.shape(r), -1.0), np.full(np.shape(r), 3.0)
        for _ in range(26):  # bisection: f decreases with t
            mid = 0.5 * (lo + hi)
            inside = f(mid) <= 0
            hi = np.where(inside, mid, hi)
            lo = np.where(inside, lo, mid)
        return 0.5 * (lo + hi)

    def rv_outer(self, phi, z, r_epi):
        """Outer radius of the RV blood pool at angle phi (only where |phi| < rv_angle), else nan."""
        p = self.p
        length = p["rv_length"] * self.le
        zf = np.clip(1 - (np.maximum(z, 0) / length) ** 2, 0, 1)
        prof = np.clip(np.cos(0.5 * np.pi * phi / p["rv_angle"]), 0, 1) ** 0.6
        depth = p["rv_depth"] * np.sqrt(zf) * prof
        return np.where(np.abs(phi) < p["rv_angle"], r_epi + depth, np.nan)


def _smooth_noise(rng, shape, sigma_px) -> np.ndarray:
    n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    return n / max(float(n.std()), 1e-9)


def _level(z: float, base: float, cavity_apex: float) -> int:
    """AHA level of a slice at long-axis position z (mm from the base plane).

    As a reader would: the LV runs from the basal-most short-axis slice to the apical end of the cavity, split into
    equal thirds (basal, mid, apical); beyond the cavity lies the apex (segment 17).
    """
    if z > cavity_apex:
        return 3
    f = (z - base) / (cavity_apex - base)
    return 0 if f < 1 / 3 else 1 if f < 2 / 3 else 2


def _scar_extent(p: dict, heart: _Heart, phi, z, noise_lookup):
    """Transmural extent E(phi, z) of the scar (0 = none); the scar is where depth <= E."""
    s = p["scar"]
    dphi = np.angle(np.exp(1j * (phi - s["angle"])))
    dz = (z / heart.lc - s["z"])
    core = np.exp(-0.5 * ((dphi / s["angle_width"]) ** 2 + (dz / s["z_width"]) ** 2))
    if s.get("pattern", "wavefront") == "wavefront":  # ischaemic: transmural at the core, thinner at the edges
        extent = s["extent"] * np.clip(core * 1.35, 0, 1) * (1 + 0.25 * noise_lookup(phi, z))
        return np.where(extent > 0.12, extent, 0.0), core
    # "transmural" or "subendocardial" (to a fixed depth): one extent over the whole scar region
    depth = 1.0 if s["pattern"] == "transmural" else s["extent"]
    return np.where(core > 0.35, depth, 0.0), core


def _render_plane(p, heart, X, Y, z, tex, noise_lookup):
    """Tissue signal and labels on one short-axis plane at long-axis position z (heart-frame X, Y in mm)."""
    cx, cy = heart.centre(z)
    dx, dy = X - cx, Y - cy
    r = np.hypot(dx, dy)
    phi = np.arctan2(dy, dx)
    t = heart.depth(r, phi, z) if z >= 0 else np.full(X.shape, 3.0)
    r_endo, wall = heart.radii(phi)
    sig = np.full(X.shape, SIGNAL["air"])
    labels = np.zeros(X.shape, np.uint8)

    # chest: body with subcutaneous fat, lungs, liver, aorta
    r_epi_base = p["cavity_radius"] + p["wall"]
    by = r_epi_base + 28.0 - 115.0
    body = ((X + 10) / 165.0) ** 2 + ((Y - by) / 115.0) ** 2
    sig[body <= 1] = SIGNAL["tissue"] * (1 + 0.08 * tex["tissue"][body <= 1])
    sig[(body <= 1) & (body > (1 - 12.0 / 115.0) ** 2)] = SIGNAL["fat"]
    lung_l = ((X + r_epi_base + 48) / 42.0) ** 2 + ((Y + 12) / 75.0) ** 2 <= 1
    lung_r = ((X - r_epi_base - p["rv_depth"] - 55) / 38.0) ** 2 + ((Y + 22) / 75.0) ** 2 <= 1
    sig[(lung_l | lung_r) & (body <= 1)] = SIGNAL["lung"]
    if z > 0.45 * heart.le:
        liver = ((X + 5) / 85.0) ** 2 + ((Y + r_epi_base + 55) / 45.0) ** 2 <= 1
        sig[liver] = SIGNAL["liver"] * (1 + 0.06 * tex["tissue"][liver])
    aorta = np.hypot(X + 12, Y + r_epi_base + 32) <= 11.0
    sig[aorta] = SIGNAL["aorta"]

    if z < 0:  # above the base plane: the left atrium / outflow blood pool
        atrium = t <= 1.0
        sig[atrium] = SIGNAL["blood"]
        return sig, labels, t, phi, np.zeros(X.shape, bool)

    # epicardial fat: patchy layer just outside the epicardium
    fat = (t > 1) & (t < 1 + 3.0 / p["wall"]) & (tex["fat"] > 0.2)
    sig[fat] = SIGNAL["fat"]

    # RV: free wall, then blood pool attached to the septum
    r_epi = (r_endo + wall) * np.sqrt(max(1 - ((z - heart.eq) / (heart.le - heart.eq)) ** 2, 0.0))
    with np.errstate(invalid="ignore"):
        rv_out = heart.rv_outer(phi, z, r_epi)
        rv_blood = (t > 1) & (r < rv_out)
        rv_wall = (t > 1) & ~rv_blood & (r < rv_out + 3.0) & (rv_out - r_epi > 1.0)
    sig[rv_wall] = p["myocardium"] * 1.3
    sig[rv_blood] = SIGNAL["rv_blood"] * (1 + 0.04 * tex["blood"][rv_blood])

    myo = (t >= 0) & (t <= 1)
    cavity = t < 0
    sig[myo] = p["myocardium"] * (1 + 0.3 * tex["myo"][myo])
    sig[cavity] = p["blood"] * (1 + 0.04 * tex["blood"][cavity])
    labels[cavity] = 1
    labels[myo] = 2
    # papillary muscles (dark, inside the cavity label) in the mid ventricle
    if 0.2 * heart.lc < z < 0.75 * heart.lc:
        for angle, radius in p["papillary"]:
            re, _ = heart.radii(np.array(angle))
            rc = float(np.sqrt(max(1 - ((z - heart.eq) / (heart.lc - heart.eq)) ** 2, 0))) * float(re) - radius - 1.0
            if rc > radius:
                pm = np.hypot(dx - rc * np.cos(angle), dy - rc * np.sin(angle)) <= radius
                sig[pm & cavity] = p["myocardium"] * 1.2

    scar = np.zeros(X.shape, bool)
    if p["pathological"]:
        extent, core = _scar_extent(p, heart, phi, z, noise_lookup)
        scar = myo & (t <= extent)
        sig[scar] = p["scar"]["signal"] * (1 + 0.14 * tex["scar"][scar])
        labels[scar] = 3
        if p["scar"]["mvo"]:
            mvo = scar & (t <= 0.65 * extent) & (core > 0.55) & (extent > 0.6)
            sig[mvo] = SIGNAL["mvo"] * (1 + 0.3 * tex["myo"][mvo])
            labels[mvo] = 4
    return sig, labels, t, phi, rv_blood


def generate_case(rng: np.random.Generator, case_id: str, pathological: bool = True,
                  scar: dict | None = None) -> PhantomCase:
    """Draw one phantom case. Pathological cases are redrawn until their scar is at least 2 mL.

    ``scar`` overrides the drawn scar: ``territory`` (LAD/RCA/LCX), ``angle`` and ``angle_width`` (degrees from the
    septum toward anterior), ``z`` and ``z_width`` (fractions of the cavity length), ``extent`` (0-1 of the wall),
    ``pattern`` ("wavefront", the default ischaemic shape; "transmural"; "subendocardial" to depth ``extent``),
    ``mvo`` (bool).
    """
    for _ in range(20):
        case = _draw_case(rng, case_id, pathological, scar)
        if not pathological or case.truth["scar"]["volume_ml"] >= 2.0:
            return case
    return case


def _draw_case(rng, case_id, pathological, scar=None) -> PhantomCase:
    p = _draw_parameters(rng, pathological, scar)
    heart = _Heart(p)
    s, n = p["spacing"], p["n_slices"]
    nxy = int(round(p["fov"] / s))
    ci, cj = (nxy - 1) / 2 + p["offset"][0] / s, (nxy - 1) / 2 + p["offset"][1] / s
    beta = p["rotation"]
    rot = np.array([[np.cos(beta), -np.sin(beta)], [np.sin(beta), np.cos(beta)]])
    e_s, e_a, e_z = _patient_frame(rng)
    to_phys = np.stack([e_s, e_a, e_z], axis=1)  # heart frame -> LPS
    # voxel axes in the heart frame; flip j if needed so the direction matrix is a proper rotation
    d_i = np.array([rot[0, 0], rot[1, 0], 0.0])
    d_j = np.array([rot[0, 1], rot[1, 1], 0.0])
    sgn = -1.0 if p["apex_first"] else 1.0
    d_k = np.array([0.0, 0.0, sgn])
    if np.linalg.det(to_phys @ np.stack([d_i, d_j, d_k], axis=1)) < 0:  # a proper rotation in LPS
        d_j = -d_j
    z_slices = p["z0"] + p["gap"] * np.arange(n)
    if p["apex_first"]:
        z_slices = z_slices[::-1]
    base_point = rng.uniform(-30, 30, size=3)  # LV axis on the base plane, LPS mm
    origin_h = -ci * s * d_i - cj * s * d_j + np.array([0.0, 0.0, z_slices[0]])
    direction = to_phys @ np.stack([d_i, d_j, d_k], axis=1)
    geometry = Geometry((n, nxy, nxy), (s, s, p["gap"]), tuple((base_point + to_phys @ origin_h).tolist()),
                        tuple(direction.ravel().tolist()))

    jj, ii = np.mgrid[0:nxy, 0:nxy].astype(float)
    X = (ii - ci) * s * d_i[0] + (jj - cj) * s * d_j[0]
    Y = (ii - ci) * s * d_i[1] + (jj - cj) * s * d_j[1]
    # noise for the scar extent as a smooth periodic function of (angle, z)
    scar_noise = _smooth_noise(rng, (64, 32), (4.0, 3.0))

    def noise_lookup(phi, z):
        a = (np.mod(phi, 2 * np.pi) / (2 * np.pi)) * 64
        b = np.clip(z / heart.le, 0, 1) * 31
        return ndimage.map_coordinates(scar_noise, [np.ravel(a), np.ravel(b) * np.ones(np.size(a))],
                                       order=1, mode="grid-wrap").reshape(np.shape(phi))

    image = np.zeros((n, nxy, nxy))
    labels = np.zeros((n, nxy, nxy), np.uint8)
    aha = np.zeros((n, nxy, nxy), np.uint8)
    rv = np.zeros((n, nxy, nxy), bool)
    sub = (-p["thickness"] / 3, 0.0, p["thickness"] / 3)
    for k, zk in enumerate(z_slices):
        tex = {name: _smooth_noise(rng, (nxy, nxy), sig / s) for name, sig in
               (("tissue", 6.0), ("blood", 5.0), ("myo", 2.0), ("scar", 1.8), ("fat", 8.0))}
        acc = np.zeros((nxy, nxy))
        for dz in sub:  # through-slice partial volume
            sig, lab, t, phi, rvb = _render_plane(p, heart, X, Y, zk + dz, tex, noise_lookup)
            acc += sig / len(sub)
            if dz == 0.0:
                labels[k], rv[k] = lab, rvb
                myo = lab >= 2
                level = _level(zk, p["z0"], heart.lc)
                aha[k][myo] = segment_from_level_angle(np.full(myo.sum(), level), np.rad2deg(phi[myo]))
        image[k] = ndimage.gaussian_filter(acc, 0.5)

    image = _acquire(rng, p, image, geometry, heart, X, Y, z_slices)
    truth = _truth(case_id, p, heart, geometry, labels, aha, z_slices, e_s, e_a, e_z, base_point)
    return PhantomCase(case_id, geometry, image, labels, aha, rv, truth)


def _acquire(rng, p, image, geometry, heart, X, Y, z_slices):
    """Coil bias field (anterior surface coil), Rician noise, 12-bit scaling."""
    coil_y = p["cavity_radius"] + p["wall"] + 60.0
    coil_x = rng.uniform(-40, 40)
    out = np.empty_like(image)
    for k, zk in enumerate(z_slices):
        d2 = (X - coil_x) ** 2 + (Y - coil_y) ** 2 + (zk - heart.lc / 2) ** 2
        bias = 1 - p["bias"] + 2 * p["bias"] * np.exp(-d2 / (2 * 110.0 ** 2))
        sig = image[k] * bias
        sigma = p["noise"]
        out[k] = np.hypot(sig + rng.normal(0, sigma, sig.shape), rng.normal(0, sigma, sig.shape))
    return np.clip(np.round(out / 1.05 * 4095), 0, 4095).astype(np.float64)


def _truth(case_id, p, heart, geometry, labels, aha, z_slices, e_s, e_a, e_z, base_point) -> dict:
    vox = geometry.voxel_volume_ml
    scar = labels >= 3
    to_phys = np.stack([e_s, e_a, e_z], axis=1)
    long_axis = to_phys @ np.array([p["tilt"][0], p["tilt"][1], 1.0])
    long_axis /= np.linalg.norm(long_axis)
    zm = heart.lc / 2
    cx, cy = heart.centre(zm)
    insertion = []
    for angle in (p["rv_angle"], -p["rv_angle"]):
        r_endo, wall = heart.radii(np.array(angle))
        rr = float(r_endo + wall) * np.sqrt(max(1 - ((zm - heart.eq) / (heart.le - heart.eq)) ** 2, 0))
        local = np.array([cx + rr * np.cos(angle), cy + rr * np.sin(angle), zm])
        insertion.append((base_point + to_phys @ local).round(3).tolist())
    per_segment = {int(sg): round(float(np.count_nonzero(scar & (aha == sg)) * vox), 4)
                   for sg in range(1, 18) if np.any(scar & (aha == sg))}
    seg_size = {sg: np.count_nonzero(aha == sg) for sg in range(1, 18)}
    # a segment counts as scarred when scar fills at least 5% of it
    scar_segments = sorted(sg for sg, v in per_segment.items() if v / vox >= max(3, 0.05 * seg_size[sg]))
    truth = {
        "case_id": case_id,
        "pathological": bool(p["pathological"]),
        "generator": "CLAIM LGE phantom",
        "slice_order": "apex-first" if p["apex_first"] else "base-first",
        "spacing_mm": list(geometry.spacing),
        "slice_thickness_mm": round(p["thickness"], 3),
        "n_slices": int(p["n_slices"]),
        "slice_positions_mm": [round(float(z), 3) for z in z_slices],
        "in_plane_rotation_deg": round(float(np.rad2deg(p["rotation"])), 3),
        "septum_direction": e_s.round(6).tolist(),
        "anterior_direction": e_a.round(6).tolist(),
        "stack_base_to_apex": e_z.round(6).tolist(),
        "long_axis_base_to_apex": long_axis.round(6).tolist(),
        "lv_axis_base_point": np.asarray(base_point).round(3).tolist(),
        "base_slice_mm": round(p["z0"], 3),
        "cavity_apex_mm": round(heart.lc, 3),
        "epicardial_apex_mm": round(heart.le, 3),
        "level_boundaries_mm": [round(p["z0"] + (heart.lc - p["z0"]) * f, 3) for f in (1 / 3, 2 / 3, 1)],
        "wall_thickness_mm": round(p["wall"], 3),
        "cavity_radius_mm": round(p["cavity_radius"], 3),
        "rv_insertion_angle_deg": round(float(np.rad2deg(p["rv_angle"])), 3),
        "rv_insertion_points": {"anterior": insertion[0], "inferior": insertion[1]},
        "volumes_ml": {"cavity": round(float(np.count_nonzero(labels == 1) * vox), 4),
                       "myocardium": round(float(np.count_nonzero(labels >= 2) * vox), 4),
                       "scar": round(float(np.count_nonzero(scar) * vox), 4),
                       "mvo": round(float(np.count_nonzero(labels == 4) * vox), 4)},
        "scar": {"territory": p["scar"]["territory"] if p["pathological"] else None,
                 "segments": scar_segments,
                 "volume_ml": round(float(np.count_nonzero(scar) * vox), 4),
                 "volume_ml_per_segment": {str(k): v for k, v in per_segment.items()},
                 "max_transmural_extent": round(p["scar"]["extent"], 3) if p["pathological"] else 0.0,
                 "mvo_ml": round(float(np.count_nonzero(labels == 4) * vox), 4)},
    }
    return truth


# ------------------------------------------------------------------------------------------------ writing
def write_case(case: PhantomCase, out_dir) -> Path:
    """Write a case in the EMIDEC layout, plus its ground truth, as one atomic folder ``out_dir/case_id``.

    - ``Images/<id>.nii.gz``: the LGE image (float64, like EMIDEC);
    - ``Contours/<id>.nii.gz``: labels 0 background, 1 cavity, 2 myocardium, 3 infarct, 4 MVO (float64);
    - ``GroundTruth/<id>_aha.nii.gz``: AHA segments 1..17 on the myocardium;
    - ``GroundTruth/<id>_rv.nii.gz``: the RV blood pool;
    - ``<id>.json``: septum direction, slice order, spacing, levels, RV insertion points, scar segments.
    """
    final = Path(out_dir) / case.case_id
    with atomic_dir(final) as tmp:
        cid = case.case_id
        write_volume(tmp / "Images" / f"{cid}.nii.gz", case.image, case.geometry, np.float64)
        write_volume(tmp / "Contours" / f"{cid}.nii.gz", case.labels, case.geometry, np.float64)
        write_volume(tmp / "GroundTruth" / f"{cid}_aha.nii.gz", case.aha, case.geometry, np.uint8)
        write_volume(tmp / "GroundTruth" / f"{cid}_rv.nii.gz", case.rv, case.geometry, np.uint8)
        write_json(tmp / f"{cid}.json", case.truth)
    return final
