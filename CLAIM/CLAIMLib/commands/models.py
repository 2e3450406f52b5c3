"""Subcommands with models: train-diffusion, synthesize, synthesize-dataset, export-nnunet, train-seg, segment,
evaluate, experiment, train-joint (parsers and handlers)."""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from .common import (check_fold, check_suffix, folder_target, generator_of, same_grid, scheme_of, smile_spec,
                     synthesis_options)


def add_parsers(sub) -> None:
    from .model_parsers import add_diffusion_parsers, add_joint_parsers, add_segmentation_parsers

    add_diffusion_parsers(sub, cmd_train_diffusion, cmd_synthesize, cmd_synthesize_dataset, cmd_evaluate_synthesis)
    add_segmentation_parsers(sub, cmd_export_nnunet, cmd_train_seg, cmd_segment, cmd_evaluate)
    add_joint_parsers(sub, cmd_experiment, cmd_train_joint)


def cmd_train_diffusion(args) -> int:
    from ..diffusion.model import CONFIGS
    from ..diffusion.train import train

    data = Path(args.data)
    if not data.is_dir():
        raise InputError(data, "no such folder")
    if args.config not in CONFIGS:
        raise InputError("--config", f"unknown config '{args.config}'; use {', '.join(CONFIGS)}")
    for name, least in (("steps", 1), ("batch", 1), ("accumulate", 1), ("save_every", 1), ("sample_every", 0)):
        value = getattr(args, name)
        if value is not None and value < least:
            raise InputError(f"--{name.replace('_', '-')}", f"must be at least {least} (got {value})")
    from ..devices import resolve_device
    from ..outputs import has_file

    resolve_device(args.device)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 owns the run folder
        folder_target(args, keep=has_file("checkpoint.pt"))
    result = train(data, args.out, args.config, steps=args.steps, batch=args.batch, resume=args.resume,
                   seed=args.seed, accumulate=args.accumulate or 1, device=args.device,
                   save_every=args.save_every, sample_every=args.sample_every)
    if result["rank"] == 0:
        print(f"trained to step {result['step']} (loss {result['loss']:.4f}, {result['slices']} training slices, "
              f"{result['seconds']:.0f} s); checkpoint {result['checkpoint']}")
    return 0


def cmd_synthesize(args) -> int:
    from ..io import WRITE_SUFFIXES, CaseFiles, load_case, read_labels, stem, volume_suffix, write_json, write_volume
    from ..labels import check_scar_mask, scar_from_labels
    from ..workflows.synthesis import synthesize_case

    out = Path(args.out)
    labels_out = Path(args.out_labels) if args.out_labels else out.with_name(f"{stem(out)}_labels{volume_suffix(out)}")
    check_suffix(out, WRITE_SUFFIXES, "--out")
    check_suffix(labels_out, WRITE_SUFFIXES, "--out-labels")
    check_suffix(out.with_name(stem(out) + ".json"), (".json",), "--out (record)")
    options = synthesis_options(args)
    case = load_case(CaseFiles(stem(args.image), args.image, args.labels), scheme_of(args))
    array, geometry, file_scheme = read_labels(args.mask)
    same_grid(geometry, case, args.mask)
    scar, mvo = scar_from_labels(array, geometry, file_scheme, args.mask)
    check_scar_mask(scar, case.myocardium, args.mask)
    bundle = generator_of(args)
    syn = synthesize_case(bundle, case, scar, mvo, seed=args.seed, **options)
    write_volume(out, syn.image, case.geometry, case.image.dtype)
    write_volume(labels_out, syn.labels, case.geometry, np.uint8)
    record = syn.record
    write_json(out.with_name(stem(out) + ".json"), {"image": str(args.image), "labels": str(args.labels),
                                                    "mask": str(args.mask), "model": str(args.model), **record})
    print(f"{case.case_id}: scar painted on {record['slices']} slices with {record['sampler']} "
          f"({record['network_calls']} network calls); wrote {out} and {labels_out}")
    if record.get("mask_voxels_outside_crop"):
        print(f"claim: warning: {record['mask_voxels_outside_crop']} mask voxels lay outside the generator's window "
              "and were left unchanged", file=sys.stderr)
    return 0


def cmd_synthesize_dataset(args) -> int:
    from ..io import discover_cases, load_case
    from ..workflows.synthesis import synthesize_cohort

    options = synthesis_options(args)
    if args.per_case < 1:
        raise InputError("--per-case", f"must be at least 1 (got {args.per_case})")
    if not 1 <= args.qc_tries <= 20:
        raise InputError("--qc-tries", f"must lie in 1-20 (got {args.qc_tries})")
    spec = smile_spec(args)
    from ..outputs import check_run_settings, has_file

    out = folder_target(args, keep=has_file("*.json"))
    files = [f for f in discover_cases(args.cases) if f.image is not None and f.labels is not None]
    if not files:
        raise InputError(args.cases, "holds no case with an image and labels")
    cases = [load_case(f, scheme_of(args)) for f in files]  # check everything before writing anything
    bundle = generator_of(args)
    check_run_settings(out, {"cases": str(Path(args.cases).resolve()), **{k: getattr(args, k) for k in ("per_case", "seed", "qc", "qc_tries", "model",
                                                           "sampler", "steps", "segments", "territory", "volume_ml",
                                                           "transmurality", "mvo", "brightness")}})
    summary = synthesize_cohort(cases, bundle, args.per_case, out, np.random.default_rng(args.seed),
                                spec, qc=args.qc, max_tries=args.qc_tries, **options)
    print(f"wrote {len(summary['cases'])} synthetic cases ({args.per_case} per case, {len(cases)} cases) to "
          f"{args.out}")
    if summary["qc"]:
        q = summary["qc"]
        why = ", ".join(f"{k} {v}" for k, v in q["rejections"].items()) or "none rejected"
        print(f"quality gate: {q['accepted']} of {q['samples']} samples accepted ({100 * q['acceptance_rate']:.0f}%;"
              f" {why})")
        if q["kept_after_failing"]:
            print(f"claim: warning: {len(q['kept_after_failing'])} cases kept after failing the gate "
                  f"{q['max_tries']} times: {', '.join(q['kept_after_failing'])}", file=sys.stderr)
    return 0


def cmd_evaluate_synthesis(args) -> int:
    from ..io import discover_cases, load_case
    from ..workflows.fidelity import evaluate_synthesis, format_fidelity, write_fidelity

    options = synthesis_options(args)
    if args.out is not None:
        folder_target(args)
    files = [f for f in discover_cases(args.cases) if f.image is not None and f.labels is not None]
    if not files:
        raise InputError(args.cases, "holds no case with an image and labels")
    cases = [load_case(f, scheme_of(args)) for f in files]
    bundle = generator_of(args)
    result = evaluate_synthesis(bundle, cases, seed=args.seed, **options)
    print(f"synthesis fidelity on {result['pooled']['generator']['cases']} cases ({options['sampler']}, "
          f"{options['steps'] if options['sampler'] != 'repaint' else 'RePaint'}); median |error| over cases, "
          "in remote-myocardium SDs:")
    print(format_fidelity(result))
    if result["skipped"]:
        print(f"claim: warning: skipped (no scar): {', '.join(result['skipped'])}", file=sys.stderr)
    if args.out is not None:
        print(f"wrote {write_fidelity(result, args.out)}")
    return 0


def cmd_export_nnunet(args) -> int:
    from ..io import load_cases
    from ..segmentation.nnunet import dataset_name, export_dataset

    raw = args.raw or os.environ.get("nnUNet_raw")
    if not raw:
        raise InputError("--raw", "give nnU-Net's raw folder with --raw or the nnUNet_raw variable")
    name = dataset_name(args.id, args.name)  # checked before reading anything
    taken = [p.name for p in Path(raw).glob(f"Dataset{args.id:03d}_*") if p.name != name] if Path(raw).is_dir() else []
    if taken:
        raise InputError("--id", f"{args.id} is taken by {taken[0]} in {raw}")
    folder_target(args, "--name", path=Path(raw) / name)
    cases = []
    for folder in [p for p in args.cases.split(",") if p]:
        cases.extend(load_cases(folder, scheme_of(args)))
    folder = export_dataset(cases, raw, args.id, args.name)
    print(f"wrote {len(cases)} cases to {folder}")
    return 0


def cmd_train_seg(args) -> int:
    from ..segmentation import nnunet
    from ..workflows.segmentation import nnunet_log, train_segmenter

    from ..devices import resolve_device
    from ..outputs import has_file

    check_fold(args.fold)
    resolve_device(args.device)
    with nnunet.nnunet_environment(args.root) as env:
        for key in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
            if not env[key]:
                raise InputError(key, "is not set; pass --root DIR or set nnU-Net's variables")
        raw = sorted(Path(env["nnUNet_raw"]).glob(f"Dataset{args.dataset:03d}_*"))
        if not raw:
            raise InputError(env["nnUNet_raw"], f"holds no dataset {args.dataset:03d} (claim export-nnunet first)")
        nnunet.trainer_class(args.trainer)
        fold = Path(env["nnUNet_results"]) / raw[0].name / f"{args.trainer}__nnUNetPlans__{args.config}" / \
            f"fold_{args.fold}"
        folder_target(args, "--fold", path=fold, keep=has_file("checkpoint_latest.pth", "checkpoint_final.pth"))
        log = nnunet_log(args.log)
        folder = train_segmenter(args.dataset, args.config, args.fold, args.trainer, args.device, log=log,
                                 resume=args.resume)
    print(f"trained {args.trainer} {args.config} fold {args.fold}: {folder}")
    if not os.environ.get("CLAIM_VERBOSE"):
        print(f"nnU-Net's log: {log}")
    return 0


def _segment_targets(args) -> list:
    """(image, output) pairs of ``claim segment``: one file or DICOM series folder, or every image of a folder."""
    from ..dicom import is_series_folder
    from ..io import WRITE_SUFFIXES, stem, volume_suffix

    src = Path(args.image)
    if not src.is_dir() or is_series_folder(src):
        check_suffix(args.out, WRITE_SUFFIXES, "--out")
        return [(src, Path(args.out))]
    if args.labels:
        raise InputError("--labels", "applies to one image; score a folder with claim evaluate")
    images = [p for p in sorted(src.iterdir()) if p.is_file() and volume_suffix(p) and not p.name.startswith(".")]
    if not images:
        raise InputError(src, "holds no image")
    out_dir = folder_target(args)
    return [(p, out_dir / f"{re.sub(r'_0000$', '', stem(p))}.nii.gz") for p in images]


def cmd_segment(args) -> int:
    from ..io import CaseFiles, load_case, read_volume, stem
    from ..segmentation.metrics import case_metrics
    from ..segmentation.nnunet import Predictor
    from ..workflows.segmentation import segment_files

    scar = None
    if args.scar_method:
        from .scar import threshold_options

        scar = threshold_options(args)
    elif args.remote_segments or args.min_size_ml is not None or args.endocardial_only:
        raise InputError("--scar-method", "the threshold options need --scar-method (fwhm, nsd:N or otsu)")
    targets = _segment_targets(args)
    first = read_volume(targets[0][0])  # the first input is checked before the model loads
    truth = None
    if args.labels and len(targets) == 1:
        truth = load_case(CaseFiles(stem(args.labels), None, args.labels), scheme_of(args))
        same_grid(first[1], truth, args.labels)
    folds = [f if f == "all" else int(f) for f in args.fold.split(",")] if args.fold else None
    batch = {"auto": None, "on": True, "off": False}[args.batch]
    predictor = Predictor(args.model, folds=folds, device=args.device, postprocess=not args.no_postprocess,
                          batch=batch)

    def report(path, out, result):
        line = (f"{Path(path).name}: {result.seconds:.1f} s, myocardium {result.case.volume_ml('myocardium'):.1f} "
                f"mL, scar {result.case.volume_ml('scar'):.2f} mL -> {out}")
        if truth is not None:
            m = case_metrics(result.case, truth)
            line += f"; Dice scar {m['scar']['dice']:.3f}, myocardium {m['myocardium']['dice']:.3f}"
        print(line, flush=True)
        if result.warning:
            print(f"claim: warning: {result.warning}", file=sys.stderr)

    segment_files(predictor, targets, first=first, on_result=report, scar=scar)
    return 0


def _prediction_sets(specs) -> dict:
    """{name: folder} from --pred values ``[NAME=]FOLDER`` (the name defaults to the folder's)."""
    sets = {}
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name or Path(spec).is_dir():
            name, folder = Path(spec).name or spec, spec
        if name in sets:
            raise InputError("--pred", f"two prediction sets are named '{name}'; write NAME=FOLDER")
        sets[name] = Path(folder)
    return sets


def _summary_lines(agg) -> list:
    from ..segmentation.metrics import CLASSES, EMIDEC_METRICS, EMIDEC_NAMES

    lines = []
    for c in CLASSES:
        if c in agg:
            a = agg[c]
            lines.append(f"  {c:<11} Dice {a['dice']['mean']:.3f} +- {a['dice']['sd']:.3f}  precision "
                         f"{a['precision']['mean']:.3f}  sensitivity {a['sensitivity']['mean']:.3f}  specificity "
                         f"{a['specificity']['mean']:.4f}  HD95 {a['hd95_mm']['mean']:.1f} mm (n={a['hd95_mm']['n']})  "
                         f"|dV| {a['volume_error_ml']['mean']:.2f} mL")
    shown = {"dice": "Dice {:.3f}", "volume_error_ml": "|dV| {:.2f} mL", "ratio_error_pct": "|d ratio| {:.2f} %"}
    emidec = [f"{EMIDEC_NAMES.get(c, c)} " + ", ".join(shown[m].format(agg[c][m]["mean"])
                                                     for k, m in EMIDEC_METRICS if k == c)
              for c in dict.fromkeys(k for k, _ in EMIDEC_METRICS) if c in agg]
    if emidec:
        lines.append("  EMIDEC      " + "; ".join(emidec))
    return lines


def cmd_evaluate(args) -> int:
    import csv
    import io

    from ..io import write_text
    from ..workflows.evaluation import evaluate_pairs, match_predictions
    from ..workflows.tables import comparison_bullseye, comparison_tables

    if args.csv:
        check_suffix(args.csv, (".csv",), "--csv")
    if args.bullseye:
        check_suffix(args.bullseye, (".png", ".svg"), "--bullseye")
    sets = _prediction_sets(args.pred)
    gt, truths = Path(args.gt), {}
    matched = {name: match_predictions(folder, gt, scheme_of(args), truths) for name, folder in sets.items()}
    paired = {name: m.pairs for name, m in matched.items()}
    several = len(paired) > 1
    lines, rows = [], []
    for name, m in matched.items():
        result = evaluate_pairs(m.pairs)
        left = f" ({len(m.unscored)} not scored: see the warnings)" if m.unscored else ""
        lines.append(f"{name + ': ' if several else ''}{len(m.pairs)} cases{left}")
        lines += _summary_lines(result["all"])
        rows += [{"prediction": name, **r} for r in result["rows"]] if several else result["rows"]
        for source, problem in m.unscored:
            print(f"claim: warning: {source}: {problem}; not scored", file=sys.stderr)
    print("\n".join(lines))
    if args.csv:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_text(args.csv, buf.getvalue())
    if args.bullseye:
        if several:  # over the cases every set has
            common = set.intersection(*({t.case_id for t, _ in pairs} for pairs in paired.values()))
            tables = {name: comparison_tables([(t, p) for t, p in pairs if t.case_id in common])
                      for name, pairs in paired.items()}
            first = next(iter(tables.values()))[0]
            comparison_bullseye(first, {name: t[1] for name, t in tables.items()}, args.bullseye)
        else:
            truth_tables, pred_tables = comparison_tables(next(iter(paired.values())))
            comparison_bullseye(truth_tables, pred_tables, args.bullseye)
    return 0


def _experiment_inputs(args):
    """(pathological folder, normal folder, generator path or maker) of ``claim experiment``, checked."""
    from ..diffusion.sample import resolve_checkpoint
    from ..workflows.cohorts import quick_cohort
    from ..workflows.experiment import tiny_generator

    pathological, normal, generator = args.pathological, args.normal, args.diffusion
    if not args.quick:
        for flag, value in (("--pathological", pathological), ("--normal", normal), ("--diffusion", generator)):
            if value is None:
                raise InputError(flag, "is required (or run the phantom version with --quick)")
    if (pathological is None) != (normal is None):
        raise InputError("--normal" if normal is None else "--pathological", "give both case folders, or neither")
    for value in (pathological, normal):
        if value is not None and not Path(value).is_dir():
            raise InputError(value, "no such folder")
    generator = resolve_checkpoint(generator) if generator is not None else None
    from ..outputs import has_file

    out = folder_target(args, keep=has_file("*"))
    if pathological is None:
        pathological, normal = quick_cohort(out / "phantom", args.seed)
    if generator is None:
        generator = tiny_generator(out, args.diffusion_steps, args.seed, args.device)
    return pathological, normal, generator


def cmd_experiment(args) -> int:
    from ..diffusion.sample import check_sampler
    from ..diffusion.sample import DEFAULT_STEPS
    from ..workflows.experiment import ExperimentOptions, parse_settings, run_experiment

    settings = parse_settings(args.settings)
    check_fold(args.fold)
    if not 0 < args.test_fraction < 1:
        raise InputError("--test-fraction", f"must lie between 0 and 1 (got {args.test_fraction})")
    check_sampler(args.sampler, args.steps)
    from ..workflows.experiment import SETTINGS

    if not 1 <= args.dataset_id <= 1000 - len(SETTINGS):
        raise InputError("--dataset-id", f"use 1-{1000 - len(SETTINGS)} (got {args.dataset_id})")
    spec = smile_spec(args)
    pathological, normal, generator = _experiment_inputs(args)
    options = ExperimentOptions(
        settings=settings, test_fraction=args.test_fraction, seed=args.seed,
        trainer=args.trainer or ("nnUNetTrainerCLAIMExperiment" if args.quick else "nnUNetTrainer"),
        configuration=args.config, fold=args.fold, first_dataset_id=args.dataset_id, device=args.device,
        spec=spec, synthesis={"sampler": args.sampler, "steps": args.steps or DEFAULT_STEPS[args.sampler]},
        qc=not args.no_qc)
    t = time.perf_counter()
    out = Path(args.out)
    result = run_experiment(pathological, normal, generator, out, options, scheme_of(args))
    print((out / "table.md").read_text())
    print(f"experiment done in {time.perf_counter() - t:.0f} s: {out / 'table.md'}, {out / 'table.csv'}, "
          f"{out / 'per_case.csv'}, {out / 'bullseye.png'} ({len(result['settings'])} settings)")
    return 0


def cmd_train_joint(args) -> int:
    from ..joint import read_config, train_joint

    config = read_config(args.config)
    if args.steps is not None:
        if args.steps < 1:
            raise InputError("--steps", f"must be at least 1 (got {args.steps})")
        config.steps = args.steps
    for key in ("pathological", "normal"):
        if not Path(getattr(config, key)).is_dir():
            raise InputError(getattr(config, key), f"no such folder ({key} in {args.config})")
    from ..devices import resolve_device
    from ..outputs import has_file

    resolve_device(config.device, "device")
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 owns the run folder
        folder_target(args, f"out in {args.config}", path=config.out, keep=has_file("checkpoint.pt"))
    result = train_joint(config, resume=args.resume)
    if result["rank"] == 0:
        best = result["best"]
        print(f"joint training to step {result['step']} in {result['seconds']:.0f} s; generator "
              f"{result['generator']}, segmenter {result['segmenter']}"
              + (f"; best segmentability {best['segmentability']:.3f} at step {best['step']}" if best else ""))
    return 0
