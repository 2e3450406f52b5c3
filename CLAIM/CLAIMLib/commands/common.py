"""Helpers the subcommands share: resolving inputs, checking options, the subject's AHA orientation."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def _scheme(args):
    from ..labels import parse_scheme

    return parse_scheme(args.scheme) if getattr(args, "scheme", None) else None


def _case_files(args):
    """The cases named on the command line: a folder (case or dataset), a label file, or IMAGE LABELS."""
    from ..io import CaseFiles, discover_cases, stem, volume_suffix

    paths = [Path(p) for p in args.paths]
    if len(paths) > 2:
        raise InputError(paths[2], "give a case folder, a label file, or an image and its labels")
    if args.image or args.labels:
        return [CaseFiles(stem(args.labels or args.image), args.image, args.labels)]
    if len(paths) == 2:
        return [CaseFiles(stem(paths[0]), paths[0], paths[1])]
    if len(paths) == 1 and paths[0].is_file():
        p = paths[0]
        if volume_suffix(p) == ".seg.nrrd" or _looks_like_labels(p):
            return [CaseFiles(stem(p), None, p)]
        return [CaseFiles(stem(p), p, None)]
    if len(paths) == 1:
        return discover_cases(paths[0])
    raise InputError(f"claim {args.command}", "give a case folder, a label file, or an image and its labels")


def _looks_like_labels(path) -> bool:
    """A single file is a label map when it holds few whole-number values."""
    import numpy as np

    from ..io import read_volume

    array, _ = read_volume(path)
    if np.issubdtype(array.dtype, np.floating) and not np.all(array == np.round(array)):
        return False
    return np.unique(array).size <= 16


def _orientation_inputs(args, case):
    """RV mask (from the labels), RV insertion points (--rv-point) and the image, for the AHA orientation."""
    from ..orientation import parse_rv_points

    try:
        points = parse_rv_points(args.rv_point or [], ras=args.ras)
    except ValueError as e:
        raise InputError("--rv-point", str(e)) from None
    if len(points) > 2:
        raise InputError("--rv-point", f"give one or two RV insertion points, not {len(points)}")
    rv = case.masks.get("rv")
    return {"rv": rv if rv is not None and rv.any() else None, "rv_points": points, "image": case.image}


def _load_labelled_case(args):
    from ..io import CaseFiles, load_case, stem

    return load_case(CaseFiles(stem(args.labels), args.image, args.labels), _scheme(args))


def _check_suffix(path, allowed, option):
    name = str(path).lower()
    if not any(name.endswith(a) for a in allowed):
        raise InputError(path, f"{option} must end with {' or '.join(allowed)}")


def _aha_result(args, case):
    from ..aha import aha_segments

    try:
        return aha_segments(case.myocardium, case.masks.get("cavity"), case.geometry, method=args.method,
                            **_orientation_inputs(args, case))
    except ValueError as e:  # e.g. insertion points that do not fit this heart
        raise InputError("--rv-point" if args.rv_point else args.labels, str(e)) from None


def _same_grid(geometry, case, path):
    diffs = geometry.differences(case.geometry)
    if diffs:
        raise InputError(path, f"not on the labels' grid: {'; '.join(diffs)}")


def _parse_segments(text):
    try:
        segs = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise InputError("--segments", f"'{text}': expected AHA segment numbers such as 4,10,15") from None
    bad = [v for v in segs if not 1 <= v <= 17]
    if not segs or bad:
        raise InputError("--segments", f"'{text}': AHA segments are 1-17")
    return segs


def _parse_volume(text):
    """'12.5' (total mL) or '4:3,10:2.5' (mL per segment)."""
    try:
        if ":" in text:
            out = {}
            for part in text.split(","):
                seg, _, ml = part.partition(":")
                out[int(seg)] = float(ml)
            if any(not 1 <= s <= 17 for s in out) or any(v <= 0 for v in out.values()):
                raise ValueError
            return out
        value = float(text)
        if not value > 0:
            raise ValueError
        return value
    except ValueError:
        raise InputError("--volume-ml", f"'{text}': give a total in mL (e.g. 12.5) or per segment "
                                        "(e.g. 4:3,10:2.5), all positive") from None


def _smile_spec(args):
    """The SMILE options of a command, checked."""
    from ..smile import SmileSpec, parse_pattern

    if args.segments and args.territory:
        raise InputError("--segments", "give either --segments or --territory, not both")
    try:
        parse_pattern(args.transmurality)
    except ValueError as e:
        raise InputError("--transmurality", str(e)) from None
    return SmileSpec(segments=tuple(_parse_segments(args.segments)) if args.segments else None,
                     territory=args.territory, max_segments=args.max_segments,
                     volume_ml=_parse_volume(args.volume_ml) if args.volume_ml else None,
                     transmurality=args.transmurality, mvo=args.mvo)


def _numbered(path: Path, index: int, count: int) -> Path:
    if count == 1:
        return path
    from ..io import stem, volume_suffix

    return path.with_name(f"{stem(path)}_{index + 1:03d}{volume_suffix(path)}")
