"""The AHA 17-segment model (Cerqueira et al., Circulation 2002): names, levels, sectors and territories.

Angles are measured in the short-axis plane from the septum (the middle of the two RV insertion points),
positive toward the anterior wall. With the long axis pointing from base to apex, ``anterior = septum x long_axis``.

- basal (1-6) and mid (7-12) rings: six 60 degree sectors; the anterior RV insertion point lies at +60 degrees
  (between 1 anterior and 2 anteroseptal), the inferior one at -60 degrees (between 3 inferoseptal and 4 inferior);
- apical ring (13-16): four 90 degree sectors centred on the septum (14), anterior (13), lateral (16), inferior (15);
- 17: the apical cap, beyond the apical end of the cavity.
"""
from __future__ import annotations

import numpy as np

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
