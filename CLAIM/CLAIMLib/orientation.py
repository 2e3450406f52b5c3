"""Where the septum is: the angular reference of the AHA segments, from the best source available.

Sources, in order of preference (the result records which one was used and how confident it is):

a. an RV mask: the septum is the middle of the RV's contact with the LV epicardium;
b. one or two RV insertion points in physical (LPS) coordinates: the septum is the middle of the two; a single
   point is taken as the anterior insertion point (the anterior/anteroseptal boundary, 60 degrees from the
   septum) unless marked ``inferior``, and refined by the RV arc in the image when an image is given and agrees;
c. the LGE image: the RV blood pool is bright and lies against the septum. The band just outside the LV
   epicardium is scanned for the brightest 120 degree arc. With an oblique header, the estimate is checked
   against the anatomical prior (``anatomy``: the septum faces the patient's right-anterior): kept within 20
   degrees of it, pulled toward it (and its confidence lowered) up to 45 degrees, rejected beyond, with a warning
   whenever they disagree;
d. an oblique header alone: the anatomical prior, with a warning;
e. a default (patient right-anterior, LPS (-1, -1, 0), projected onto the short-axis plane), with a warning.

Directions are unit vectors in LPS, perpendicular to the long axis. With the long axis pointing from base to
apex, the anterior wall lies at ``septum x base_to_apex``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .geometry import Geometry
from .longaxis import LongAxis

DEFAULT_SEPTUM_LPS = np.array([-1.0, -1.0, 0.0]) / np.sqrt(2.0)
RV_ARC_DEG = 120.0  # the septum spans about 120 degrees between the RV insertion points


@dataclass(frozen=True)
class Orientation:
    source: str  # "rv-mask", "rv-points", "image", "image+header", "header", "default" (or "given", "template")
    septum: np.ndarray  # unit vector (LPS) perpendicular to the long axis
    confidence: float  # 0..1
    detail: str
    warning: str | None = None

    def to_dict(self) -> dict:
        return {"source": self.source, "septum": [round(float(v), 6) for v in self.septum],
                "confidence": round(float(self.confidence), 3), "detail": self.detail, "warning": self.warning}


def perpendicular(v: np.ndarray, n: np.ndarray) -> np.ndarray | None:
    """The unit component of ``v`` perpendicular to the unit vector ``n`` (None when ``v`` is parallel to it)."""
    v = np.asarray(v, float) - np.dot(v, n) * n
    norm = np.linalg.norm(v)
    return v / norm if norm > 1e-9 else None


def in_plane_basis(septum: np.ndarray, base_to_apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(septum, anterior) unit vectors of the short-axis plane."""
    s = perpendicular(septum, base_to_apex)
    return s, np.cross(s, base_to_apex)


def _slice_points(geometry: Geometry, axis: int, k: int, mask2d: np.ndarray) -> np.ndarray:
    idx = np.argwhere(mask2d)
    idx3 = np.insert(idx, axis, k, axis=1)
    return geometry.index_to_physical(idx3)


def _in_plane_distance(mask2d: np.ndarray, geometry: Geometry, axis: int) -> np.ndarray:
    sampling = np.delete(np.asarray(geometry.spacing)[::-1], axis)
    return ndimage.distance_transform_edt(~mask2d, sampling=sampling)


def from_rv_mask(rv: np.ndarray, myocardium: np.ndarray, cavity: np.ndarray, geometry: Geometry,
                 la: LongAxis, contact_mm: float = 4.0) -> Orientation | None:
    """Septum = mean direction (from the LV centre) of RV voxels touching the LV epicardium."""
    n, axis = la.base_to_apex, la.order.axis
    total, count, per_slice = np.zeros(3), 0, []
    for k in la.slices:
        rv2 = np.take(rv, k, axis=axis)
        if not rv2.any():
            continue
        lv2 = ndimage.binary_fill_holes(np.take(myocardium, k, axis=axis) | np.take(cavity, k, axis=axis))
        contact = rv2 & (_in_plane_distance(lv2, geometry, axis) <= contact_mm)
        if contact.sum() < 3:
            continue
        d = _slice_points(geometry, axis, k, contact) - la.centres[k]
        d -= np.outer(d @ n, n)
        d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
        total += d.sum(axis=0)
        count += len(d)
        per_slice.append(perpendicular(d.sum(axis=0), n))
    septum = perpendicular(total, n) if count else None
    if septum is None:
        return None
    spread = np.degrees(np.arccos(np.clip([s @ septum for s in per_slice if s is not None], -1, 1)))
    confidence = float(np.clip(1 - np.median(spread) / 45, 0.5, 1.0))
    return Orientation("rv-mask", septum, confidence,
                       f"RV contact on {len(per_slice)} slices ({count} voxels), median slice deviation "
                       f"{np.median(spread):.1f} deg")


def parse_rv_points(specs: list[str], ras: bool = False) -> list[tuple[str, np.ndarray]]:
    """``[anterior:|inferior:]X,Y,Z`` strings to (kind, LPS point); raises ValueError with the bad text."""
    out = []
    for spec in specs:
        kind, _, coords = spec.rpartition(":")
        kind = kind.strip().lower() or "insertion"
        if kind not in ("insertion", "anterior", "inferior"):
            raise ValueError(f"'{spec}': the prefix must be anterior: or inferior:")
        try:
            p = np.array([float(v) for v in coords.split(",")])
        except ValueError:
            raise ValueError(f"'{spec}': expected X,Y,Z in mm") from None
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"'{spec}': expected X,Y,Z in mm")
        if ras:
            p = p * [-1, -1, 1]
        out.append((kind, p))
    return out


def from_rv_points(points: list[tuple[str, np.ndarray]], la: LongAxis) -> Orientation:
    """Septum from RV insertion points (physical LPS): the bisector of two, or 60 degrees from one."""
    n = la.base_to_apex
    positions = np.array([la.positions_mm[k] for k in la.slices])
    centres = np.array([la.centres[k] for k in la.slices])
    base = centres[0] - positions[0] * n
    dirs = []
    for kind, p in points:
        pos = float((p - base) @ n)
        centre = np.array([np.interp(pos, positions, centres[:, d]) for d in range(3)])
        d = perpendicular(p - centre, n)
        if d is None:
            raise ValueError(f"RV insertion point {p.round(1).tolist()} lies on the LV axis")
        dirs.append((kind, d))
    if len(dirs) == 1:
        kind, d = dirs[0]
        angle = np.deg2rad(-RV_ARC_DEG / 2 if kind == "inferior" else RV_ARC_DEG / 2)
        # the point sits at +60 deg (anterior) or -60 deg (inferior) from the septum: rotate it back
        septum = d * np.cos(angle) + np.cross(n, d) * np.sin(angle)
        which = "inferior" if kind == "inferior" else "anterior"
        return Orientation("rv-points", perpendicular(septum, n), 0.9,
                           f"one RV insertion point, taken as the {which} one (60 deg from the septum)")
    if len(dirs) != 2:
        raise ValueError(f"give one or two RV insertion points, not {len(dirs)}")
    (k1, d1), (k2, d2) = dirs
    between = np.degrees(np.arccos(np.clip(d1 @ d2, -1, 1)))
    if between > 175:
        raise ValueError("the two RV insertion points lie on opposite sides of the LV; the septum is ambiguous")
    septum = perpendicular(d1 + d2, n)
    confidence = float(np.clip(1 - abs(between - RV_ARC_DEG) / 120, 0.5, 1.0))
    return Orientation("rv-points", septum, confidence,
                       f"two RV insertion points {between:.0f} deg apart, septum at their middle")


def from_image(image: np.ndarray, myocardium: np.ndarray, cavity: np.ndarray, geometry: Geometry,
               la: LongAxis, reach_mm: float = 15.0, rays: int = 120, step_mm: float = 0.5) -> Orientation | None:
    """Septum from the LGE image: where blood lies right against the LV epicardium over a 120 degree arc.

    In LGE the RV blood is as bright as the LV blood and touches the septum directly, while the free walls are
    bordered by fat (brighter), lung (dark), or by the diaphragm and the organs below it (a separating line).
    Rays leave the LV centre of each slice; past the epicardium, the run of blood-like samples (within half the
    blood-to-myocardium contrast of the LV blood) is measured, up to ``reach_mm``. The run profile is smoothed over
    the RV arc and summed over slices, basal slices weighing more (the RV is largest at the base; organs below the
    diaphragm appear toward the apex). The peak is refined by the run-weighted circular mean around it.
    Confidence: the contrast between the peak arc and the opposite side, times how well the slices agree.
    """
    n, axis = la.base_to_apex, la.order.axis
    if cavity is None or not cavity.any():
        return None
    blood = float(np.median(image[cavity]))
    myo_ref = float(np.percentile(image[myocardium], 25))
    tol = 0.5 * (blood - myo_ref)
    if tol <= 0:
        return None
    e1 = perpendicular(DEFAULT_SEPTUM_LPS, n)
    if e1 is None:
        e1 = perpendicular(np.array([1.0, 0, 0]), n)
    e2 = np.cross(e1, n)
    theta = (np.arange(rays) + 0.5) / rays * 2 * np.pi - np.pi
    dirs = np.cos(theta)[:, None] * e1 + np.sin(theta)[:, None] * e2  # (rays, 3)
    radii = np.arange(0.0, 80.0, step_mm)
    reach = int(round(reach_mm / step_mm))
    slack = int(round(1.5 / step_mm))  # partial volume at the epicardial edge
    width = int(round(RV_ARC_DEG / 360 * rays))
    kernel = np.zeros(rays)
    kernel[:width] = 1.0 / width
    kernel = np.roll(kernel, -(width // 2))
    total, peaks, used = np.zeros(rays), [], 0
    profiles = []
    for k in la.slices:
        if la.level(k) == 3:
            continue
        lv2 = ndimage.binary_fill_holes(np.take(myocardium, k, axis=axis) | np.take(cavity, k, axis=axis))
        img2 = ndimage.gaussian_filter(np.take(image, k, axis=axis).astype(float), 0.7)
        pts = la.centres[k][None, None, :] + radii[None, :, None] * dirs[:, None, :]  # (rays, samples, 3)
        idx = geometry.physical_to_index(pts.reshape(-1, 3))
        ij = np.delete(idx, axis, axis=1).T
        inside = ndimage.map_coordinates(lv2.astype(np.uint8), ij, order=0, mode="constant").reshape(rays, -1) > 0
        vals = ndimage.map_coordinates(img2, ij, order=1, mode="nearest").reshape(rays, -1)
        ok = np.abs(vals - blood) < tol
        exits = np.argmax(~inside, axis=1)
        run = np.zeros(rays)
        for r in range(rays):
            seg = ok[r, exits[r]:exits[r] + reach]
            head = np.flatnonzero(seg[:slack + 1])
            if head.size:
                rest = seg[head[0]:]
                stop = np.flatnonzero(~rest)
                run[r] = (stop[0] if stop.size else rest.size) / reach
        smooth = np.real(np.fft.ifft(np.fft.fft(run) * np.fft.fft(kernel)))
        weight = 1.0 - 0.7 * min(la.positions_mm[k] / max(la.cavity_apex_mm, 1e-6), 1.0)
        total += weight * smooth
        profiles.append(weight * run)
        peaks.append(theta[np.argmax(smooth)])
        used += 1
    if used == 0 or total.max() <= 0:
        return None
    best = int(np.argmax(total))
    peak = theta[best]
    near = np.abs(np.angle(np.exp(1j * (theta - peak)))) <= np.deg2rad(RV_ARC_DEG / 2)
    w = np.sum(profiles, axis=0) * near
    if w.sum() > 0:
        peak = float(np.arctan2((w * np.sin(theta)).sum(), (w * np.cos(theta)).sum()))
    septum = perpendicular(np.cos(peak) * e1 + np.sin(peak) * e2, n)
    opposite = total[(best + rays // 2) % rays]
    contrast = float((total[best] - opposite) / max(total[best], 1e-9))
    agree = float(np.mean([np.cos(p - peak) for p in peaks]))
    confidence = float(np.clip(contrast * max(agree, 0.0), 0.0, 1.0))
    return Orientation("image", septum, confidence,
                       f"blood against the epicardium on {used} slices: arc contrast {contrast:.2f}, "
                       f"slice agreement {agree:.2f}")


def default(la: LongAxis) -> Orientation:
    n = la.base_to_apex
    septum = perpendicular(DEFAULT_SEPTUM_LPS, n)
    if septum is None:
        septum = perpendicular(np.array([1.0, 0.0, 0.0]), n)
    return Orientation("default", septum, 0.0, "patient right-anterior (LPS -1,-1,0) projected on the short axis",
                       warning="no RV mask, RV insertion point or usable LGE image: the septum direction is a "
                               "default guess and the AHA sectors may be rotated")


def find_orientation(la: LongAxis, myocardium, cavity, geometry: Geometry, rv=None, rv_points=None,
                     image=None, min_image_confidence: float = 0.2) -> Orientation:
    """The best available source: RV mask, then RV insertion points, then the image, then the default."""
    if rv is not None and np.any(rv):
        o = from_rv_mask(rv, myocardium, cavity, geometry, la)
        if o is not None:
            return o
    if rv_points:
        o = from_rv_points(rv_points, la)
        if len(rv_points) == 1 and image is not None:
            # One point fixes the septum only if the RV inserts exactly 60 degrees from it; the image shows the
            # whole RV arc, so take its middle when it agrees with the point (within 30 degrees).
            o_img = from_image(image, myocardium, cavity, geometry, la)
            if o_img is not None and o_img.confidence >= min_image_confidence:
                off = np.degrees(np.arccos(np.clip(o_img.septum @ o.septum, -1, 1)))
                if off <= 30:
                    return Orientation("rv-points", o_img.septum, max(o.confidence, o_img.confidence),
                                       f"{o.detail}; refined by the RV arc in the image ({off:.0f} deg from the "
                                       "60 deg rule)")
        return o
    from .anatomy import septum_from_header

    prior = septum_from_header(geometry, la.base_to_apex)
    if image is not None:
        o = from_image(image, myocardium, cavity, geometry, la)
        if o is not None and prior is not None:
            return with_prior(o, prior, min_image_confidence)
        if o is not None and o.confidence >= min_image_confidence:
            return o
        if o is not None:
            return Orientation(o.source, o.septum, o.confidence, o.detail,
                               warning="the RV was hard to find in the image: check the AHA sectors")
    if prior is not None:
        return Orientation("header", prior, PRIOR_CONFIDENCE, "the header's patient orientation: the septum faces "
                           "the patient's right-anterior", warning="the septum comes from the header's patient "
                           "orientation alone (hearts vary by a few tens of degrees around it): check the AHA "
                           "sectors, or give an RV mask or insertion points")
    return default(la)


PRIOR_AGREE_DEG = 20.0  # an image estimate this close to the anatomical prior is kept as it is
PRIOR_REJECT_DEG = 45.0  # ... this far is rejected for the prior; in between it is pulled toward the prior
PRIOR_CONFIDENCE = 0.3


def with_prior(o: Orientation, prior: np.ndarray, min_confidence: float = 0.2) -> Orientation:
    """An image estimate checked against the header's anatomical prior (both unit vectors in the same plane)."""
    off = float(np.degrees(np.arccos(np.clip(o.septum @ prior, -1.0, 1.0))))
    detail = f"{o.detail}; {off:.0f} deg from the header's anatomical prior"
    if off <= PRIOR_AGREE_DEG:
        confidence = 1.0 - (1.0 - o.confidence) * (1.0 - PRIOR_CONFIDENCE)
        warning = None if o.confidence >= min_confidence else             "the RV was hard to find in the image (the header's anatomy agrees): check the AHA sectors"
        return Orientation("image", o.septum, confidence, detail + " (agrees)", warning)
    if off >= PRIOR_REJECT_DEG:
        return Orientation("header", prior, PRIOR_CONFIDENCE, detail + ": the image estimate was rejected",
                           warning=f"the image put the septum {off:.0f} deg from where the header's patient "
                                   "orientation puts it; the header's was used: check the AHA sectors")
    w = (PRIOR_REJECT_DEG - off) / (PRIOR_REJECT_DEG - PRIOR_AGREE_DEG)  # 1 at agreement, 0 at rejection
    blend = w * o.septum + (1.0 - w) * prior
    septum = blend / np.linalg.norm(blend)
    return Orientation("image+header", septum, min(o.confidence, PRIOR_CONFIDENCE + 0.2) * w, detail +
                       f": pulled toward the prior (weight {1 - w:.2f})",
                       warning=f"the image and the header's patient orientation disagree on the septum by {off:.0f} "
                               "deg; the estimate lies between them: check the AHA sectors")
