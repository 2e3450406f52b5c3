"""The ``claim`` command: argument parsing and error reporting only; the work lives in the library.

Bad input exits with status 2 and one line, ``claim: error: <file>: <problem>``, and leaves no output behind.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other bad input
        self.exit(2, f"claim: error: {' '.join(message.split())}\n")


def _scheme(args):
    from .labels import parse_scheme

    return parse_scheme(args.scheme) if getattr(args, "scheme", None) else None


# ----------------------------------------------------------------------------------------------- info
def _case_files(args):
    """The cases named on the command line: a folder (case or dataset), a label file, or IMAGE LABELS."""
    from .io import CaseFiles, discover_cases, stem, volume_suffix

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


def cmd_info(args) -> int:
    import numpy as np

    from .info import case_info, format_info, grid_info
    from .io import load_case, read_volume

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
    from .io import load_case, write_case
    from .progress import track

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


def _looks_like_labels(path) -> bool:
    """A single file is a label map when it holds few whole-number values."""
    import numpy as np

    from .io import read_volume

    array, _ = read_volume(path)
    if np.issubdtype(array.dtype, np.floating) and not np.all(array == np.round(array)):
        return False
    return np.unique(array).size <= 16


# ----------------------------------------------------------------------------------------------- aha, bullseye
def _orientation_inputs(args, case):
    """RV mask (from the labels), RV insertion points (--rv-point) and the image, for the AHA orientation."""
    from .orientation import parse_rv_points

    try:
        points = parse_rv_points(args.rv_point or [], ras=args.ras)
    except ValueError as e:
        raise InputError("--rv-point", str(e)) from None
    if len(points) > 2:
        raise InputError("--rv-point", f"give one or two RV insertion points, not {len(points)}")
    rv = case.masks.get("rv")
    return {"rv": rv if rv is not None and rv.any() else None, "rv_points": points, "image": case.image}


def _load_labelled_case(args):
    from .io import CaseFiles, load_case, stem

    return load_case(CaseFiles(stem(args.labels), args.image, args.labels), _scheme(args))


def _check_suffix(path, allowed, option):
    name = str(path).lower()
    if not any(name.endswith(a) for a in allowed):
        raise InputError(path, f"{option} must end with {' or '.join(allowed)}")


def _aha_result(args, case):
    from .aha import aha_segments

    try:
        return aha_segments(case.myocardium, case.masks.get("cavity"), case.geometry, method=args.method,
                            **_orientation_inputs(args, case))
    except ValueError as e:  # e.g. insertion points that do not fit this heart
        raise InputError("--rv-point" if args.rv_point else args.labels, str(e)) from None


def cmd_aha(args) -> int:
    from .io import WRITE_SUFFIXES, write_json, write_volume

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
    from .bullseye import plot, scar_panels
    from .io import read_labels, read_volume, write_text
    from .quantify import quantify, to_csv

    _check_suffix(args.out, (".png", ".svg"), "--out")
    case = _load_labelled_case(args)
    scar, mvo = case.masks.get("scar"), case.masks.get("mvo")
    if args.scar:
        array, geometry, _ = read_labels(args.scar)
        _same_grid(geometry, case, args.scar)
        values = set(np.unique(array).tolist())
        if values <= {0, 1}:
            scar, mvo = array > 0, None
        else:
            from .labels import case_from_arrays
            other = case_from_arrays("scar", None, array, geometry, _scheme(args), labels_source=args.scar)
            scar, mvo = other.mask("scar"), other.masks.get("mvo")
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


def _same_grid(geometry, case, path):
    diffs = geometry.differences(case.geometry)
    if diffs:
        raise InputError(path, f"not on the labels' grid: {'; '.join(diffs)}")


def add_subject_arguments(p: argparse.ArgumentParser, labels_help: str, method: bool = True) -> None:
    """A subject's labels and image, and where its AHA orientation comes from (commands that compute AHA)."""
    p.add_argument("--labels", type=Path, required=True, help=labels_help)
    p.add_argument("--image", type=Path, help="the LGE image (finds the RV when the labels have none)")
    p.add_argument("--scheme", help="label scheme (default: detected)")
    p.add_argument("--rv-point", action="append", metavar="[anterior:|inferior:]X,Y,Z",
                   help="an RV insertion point in mm (LPS, or RAS with --ras); give one or two. "
                        "A single point is taken as the anterior insertion point unless prefixed inferior:. "
                        "Write --rv-point=-12.5,3,40 when a coordinate starts with a minus sign")
    p.add_argument("--ras", action="store_true", help="--rv-point coordinates are RAS (as Slicer shows them)")
    if method:
        p.add_argument("--method", choices=("direct", "template"), default="direct",
                       help="direct (subject space, default) or template (registration to a parametric template)")


# ----------------------------------------------------------------------------------------------- smile, mask-stats
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
    from .smile import SmileSpec, parse_pattern

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


def add_smile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--segments", help="AHA segments, e.g. 4,10,15 (default: random adjacent ones)")
    p.add_argument("--territory", type=str.upper, choices=("LAD", "RCA", "LCX", "RANDOM"),
                   help="a coronary territory instead; random draws one by infarct prevalence (LAD 50%%, RCA 30%%, "
                        "LCX 20%%)")
    p.add_argument("--max-segments", type=int, default=4, help="most segments drawn at random (default 4)")
    p.add_argument("--volume-ml", help="total mL (e.g. 12.5) or per segment (4:3,10:2.5); default drawn from "
                                       "EMIDEC's 23.68 +- 15.81 mL")
    p.add_argument("--transmurality", help="subendocardial[:e] (default, e drawn in 0.3-1), transmural, "
                                           "midwall, epicardial[:e]")
    p.add_argument("--mvo", action="store_true", help="add an MVO core (label 4) to larger scars")


def _numbered(path: Path, index: int, count: int) -> Path:
    if count == 1:
        return path
    from .io import stem, volume_suffix

    return path.with_name(f"{stem(path)}_{index + 1:03d}{volume_suffix(path)}")


def cmd_smile(args) -> int:
    from .aha import aha_segments
    from .io import WRITE_SUFFIXES, stem, write_json, write_volume
    from .labels import EMIDEC
    from .progress import track
    from .smile import generate, generate_template, prepare_subject

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
    from .io import CaseFiles, discover_cases, load_case, stem, volume_suffix

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
    from .aha import aha_segments
    from .io import write_json
    from .maskstats import case_stats, compare, format_report
    from .progress import track

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


# ----------------------------------------------------------------------------------------------- diffusion
def cmd_train_diffusion(args) -> int:
    from .diffusion.model import CONFIGS
    from .diffusion.train import train

    data = Path(args.data)
    if not data.is_dir():
        raise InputError(data, "no such folder")
    if args.config not in CONFIGS:
        raise InputError("--config", f"unknown config '{args.config}'; use {', '.join(CONFIGS)}")
    for name in ("steps", "batch", "accumulate"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name}", f"must be at least 1 (got {value})")
    result = train(data, args.out, args.config, steps=args.steps, batch=args.batch, resume=args.resume,
                   seed=args.seed, accumulate=args.accumulate or 1, device=args.device,
                   save_every=args.save_every, sample_every=args.sample_every)
    if result["rank"] == 0:
        print(f"trained to step {result['step']} (loss {result['loss']:.4f}, {result['slices']} training slices, "
              f"{result['seconds']:.0f} s); checkpoint {result['checkpoint']}")
    return 0


def _load_generator(path, device=None):
    from .diffusion.sample import load

    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise InputError(path, "no such checkpoint")
    try:
        return load(path, device)
    except Exception as e:  # a file that is not one of our checkpoints
        raise InputError(path, f"cannot be loaded as a CLAIM generator checkpoint ({type(e).__name__})") from None


def _synthesis_options(args):
    if args.sampler not in ("ddim", "repaint"):
        raise InputError("--sampler", f"unknown sampler '{args.sampler}' (ddim or repaint)")
    if args.steps is not None and not 1 <= args.steps <= 50:
        raise InputError("--steps", f"DDIM takes 1-50 steps (got {args.steps})")
    if args.brightness is not None and not args.brightness > 0:
        raise InputError("--brightness", f"must be positive (got {args.brightness})")
    return {"sampler": args.sampler, "steps": args.steps or 50, "brightness": args.brightness,
            "jump_length": args.jump, "jump_n_sample": args.resample}


def cmd_synthesize(args) -> int:
    from .diffusion.sample import synthesize
    from .io import (WRITE_SUFFIXES, CaseFiles, load_case, read_labels, read_volume, stem, volume_suffix,
                     write_json, write_volume)
    from .labels import EMIDEC, case_from_arrays

    _check_suffix(args.out, WRITE_SUFFIXES, "--out")
    if args.out_labels:
        _check_suffix(args.out_labels, WRITE_SUFFIXES, "--out-labels")
    options = _synthesis_options(args)
    case = load_case(CaseFiles(stem(args.image), args.image, args.labels), _scheme(args))
    raw, _ = read_volume(args.image)
    array, geometry, file_scheme = read_labels(args.mask)
    _same_grid(geometry, case, args.mask)
    values = set(np.unique(array).tolist())
    if values <= {0, 1}:
        scar, mvo = array > 0, np.zeros(array.shape, bool)
    else:
        m = case_from_arrays("mask", None, array, geometry, file_scheme, labels_source=args.mask)
        scar, mvo = m.mask("scar"), m.mask("mvo")
    if not scar.any():
        raise InputError(args.mask, "holds no scar voxel")
    outside = scar & ~case.myocardium
    if outside.any():
        raise InputError(args.mask, f"{int(outside.sum())} scar voxels lie outside the myocardium")
    bundle = _load_generator(args.model, args.device)
    image, record = synthesize(bundle, case, scar, mvo, seed=args.seed, volume=raw, **options)
    masks = dict(case.masks, scar=scar | case.mask("scar"), mvo=mvo | case.mask("mvo"))
    labels = EMIDEC.encode(masks, case.geometry.shape)
    out = Path(args.out)
    labels_out = Path(args.out_labels) if args.out_labels else out.with_name(f"{stem(out)}_labels{volume_suffix(out)}")
    write_volume(out, image, case.geometry, raw.dtype)
    write_volume(labels_out, labels, case.geometry, np.uint8)
    write_json(out.with_name(stem(out) + ".json"), {"image": str(args.image), "labels": str(args.labels),
                                                    "mask": str(args.mask), "model": str(args.model), **record})
    print(f"{case.case_id}: scar painted on {record['slices']} slices with {record['sampler']} "
          f"({record['network_calls']} network calls); wrote {out} and {labels_out}")
    if record.get("mask_voxels_outside_crop"):
        print(f"claim: warning: {record['mask_voxels_outside_crop']} mask voxels lay outside the generator's window "
              "and were left unchanged", file=sys.stderr)
    return 0


def cmd_synthesize_dataset(args) -> int:
    from .aha import aha_segments
    from .diffusion.sample import synthesize
    from .io import discover_cases, load_case, read_volume, write_case, write_json
    from .labels import EMIDEC, case_from_arrays
    from .progress import track
    from .smile import generate, prepare_subject

    options = _synthesis_options(args)
    if args.per_case < 1:
        raise InputError("--per-case", f"must be at least 1 (got {args.per_case})")
    spec = _smile_spec(args)
    files = [f for f in discover_cases(args.cases) if f.image is not None and f.labels is not None]
    if not files:
        raise InputError(args.cases, "holds no case with an image and labels")
    cases = [(f, load_case(f, _scheme(args))) for f in files]  # check everything before writing anything
    bundle = _load_generator(args.model, args.device)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    made = []
    for f, case in track(cases, stage="synthesising"):
        raw, _ = read_volume(f.image)
        r = aha_segments(case.myocardium, case.masks.get("cavity"), case.geometry, image=case.image,
                         rv=case.masks.get("rv"))
        subject = prepare_subject(case.myocardium, case.masks.get("cavity"), case.geometry, r)
        for i in range(args.per_case):
            mask = generate(rng, subject, spec)
            seed = int(rng.integers(2 ** 31))
            image, record = synthesize(bundle, case, mask.scar, mask.mvo, seed=seed, volume=raw, **options)
            labels = EMIDEC.encode(dict(case.masks, scar=mask.scar, mvo=mask.mvo), case.geometry.shape)
            new_id = f"{case.case_id}_syn{i + 1:02d}"
            new = case_from_arrays(new_id, None, labels, case.geometry)
            new.image = image  # the input's own dtype: unchanged voxels stay bit-identical
            path = write_case(new, out)
            write_json(path / f"{new_id}.json", {"source": case.case_id, "smile": mask.record,
                                                        "synthesis": record})
            made.append(new_id)
    print(f"wrote {len(made)} synthetic cases ({args.per_case} per case, {len(cases)} cases) to {out}")
    return 0


# ----------------------------------------------------------------------------------------------- segmentation
def cmd_export_nnunet(args) -> int:
    from .io import load_cases
    from .progress import track
    from .segmentation.nnunet import dataset_name, export_dataset

    raw = args.raw or os.environ.get("nnUNet_raw")
    if not raw:
        raise InputError("--raw", "give nnU-Net's raw folder with --raw or the nnUNet_raw variable")
    dataset_name(args.id, args.name)  # checked before reading anything
    cases = []
    for folder in [p for p in args.cases.split(",") if p]:
        cases.extend(load_cases(folder, _scheme(args)))
    cases = list(track(cases, stage="exporting"))
    folder = export_dataset(cases, raw, args.id, args.name)
    print(f"wrote {len(cases)} cases to {folder}")
    return 0


def cmd_train_seg(args) -> int:
    from .segmentation import nnunet

    if args.fold != "all" and not (args.fold.isdigit() and 0 <= int(args.fold) <= 4):
        raise InputError("--fold", f"use 0-4 or all (got {args.fold})")
    with nnunet.nnunet_environment(args.root) as env:
        for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            if not env[key]:
                raise InputError(key, "is not set; pass --root DIR or set nnU-Net's variables")
        raw = list(Path(env["nnUNet_raw"]).glob(f"Dataset{args.dataset:03d}_*"))
        if not raw:
            raise InputError(env["nnUNet_raw"], f"holds no dataset {args.dataset:03d} (claim export-nnunet first)")
        if not nnunet.preprocessed(args.dataset, args.config):
            nnunet.plan_and_preprocess(args.dataset, args.config)
        folder = nnunet.train(args.dataset, args.config, args.fold, args.trainer, args.device)
    print(f"trained {args.trainer} {args.config} fold {args.fold}: {folder}")
    return 0


def cmd_segment(args) -> int:
    from .io import read_volume, stem, volume_suffix, write_volume
    from .segmentation.nnunet import Predictor

    src = Path(args.image)
    if src.is_dir():
        images = [p for p in sorted(src.iterdir()) if p.is_file() and volume_suffix(p) and not p.name.startswith(".")]
        if not images:
            raise InputError(src, "holds no image")
        out_dir = Path(args.out)
        if out_dir.exists() and not out_dir.is_dir():
            raise InputError(out_dir, "must be a folder when --image is a folder")
        targets = [(p, out_dir / f"{re.sub(r'_0000$', '', stem(p))}.nii.gz") for p in images]
    else:
        from .io import WRITE_SUFFIXES

        _check_suffix(args.out, WRITE_SUFFIXES, "--out")
        targets = [(src, Path(args.out))]
    loaded = [read_volume(p) for p, _ in targets[:1]]  # the first input is checked before the model loads
    folds = [f if f == "all" else int(f) for f in args.fold.split(",")] if args.fold else None
    predictor = Predictor(args.model, folds=folds, device=args.device, postprocess=not args.no_postprocess)
    for i, (path, out) in enumerate(targets):
        image, geometry = loaded[0] if i == 0 else read_volume(path)
        t = time.perf_counter()
        labels = predictor.predict(image, geometry)
        write_volume(out, labels, geometry, np.uint8)  # each result as soon as it is done
        vox = geometry.voxel_volume_ml
        line = (f"{path.name}: {time.perf_counter() - t:.1f} s, myocardium {np.count_nonzero(labels >= 2) * vox:.1f} "
                f"mL, scar {np.count_nonzero(labels >= 3) * vox:.2f} mL -> {out}")
        if args.labels and len(targets) == 1:
            from .io import CaseFiles, load_case
            from .labels import case_from_arrays
            from .segmentation.metrics import case_metrics
            from .segmentation.nnunet import labels_scheme

            truth = load_case(CaseFiles(stem(args.labels), None, args.labels), _scheme(args))
            _same_grid(geometry, truth, args.labels)
            pred = case_from_arrays("pred", None, labels, geometry, labels_scheme(predictor.has_mvo))
            m = case_metrics(pred, truth)
            line += f"; Dice scar {m['scar']['dice']:.3f}, myocardium {m['myocardium']['dice']:.3f}"
        print(line, flush=True)
    return 0


def cmd_evaluate(args) -> int:
    from .io import CaseFiles, discover_cases, load_case, read_labels, stem, volume_suffix, write_text
    from .labels import case_from_arrays
    from .segmentation.metrics import CLASSES, aggregate, case_metrics

    pred_dir, gt_dir = Path(args.pred), Path(args.gt)
    for d in (pred_dir, gt_dir):
        if not d.is_dir():
            raise InputError(d, "no such folder")
    truths = {f.case_id: f for f in discover_cases(gt_dir) if f.labels is not None}
    preds = {stem(p): p for p in sorted(pred_dir.iterdir()) if p.is_file() and volume_suffix(p)}
    common = sorted(set(truths) & set(preds))
    if not common:
        raise InputError(pred_dir, f"no prediction matches a case of {gt_dir} by name")
    rows, per_case, pairs = [], [], []
    for cid in common:
        truth = load_case(truths[cid], _scheme(args))
        array, geometry, scheme = read_labels(preds[cid])
        _same_grid(geometry, truth, preds[cid])
        pred = case_from_arrays(cid, None, array, geometry, scheme or truth.scheme, labels_source=preds[cid])
        m = case_metrics(pred, truth)
        per_case.append(m)
        pairs.append((truth, pred))
        for c, v in m.items():
            rows.append({"case": cid, "class": c, **{k: v[k] for k in ("dice", "precision", "sensitivity",
                                                                       "specificity", "hd95_mm", "volume_error_ml")}})
    agg = aggregate(per_case)
    lines = [f"{len(common)} cases"]
    for c in CLASSES:
        if c in agg:
            a = agg[c]
            lines.append(f"  {c:<11} Dice {a['dice']['mean']:.3f} +- {a['dice']['sd']:.3f}  precision "
                         f"{a['precision']['mean']:.3f}  sensitivity {a['sensitivity']['mean']:.3f}  specificity "
                         f"{a['specificity']['mean']:.4f}  HD95 {a['hd95_mm']['mean']:.1f} mm (n={a['hd95_mm']['n']})  "
                         f"|dV| {a['volume_error_ml']['mean']:.2f} mL")
    print("\n".join(lines))
    if args.csv:
        import csv
        import io

        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_text(args.csv, buf.getvalue())
    if args.bullseye:
        _comparison_bullseye(pairs, args.bullseye)
    return 0


def _comparison_bullseye(pairs, path) -> None:
    """Mean scar volume per AHA segment: ground truth / prediction / difference (AHA from the truth)."""
    from .aha import aha_segments
    from .bullseye import comparison_panels, plot
    from .quantify import quantify

    _check_suffix(path, (".png", ".svg"), "--bullseye")
    truth_tables, pred_tables = [], []
    for truth, pred in pairs:
        r = aha_segments(truth.myocardium, truth.masks.get("cavity"), truth.geometry, image=truth.image,
                         rv=truth.masks.get("rv"))
        truth_tables.append(quantify(r.labels, truth.myocardium, truth.mask("scar"), truth.geometry))
        pred_tables.append(quantify(r.labels, truth.myocardium, pred.mask("scar"), truth.geometry))

    def mean_table(tables):
        return {"segments": [{"segment": s, "scar_ml": float(np.mean([t["segments"][s - 1]["scar_ml"]
                                                                       for t in tables]))} for s in range(1, 18)]}

    plot(comparison_panels(mean_table(truth_tables), mean_table(pred_tables)), path,
         suptitle=f"Mean scar volume per segment over {len(pairs)} cases")


# ----------------------------------------------------------------------------------------------- phantom
def cmd_phantom(args) -> int:
    from .phantom import case_rng, cohort_plan, generate_case, write_case
    from .progress import track

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


# ----------------------------------------------------------------------------------------------- demo
def cmd_demo(args) -> int:
    from .demo import run_demo

    emidec = Path(args.emidec) if args.emidec else None
    if emidec is not None and not emidec.is_dir():
        raise InputError(emidec, "no such folder")
    if args.cases < 1:
        raise InputError("--cases", f"must be at least 1 (got {args.cases})")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "exists and is not a folder")
    model = Path(args.diffusion_model) if args.diffusion_model else None
    if model is not None and not model.is_file():
        raise InputError(model, "no such checkpoint")
    summary = run_demo(out, emidec=emidec, n_cases=args.cases, seed=args.seed, diffusion_model=model)
    ph = summary["phantom"]
    ok = sum(1 for i in ph if i["slice_order"]["order"] == i["truth"]["slice_order"])
    print(f"demo: {len(ph)} phantom cases (slice order right in {ok}/{len(ph)}), "
          f"{len(summary['emidec'])} EMIDEC cases, {summary['seconds']['total']:.1f} s")
    print(f"demo: wrote {out / 'report.md'}, {out / 'montage.png'} and {out / 'summary.json'}")
    return 0


# ----------------------------------------------------------------------------------------------- parser
def add_case_arguments(p: argparse.ArgumentParser) -> None:
    """The inputs of every command that reads cases (resolved by ``_case_files``)."""
    p.add_argument("paths", nargs="*", metavar="CASE_OR_FILES",
                   help="a case folder or dataset root, a label file, or IMAGE LABELS")
    p.add_argument("--image", type=Path, help="the LGE image (with --labels)")
    p.add_argument("--labels", type=Path, help="the label map (NIfTI, NRRD or Slicer .seg.nrrd)")
    p.add_argument("--scheme", help="label scheme: emidec, myops or e.g. 'cavity=1,myocardium=2+3+4,scar=3+4,mvo=4' "
                                    "(default: detected from the values)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="claim", description="CLAIM: clinically guided LGE scar synthesis and segmentation.")
    parser.add_argument("--version", action="version", version=f"claim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("info", help="shape, spacing, slice order and structure volumes (mL) of cases",
                       description="Print a case's grid, slice order and each structure's volume in mL. "
                                   "PATHS: a case folder or dataset root, a label file, or IMAGE LABELS.")
    add_case_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="check cases and write them in the EMIDEC layout (NIfTI, EMIDEC labels)",
                       description="Read cases in any supported layout (EMIDEC, MyoPS, nnU-Net, pairs, .seg.nrrd), "
                                   "check them, and write them as OUT/<id>/Images and OUT/<id>/Contours.")
    add_case_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("aha", help="label the myocardium with the 17 AHA segments, in subject space",
                       description="Write 0 for background and 1-17 on myocardium voxels, on the input's grid. "
                                   "The septum comes from an RV mask in the labels, RV insertion points, the LGE "
                                   "image, or a default (with a warning), in that order.")
    add_subject_arguments(p, "the label map")
    p.add_argument("--out", type=Path, required=True, help="output AHA label map (.nii.gz, .nii, .nrrd, .mha)")
    p.add_argument("--json", type=Path, help="also write the orientation record as JSON")
    p.set_defaults(func=cmd_aha)

    p = sub.add_parser("bullseye", help="per-segment scar volume, %% and transmurality: bull's-eye and table",
                       description="Quantify scar per AHA segment and draw bull's-eyes (scar mL, %% of segment, "
                                   "mean transmurality). Computes the AHA segments unless --aha is given.")
    add_subject_arguments(p, "the label map (myocardium, and scar unless --scar)")
    p.add_argument("--scar", type=Path, help="a scar mask or label map to quantify instead of the labels' scar")
    p.add_argument("--aha", type=Path, help="AHA labels (from claim aha) on the same grid")
    p.add_argument("--out", type=Path, required=True, help="figure (.png or .svg)")
    p.add_argument("--csv", type=Path, help="also write the per-segment table as CSV")
    p.add_argument("--title", help="figure title")
    p.set_defaults(func=cmd_bullseye)

    p = sub.add_parser("smile", help="clinically guided scar masks on a subject's AHA segments (SMILE)",
                       description="Grow textured scar masks inside chosen AHA segments, with a volume in mL and a "
                                   "transmurality pattern. Writes a label map (1 cavity, 2 myocardium, 3 scar, "
                                   "4 MVO) and a JSON sidecar per mask. An existing scar becomes myocardium.")
    add_subject_arguments(p, "the subject's label map (myocardium, cavity)", method=False)
    p.add_argument("--out", type=Path, required=True, help="output mask (.nii.gz ...); with --count N, numbered")
    add_smile_arguments(p)
    p.add_argument("--mode", choices=("direct", "template"), default="direct",
                   help="direct (subject's own AHA labels, default) or template (paper-faithful, via registration)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--count", type=int, default=1, help="number of masks (default 1)")
    p.set_defaults(func=cmd_smile)

    p = sub.add_parser("mask-stats", help="realism metrics between two sets of scar masks",
                       description="Compare scar masks with reference masks: AHA involvement frequency, and "
                                   "Wasserstein distances of volume, transmurality, components and endocardial "
                                   "contact.")
    p.add_argument("--masks", type=Path, required=True, help="folder of label maps (e.g. claim smile outputs)")
    p.add_argument("--reference", type=Path, required=True, help="folder of reference cases (e.g. real scars)")
    p.add_argument("--scheme", help="label scheme (default: detected)")
    p.add_argument("--out", type=Path, help="also write the report as JSON")
    p.set_defaults(func=cmd_mask_stats)

    p = sub.add_parser("train-diffusion", help="train the lesion-focused generator on pathological cases",
                       description="Train the histogram-conditioned lesion-focused diffusion model on the scarred "
                                   "slices of the cases in --data. Writes checkpoint.pt, log.csv and sample grids.")
    p.add_argument("--data", required=True, help="folder of cases (any layout) with images and scar labels")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--config", default="tiny", help="tiny (CPU, minutes), default (GPU) or paper (72x72, T=300)")
    p.add_argument("--steps", type=int, help="total training steps (default 1000, or the resumed run's)")
    p.add_argument("--batch", type=int, help="batch size (default: the config's)")
    p.add_argument("--accumulate", type=int, help="gradient accumulation steps (default 1)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    p.add_argument("--save-every", type=int, help="checkpoint interval in steps (default: the config's)")
    p.add_argument("--sample-every", type=int, help="sample-grid interval in steps (0: only at the end)")
    p.set_defaults(func=cmd_train_diffusion)

    def add_sampling(p):
        p.add_argument("--model", required=True, help="generator checkpoint (checkpoint.pt or its run folder)")
        p.add_argument("--sampler", default="ddim", help="ddim (default, <= 50 network calls) or repaint")
        p.add_argument("--steps", type=int, help="DDIM steps (default 50)")
        p.add_argument("--jump", type=int, default=5, help="RePaint jump length (default 5)")
        p.add_argument("--resample", type=int, default=5, help="RePaint resamplings per jump (default 5)")
        p.add_argument("--brightness", type=float, help="scar brightness relative to the blood pool (default: a "
                                                        "histogram drawn from the training scars)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", help="cpu, cuda ... (default: cuda when present)")
        p.add_argument("--scheme", help="label scheme (default: detected)")

    p = sub.add_parser("synthesize", help="paint scar texture into an LGE image under a mask",
                       description="Inpaint the mask's scar (and MVO) with the generator. Every voxel outside the "
                                   "mask keeps its value, bit for bit. Writes the image, its labels and a JSON record.")
    p.add_argument("--image", type=Path, required=True, help="the LGE image")
    p.add_argument("--labels", type=Path, required=True, help="its label map")
    p.add_argument("--mask", type=Path, required=True, help="scar mask (0/1) or label map (e.g. from claim smile)")
    p.add_argument("--out", type=Path, required=True, help="the synthetic image")
    p.add_argument("--out-labels", type=Path, help="its labels (default: OUT with _labels)")
    add_sampling(p)
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("synthesize-dataset", help="SMILE masks + synthesis for every case: a synthetic cohort",
                       description="Draw SMILE masks for each case and paint them with the generator; writes a new "
                                   "cohort in the EMIDEC layout (how the paper's N' and N'' are made).")
    p.add_argument("--cases", type=Path, required=True, help="folder of cases with images and labels")
    p.add_argument("--per-case", type=int, default=1, help="synthetic cases per input case (default 1)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    add_smile_arguments(p)
    add_sampling(p)
    p.set_defaults(func=cmd_synthesize_dataset)

    p = sub.add_parser("export-nnunet", help="write cases as an nnU-Net v2 raw dataset",
                       description="Write cases (real, synthetic or mixed, any layout) as DatasetNNN_Name with "
                                   "imagesTr, labelsTr and dataset.json (0 background, 1 cavity, 2 myocardium, "
                                   "3 scar, 4 MVO when present).")
    p.add_argument("--cases", required=True, help="case folders, comma-separated")
    p.add_argument("--id", type=int, required=True, help="dataset id, 1-999")
    p.add_argument("--name", required=True, help="dataset name")
    p.add_argument("--raw", help="nnU-Net's raw folder (default: $nnUNet_raw)")
    p.add_argument("--scheme", help="label scheme of the inputs (default: detected)")
    p.set_defaults(func=cmd_export_nnunet)

    p = sub.add_parser("train-seg", help="plan, preprocess and train nnU-Net on an exported dataset",
                       description="nnU-Net v2 planning and preprocessing (when not done yet) and training of one "
                                   "fold. CLAIM's short trainers: nnUNetTrainerCLAIMShort, nnUNetTrainerCLAIMQuick.")
    p.add_argument("--dataset", type=int, required=True, help="dataset id")
    p.add_argument("--config", default="2d", help="nnU-Net configuration (default 2d)")
    p.add_argument("--fold", default="0", help="0-4 or all (default 0)")
    p.add_argument("--trainer", default="nnUNetTrainer", help="trainer class (default nnUNetTrainer)")
    p.add_argument("--root", help="folder holding nnUNet_raw, nnUNet_preprocessed, nnUNet_results "
                                  "(default: nnU-Net's variables)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.set_defaults(func=cmd_train_seg)

    p = sub.add_parser("segment", help="segment scar (and cavity, myocardium, MVO) with a trained nnU-Net",
                       description="Load the model once and segment one image or a folder of images; each result "
                                   "is written as soon as it is done, on its input's exact grid.")
    p.add_argument("--image", type=Path, required=True, help="an LGE image, or a folder of them")
    p.add_argument("--labels", type=Path, help="ground truth for one image: prints the Dice")
    p.add_argument("--model", type=Path, required=True, help="trained model folder (TRAINER__PLANS__CONFIG)")
    p.add_argument("--out", type=Path, required=True, help="output label map, or folder for a folder of images")
    p.add_argument("--fold", help="folds to use, e.g. 0 or 0,1,2,3,4 or all (default: those trained)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--no-postprocess", action="store_true", help="keep scar outside the myocardium and tiny bits")
    p.add_argument("--scheme", help="label scheme of --labels (default: detected)")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("evaluate", help="Dice, precision, sensitivity, specificity, HD95 and volume error",
                       description="Compare predicted label maps (named like the cases) with the ground truth, per "
                                   "case and class (scar = infarct + MVO), with an optional per-segment bull's-eye.")
    p.add_argument("--pred", required=True, help="folder of predicted label maps (<case id>.nii.gz)")
    p.add_argument("--gt", required=True, help="folder of ground-truth cases (any layout)")
    p.add_argument("--csv", type=Path, help="per-case metrics as CSV")
    p.add_argument("--bullseye", type=Path, help="ground truth / prediction / difference bull's-eye (.png/.svg)")
    p.add_argument("--scheme", help="label scheme (default: detected)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("phantom", help="write a cohort of LGE phantoms in the EMIDEC layout",
                       description="Write N phantom LGE cases (image, labels, AHA-17 and RV ground truth, JSON).")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cases", type=int, default=10, help="number of cases (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--normal-fraction", type=float, default=0.3, help="fraction of normal cases (default 0.3)")
    p.set_defaults(func=cmd_phantom)

    p = sub.add_parser("demo", help="run everything on a fresh phantom cohort (and EMIDEC samples if present)",
                       description="Generate a phantom cohort, read it back, and write a montage and a report.")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--cases", type=int, default=6, help="phantom cases (default 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--emidec", help="EMIDEC folder (default: $CLAIM_EMIDEC or ../shared/data/emidec)")
    p.add_argument("--diffusion-model", help="a generator checkpoint to use instead of training the tiny one")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already reported in one line
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"claim: error: {e.source}: {e.problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("claim: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: one line, the traceback only on request
        if os.environ.get("CLAIM_DEBUG"):
            raise
        print(f"claim: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
              f"(set CLAIM_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
