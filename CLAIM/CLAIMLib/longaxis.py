"""The stack axis of a short-axis volume and its slice order (apex-first or base-first), from the labels.

The order is detected, never assumed: EMIDEC Case_P100 and Case_N006 start at the apex, Case_N016 at the base.
Evidence from the labels, in order of strength:

1. an end slice holding myocardium but no cavity is the apical cap;
2. the LV cross-section (cavity + myocardium) narrows toward the apex: the sign of its trend along the stack.

An oblique header adds the patient's anatomy (``anatomy``: the apex points left-anterior-inferior). A stack is
never declared in the order the header contradicts unless the labels are confident too (then with a warning);
the record says which evidence decided, and a low confidence always carries a warning.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Geometry


@dataclass(frozen=True)
class SliceOrder:
    order: str  # "apex-first" or "base-first"
    confidence: float  # 0..1
    axis: int  # array axis of the stack (0 = k for short-axis stacks)
    apex_index: int  # slice index (along ``axis``) of the most apical slice holding myocardium
    base_index: int  # slice index of the most basal slice holding myocardium
    base_to_apex: tuple  # physical (LPS) unit vector along the stack, pointing from base to apex
    evidence: str
    decided_by: str = "labels"  # "labels", "header", or "labels and header"
    warning: str | None = None

    def to_dict(self) -> dict:
        return {"order": self.order, "confidence": round(self.confidence, 3), "axis": self.axis,
                "apex_index": self.apex_index, "base_index": self.base_index,
                "base_to_apex": [round(float(v), 6) for v in self.base_to_apex], "evidence": self.evidence,
                "decided_by": self.decided_by, "warning": self.warning}


def stack_axis(geometry: Geometry) -> int:
    """Array axis along which the short-axis slices are stacked: the one with the coarsest spacing."""
    spacing_kji = np.asarray(geometry.spacing)[::-1]
    coarsest = int(np.argmax(spacing_kji))
    return 0 if np.isclose(spacing_kji[coarsest], spacing_kji[0], rtol=1e-3) else coarsest


def detect_slice_order(myocardium: np.ndarray, cavity: np.ndarray, geometry: Geometry) -> SliceOrder:
    axis = stack_axis(geometry)
    other = tuple(a for a in range(3) if a != axis)
    spacing_kji = np.asarray(geometry.spacing)[::-1]
    pixel_mm2 = float(np.prod(spacing_kji[list(other)]))
    myo_area = np.count_nonzero(myocardium, axis=other) * pixel_mm2
    cav_area = np.count_nonzero(cavity, axis=other) * pixel_mm2 if cavity is not None else np.zeros_like(myo_area)
    present = np.flatnonzero(myo_area > 0)
    if present.size == 0:
        raise ValueError("the myocardium is empty")
    lo, hi = int(present[0]), int(present[-1])
    area = (myo_area + cav_area)[lo:hi + 1]
    ks = np.arange(lo, hi + 1, dtype=float)

    cap_lo = cav_area[lo] == 0 and cav_area[lo:hi + 1].max() > 0
    cap_hi = cav_area[hi] == 0 and cav_area[lo:hi + 1].max() > 0
    if hi > lo:
        corr = float(np.corrcoef(ks, area)[0, 1]) if np.std(area) > 0 else 0.0
        # Compare the two ends too: robust to a bulging mid-ventricle.
        third = max(1, (hi - lo + 1) // 3)
        end_diff = float(area[-third:].mean() - area[:third].mean()) / max(float(area.max()), 1e-9)
    else:
        corr, end_diff = 0.0, 0.0
    score = 0.5 * corr + 0.5 * np.clip(2 * end_diff, -1, 1)
    if cap_lo != cap_hi:
        apex_first = cap_lo
        evidence = "apical cap (myocardium without cavity) at the " + ("first" if cap_lo else "last") + " slice"
        confidence = 0.9 + 0.1 * (1.0 if (score > 0) == apex_first else 0.0)
    else:
        apex_first = bool(score > 0)
        evidence = f"LV cross-section {'grows' if score > 0 else 'shrinks'} along the stack (score {score:+.2f})"
        # a trend over two or three slices says little (a papillary muscle, a tilted plane): it needs five
        confidence = float(min(1.0, abs(score)) * min(1.0, (hi - lo) / 4.0))
    normal = _axis_direction(geometry, axis)
    apex_first, confidence, evidence, decided_by, warning = _with_header(geometry, normal, apex_first, confidence,
                                                                         evidence)
    base_to_apex = -normal if apex_first else normal
    return SliceOrder("apex-first" if apex_first else "base-first", confidence, axis,
                      lo if apex_first else hi, hi if apex_first else lo, tuple(base_to_apex.tolist()), evidence,
                      decided_by, warning)


LABELS_SURE = 0.85  # label evidence this confident may overrule a confident header (with a warning)
HEADER_SURE = 0.5
LOW_CONFIDENCE = 0.5


def _with_header(geometry, normal, apex_first: bool, confidence: float, evidence: str):
    """Combine the labels' order with the header's anatomy: (apex_first, confidence, evidence, decided_by,
    warning)."""
    from .anatomy import order_from_header

    name = {True: "apex-first", False: "base-first"}
    h = order_from_header(geometry, normal)
    warning = None
    if h is None or h.confidence <= 0:
        decided_by = "labels"
    elif h.apex_first == apex_first:
        confidence = 1.0 - (1.0 - confidence) * (1.0 - h.confidence)
        evidence, decided_by = f"{evidence}; agrees with the {h.describe()}", "labels and header"
    elif (h.confidence >= HEADER_SURE and confidence < LABELS_SURE) or (h.confidence < HEADER_SURE
                                                                       and h.confidence > confidence):
        warning = (f"the labels suggest {name[apex_first]} ({evidence}, confidence {confidence:.2f}) but the "
                   f"header's patient orientation says {name[h.apex_first]}: the header decided; check which "
                   "end of the stack is the base")
        evidence = f"{h.describe()}; overrules the labels' {evidence}"
        apex_first, confidence, decided_by = h.apex_first, h.confidence * (1.0 - 0.5 * confidence), "header"
    else:
        warning = (f"the labels say {name[apex_first]} ({evidence}) but the header's patient orientation says "
                   f"{name[h.apex_first]}: check which end of the stack is the base")
        confidence, decided_by = confidence * (1.0 - 0.5 * h.confidence), "labels"
        evidence = f"{evidence}; against the {h.describe()}"
    if warning is None and confidence < LOW_CONFIDENCE:
        warning = (f"the slice order ({name[apex_first]}) is uncertain (confidence {confidence:.2f}, from the "
                   f"{decided_by}): check which end of the stack is the base")
    return apex_first, float(confidence), evidence, decided_by, warning


def _axis_direction(geometry: Geometry, axis: int) -> np.ndarray:
    """Physical unit vector of increasing index along array axis ``axis`` (0 = k, 1 = j, 2 = i)."""
    return geometry.direction_matrix[:, 2 - axis].copy()


@dataclass(frozen=True)
class LongAxis:
    """The LV long axis of a short-axis stack, its extent and each slice's level.

    Positions are in mm along ``base_to_apex`` from the basal-most slice holding myocardium (0). The LV runs from
    there to the apical end of the cavity (``cavity_apex_mm``, estimated between slices); slices beyond it hold the
    apical cap (segment 17).
    """

    order: SliceOrder
    base_to_apex: np.ndarray  # unit vector (LPS), normal to the slices
    slices: tuple  # slice indices holding myocardium, from base to apex
    positions_mm: dict  # slice index -> mm from the basal slice
    centres: dict  # slice index -> LV centre (LPS), on a straight line fitted through the cavity centroids
    cavity_apex_mm: float

    def level(self, k: int) -> int:
        """0 basal, 1 mid, 2 apical, 3 apex (segment 17) for slice k."""
        pos = self.positions_mm[k]
        if pos > self.cavity_apex_mm:
            return 3
        f = pos / self.cavity_apex_mm if self.cavity_apex_mm > 0 else 0.0
        return 0 if f < 1 / 3 else 1 if f < 2 / 3 else 2

    def to_dict(self) -> dict:
        return {"slice_order": self.order.to_dict(), "base_to_apex": [round(float(v), 6) for v in self.base_to_apex],
                "cavity_apex_mm": round(self.cavity_apex_mm, 2),
                "levels": {int(k): ("basal", "mid", "apical", "apex")[self.level(k)] for k in self.slices}}


def _in_plane_area(mask: np.ndarray, axis: int) -> np.ndarray:
    other = tuple(a for a in range(3) if a != axis)
    return np.count_nonzero(mask, axis=other)


def fit_long_axis(myocardium: np.ndarray, cavity: np.ndarray | None, geometry: Geometry) -> LongAxis:
    """Slice order, base-to-apex direction, LV centre line and cavity extent from the labels."""
    order = detect_slice_order(myocardium, cavity, geometry)
    axis = order.axis
    if cavity is None:
        cavity = np.zeros_like(myocardium)
    n = np.asarray(order.base_to_apex)
    step = 1 if order.apex_index >= order.base_index else -1
    slices = tuple(k for k in range(order.base_index, order.apex_index + step, step)
                   if np.take(myocardium, k, axis=axis).any())
    spacing = np.asarray(geometry.spacing)[::-1][axis]
    pixel_mm2 = float(np.prod(np.delete(np.asarray(geometry.spacing)[::-1], axis)))
    positions = {k: abs(k - order.base_index) * float(spacing) for k in slices}

    # LV centre per slice: cavity centroid (myocardium where the cavity is tiny), then a straight line through them
    cav_area = _in_plane_area(cavity, axis)
    pts, pos, w = [], [], []
    for k in slices:
        m = np.take(cavity, k, axis=axis)
        weight = float(cav_area[k])
        if cav_area[k] < 4:
            m, weight = np.take(myocardium, k, axis=axis), 1.0
        idx2 = np.argwhere(m).mean(axis=0)
        idx3 = np.insert(idx2, axis, k)
        pts.append(geometry.index_to_physical(idx3[None])[0])
        pos.append(positions[k])
        w.append(weight)
    pts, pos, w = np.asarray(pts), np.asarray(pos), np.asarray(w)
    if len(slices) >= 3:
        coef = [np.polyfit(pos, pts[:, d], 1, w=np.sqrt(w)) for d in range(3)]
        centres = {k: np.array([np.polyval(c, positions[k]) for c in coef]) for k in slices}
    else:
        centres = {k: p for k, p in zip(slices, pts)}

    cavity_apex = _cavity_apex(slices, positions, cav_area * pixel_mm2, float(spacing))
    return LongAxis(order, n, slices, positions, centres, cavity_apex)


def _cavity_apex(slices, positions, cav_area_mm2, gap) -> float:
    """Where the cavity ends, between the last slice with cavity and the next one (or one gap beyond).

    Near the apex the LV cavity is close to an ellipsoid, whose cross-section area is quadratic in position:
    fit it to the cavity slices and take its root; fall back to a straight line through the last two.
    """
    with_cavity = [k for k in slices if cav_area_mm2[k] > 0]
    if not with_cavity:
        return 0.0
    last = with_cavity[-1]
    lo = positions[last]
    beyond = [positions[k] for k in slices if positions[k] > lo]
    hi = min(beyond) if beyond else lo + gap
    s = np.array([positions[k] for k in with_cavity])
    a = np.array([cav_area_mm2[k] for k in with_cavity], float)
    root = None
    if len(s) >= 4:
        sel = slice(len(s) // 3, None)  # the apical two thirds: the base often flares or is cut by the valve plane
        c = np.polyfit(s[sel], a[sel], 2)
        roots = np.roots(c)
        roots = roots[np.isreal(roots)].real
        roots = roots[roots >= lo - 1e-6]
        if roots.size and c[0] <= 0:
            root = float(roots.min())
    if root is None and len(s) >= 2 and a[-2] > a[-1]:
        slope = (a[-1] - a[-2]) / (s[-1] - s[-2])
        root = float(s[-1] - a[-1] / slope)
    if root is None:
        root = lo + 0.5 * (hi - lo)
    return float(np.clip(root, lo, hi))
