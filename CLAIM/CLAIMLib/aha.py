"""The AHA 17-segment model (Cerqueira et al., Circulation 2002): names, levels, sectors and territories.

Angles are measured in the short-axis plane from the septum (the middle of the two RV insertion points),
positive toward the anterior wall. With the long axis pointing from base to apex, ``anterior = septum x long_axis``.

- basal (1-6) and mid (7-12) rings: six 60 degree sectors; the anterior RV insertion point lies at +60 degrees
  (between 1 anterior and 2 anteroseptal), the inferior one at -60 degrees (between 3 inferoseptal and 4 inferior);
- apical ring (13-16): four 90 degree sectors centred on the septum (14), anterior (13), lateral (16), inferior (15);
- 17: the apical cap, beyond the apical end of the cavity.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .longaxis import LongAxis
    from .orientation import Orientation

SEGMENT_NAMES = {
    1: "basal anterior", 2: "basal anteroseptal", 3: "basal inferoseptal", 4: "basal inferior",
    5: "basal inferolateral", 6: "basal anterolateral",
    7: "mid anterior", 8: "mid anteroseptal", 9: "mid inferoseptal", 10: "mid inferior",
    11: "mid inferolateral", 12: "mid anterolateral",
    13: "apical anterior", 14: "apical septal", 15: "apical inferior", 16: "apical lateral", 17: "apex",
}
LEVELS = ("basal", "mid", "apical", "apex")

# Standard coronary territories (Cerqueira 2002, Fig. 3).
TERRITORIES = {
    "LAD": (1, 2, 7, 8, 13, 14, 17),
    "RCA": (3, 4, 9, 10, 15),
    "LCX": (5, 6, 11, 12, 16),
}

# Six-sector rings: segment offset (1..6) for each 60 degree sector starting at [0, 60) and going anterior.
_SIX = (2, 1, 6, 5, 4, 3)  # [0,60) anteroseptal, [60,120) anterior, [120,180) anterolateral, ... [-60,0) inferoseptal
# Apical four-sector ring, sectors of 90 degrees starting at [-45, 45).
_FOUR = (14, 13, 16, 15)  # septal, anterior, lateral, inferior


def segment_from_level_angle(level: np.ndarray, angle_deg: np.ndarray) -> np.ndarray:
    """AHA segment (1..17) from level index (0 basal, 1 mid, 2 apical, 3 apex) and angle from the septum."""
    level = np.asarray(level)
    angle = np.mod(np.asarray(angle_deg, dtype=float), 360.0)
    six = np.asarray(_SIX)[(angle // 60).astype(int) % 6]
    four = np.asarray(_FOUR)[(np.mod(angle + 45.0, 360.0) // 90).astype(int) % 4]
    return np.where(level == 0, six, np.where(level == 1, six + 6, np.where(level == 2, four, 17))).astype(np.uint8)


def territory_of(segment: int) -> str:
    for name, segs in TERRITORIES.items():
        if segment in segs:
            return name
    raise ValueError(f"not an AHA segment: {segment}")


# ------------------------------------------------------------------------------------------ labelling a subject
@dataclass
class AHAResult:
    labels: np.ndarray  # uint8 [k, j, i]: 0 background, 1..17 on the myocardium
    orientation: "Orientation"
    axis: "LongAxis"
    method: str = "direct"
    registration: object = None  # template.TemplateRegistration for the template method

    def to_dict(self) -> dict:
        counts = {int(s): int(np.count_nonzero(self.labels == s)) for s in range(1, 18)}
        out = {"method": self.method, "orientation": self.orientation.to_dict(), **self.axis.to_dict(),
               "voxels_per_segment": counts}
        if self.registration is not None:
            out["registration"] = self.registration.info
        return out


def angles_deg(points: np.ndarray, centre: np.ndarray, septum: np.ndarray, base_to_apex: np.ndarray) -> np.ndarray:
    """Angle of physical points around the LV centre, from the septum toward the anterior wall (degrees)."""
    from .orientation import in_plane_basis

    s, a = in_plane_basis(septum, base_to_apex)
    d = points - centre
    return np.degrees(np.arctan2(d @ a, d @ s))


def label_direct(myocardium: np.ndarray, geometry, la, septum: np.ndarray) -> np.ndarray:
    """AHA segments of every myocardium voxel: level from its slice, sector from its angle about the LV centre."""
    out = np.zeros(myocardium.shape, np.uint8)
    axis = la.order.axis
    for k in la.slices:
        m2 = np.take(myocardium, k, axis=axis)
        idx = np.argwhere(m2)
        pts = geometry.index_to_physical(np.insert(idx, axis, k, axis=1))
        seg = segment_from_level_angle(np.full(len(idx), la.level(k)),
                                       angles_deg(pts, la.centres[k], septum, la.base_to_apex))
        target = [slice(None)] * 3
        target[axis] = k
        view = out[tuple(target)]
        view[idx[:, 0], idx[:, 1]] = seg
    return out


def aha_segments(myocardium: np.ndarray, cavity: np.ndarray | None, geometry, rv=None, rv_points=None,
                 image=None, method: str = "direct", septum=None, demons: dict | None = None) -> AHAResult:
    """Label the subject's myocardium with the 17 AHA segments, in its own space.

    ``rv``: an RV mask; ``rv_points``: [(kind, LPS point)] from ``orientation.parse_rv_points``; ``image``: the
    LGE image; ``septum``: a known septum direction (LPS), e.g. from an earlier run's record; ``demons``: the
    template path's demons settings (``template.DEMONS``, or ``template.PAPER_DEMONS`` as the paper ran them). ``method``: "direct" (geometry in subject space) or "template" (paper-faithful registration to a
    parametric template, see ``template.py``).
    """
    from .longaxis import fit_long_axis
    from .orientation import find_orientation

    myocardium = np.asarray(myocardium, bool)
    cavity = np.zeros_like(myocardium) if cavity is None else np.asarray(cavity, bool)
    la = fit_long_axis(myocardium, cavity, geometry)
    if septum is not None:
        from .orientation import Orientation, _perp

        orientation = Orientation("given", _perp(np.asarray(septum, float), la.base_to_apex), 1.0,
                                  "septum direction given by the caller")
    else:
        orientation = find_orientation(la, myocardium, cavity, geometry, rv=rv, rv_points=rv_points, image=image)
    if method == "direct":
        return AHAResult(label_direct(myocardium, geometry, la, orientation.septum), orientation, la, "direct")
    if method == "template":
        from .template import label_by_template

        from .template import DEMONS

        labels, registration = label_by_template(myocardium, cavity, geometry, la, orientation.septum,
                                                 demons or DEMONS)
        return AHAResult(labels, orientation, la, "template", registration)
    raise ValueError(f"unknown AHA method '{method}' (direct or template)")
