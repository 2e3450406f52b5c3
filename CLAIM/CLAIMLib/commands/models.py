"""Subcommands with models: train-diffusion, synthesize, synthesize-dataset, export-nnunet, train-seg, segment, evaluate."""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from .common import _scheme, _check_suffix, _same_grid, _smile_spec


def cmd_train_diffusion(args) -> int:
    from ..diffusion.model import CONFIGS
    from ..diffusion.train import train

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


def _check_fold(fold: str) -> None:
    if fold != "all" and not (fold.isdigit() and 0 <= int(fold) <= 4):
        raise InputError("--fold", f"use 0-4 or all (got {fold})")


def _synthesis_options(args):
    from ..diffusion.sample import synthesis_options

    return synthesis_options(args.sampler, args.steps, args.brightness, args.jump, args.resample)


def cmd_synthesize(args) -> int:
    from ..diffusion.sample import load_generator, synthesize
    from ..io import (WRITE_SUFFIXES, CaseFiles, load_case, read_labels, read_volume, stem, volume_suffix,
                     write_json, write_volume)
    from ..labels import EMIDEC, check_scar_mask, scar_from_labels

    _check_suffix(args.out, WRITE_SUFFIXES, "--out")
    if args.out_labels:
        _check_suffix(args.out_labels, WRITE_SUFFIXES, "--out-labels")
    options = _synthesis_options(args)
    case = load_case(CaseFiles(stem(args.image), args.image, args.labels), _scheme(args))
    raw, _ = read_volume(args.image)
    array, geometry, file_scheme = read_labels(args.mask)
    _same_grid(geometry, case, args.mask)
    scar, mvo = scar_from_labels(array, geometry, file_scheme, args.mask)
    check_scar_mask(scar, case.myocardium, args.mask)
    bundle = load_generator(args.model, args.device)
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
    from ..diffusion.cohort import synthesize_cohort
    from ..diffusion.sample import load_generator
    from ..io import discover_cases, load_case, read_volume

    options = _synthesis_options(args)
    if args.per_case < 1:
        raise InputError("--per-case", f"must be at least 1 (got {args.per_case})")
    spec = _smile_spec(args)
    files = [f for f in discover_cases(args.cases) if f.image is not None and f.labels is not None]
    if not files:
        raise InputError(args.cases, "holds no case with an image and labels")
    cases = [load_case(f, _scheme(args)) for f in files]  # check everything before writing anything
    bundle = load_generator(args.model, args.device)
    sources = [(case, read_volume(f.image)[0]) for f, case in zip(files, cases)]
    made = synthesize_cohort(sources, bundle, args.per_case, Path(args.out),
                             np.random.default_rng(args.seed), spec, **options)
    print(f"wrote {len(made)} synthetic cases ({args.per_case} per case, {len(cases)} cases) to {args.out}")
    return 0


def cmd_export_nnunet(args) -> int:
    from ..io import load_cases
    from ..progress import track
    from ..segmentation.nnunet import dataset_name, export_dataset

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
    from ..segmentation import nnunet

    _check_fold(args.fold)
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
    from ..io import read_volume, stem, volume_suffix, write_volume
    from ..segmentation.nnunet import Predictor

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
        from ..io import WRITE_SUFFIXES

        _check_suffix(args.out, WRITE_SUFFIXES, "--out")
        targets = [(src, Path(args.out))]
    loaded = [read_volume(p) for p, _ in targets[:1]]  # the first input is checked before the model loads
    folds = [f if f == "all" else int(f) for f in args.fold.split(",")] if args.fold else None
    predictor = Predictor(args.model, folds=folds, device=args.device, postprocess=not args.no_postprocess)
    from ..progress import emit

    for i, (path, out) in enumerate(targets):
        emit(i / len(targets), f"segmenting {path.name}")
        image, geometry = loaded[0] if i == 0 else read_volume(path)
        t = time.perf_counter()
        labels = predictor.predict(image, geometry)
        write_volume(out, labels, geometry, np.uint8)  # each result as soon as it is done
        vox = geometry.voxel_volume_ml
        line = (f"{path.name}: {time.perf_counter() - t:.1f} s, myocardium {np.count_nonzero(labels >= 2) * vox:.1f} "
                f"mL, scar {np.count_nonzero(labels >= 3) * vox:.2f} mL -> {out}")
        if args.labels and len(targets) == 1:
            from ..io import CaseFiles, load_case
            from ..labels import case_from_arrays
            from ..segmentation.metrics import case_metrics
            from ..segmentation.nnunet import labels_scheme

            truth = load_case(CaseFiles(stem(args.labels), None, args.labels), _scheme(args))
            _same_grid(geometry, truth, args.labels)
            pred = case_from_arrays("pred", None, labels, geometry, labels_scheme(predictor.has_mvo))
            m = case_metrics(pred, truth)
            line += f"; Dice scar {m['scar']['dice']:.3f}, myocardium {m['myocardium']['dice']:.3f}"
        print(line, flush=True)
    emit(1.0, "done")
    return 0


def cmd_evaluate(args) -> int:
    from ..io import discover_cases, load_case, read_labels, stem, volume_suffix, write_text
    from ..labels import case_from_arrays
    from ..segmentation.metrics import CLASSES, aggregate, case_metrics, metric_rows

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
        rows += metric_rows(cid, m)
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
    from ..aha import aha_segments
    from ..bullseye import comparison_panels, plot
    from ..quantify import mean_table, quantify

    _check_suffix(path, (".png", ".svg"), "--bullseye")
    truth_tables, pred_tables = [], []
    for truth, pred in pairs:
        r = aha_segments(truth.myocardium, truth.masks.get("cavity"), truth.geometry, image=truth.image,
                         rv=truth.masks.get("rv"))
        truth_tables.append(quantify(r.labels, truth.myocardium, truth.mask("scar"), truth.geometry))
        pred_tables.append(quantify(r.labels, truth.myocardium, pred.mask("scar"), truth.geometry))

    plot(comparison_panels(mean_table(truth_tables), mean_table(pred_tables)), path,
         suptitle=f"Mean scar volume per segment over {len(pairs)} cases")


QUICK_COHORT = (10, 5)  # pathological, normal phantoms of `claim experiment --quick`


def cmd_experiment(args) -> int:
    from ..diffusion.sample import check_sampler, resolve_checkpoint
    from ..segmentation.experiment import ExperimentOptions, parse_settings, run_experiment

    settings = parse_settings(args.settings)
    _check_fold(args.fold)
    if not 0 < args.test_fraction < 1:
        raise InputError("--test-fraction", f"must lie between 0 and 1 (got {args.test_fraction})")
    check_sampler(args.sampler, args.steps)
    if not 1 <= args.dataset_id <= 1000 - 4:
        raise InputError("--dataset-id", f"use 1-996 (got {args.dataset_id})")
    out = Path(args.out)
    pathological, normal, generator = args.pathological, args.normal, args.diffusion
    if not args.quick:
        for flag, value in (("--pathological", pathological), ("--normal", normal), ("--diffusion", generator)):
            if value is None:
                raise InputError(flag, "is required (or run the phantom version with --quick)")
    if (pathological is None) != (normal is None):
        raise InputError("--normal" if normal is None else "--pathological", "give both case folders, or neither")
    for flag, value in (("--pathological", pathological), ("--normal", normal)):
        if value is not None and not Path(value).is_dir():
            raise InputError(value, "no such folder")
    if generator is not None:
        generator = resolve_checkpoint(generator)
    if pathological is None:
        pathological, normal = _quick_cohort(out / "phantom", args.seed)
    if generator is None:
        steps = args.diffusion_steps

        def generator(train_folder):  # trained once; a rerun resumes it, or finds it done
            from ..diffusion.train import train

            run = out / "diffusion_run"
            return train(train_folder, run, "tiny", steps=steps, seed=args.seed, sample_every=0,
                         resume=(run / "checkpoint.pt").is_file(), device=args.device)["checkpoint"]

    options = ExperimentOptions(
        settings=settings, test_fraction=args.test_fraction, seed=args.seed,
        trainer=args.trainer or ("nnUNetTrainerCLAIMExperiment" if args.quick else "nnUNetTrainer"),
        configuration=args.config, fold=args.fold, first_dataset_id=args.dataset_id, device=args.device,
        spec=_smile_spec(args), synthesis={"sampler": args.sampler, "steps": args.steps or 50})
    t = time.perf_counter()
    result = run_experiment(pathological, normal, generator, out, options, _scheme(args))
    print((out / "table.md").read_text())
    print(f"experiment done in {time.perf_counter() - t:.0f} s: {out / 'table.md'}, {out / 'table.csv'}, "
          f"{out / 'per_case.csv'}, {out / 'bullseye.png'} ({len(result['settings'])} settings)")
    return 0


def _quick_cohort(folder: Path, seed: int):
    """The phantom cohort of ``--quick``: pathological and normal cases in two folders (made once)."""
    from ..io import atomic_dir
    from ..phantom import case_rng, generate_case, write_case

    n_p, n_n = QUICK_COHORT
    for group, count, offset in (("pathological", n_p, 0), ("normal", n_n, n_p)):
        target = folder / group
        if target.is_dir():
            continue
        with atomic_dir(target) as tmp:
            for i in range(count):
                index = offset + i
                case_id = f"Phantom_{'P' if group == 'pathological' else 'N'}{index + 1:03d}"
                write_case(generate_case(case_rng(seed, index), case_id, group == "pathological"), tmp)
    return folder / "pathological", folder / "normal"


def cmd_train_joint(args) -> int:
    from ..joint import read_config, train_joint

    config = read_config(args.config)
    if args.steps is not None:
        if args.steps < 1:
            raise InputError("--steps", f"must be at least 1 (got {args.steps})")
        config.steps = args.steps
    for key, role in (("pathological", "folder"), ("normal", "folder")):
        if not Path(getattr(config, key)).is_dir():
            raise InputError(getattr(config, key), f"no such {role} ({key} in {args.config})")
    if not Path(config.segmenter).is_dir():
        raise InputError(config.segmenter, f"no such nnU-Net model folder (segmenter in {args.config})")
    result = train_joint(config, resume=args.resume)
    if result["rank"] == 0:
        best = result["best"]
        print(f"joint training to step {result['step']} in {result['seconds']:.0f} s; generator "
              f"{result['generator']}, segmenter {result['segmenter']}"
              + (f"; best segmentability {best['segmentability']:.3f} at step {best['step']}" if best else ""))
    return 0
