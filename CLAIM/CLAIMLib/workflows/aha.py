"""A case's AHA-17 labels, with every orientation source: an RV mask in the labels, RV insertion points, the LGE
image, a known septum, or the default (with a warning), in that order."""
from __future__ import annotations

from ..errors import InputError


def orientation_inputs(case, rv_points=()) -> dict:
    """The orientation evidence a case carries: its RV mask (when not empty), RV insertion points and its image."""
    rv = case.masks.get("rv")
    return {"rv": rv if rv is not None and rv.any() else None, "rv_points": list(rv_points or []),
            "image": case.float_image}


def case_aha(case, method: str = "direct", rv_points=(), septum=None, points_source="--rv-point",
             labels_source=None):
    """``aha.AHAResult`` of a case (labels 1-17 on its myocardium, the orientation record, the long axis).

    ``rv_points``: [(kind, LPS point)] from ``orientation.parse_rv_points`` (at most two); ``septum``: a known septum
    direction (LPS), e.g. from a SMILE sidecar. Insertion points that do not fit the heart raise an InputError
    naming ``points_source``; other failures name ``labels_source`` (default: the case's label file).
    """
    from ..aha import aha_segments

    rv_points = list(rv_points or [])
    if len(rv_points) > 2:
        raise InputError(points_source, f"give one or two RV insertion points, not {len(rv_points)}")
    try:
        return aha_segments(case.myocardium, case.masks.get("cavity"), case.geometry, method=method, septum=septum,
                            **orientation_inputs(case, rv_points))
    except ValueError as e:  # e.g. insertion points that do not fit this heart
        source = points_source if rv_points else (labels_source or case.sources.get("labels") or case.case_id)
        raise InputError(source, str(e)) from None


def parse_points(specs, ras: bool = False, source="--rv-point") -> list:
    """RV insertion points from text (``[anterior:|inferior:]X,Y,Z``); ``case_aha`` checks that there are one or
    two."""
    from ..orientation import parse_rv_points

    try:
        return parse_rv_points(list(specs or []), ras=ras)
    except ValueError as e:
        raise InputError(source, str(e)) from None
