"""The phantom's ground truth record, and writing a case in the EMIDEC layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_dir, write_json, write_volume


def truth_record(case_id: str, p: dict, heart, stack, labels, aha, rim, header: str) -> dict:
    g = stack.geometry
    vox = g.voxel_volume_ml
    scar = labels >= 3
    to_lps = stack.to_lps
    long_axis = to_lps @ np.array([p["tilt"][0], p["tilt"][1], 1.0])
    long_axis /= np.linalg.norm(long_axis)
    zm = heart.lc / 2
    cx, cy = heart.centre(zm)
    insertion = []
    for angle in (p["rv_angle"], -p["rv_angle"]):
        rr = float(heart.epicardial_radius(np.array(angle), zm))
        local = np.array([cx + rr * np.cos(angle), cy + rr * np.sin(angle), zm])
        insertion.append((stack.base_point + to_lps @ local).round(3).tolist())
    per_segment = {int(sg): round(float(np.count_nonzero(scar & (aha == sg)) * vox), 4)
                   for sg in range(1, 18) if np.any(scar & (aha == sg))}
    seg_size = {sg: np.count_nonzero(aha == sg) for sg in range(1, 18)}
    # a segment counts as scarred when scar fills at least 5% of it
    scar_segments = sorted(sg for sg, v in per_segment.items() if v / vox >= max(3, 0.05 * seg_size[sg]))
    s = p["scar"]
    contrast = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in p["contrast"].items()}

    def ml(mask) -> float:
        return round(float(np.count_nonzero(mask) * vox), 4)

    return {
        "case_id": case_id,
        "pathological": bool(p["pathological"]),
        "generator": "CLAIM LGE phantom",
        "difficulty": contrast["difficulty"],
        "header": header,
        "contrast": contrast,
        "slice_order": "apex-first" if p["apex_first"] else "base-first",
        "spacing_mm": list(g.spacing),
        "slice_thickness_mm": round(p["thickness"], 3),
        "n_slices": int(p["n_slices"]),
        "slice_positions_mm": [round(float(z), 3) for z in stack.z],
        "in_plane_rotation_deg": round(float(np.rad2deg(p["rotation"])), 3),
        "septum_direction": to_lps[:, 0].round(6).tolist(),
        "anterior_direction": to_lps[:, 1].round(6).tolist(),
        "stack_base_to_apex": to_lps[:, 2].round(6).tolist(),
        "long_axis_base_to_apex": long_axis.round(6).tolist(),
        "lv_axis_base_point": np.asarray(stack.base_point).round(3).tolist(),
        "base_slice_mm": round(p["z0"], 3),
        "cavity_apex_mm": round(heart.lc, 3),
        "epicardial_apex_mm": round(heart.le, 3),
        "level_boundaries_mm": [round(p["z0"] + (heart.lc - p["z0"]) * f, 3) for f in (1 / 3, 2 / 3, 1)],
        "wall_thickness_mm": round(p["wall"], 3),
        "apical_wall_thickness_mm": round(p["wall_apex"], 3),
        "cavity_radius_mm": round(p["cavity_radius"], 3),
        "lvot_depth_mm": round(p["lvot"]["depth"], 3),
        "rv_insertion_angle_deg": round(float(np.rad2deg(p["rv_angle"])), 3),
        "rv_insertion_points": {"anterior": insertion[0], "inferior": insertion[1]},
        "volumes_ml": {"cavity": ml(labels == 1), "myocardium": ml(labels >= 2), "scar": ml(scar),
                       "mvo": ml(labels == 4), "gray_zone": ml(rim)},
        "scar": {"territory": s["territory"] if s else None,
                 "segments": scar_segments,
                 "volume_ml": ml(scar),
                 "volume_ml_per_segment": {str(k): v for k, v in per_segment.items()},
                 "max_transmural_extent": round(s["extent"], 3) if s else 0.0,
                 "mvo_ml": ml(labels == 4),
                 "gray_zone_ml": ml(rim),
                 "gray_zone_width_mm": round(s["gray_zone_mm"], 3) if s else 0.0},
    }


def write_case(case, out_dir) -> Path:
    """Write a case in the EMIDEC layout, plus its ground truth, as one atomic folder ``out_dir/case_id``.

    - ``Images/<id>.nii.gz``: the LGE image (float64, like EMIDEC);
    - ``Contours/<id>.nii.gz``: labels 0 background, 1 cavity, 2 myocardium, 3 infarct, 4 MVO (float64);
    - ``GroundTruth/<id>_aha.nii.gz``: AHA segments 1..17 on the myocardium;
    - ``GroundTruth/<id>_rv.nii.gz``: the RV blood pool;
    - ``GroundTruth/<id>_grayzone.nii.gz``: the peri-infarct gray zone (inside the infarct label);
    - ``<id>.json``: septum direction, slice order, spacing, levels, RV insertion points, scar, contrast.
    """
    final = Path(out_dir) / case.case_id
    with atomic_dir(final) as tmp:
        cid = case.case_id
        write_volume(tmp / "Images" / f"{cid}.nii.gz", case.image, case.geometry, np.float64)
        write_volume(tmp / "Contours" / f"{cid}.nii.gz", case.labels, case.geometry, np.float64)
        write_volume(tmp / "GroundTruth" / f"{cid}_aha.nii.gz", case.aha, case.geometry, np.uint8)
        write_volume(tmp / "GroundTruth" / f"{cid}_rv.nii.gz", case.rv, case.geometry, np.uint8)
        write_volume(tmp / "GroundTruth" / f"{cid}_grayzone.nii.gz", case.gray_zone, case.geometry, np.uint8)
        write_json(tmp / f"{cid}.json", case.truth)
    return final
