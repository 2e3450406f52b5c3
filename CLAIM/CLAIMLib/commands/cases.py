"""Subcommands on cases: info, convert, phantom, demo, aha, bullseye, smile, smile-priors, mask-stats (parsers and
handlers)."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..phantom.parameters import DIFFICULTIES, HEADERS
from .common import (add_case_arguments, add_folder_output_arguments, add_smile_arguments, add_subject_arguments,
                     case_files, check_suffix, folder_target, load_labelled_case, numbered, rv_points, same_grid, scheme_of, smile_spec)


def add_parsers(sub) -> None:
    _add_dataset_parsers(sub)
    _add_subject_parsers(sub)


def _add_dataset_parsers(sub) -> None:
    p = sub.add_parser("info", help="shape, spacing, slice order and structure volumes (mL) of cases",
                       description="Print a case's grid, slice order and each structure's volume in mL. "
                                   "PATHS: a case folder or dataset root, a label file, or IMAGE LABELS. Writes nothing.")
    add_case_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="check cases and write them in the EMIDEC layout (NIfTI, EMIDEC labels)",
                       description="Read cases in any supported layout (EMIDEC, MyoPS, nnU-Net, pairs, .seg.nrrd), "
                                   "check them. Writes them as OUT/<id>/Images and OUT/<id>/Contours.")
    add_case_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    add_folder_output_arguments(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("phantom", help="write a cohort of LGE phantoms in the EMIDEC layout",
                       description="Writes N phantom LGE cases (image, labels, AHA-17 and RV ground truth, JSON) "
                                   "to --out, in the EMIDEC layout.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cases", type=int, default=10, help="number of cases (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--normal-fraction", type=float, default=0.3, help="fraction of normal cases (default 0.3)")
    p.add_argument("--difficulty", choices=DIFFICULTIES, default="clinical",
                   help="clinical (default): contrast, noise and texture of real LGE stacks; easy: conspicuous "
                        "scar and blood, for quick checks")
    p.add_argument("--header", choices=HEADERS, default="oblique",
                   help="oblique (default): the patient orientation of clinical short-axis stacks; axial: "
                        "axis-aligned, like EMIDEC")
    add_folder_output_arguments(p)
    p.set_defaults(func=cmd_phantom)

    p = sub.add_parser("demo", help="run everything on a fresh phantom cohort (and EMIDEC samples if present)",
                       description="Generate a phantom cohort, read it back, train and run every step on it. Writes OUT "
                                   "with report.md, montage.png, summary.json and each step's files.")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--cases", type=int, default=6, help="phantom cases (default 6, at least 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--emidec", help="EMIDEC folder (default: $CLAIM_EMIDEC or ../shared/data/emidec)")
    p.add_argument("--diffusion-model", help="a generator checkpoint (or installed generator's name) to use instead "
                                             "of training the tiny one")
    p.add_argument("--seg-model", help="a trained 2d nnU-Net model folder (or installed segmenter's name) to use "
                                       "instead of training the demo's")
    p.add_argument("--joint-steps", type=int, default=6, help="joint training steps (default 6)")
    add_folder_output_arguments(p)
    p.set_defaults(func=cmd_demo)


def _add_subject_parsers(sub) -> None:
    p = sub.add_parser("aha", help="label the myocardium with the 17 AHA segments, in subject space",
                       description="Writes --out: 0 for background and 1-17 on myocardium voxels, on the input's "
                                   "grid (and --json, the orientation record). "
                                   "The septum comes from an RV mask in the labels, RV insertion points, the LGE "
                                   "image, or a default (with a warning), in that order.")
    add_subject_arguments(p, "the label map")
    p.add_argument("--out", type=Path, required=True, help="output AHA label map (.nii.gz, .nii, .nrrd, .mha)")
    p.add_argument("--json", type=Path, help="also write the orientation record as JSON")
    p.set_defaults(func=cmd_aha)

    p = sub.add_parser("bullseye", help="per-segment scar volume, %% and transmurality: bull's-eye and table",
                       description="Quantify scar per AHA segment and draw bull's-eyes (scar mL, %% of segment, "
                                   "mean transmurality). Computes the AHA segments unless --aha is given. Writes --out (and "
                                   "--csv).")
    add_subject_arguments(p, "the label map (myocardium, and scar unless --scar)")
    p.add_argument("--scar", type=Path, help="a scar mask or label map to quantify instead of the labels' scar")
    p.add_argument("--aha", type=Path, help="AHA labels (from claim aha) on the same grid")
    p.add_argument("--out", type=Path, required=True, help="figure (.png or .svg)")
    p.add_argument("--csv", type=Path, help="also write the per-segment table as CSV")
    p.add_argument("--title", help="figure title")
    p.set_defaults(func=cmd_bullseye)

    p = sub.add_parser("smile", help="clinically guided scar masks on a subject's AHA segments (SMILE)",
                       description="Grow scar masks on a subject's AHA segments. By default one infarct-like "
                                   "lesion (a wavefront: subendocardial when small, transmural in its core when "
                                   "large) sized as a fraction of the LV myocardium from published infarct sizes; "
                                   "or textured scar per segment with an explicit --transmurality pattern. Writes "
                                   "a label map (1 cavity, 2 myocardium, 3 scar, 4 MVO) and a JSON sidecar per "
                                   "mask. An existing scar becomes myocardium.")
    add_subject_arguments(p, "the subject's label map (myocardium, cavity)", method=False)
    p.add_argument("--out", type=Path, required=True, help="output mask (.nii.gz ...); with --count N, numbered")
    add_smile_arguments(p)
    p.add_argument("--mode", choices=("direct", "template"), default="direct",
                   help="direct (subject's own AHA labels, default) or template (paper-faithful, via registration)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--count", type=int, default=1, help="number of masks (default 1)")
    p.set_defaults(func=cmd_smile)

    p = sub.add_parser("smile-priors", help="learn SMILE priors (segments, size, depth, lesions) from real scars",
                       description="Measure every case with scar in a folder (any case layout): its volume as a "
                                   "fraction of the myocardium, mean wall depth, number of lesions and share per "
                                   "AHA segment. claim smile --priors (and synthesize-dataset, the experiment and "
                                   "the SMILE Mask Editor) then draw masks from this population. Writes --out.")
    p.add_argument("--reference", type=Path, required=True, help="folder of real cases with scar labels")
    p.add_argument("--out", type=Path, required=True, help="priors file (.json)")
    p.add_argument("--scheme", help="label scheme (default: detected)")
    p.set_defaults(func=cmd_smile_priors)

    p = sub.add_parser("mask-stats", help="realism distances between two sets of scar masks, against a ball",
                       description="Compare scar masks with reference scars: the L1 distance of their mean "
                                   "per-segment shares, and Wasserstein distances of volume (mL and fraction of "
                                   "the myocardium), mean wall depth and number of 3D components. Each is also "
                                   "given for balls on the same hearts (volumes drawn from the reference's). Writes --out "
                                   "when given (JSON); prints the report.")
    p.add_argument("--masks", type=Path, required=True, help="folder of label maps (e.g. claim smile outputs)")
    p.add_argument("--reference", type=Path, required=True, help="folder of reference cases (e.g. real scars)")
    p.add_argument("--scheme", help="label scheme (default: detected)")
    p.add_argument("--out", type=Path, help="also write the report as JSON")
    p.add_argument("--seed", type=int, default=0, help="seed of the ball baseline (default 0)")
    p.add_argument("--no-baseline", action="store_true", help="skip the ball baseline")
    p.set_defaults(func=cmd_mask_stats)


def cmd_info(args) -> int:
    from ..info import case_info, format_info, grid_info
    from ..io import load_case, read_volume

    scheme = scheme_of(args)
    infos = []
    for f in case_files(args):
        if f.labels is None:  # an image alone: its grid
            array, geometry = read_volume(f.image)
            info = {"case_id": f.case_id, "image": str(f.image), **grid_info(geometry),
                    "intensity": {"min": float(array.min()), "max": float(array.max()),
                                  "p99": float(np.percentile(array, 99))}}
        else:
            info = case_info(load_case(f, scheme))
        infos.append(info)
    if args.json:
        print(json.dumps(infos if len(infos) > 1 else infos[0], indent=2))
    else:
        print("\n\n".join(format_info(i) for i in infos))
    return 0


def cmd_convert(args) -> int:
    from ..io import load_case, write_case
    from ..progress import track

    scheme = scheme_of(args)
    out = folder_target(args)
    # read and check every case before writing anything: bad input leaves no output behind
    cases = [load_case(f, scheme) for f in track(case_files(args), stage="reading")]
    for case in track(cases, stage="writing"):
        write_case(case, out)
    print(f"wrote {len(cases)} case{'s' if len(cases) != 1 else ''} in the EMIDEC layout to {out}")
    return 0


def cmd_phantom(args) -> int:
    from ..workflows.cohorts import write_phantom_cohort

    if args.cases < 1:
        raise InputError("--cases", f"must be at least 1 (got {args.cases})")
    if not 0.0 <= args.normal_fraction <= 1.0:
        raise InputError("--normal-fraction", f"must be between 0 and 1 (got {args.normal_fraction:g})")
    out = folder_target(args)
    t0 = time.perf_counter()
    made = write_phantom_cohort(out, args.cases, args.seed, args.normal_fraction, args.difficulty, args.header)
    n_path = sum(1 for c in made.values() if c.truth["pathological"]) if made else 0
    print(f"wrote {len(made)} {args.difficulty} phantom cases ({n_path} pathological, {len(made) - n_path} normal, "
          f"{args.header} headers) to {out} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_demo(args) -> int:
    from ..segmentation.model_folder import ModelFolder
    from ..workflows.demo import run_demo

    emidec = Path(args.emidec) if args.emidec else None
    if emidec is not None and not emidec.is_dir():
        raise InputError(emidec, "no such folder")
    if args.cases < 4:
        raise InputError("--cases", f"must be at least 4: the demo holds out a pathological and a normal case "
                                    f"(got {args.cases})")
    from ..diffusion.sample import resolve_checkpoint

    model = resolve_checkpoint(args.diffusion_model) if args.diffusion_model else None
    seg_model = ModelFolder(args.seg_model).path if args.seg_model else None
    if args.joint_steps < 1:
        raise InputError("--joint-steps", f"must be at least 1 (got {args.joint_steps})")
    out = folder_target(args)
    summary = run_demo(out, emidec=emidec, n_cases=args.cases, seed=args.seed, diffusion_model=model,
                       seg_model=seg_model, joint_steps=args.joint_steps)
    ph = summary["phantom"]
    ok = sum(1 for i in ph if i["slice_order"]["order"] == i["truth"]["slice_order"])
    print(f"demo: {len(ph)} phantom cases (slice order right in {ok}/{len(ph)}), "
          f"{len(summary['emidec'])} EMIDEC cases, {summary['seconds']['total']:.1f} s")
    print(f"demo: wrote {out / 'report.md'}, {out / 'montage.png'} and {out / 'summary.json'}")
    return 0


def cmd_aha(args) -> int:
    from ..io import WRITE_SUFFIXES, write_json, write_volume
    from ..workflows.aha import case_aha

    check_suffix(args.out, WRITE_SUFFIXES, "--out")
    if args.json:
        check_suffix(args.json, (".json",), "--json")
    points = rv_points(args)
    case = load_labelled_case(args)
    result = case_aha(case, method=args.method, rv_points=points, labels_source=args.labels)
    record = {"case_id": case.case_id, "labels": str(args.labels), **result.to_dict()}
    write_volume(args.out, result.labels, case.geometry, np.uint8)
    if args.json:
        write_json(args.json, record)
    o = result.orientation
    print(f"{case.case_id}: AHA-17 ({result.method}) written to {args.out}")
    order = result.axis.order
    print(f"  slice order   {order.order}, confidence {order.confidence:.2f}, decided by the {order.decided_by} "
          f"({order.evidence})")
    print(f"  orientation   {o.source}, confidence {o.confidence:.2f} ({o.detail})")
    if o.warning:
        print(f"claim: warning: {o.warning}", file=sys.stderr)
    return 0


def _aha_labels(args, case):
    """AHA labels from --aha, or computed: (labels, where they came from)."""
    from ..io import read_volume
    from ..workflows.aha import case_aha

    if not args.aha:
        result = case_aha(case, method=args.method, rv_points=rv_points(args), labels_source=args.labels)
        return result.labels, f"{result.method}, orientation from {result.orientation.source}"
    aha, geometry = read_volume(args.aha)
    same_grid(geometry, case, args.aha)
    aha = np.round(aha).astype(np.int64)
    if aha.min() < 0 or aha.max() > 17:
        raise InputError(args.aha, f"AHA labels must be 0-17 (found {aha.min()}..{aha.max()})")
    return aha, str(args.aha)


def cmd_bullseye(args) -> int:
    from ..io import read_labels, write_text
    from ..labels import check_scar_mask, scar_from_labels
    from ..quantify import to_csv
    from ..workflows.tables import case_bullseye

    check_suffix(args.out, (".png", ".svg"), "--out")
    if args.csv:
        check_suffix(args.csv, (".csv",), "--csv")
    case = load_labelled_case(args)
    scar = mvo = None
    if args.scar:
        array, geometry, _ = read_labels(args.scar)
        same_grid(geometry, case, args.scar)
        scar, mvo = scar_from_labels(array, geometry, scheme_of(args), args.scar)
        check_scar_mask(scar, case.myocardium, args.scar, empty_ok=True)
    aha, source = _aha_labels(args, case)
    table = case_bullseye(case, aha, args.out, scar, mvo, title=args.title)
    if args.csv:
        write_text(args.csv, to_csv(table))
    t = table["totals"]
    print(f"{case.case_id}: bull's-eye written to {args.out}" + (f", table to {args.csv}" if args.csv else ""))
    print(f"  AHA from {source}; scar {t['scar_ml']:.2f} mL of {t['myocardium_ml']:.2f} mL myocardium, "
          f"MVO {t['mvo_ml']:.2f} mL")
    return 0


def cmd_smile(args) -> int:
    from ..io import WRITE_SUFFIXES, stem, write_json, write_volume
    from ..workflows.masks import smile_masks

    check_suffix(args.out, WRITE_SUFFIXES, "--out")
    if args.count < 1:
        raise InputError("--count", f"must be at least 1 (got {args.count})")
    outputs = [numbered(Path(args.out), i, args.count) for i in range(args.count)]
    for path in outputs:
        check_suffix(path, WRITE_SUFFIXES, "--out")
        check_suffix(path.with_name(stem(path) + ".json"), (".json",), "--out (sidecar)")
    spec = smile_spec(args)
    points = rv_points(args)
    case = load_labelled_case(args)
    masks = smile_masks(case, spec, count=args.count, seed=args.seed, mode=args.mode, rv_points=points,
                        source=args.labels)
    for path, mask in zip(outputs, masks):
        write_volume(path, mask.labels, case.geometry, np.uint8)
        write_json(path.with_name(stem(path) + ".json"), {"labels": str(args.labels), **mask.record})
    first = masks[0].record
    print(f"{case.case_id}: {len(masks)} SMILE mask{'s' if len(masks) > 1 else ''} ({args.mode}) written to "
          f"{outputs[0]}{' ...' if len(masks) > 1 else ''}")
    print(f"  first: segments {first['segments']}, {first['pattern']} {first['extent']}, "
          f"target {first['target_total_ml']:.2f} mL, achieved {first['achieved_total_ml']:.2f} mL, "
          f"MVO {first['mvo_ml']:.2f} mL")
    warning = first["orientation"].get("warning")
    if warning:
        print(f"claim: warning: {warning}", file=sys.stderr)
    for path, mask in zip(outputs, masks):
        if mask.record.get("warning"):
            print(f"claim: warning: {path.name}: {mask.record['warning']}", file=sys.stderr)
    return 0


def cmd_smile_priors(args) -> int:
    from ..io import write_json
    from ..workflows.masks import learn_smile_priors

    check_suffix(args.out, (".json",), "--out")
    cases = [case for case, _ in _mask_set(args.reference, scheme_of(args))]
    priors = learn_smile_priors(cases, source=str(args.reference))
    write_json(args.out, priors.to_dict())
    s = priors.summary
    print(f"SMILE priors from {len(priors.cases)} cases with scar ({priors.normal_cases} without) written to "
          f"{args.out}")
    print(f"  volume fraction median {s['fraction_median']:.3f} (IQR {s['fraction_iqr'][0]:.3f}-"
          f"{s['fraction_iqr'][1]:.3f}), mean wall depth median {s['mean_depth_median']:.3f}, lesions "
          + ", ".join(f"{k}: {v}" for k, v in s["lesions"].items()))
    top = sorted(range(17), key=lambda k: -priors.centre_frequency[k])[:4]
    print("  most frequent centres: " + ", ".join(f"{k + 1} ({priors.centre_frequency[k]:.0%})" for k in top
                                                   if priors.centre_frequency[k] > 0))
    return 0


def _mask_set(folder, scheme):
    """Label maps in a folder (any case layout, or plain label files), with a septum from SMILE sidecars."""
    from ..io import CaseFiles, discover_cases, load_case, stem, volume_suffix

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder")
    try:
        files = [f for f in discover_cases(folder) if f.labels is not None]
    except InputError:
        files = []
    if not files:
        files = [CaseFiles(stem(p), None, p) for p in sorted(folder.iterdir())
                 if p.is_file() and volume_suffix(p) and not p.name.startswith(".")]
    if not files:
        raise InputError(folder, "holds no label maps")
    out = []
    for f in files:
        sidecar = Path(f.labels).with_name(stem(f.labels) + ".json")
        septum = None
        if sidecar.is_file():
            try:
                septum = json.loads(sidecar.read_text())["orientation"]["septum"]
            except (ValueError, KeyError, TypeError):
                septum = None
        out.append((load_case(f, scheme), septum))
    return out


def cmd_mask_stats(args) -> int:
    from ..io import write_json
    from ..maskstats import format_report
    from ..workflows.masks import mask_stats

    scheme = scheme_of(args)
    if args.out:
        check_suffix(args.out, (".json",), "--out")
    masks, reference = _mask_set(args.masks, scheme), _mask_set(args.reference, scheme)
    result = mask_stats(masks, reference, seed=args.seed, baseline=not args.no_baseline)
    print(format_report(result["masks"], result.get("ball")))
    if args.out:
        write_json(args.out, result)
    return 0
