"""What a scanner's header says about the heart: the anatomical prior of a supine patient.

A clinical short-axis stack is planned on the heart, so its header carries an oblique patient orientation. In a
supine patient the LV apex points to the patient's left, anterior and inferior, and the RV lies anterior and to
the right of the LV, so the septum faces the patient's right-anterior. In LPS: apex about (1, -1, -1)/sqrt(3),
septum about (-1, -1, 0)/sqrt(2); individual hearts vary by a few tens of degrees around these.

A header whose axes all lie along the patient axes (EMIDEC's, a research export, an ``axial`` phantom) says
nothing about where the heart is, so the prior is used only when the header is oblique.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

APEX_LPS = np.array([1.0, -1.0, -1.0]) / np.sqrt(3.0)
SEPTUM_LPS = np.array([-1.0, -1.0, 0.0]) / np.sqrt(2.0)
AXIS_ALIGNED_DEG = 5.0  # a header whose every axis lies within this of a patient axis carries no anatomy
ORDER_SURE_DEG = 35.0  # the stack normal this close to the nominal apex: the header decides the order surely
ORDER_NONE_DEG = 70.0  # ... this far (nearly in the short-axis plane): it says nothing about the order
HEADER_ORDER_CONFIDENCE = 0.95


def header_is_oblique(geometry) -> bool:
    """Does the direction matrix tilt away from the patient axes (as a planned cardiac stack does)?"""
    d = np.asarray(geometry.direction_matrix, float)
    cosines = np.max(np.abs(d), axis=0) / np.maximum(np.linalg.norm(d, axis=0), 1e-12)
    return bool(np.any(np.degrees(np.arccos(np.clip(cosines, -1, 1))) > AXIS_ALIGNED_DEG))


@dataclass(frozen=True)
class HeaderOrder:
    apex_first: bool  # the header puts index 0 of the stack nearest the apex
    confidence: float
    angle_deg: float  # between the stack normal (either sense) and the nominal apex direction

    def describe(self) -> str:
        return (f"header's patient orientation: apex left-anterior-inferior, {self.angle_deg:.0f} deg from the "
                f"stack normal ({'apex' if self.apex_first else 'base'} first)")


def order_from_header(geometry, stack_normal) -> HeaderOrder | None:
    """The slice order the anatomical prior implies (``stack_normal``: LPS direction of increasing slice index),
    or None when the header is axis-aligned. Confidence falls from 0.95 (normal within 35 deg of the nominal
    apex) to 0 (70 deg: the stack is not a short-axis one, or the heart lies unusually)."""
    if not header_is_oblique(geometry):
        return None
    n = np.asarray(stack_normal, float)
    c = float(n @ APEX_LPS / max(np.linalg.norm(n), 1e-12))
    angle = float(np.degrees(np.arccos(min(abs(c), 1.0))))
    confidence = HEADER_ORDER_CONFIDENCE * float(np.clip((ORDER_NONE_DEG - angle) / (ORDER_NONE_DEG - ORDER_SURE_DEG),
                                                         0.0, 1.0))
    return HeaderOrder(apex_first=c < 0, confidence=confidence, angle_deg=angle)


def septum_from_header(geometry, base_to_apex) -> np.ndarray | None:
    """The prior septum direction projected on the short-axis plane, or None for an axis-aligned header."""
    if not header_is_oblique(geometry):
        return None
    n = np.asarray(base_to_apex, float)
    v = SEPTUM_LPS - (SEPTUM_LPS @ n) * n
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 1e-6 else None
