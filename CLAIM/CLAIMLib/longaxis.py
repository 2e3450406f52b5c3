"""The stack axis of a short-axis volume and its slice order (apex-first or base-first), from the labels.

The order is detected, never assumed: EMIDEC Case_P100 and Case_N006 start at the apex, Case_N016 at the base.
Evidence, in order of strength:

1. an end slice holding myocardium but no cavity is the apical cap;
2. the LV cross-section (cavity + myocardium) narrows toward the apex: the sign of its trend along the stack.
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

    def to_dict(self) -> dict:
        return {"order": self.order, "confidence": round(self.confidence, 3), "axis": self.axis,
                "apex_index": self.apex_index, "base_index": self.base_index,
                "base_to_apex": [round(float(v), 6) for v in self.base_to_apex], "evidence": self.evidence}


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
        apex_first = score > 0
        evidence = f"LV cross-section {'grows' if score > 0 else 'shrinks'} along the stack (score {score:+.2f})"
        confidence = float(min(1.0, abs(score)))
    normal = _axis_direction(geometry, axis)
    base_to_apex = -normal if apex_first else normal
    return SliceOrder("apex-first" if apex_first else "base-first", confidence, axis,
                      lo if apex_first else hi, hi if apex_first else lo, tuple(base_to_apex.tolist()), evidence)


def _axis_direction(geometry: Geometry, axis: int) -> np.ndarray:
    """Physical unit vector of increasing index along array axis ``axis`` (0 = k, 1 = j, 2 = i)."""
    return geometry.direction_matrix[:, 2 - axis].copy()
