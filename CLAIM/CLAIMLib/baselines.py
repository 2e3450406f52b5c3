"""A sphere-based scar mask baseline in the spirit of LeFusion's DiffMask: a ball inside a boundary mask.

The ball's volume is drawn from the data's scar statistics (a list of reference volumes, or EMIDEC's mean and
standard deviation), its centre uniformly among the boundary mask's voxels, and its radius is searched so that the
ball clipped to the boundary holds that volume.
"""
from __future__ import annotations

import numpy as np

from .smile import EMIDEC_SCAR_ML


def sphere_mask(rng: np.random.Generator, boundary: np.ndarray, geometry, volumes_ml=None,
                volume_ml: float | None = None) -> tuple[np.ndarray, dict]:
    boundary = np.asarray(boundary, bool)
    if not boundary.any():
        raise ValueError("the boundary mask is empty")
    vox = geometry.voxel_volume_ml
    if volume_ml is None:
        if volumes_ml is not None and len(volumes_ml):
            volume_ml = float(rng.choice(np.asarray(volumes_ml, float)))
        else:
            volume_ml = float(max(rng.normal(*EMIDEC_SCAR_ML), 1.0))
    volume_ml = min(volume_ml, 0.9 * np.count_nonzero(boundary) * vox)
    idx = np.argwhere(boundary)
    centre_idx = idx[rng.integers(len(idx))]
    pts = geometry.index_to_physical(idx)
    centre = geometry.index_to_physical(centre_idx[None])[0]
    dist = np.linalg.norm(pts - centre, axis=1)
    need = max(1, int(round(volume_ml / vox)))
    radius = float(np.sort(dist)[min(need, len(dist)) - 1])  # the smallest ball holding `need` boundary voxels
    mask = np.zeros_like(boundary)
    inside = dist <= radius
    mask[tuple(idx[inside].T)] = True
    record = {"baseline": "sphere", "centre_lps": centre.round(3).tolist(), "radius_mm": round(radius, 3),
              "target_ml": round(volume_ml, 4), "achieved_ml": round(float(mask.sum() * vox), 4)}
    return mask, record
