"""What ``claim info`` reports about a case: grid, slice order and each structure's volume."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .geometry import Geometry
from .labels import Case
from .longaxis import detect_slice_order


def case_info(case: Case) -> dict:
    g = case.geometry
    order = detect_slice_order(case.myocardium, case.masks.get("cavity"), g)
    info = {
        "case_id": case.case_id,
        "image": str(case.sources.get("image")) if case.sources.get("image") else None,
        "labels": str(case.sources.get("labels")) if case.sources.get("labels") else None,
        "scheme": case.scheme.name,
        **grid_info(g),
        "slice_order": order.to_dict(),
        "volumes_ml": {k: round(v, 4) for k, v in case.volumes_ml().items()},
    }
    if case.image is not None:
        image = case.float_image
        info["intensity"] = {"min": float(image.min()), "max": float(image.max()),
                             "p99": float(np.percentile(image, 99))}
    return info


def grid_info(g: Geometry) -> dict:
    return {"size": list(g.shape[::-1]), "spacing_mm": [round(s, 6) for s in g.spacing],
            "origin_mm": [round(o, 4) for o in g.origin],
            "direction": [round(d, 6) for d in g.direction],
            "oblique": bool(not np.allclose(np.abs(g.direction_matrix), np.eye(3), atol=1e-4))}


def format_info(info: dict) -> str:
    lines = [info["case_id"]]
    for key in ("image", "labels"):
        if info.get(key):
            lines.append(f"  {key:<12}{Path(info[key])}")
    if "scheme" in info:
        lines.append(f"  {'scheme':<12}{info['scheme']}")
    lines.append(f"  {'size':<12}{' x '.join(map(str, info['size']))} voxels")
    lines.append(f"  {'spacing':<12}{' x '.join(f'{s:g}' for s in info['spacing_mm'])} mm")
    lines.append(f"  {'direction':<12}{'oblique' if info['oblique'] else 'axis-aligned'}")
    if "slice_order" in info:
        o = info["slice_order"]
        lines.append(f"  {'slice order':<12}{o['order']} (confidence {o['confidence']:.2f}: {o['evidence']})")
    if "volumes_ml" in info:
        vols = ", ".join(f"{k} {v:.2f}" for k, v in info["volumes_ml"].items())
        lines.append(f"  {'volumes':<12}{vols} mL")
    if "intensity" in info:
        i = info["intensity"]
        lines.append(f"  {'intensity':<12}{i['min']:g} .. {i['max']:g} (99th percentile {i['p99']:g})")
    return "\n".join(lines)
