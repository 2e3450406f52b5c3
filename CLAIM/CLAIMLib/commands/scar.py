"""``claim scar``: classic LGE scar quantification (n-SD, FWHM, Otsu) of one case or a folder of cases."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..errors import InputError
from .common import (add_case_arguments, add_folder_output_arguments, case_files, check_suffix, folder_target,
                     parse_segments, same_grid,
                     scheme_of)


def add_threshold_arguments(p, method_flag: str = "--method", default: str | None = "fwhm",
                            gray_zone: bool = True) -> None:
    """The options of a threshold method (``claim scar``, and ``claim segment --scar-method`` without the gray
    zone)."""
    p.add_argument(method_flag, default=default, metavar="fwhm|nsd:N|otsu",
                   help="threshold relative to remote myocardium: fwhm (half the peak enhancement of the enhanced "
                        "region), nsd:N (remote mean + N SD, N 2-6) or otsu" + (f" (default {default})" if default
                                                                                 else ""))
    p.add_argument("--remote-segments", metavar="S,S,...",
                   help="AHA segments that are remote (healthy) myocardium, e.g. 3,4 (default: the segment of "
                        "lowest median intensity)")
    if gray_zone:
        p.add_argument("--gray-zone", nargs="?", const="", metavar="LO:HI",
                       help="also the gray zone (peri-infarct): fwhm 35:50 (%% of the peak), nsd 2:3 (SDs) unless "
                            "given")
    p.add_argument("--min-size-ml", type=float, help="drop scar components smaller than this (default 0.05 mL)")
    p.add_argument("--endocardial-only", action="store_true",
                   help="keep only scar components that touch the endocardium (ischaemic scar)")


def add_parsers(sub) -> None:
    p = sub.add_parser("scar", help="scar by thresholds relative to remote myocardium: n-SD, FWHM, Otsu; gray zone, "
                                    "MVO, per-segment transmurality",
                       description="Quantify LGE scar without a trained model. Only the whole myocardium of the "
                                   "labels is used (scar labels in them are ignored). Writes OUT, an EMIDEC label "
                                   "map: 1 cavity, 2 myocardium, 3 scar, 4 MVO; with --gray-zone, OUT_grayzone "
                                   "beside it; and --json, --csv, --report, --bullseye when given. For a folder of "
                                   "cases OUT is a folder, and each case gets its label map, JSON, CSV, bull's-eye "
                                   "and HTML report there, with summary.csv.")
    add_case_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="output label map (.nii.gz ...), or a folder for "
                                                           "several cases")
    add_threshold_arguments(p)
    p.add_argument("--remote-mask", type=Path, help="a mask (or segmentation) of remote myocardium on the image's "
                                                    "grid, instead of --remote-segments")
    p.add_argument("--seed-point", metavar="X,Y,Z", help="FWHM: a point (mm, LPS; RAS with --ras) inside the "
                                                         "enhanced region, whose peak sets the threshold")
    p.add_argument("--rv-point", action="append", metavar="[anterior:|inferior:]X,Y,Z",
                   help="an RV insertion point in mm for the AHA segments (as in claim aha)")
    p.add_argument("--ras", action="store_true", help="points are RAS (as Slicer shows them)")
    p.add_argument("--json", type=Path, help="the record and per-segment table as JSON")
    p.add_argument("--csv", type=Path, help="the per-segment table as CSV")
    p.add_argument("--report", type=Path, help="a one-page HTML report (figure embedded)")
    p.add_argument("--bullseye", type=Path, help="the bull's-eye figure (.png or .svg)")
    add_folder_output_arguments(p)
    p.set_defaults(func=cmd_scar)


def threshold_options(args) -> dict:
    """The threshold options of a command, parsed and checked (``workflows.scar.quantify_scar`` keywords)."""
    from ..scar import parse_gray_zone, parse_method

    flag = "--scar-method" if getattr(args, "scar_method", None) else "--method"
    method = parse_method(getattr(args, "scar_method", None) or args.method, flag)
    remote = parse_segments(args.remote_segments, "--remote-segments") if args.remote_segments else None
    return {"method": method, "remote_segments": remote,
            "gray_zone": parse_gray_zone(getattr(args, "gray_zone", None), method), "min_size_ml": args.min_size_ml,
            "endocardial_only": args.endocardial_only}


def _seed_index(text, ras, geometry):
    from ..workflows.aha import parse_points

    point = parse_points([text], ras=ras, source="--seed-point")[0][1]
    kji = np.round(geometry.physical_to_index(point[None])[0]).astype(int)
    if np.any(kji < 0) or np.any(kji >= np.asarray(geometry.shape)):
        raise InputError("--seed-point", f"'{text}' lies outside the image")
    return tuple(kji)


def _remote_mask(path, case):
    from ..io import read_labels

    array, geometry, _ = read_labels(path)
    same_grid(geometry, case, path)
    return np.asarray(array) > 0


def _single_outputs(args) -> dict:
    from ..io import WRITE_SUFFIXES

    from ..workflows.scar import gray_zone_path

    check_suffix(args.out, WRITE_SUFFIXES, "--out")
    if args.gray_zone is not None:
        check_suffix(gray_zone_path(args.out), WRITE_SUFFIXES, "--out (gray zone)")
    if args.json:
        check_suffix(args.json, (".json",), "--json")
    if args.csv:
        check_suffix(args.csv, (".csv",), "--csv")
    if args.report:
        check_suffix(args.report, (".html", ".htm"), "--report")
    if args.bullseye:
        check_suffix(args.bullseye, (".png", ".svg"), "--bullseye")
    return {"out": args.out, "json_path": args.json, "csv_path": args.csv, "report": args.report,
            "bullseye": args.bullseye}


def _folder_outputs(out: Path, case_id: str) -> dict:
    return {"out": out / f"{case_id}.nii.gz", "json_path": out / f"{case_id}.json", "csv_path": out / f"{case_id}.csv",
            "report": out / f"{case_id}.html", "bullseye": out / f"{case_id}_bullseye.png"}


def summary_csv(results) -> str:
    import csv
    import io

    fields = ("case_id", "method", "threshold", "threshold_sd", "remote", "remote_mean", "remote_sd",
              "myocardium_ml", "scar_ml", "scar_percent", "mvo_ml", "gray_zone_ml")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in results:
        rec, t = r.record, r.record["totals"]
        w.writerow({"case_id": r.case_id, "method": rec["method"], "threshold": _fmt(rec["threshold"]),
                    "threshold_sd": _fmt(rec["threshold_sd"]), "remote": rec["remote"]["description"],
                    "remote_mean": _fmt(rec["remote"]["mean"]), "remote_sd": _fmt(rec["remote"]["sd"]),
                    **{k: f"{t[k]:.4f}" for k in fields[7:]}})
    return buf.getvalue()


def _fmt(v):
    return "" if v is None else f"{v:.4f}"


def cmd_scar(args) -> int:
    from ..io import load_case, write_text
    from ..progress import track
    from ..workflows.aha import parse_points
    from ..workflows.scar import quantify_scar, write_scar_outputs

    options = threshold_options(args)
    files = [f for f in case_files(args) if f.labels is not None]
    if not files:
        raise InputError(args.labels or (args.paths[0] if args.paths else "claim scar"), "holds no label map")
    single = len(files) == 1 and volume_out(args.out)
    if single:
        targets = _single_outputs(args)
    else:
        if volume_out(args.out):
            raise InputError(args.out, f"--out must be a folder for {len(files)} cases")
        for flag in ("json", "csv", "report", "bullseye", "remote_mask", "seed_point", "rv_point"):
            if getattr(args, flag):
                raise InputError(f"--{flag.replace('_', '-')}", "applies to one case; for a folder each case's "
                                                                "JSON, CSV, bull's-eye and report go into --out")
        folder_target(args)
    points = parse_points(args.rv_point or [], ras=args.ras)
    cases = [load_case(f, scheme_of(args)) for f in track(files, stage="reading")]  # all checked first
    skipped = [c for c in cases if c.image is None]
    if single and skipped:
        raise InputError(args.labels or files[0].labels, "has no LGE image to threshold (give --image)")
    cases = [c for c in cases if c.image is not None]
    if not cases:
        raise InputError(args.paths[0] if args.paths else "claim scar", "holds no case with an LGE image")
    results = []
    for case in track(cases, stage="quantifying"):
        extra = {}
        if single and args.remote_mask:
            extra["remote_mask"] = _remote_mask(args.remote_mask, case)
        if single and args.seed_point:
            extra["seed_point"] = _seed_index(args.seed_point, args.ras, case.geometry)
        results.append(quantify_scar(case, rv_points=points, **options, **extra))
    if single:
        write_scar_outputs(results[0], record_extra=_sources(cases[0]), **targets)
        _print(results[0], targets["out"])
        return 0
    out = Path(args.out)
    for case, result in zip(cases, results):
        write_scar_outputs(result, record_extra=_sources(case), **_folder_outputs(out, case.case_id))
        _print(result, out / f"{case.case_id}.nii.gz")
    write_text(out / "summary.csv", summary_csv(results))
    for c in skipped:
        print(f"claim: warning: {c.case_id} has no LGE image and was skipped", file=sys.stderr)
    print(f"{len(results)} cases quantified with {results[0].record['method']}: {out}, summary {out / 'summary.csv'}")
    return 0


def volume_out(path) -> bool:
    from ..io import volume_suffix

    return volume_suffix(path) is not None


def _sources(case) -> dict:
    return {"image": str(case.sources.get("image", "")), "labels": str(case.sources.get("labels", ""))}


def _print(result, out) -> None:
    r, t = result.record, result.record["totals"]
    line = (f"{result.case_id}: {r['method']} threshold {r['threshold']:.4g}" if r["threshold"] is not None else
            f"{result.case_id}: {r['method']}: no enhanced region")
    print(f"{line}; remote {r['remote']['description']}")
    print(f"  scar {t['scar_ml']:.2f} mL ({t['scar_percent']:.1f}% of {t['myocardium_ml']:.1f} mL myocardium), "
          f"MVO {t['mvo_ml']:.2f} mL" + (f", gray zone {t['gray_zone_ml']:.2f} mL" if "gray_zone" in r else "")
          + f" -> {out}")
    warning = r["orientation"].get("warning")
    if warning:
        print(f"claim: warning: {warning}", file=sys.stderr)
