"""AHA-17 labels of a subject's myocardium, in its own space: long axis, levels, orientation, segments.

The segment model itself (names, levels, sectors, territories) lives in ``aha17`` and is re-exported here. The
direct method labels each voxel from its slice level and its angle about the LV centre; the template method
(``template``) registers a parametric template, as the paper does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .aha17 import LEVELS, SEGMENT_NAMES, TERRITORIES, segment_from_level_angle, territory_of  # noqa: F401

if TYPE_CHECKING:
    from .longaxis import LongAxis
    from .orientation import Orientation

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
        from .orientation import Orientation, perpendicular

        orientation = Orientation("given", perpendicular(np.asarray(septum, float), la.base_to_apex), 1.0,
                                  "septum direction given by the caller")
    else:
        orientation = find_orientation(la, myocardium, cavity, geometry, rv=rv, rv_points=rv_points, image=image)
    if la.order.warning:  # one warning for every edge to show: the slice order's, then the septum's
        from dataclasses import replace

        orientation = replace(orientation, warning="; ".join(w for w in (la.order.warning, orientation.warning) if w))
    if method == "direct":
        return AHAResult(label_direct(myocardium, geometry, la, orientation.septum), orientation, la, "direct")
    if method == "template":
        from .template import DEMONS, label_by_template

        labels, registration = label_by_template(myocardium, cavity, geometry, la, orientation.septum,
                                                 demons or DEMONS)
        return AHAResult(labels, orientation, la, "template", registration)
    raise ValueError(f"unknown AHA method '{method}' (direct or template)")
