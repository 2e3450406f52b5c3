"""The analytic heart and chest: which tissue lies at a point of the heart frame.

Heart frame: x toward the septum, y toward the anterior wall, z along the LV long axis from the base plane
toward the apex; lengths in mm. Tissues are small integers (``TISSUES``); the renderer turns their fractions
in each voxel into LGE signal.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

TISSUES = ("air", "tissue", "fat", "lung", "liver", "aorta", "blood", "rv_blood", "myocardium", "rv_wall",
           "scar", "mvo", "papillary")
T = {name: i for i, name in enumerate(TISSUES)}
NONE = -1  # not part of the heart: the chest tissue shows through


def smooth_noise(rng, shape, sigma, mode="wrap") -> np.ndarray:
    n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode=mode)
    return n / max(float(n.std()), 1e-9)


class PolarTable:
    """A smooth random field of (angle around the LV axis, long-axis position), periodic in the angle."""

    def __init__(self, rng, n_angle: int, sigma: tuple[float, float], length: float):
        self.table, self.n, self.length = smooth_noise(rng, (n_angle, 32), sigma), n_angle, length

    def __call__(self, phi, z):
        """Bilinear lookup (the angle wraps around)."""
        a = np.mod(phi, 2 * np.pi) * (self.n / (2 * np.pi))
        b = np.clip(float(z) / self.length, 0.0, 1.0) * 31
        i0 = np.floor(a).astype(np.intp)
        fa = a - i0
        i0 %= self.n
        i1 = (i0 + 1) % self.n
        j0 = min(int(b), 30)
        fb = b - j0
        col = self.table[:, j0] * (1 - fb) + self.table[:, j0 + 1] * fb
        return col[i0] * (1 - fa) + col[i1] * fa


class Heart:
    """LV (truncated ellipsoidal shell), RV crescent, outflow tract, papillary muscles, trabeculae, epicardial
    fat and the scar, in the heart frame."""

    def __init__(self, p: dict, rng: np.random.Generator):
        self.p = p
        self.lc = p["cavity_length"]
        self.le = self.lc + p["wall_apex"]
        self.eq = p["equator"]
        self.scar_noise = PolarTable(rng, 64, (4.0, 3.0), self.le)
        self.trabeculae = PolarTable(rng, 256, (1.2, 2.0), self.le)
        self.fat = PolarTable(rng, 64, (2.5, 3.0), self.le)
        self._angles, self._endo, self._wall = self._radius_tables()
        self.reach = p["cavity_radius"] * 1.35 + p["wall"] * 1.6 + p["rv_depth"] + p["rv_wall"] + 8.0

    def centre(self, z):
        return self.p["tilt"][0] * z, self.p["tilt"][1] * z

    def radii(self, phi):
        """Endocardial radius and wall thickness at the equator, by angle from the septum (from a fine table)."""
        a = np.mod(phi, 2 * np.pi)
        return np.interp(a, self._angles, self._endo), np.interp(a, self._angles, self._wall)

    def _radius_tables(self, n: int = 2048):
        s = self.p["shape"]
        phi = np.linspace(0, 2 * np.pi, n + 1)
        endo = (1 + s["ellipticity"] * np.cos(2 * (phi - s["ellipse_axis"])) + s["a1"] * np.cos(phi - s["p1"]))
        for h, (a, b) in enumerate(s["endo_h"], start=3):
            endo = endo + a * np.cos(h * phi) + b * np.sin(h * phi)
        wall = 1 + s["septal_wall"] * np.cos(phi) + s["b1"] * np.cos(phi - s["p3"])
        for h, (a, b) in enumerate(s["epi_h"], start=2):
            wall = wall + a * np.cos(h * phi) + b * np.sin(h * phi)
        return phi, self.p["cavity_radius"] * endo, self.p["wall"] * wall

    def depth(self, r, phi, z, radii=None):
        """Normalised wall depth t: 0 on the endocardium, 1 on the epicardium, negative in the cavity; in [-1, 3].

        The point lies on the ellipse with semi-axes R0 + t W (in plane) and A0 + t Aw (along the axis). f(t) is
        convex and decreasing, so Newton's method from the left converges without overshooting; the in-plane
        root (r - R0) / W lies to the left of the true one and starts it close.
        """
        r0, w = self.radii(phi) if radii is None else radii
        zz = float(z) - self.eq
        a0, aw = self.lc - self.eq, self.p["wall_apex"]
        t = np.maximum((r - r0) / w, np.maximum(-1.0, -0.8 * r0 / w))
        todo = np.flatnonzero(t < 3.0)  # the in-plane root is a lower bound: beyond 3 the answer is clipped anyway
        r, r0, w, tt = r[todo], r0[todo], w[todo], t[todo]
        for _ in range(5):  # within 1e-4 of the root everywhere in the heart (checked against bisection)
            rr, aa = r0 + tt * w, a0 + tt * aw
            f = (r / rr) ** 2 + (zz / aa) ** 2 - 1.0
            df = -2 * r ** 2 * w / rr ** 3 - 2 * zz ** 2 * aw / aa ** 3
            tt = np.where(f > 0, tt - f / df, tt)
        t[todo] = tt
        return np.clip(t, -1.0, 3.0)

    def epicardial_radius(self, phi, z, radii=None):
        r0, w = self.radii(phi) if radii is None else radii
        return (r0 + w) * np.sqrt(np.maximum(1 - ((z - self.eq) / (self.le - self.eq)) ** 2, 0.0))

    def rv_outer(self, phi, z, r_epi):
        """Outer radius of the RV blood pool at angle phi (only where |phi| < rv_angle), else nan."""
        p = self.p
        zf = np.clip(1 - (np.maximum(z, 0) / (p["rv_length"] * self.le)) ** 2, 0, 1)
        prof = np.clip(np.cos(0.5 * np.pi * phi / p["rv_angle"]), 0, 1) ** 0.6
        return np.where(np.abs(phi) < p["rv_angle"], r_epi + p["rv_depth"] * np.sqrt(zf) * prof, np.nan)

    def scar_extent(self, phi, z):
        """Transmural extent E(phi, z) of the scar (0 = none) and its core weight; the scar is where depth <= E."""
        s = self.p["scar"]
        dphi = np.angle(np.exp(1j * (phi - s["angle"])))
        dz = z / self.lc - s["z"]
        core = np.exp(-0.5 * ((dphi / s["angle_width"]) ** 2 + (dz / s["z_width"]) ** 2))
        if s.get("pattern", "wavefront") == "wavefront":  # ischaemic: transmural at the core, thinner at the edges
            extent = s["extent"] * np.clip(core * 1.35, 0, 1) * (1 + 0.25 * self.scar_noise(phi, z))
            return np.where(extent > 0.12, extent, 0.0), core
        depth = 1.0 if s["pattern"] == "transmural" else s["extent"]
        return np.where(core > 0.35, depth, 0.0), core

    def tissue(self, x, y, z: float):
        """Tissue index at heart-frame points (x, y) of the plane z (NONE where the chest shows), the angle from
        the septum, the RV blood pool mask and the wall depth."""
        p = self.p
        cx, cy = self.centre(z)
        dx, dy = x - cx, y - cy
        r, phi = np.hypot(dx, dy), np.arctan2(dy, dx)
        out = np.full(np.shape(x), NONE, np.int8)
        radii = self.radii(phi)
        t = self.depth(r, phi, z, radii)
        if z < 0:  # above the base plane: atrium and outflow blood
            out[t <= 1.0] = T["blood"]
            return out, phi, np.zeros(np.shape(x), bool), t
        r0, w = radii
        fat_depth = p["fat_mm"] / w * (1 + 1.5 * np.exp(-((np.abs(phi) - p["rv_angle"]) / 0.3) ** 2))
        band = np.flatnonzero((t > 1) & (t < 1 + fat_depth))
        out[band[self.fat(phi[band], z) > 0.1]] = T["fat"]
        with np.errstate(invalid="ignore"):
            r_epi = self.epicardial_radius(phi, z, radii)
            rv_out = self.rv_outer(phi, z, r_epi)
            rv_blood = (t > 1) & (r < rv_out)
            rv_wall = (t > 1) & ~rv_blood & (r < rv_out + p["rv_wall"])
            rv_wall &= np.nan_to_num(rv_out) - r_epi > 1.0
        out[rv_wall] = T["rv_wall"]
        out[rv_blood] = T["rv_blood"]
        cavity, myo = t < 0, (t >= 0) & (t <= 1)
        out[cavity] = T["blood"]
        out[myo] = T["myocardium"]
        band = np.flatnonzero(cavity & (t > -p["trabeculae_mm"] / w))
        out[band[self.trabeculae(phi[band], z) > 0.9]] = T["papillary"]
        self._papillary(out, dx, dy, z, cavity)
        if p["lvot"]["depth"] > z:  # the outflow tract opens the anteroseptal wall of the basal slices
            sector = np.abs(np.angle(np.exp(1j * (phi - p["lvot"]["angle"])))) < p["lvot"]["width"] / 2
            out[sector & (t >= -0.3) & (t <= 1.6)] = T["blood"]
            rv_blood &= ~(sector & (t <= 1.6))
        if p["pathological"]:
            wall = np.flatnonzero(out == T["myocardium"])
            extent, core = self.scar_extent(phi[wall], z)
            tw = t[wall]
            scar = tw <= extent
            out[wall[scar]] = T["scar"]
            if p["scar"]["mvo"]:
                out[wall[scar & (tw <= 0.65 * extent) & (core > 0.55) & (extent > 0.6)]] = T["mvo"]
        return out, phi, rv_blood & (out == T["rv_blood"]), t

    def _papillary(self, out, dx, dy, z, cavity):
        """Two papillary muscles in the mid ventricle, rooted in the wall."""
        if not 0.22 * self.lc < z < 0.78 * self.lc:
            return
        for angle, radius in self.p["papillary"]:
            re, _ = self.radii(np.array(angle))
            rz = float(np.sqrt(max(1 - ((z - self.eq) / (self.lc - self.eq)) ** 2, 0))) * float(re)
            rc = rz - 0.6 * radius
            if rc > 2 * radius:
                pm = np.hypot(dx - rc * np.cos(angle), dy - rc * np.sin(angle)) <= radius
                out[pm & cavity] = T["papillary"]


def chest(p: dict, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Body, subcutaneous fat, lungs and descending aorta at heart-frame points (x, y), and the liver mask (it
    shows only in apical planes)."""
    r_epi = p["cavity_radius"] + p["wall"]
    by = r_epi + 28.0 - 115.0
    body = ((x + 10) / 165.0) ** 2 + ((y - by) / 115.0) ** 2
    out = np.full(np.shape(x), T["air"], np.int8)
    out[body <= 1] = T["tissue"]
    out[(body <= 1) & (body > (1 - 12.0 / 115.0) ** 2)] = T["fat"]
    lung_l = ((x + r_epi + 48) / 42.0) ** 2 + ((y + 12) / 75.0) ** 2 <= 1
    lung_r = ((x - r_epi - p["rv_depth"] - 55) / 38.0) ** 2 + ((y + 22) / 75.0) ** 2 <= 1
    out[(lung_l | lung_r) & (body <= 1)] = T["lung"]
    out[np.hypot(x + 12, y + r_epi + 32) <= 11.0] = T["aorta"]
    liver = ((x + 5) / 85.0) ** 2 + ((y + r_epi + 55) / 45.0) ** 2 <= 1
    return out, liver
