"""Subcommands on cases: info, convert, phantom, demo, aha, bullseye, smile, mask-stats."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from .common import _scheme, _case_files, _load_labelled_case, _check_suffix, _aha_result, _same_grid, _smile_spec, _numbered


def cmd_info(args) -> int:
    import numpy as np

    from ..info import case_info, format_info, grid_info
    from ..io import load_case, read_volume

    scheme = _scheme(args)
    infos = []
    for f in _case_files(args):
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

    scheme = _scheme(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    # read and check every case before writing anything: bad input leaves no output behind
    cases = [load_case(f, scheme) for f in track(_case_files(args), stage="reading")]
    for case in track(cases, stage="writing"):
        write_case(case, out)
    print(f"wrote {len(cases)} case{'s' if len(cases) != 1 else ''} in the EMIDEC layout to {out}")
    return 0


def cmd_phantom(args) -> int:
    from ..phantom import case_rng, cohort_plan, generate_case, write_case
    from ..progress import track

    if args.cases < 1:
        raise InputError("--cases", f"must be at least 1 (got {args.cases})")
    if not 0.0 <= args.normal_fraction <= 1.0:
        raise InputError("--normal-fraction", f"must be between 0 and 1 (got {args.normal_fraction:g})")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    t0 = time.perf_counter()
    plan = cohort_plan(args.cases, args.seed, args.normal_fraction)
    for index, (case_id, pathological) in enumerate(track(plan, stage="phantom cohort")):
        write_case(generate_case(case_rng(args.seed, index), case_id, pathological), out)
    n_path = sum(p for _, p in plan)
    print(f"wrote {len(plan)} phantom cases ({n_path} pathological, {len(plan) - n_path} normal) to {out} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo

    emidec = Path(args.emidec) if args.emidec else None
    if emidec is not None and not emidec.is_dir():
        raise InputError(emidec, "no such folder")
    if args.cases < 4:
        raise InputError("--cases", f"must be at least 4: the demo holds out a pathological and a normal case "
                                    f"(got {args.cases})")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    model = Path(args.diffusion_model) if args.diffusion_model else None
    if model is not None and not model.is_file():
        raise InputError(model, "no such checkpoint")
    seg_model = Path(args.seg_model) if args.seg_model else None
    if seg_model is not None and not (seg_model / "plans.json").is_file():
        raise InputError(seg_model, "is not a trained nnU-Net model folder (no plans.json)")
    if args.joint_steps < 1:
        raise InputError("--joint-steps", f"must be at least 1 (got {args.joint_steps})")
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

    _check_suffix(args.out, WRITE_SUFFIXES, "--out")
    case = _load_labelled_case(args)
    result = _aha_result(args, case)
    record = {"case_id": case.case_id, "labels": str(args.labels), **result.to_dict()}
    write_volume(args.out, result.labels, case.geometry, np.uint8)
    if args.json:
        write_json(args.json, record)
    o = result.orientation
    print(f"{case.case_id}: AHA-17 ({result.method}) written to {args.out}")
    print(f"  slice order   {result.axis.order.order} ({result.axis.order.evidence})")
    print(f"  orientation   {o.source}, confidence {o.confidence:.2f} ({o.detail})")
    if o.warning:
        print(f"claim: warning: {o.warning}", file=sys.stderr)
    return 0


def cmd_bullseye(args) -> int:
    from ..bullseye import plot, scar_panels
    from ..io import read_labels, read_volume, write_text
    from ..labels import scar_from_labels
    from ..quantify import quantify, to_csv

    _check_suffix(args.out, (".png", ".svg"), "--out")
    case = _load_labelled_case(args)
    scar, mvo = case.masks.get("scar"), case.masks.get("mvo")
    if args.scar:
        array, geometry, _ = read_labels(args.scar)
        _same_grid(geometry, case, args.scar)
        scar, mvo = scar_from_labels(array, geometry, _scheme(args), args.scar)
    if args.aha:
        aha, geometry = read_volume(args.aha)
        _same_grid(geometry, case, args.aha)
        aha = np.round(aha).astype(np.int64)
        if aha.min() < 0 or aha.max() > 17:
            raise InputError(args.aha, f"AHA labels must be 0-17 (found {aha.min()}..{aha.max()})")
        source = str(args.aha)
    else:
        result = _aha_result(args, case)
        aha, source = result.labels, f"{result.method}, orientation from {result.orientation.source}"
    table = quantify(aha, case.myocardium, scar, case.geometry, mvo=mvo, cavity=case.masks.get("cavity"))
    t = table["totals"]
    title = args.title or f"{case.case_id}: scar {t['scar_ml']:.1f} mL ({t['scar_percent']:.0f}% of LV myocardium)"
    plot(scar_panels(table), args.out, suptitle=title)
    if args.csv:
        write_text(args.csv, to_csv(table))
    print(f"{case.case_id}: bull's-eye written to {args.out}" + (f", table to {args.csv}" if args.csv else ""))
    print(f"  AHA from {source}; scar {t['scar_ml']:.2f} mL of {t['myocardium_ml']:.2f} mL myocardium, "
          f"MVO {t['mvo_ml']:.2f} mL")
    return 0


def cmd_smile(args) -> int:
    from ..io import WRITE_SUFFIXES, stem, write_json, write_volume
    from ..labels import EMIDEC
    from ..progress import track
    from ..smile import generate, generate_template, prepare_subject

    _check_suffix(args.out, WRITE_SUFFIXES, "--out")
    if args.count < 1:
        raise InputError("--count", f"must be at least 1 (got {args.count})")
    spec = _smile_spec(args)
    case = _load_labelled_case(args)
    method = "template" if args.mode == "template" else "direct"
    args.method = method
    result = _aha_result(args, case)
    subject = prepare_subject(case.myocardium, case.masks.get("cavity"), case.geometry, result)
    existing = case.volume_ml("scar")
    rng = np.random.default_rng(args.seed)
    outputs = []
    for i in track(range(args.count), stage="SMILE masks"):
        try:
            res = (generate_template(rng, subject, result.registration, spec) if method == "template"
                   else generate(rng, subject, spec))
        except ValueError as e:
            raise InputError(args.labels, str(e)) from None
        masks = dict(case.masks)
        masks["scar"], masks["mvo"] = res.scar, res.mvo
        labels = EMIDEC.encode(masks, case.geometry.shape)  # 1 cavity, 2 myocardium, 3 scar, 4 MVO
        outputs.append((_numbered(Path(args.out), i, args.count), labels, res.record))
    for path, labels, record in outputs:
        write_volume(path, labels, case.geometry, np.uint8)
        write_json(path.with_name(stem(path) + ".json"), {
            "case_id": case.case_id, "labels": str(args.labels), "seed": args.seed, "mode": method,
            "orientation": result.orientation.to_dict(), "replaced_existing_scar_ml": round(existing, 4), **record})
    first = outputs[0][2]
    print(f"{case.case_id}: {len(outputs)} SMILE mask{'s' if len(outputs) > 1 else ''} ({method}) written to "
          f"{outputs[0][0]}{' ...' if len(outputs) > 1 else ''}")
    print(f"  first: segments {first['segments']}, {first['pattern']} {first['extent']}, "
          f"target {first['target_total_ml']:.2f} mL, achieved {first['achieved_total_ml']:.2f} mL, "
          f"MVO {first['mvo_ml']:.2f} mL")
    if result.orientation.warning:
        print(f"claim: warning: {result.orientation.warning}", file=sys.stderr)
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
    from ..aha import aha_segments
    from ..io import write_json
    from ..maskstats import case_stats, compare, format_report
    from ..progress import track

    scheme = _scheme(args)
    sets = {}
    for name, folder in (("masks", args.masks), ("reference", args.reference)):
        stats = []
        for case, septum in track(_mask_set(folder, scheme), stage=f"reading {name}"):
            r = aha_segments(case.myocardium, case.masks.get("cavity"), case.geometry, image=case.image,
                             rv=case.masks.get("rv"), septum=septum)
            stats.append(case_stats(case.mask("scar"), case.myocardium, case.masks.get("cavity"), r.labels,
                                    case.geometry))
        sets[name] = stats
    result = compare(sets["masks"], sets["reference"])
    print(format_report(result))
    if args.out:
        write_json(args.out, result)
    return 0
