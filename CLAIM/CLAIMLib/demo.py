"""``claim demo``: run everything that exists on a fresh phantom cohort and on the EMIDEC samples if present.

Writes into the output folder: ``phantom/`` (the cohort, EMIDEC layout), ``montage.png``, ``report.md`` and
``summary.json``. Each capability of CLAIM adds its section here.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from . import __version__
import numpy as np

from .aha import aha_segments
from .bullseye import plot, scar_panels
from .figures import montage
from .info import case_info
from .io import discover_cases, load_case, read_volume, write_json, write_text
from .quantify import quantify
from .smile import SmileSpec, generate, prepare_subject
from .phantom import cohort_plan, generate_case, case_rng, write_case
from .progress import track

EMIDEC_ENV = "CLAIM_EMIDEC"


def find_emidec() -> Path | None:
    """The EMIDEC sample folder: $CLAIM_EMIDEC, else ../shared/data/emidec beside the working folder or the repo."""
    candidates = []
    if os.environ.get(EMIDEC_ENV):
        candidates.append(Path(os.environ[EMIDEC_ENV]))
    candidates.append(Path.cwd().parent / "shared" / "data" / "emidec")
    repo = Path(__file__).resolve().parents[2]  # <repo>/CLAIM/CLAIMLib/demo.py in a source checkout
    candidates.append(repo.parent / "shared" / "data" / "emidec")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def run_demo(out, emidec: Path | None = None, n_cases: int = 6, seed: int = 0,
             diffusion_model: Path | None = None, diffusion_steps: int = 300, seg_model: Path | None = None,
             joint_steps: int = 6) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summary = {"version": __version__, "seed": seed, "phantom": [], "emidec": []}

    # 1. the phantom cohort, written in the EMIDEC layout
    plan = cohort_plan(n_cases, seed, normal_fraction=0.34)
    truths = {}
    for index, (case_id, pathological) in enumerate(track(plan, stage="phantom cohort")):
        case = generate_case(case_rng(seed, index), case_id, pathological)
        write_case(case, out / "phantom")
        truths[case_id] = (case.truth, case.aha)
    t_phantom = time.perf_counter() - t0

    # 2. read it back through the case reader, as any dataset would be
    phantom_cases = []
    for files in track(discover_cases(out / "phantom"), stage="reading phantom"):
        if files.case_id not in truths:
            continue
        case = load_case(files)
        info = case_info(case)
        truth, _ = truths[case.case_id]
        info["truth"] = {"slice_order": truth["slice_order"], "volumes_ml": truth["volumes_ml"],
                         "scar_territory": truth["scar"]["territory"], "scar_segments": truth["scar"]["segments"]}
        summary["phantom"].append(info)
        phantom_cases.append(case)

    # 3. the EMIDEC sample cases, when they are here
    emidec_cases = []
    emidec = emidec if emidec is not None else find_emidec()
    if emidec is not None and Path(emidec).is_dir():
        for files in track(discover_cases(emidec), stage="reading EMIDEC"):
            case = load_case(files)
            summary["emidec"].append(case_info(case))
            emidec_cases.append(case)
    summary["emidec_folder"] = str(emidec) if emidec else None

    # 4. AHA-17 segments in subject space, and scar per segment as bull's-eyes
    t_aha = time.perf_counter()
    computed = {}
    for case in track(phantom_cases + emidec_cases, stage="AHA-17 and bull's-eyes"):
        computed[case.case_id] = _aha_and_bullseye(case, out / "phantom" / case.case_id, out / "bullseye", summary,
                                                  truths.get(case.case_id))
    t_aha = time.perf_counter() - t_aha

    # 5. SMILE masks for several settings on a normal case, and where they fall
    t_smile = time.perf_counter()
    normal = next((c for c in phantom_cases if c.volume_ml("scar") == 0), phantom_cases[0])
    _smile_section(normal, out, summary, seed)
    t_smile = time.perf_counter() - t_smile

    # 6. the lesion-focused generator: a tiny model trained on the phantom's scars, painting the SMILE masks
    t_diff = time.perf_counter()
    _diffusion_section(phantom_cases, out, summary, seed, diffusion_model, diffusion_steps)
    t_diff = time.perf_counter() - t_diff

    # 7. nnU-Net: trained on the phantom training cases (unless a model is given), segmenting the held-out ones
    t_seg = time.perf_counter()
    seg_model = _segmentation_section(phantom_cases, out, summary, seg_model)
    t_seg = time.perf_counter() - t_seg

    # 8. joint training, briefly: the segmenter's loss trains the generator; samples before and after
    t_joint = time.perf_counter()
    _joint_section(out, summary, seed, Path(summary["diffusion"]["model"]), seg_model, joint_steps)
    t_joint = time.perf_counter() - t_joint

    # 9. figures and report
    aha_column = {c.case_id: ("AHA-17 ground truth", truths[c.case_id][1], "tab20") for c in phantom_cases}
    montage(phantom_cases + emidec_cases, out / "montage.png", extra=aha_column,
            title="CLAIM demo: phantom cohort" + (" and EMIDEC samples" if emidec_cases else ""))
    montage(phantom_cases + emidec_cases, out / "aha_montage.png", extra=aha_column, overlays=computed,
            title="AHA-17 segments found in subject space (right: phantom ground truth)")
    summary["seconds"] = {"phantom": round(t_phantom, 2), "aha_and_bullseye": round(t_aha, 2),
                          "smile": round(t_smile, 2), "diffusion": round(t_diff, 2),
                          "segmentation": round(t_seg, 2), "joint": round(t_joint, 2),
                          "total": round(time.perf_counter() - t0, 2)}
    write_json(out / "summary.json", summary)
    write_text(out / "report.md", _report(summary))
    return summary


def _aha_and_bullseye(case, case_dir: Path, bullseye_dir: Path, summary: dict, truth) -> np.ndarray:
    """AHA labels from the image alone (and from the RV mask for phantoms), agreement, bull's-eye of the scar."""
    t = time.perf_counter()
    result = aha_segments(case.myocardium, case.mask("cavity"), case.geometry, image=case.image)
    seconds = time.perf_counter() - t
    myo = case.myocardium
    entry = {"case_id": case.case_id, "orientation": result.orientation.to_dict(), "seconds": round(seconds, 3)}
    if truth is not None:
        truth_json, truth_aha = truth
        entry["agreement_image"] = float(np.mean(result.labels[myo] == truth_aha[myo]))
        rv_file = case_dir / "GroundTruth" / f"{case.case_id}_rv.nii.gz"
        if rv_file.is_file():
            rv, _ = read_volume(rv_file)
            with_rv = aha_segments(myo, case.mask("cavity"), case.geometry, rv=rv > 0)
            entry["agreement_rv_mask"] = float(np.mean(with_rv.labels[myo] == truth_aha[myo]))
    if case.volume_ml("scar") > 0:
        table = quantify(result.labels, myo, case.mask("scar"), case.geometry, mvo=case.masks.get("mvo"),
                         cavity=case.mask("cavity"))
        path = bullseye_dir / f"{case.case_id}.png"
        tot = table["totals"]
        plot(scar_panels(table), path,
             suptitle=f"{case.case_id}: scar {tot['scar_ml']:.1f} mL ({tot['scar_percent']:.0f}% of the myocardium)")
        top = sorted(table["segments"], key=lambda r: -r["scar_ml"])[:4]
        entry["bullseye"] = str(path.relative_to(bullseye_dir.parent))
        entry["top_scar_segments"] = [(r["segment"], round(r["scar_ml"], 2)) for r in top if r["scar_ml"] > 0]
    summary.setdefault("aha", []).append(entry)
    return result.labels


SMILE_SETTINGS = (
    ("random adjacent segments", SmileSpec()),
    ("LAD territory, transmural, MVO", SmileSpec(territory="LAD", transmurality="transmural", volume_ml=20.0,
                                                mvo=True)),
    ("segments 4,10,15, subendocardial 0.5", SmileSpec(segments=(4, 10, 15), transmurality="subendocardial:0.5",
                                                       volume_ml=6.0)),
    ("RCA territory, subendocardial", SmileSpec(territory="RCA")),
    ("segments 5,6,11,12, midwall", SmileSpec(segments=(5, 6, 11, 12), transmurality="midwall", volume_ml=6.0)),
    ("lateral, epicardial 0.4", SmileSpec(segments=(5, 11, 16), transmurality="epicardial:0.4", volume_ml=5.0)),
)


def _smile_section(case, out: Path, summary: dict, seed: int) -> None:
    """SMILE masks for several settings on one normal case: a montage and bull's-eyes of where they fall."""
    from dataclasses import replace

    result = aha_segments(case.myocardium, case.mask("cavity"), case.geometry, image=case.image)
    subject = prepare_subject(case.myocardium, case.mask("cavity"), case.geometry, result)
    rng = np.random.default_rng(seed)
    shown, panels, entries = [], [], []
    for name, spec in SMILE_SETTINGS:
        t = time.perf_counter()
        res = generate(rng, subject, spec)
        ms = 1000 * (time.perf_counter() - t)
        masks = dict(case.masks, scar=res.scar, mvo=res.mvo)
        shown.append(replace(case, case_id=name, masks=masks))
        table = quantify(result.labels, case.myocardium, res.scar, case.geometry, mvo=res.mvo,
                         cavity=case.mask("cavity"))
        rec = res.record
        panels.append({"values": {r["segment"]: r["scar_ml"] for r in table["segments"]}, "unit": "mL",
                       "title": f"{name}\n{rec['achieved_total_ml']:.1f} mL", "vmin": 0, "fmt": "{:.1f}",
                       "highlight": rec["segments"]})
        entries.append({"setting": name, "segments": rec["segments"], "pattern": f"{rec['pattern']} {rec['extent']}",
                        "target_ml": rec["target_total_ml"], "achieved_ml": rec["achieved_total_ml"],
                        "mvo_ml": rec["mvo_ml"], "ms": round(ms, 1)})
    montage(shown, out / "smile_montage.png", title=f"SMILE masks on {case.case_id} (normal)")
    plot(panels, out / "smile_bullseye.png", ncols=3,
         suptitle=f"Where the SMILE scars fall on {case.case_id} (outlined: chosen segments)")
    summary["smile"] = {"case_id": case.case_id, "orientation": result.orientation.source, "masks": entries}


def _diffusion_section(phantom_cases, out: Path, summary: dict, seed: int, model_path, steps: int = 400) -> None:
    """Train the tiny generator on the pathological phantoms (unless a model is given) and paint SMILE scars into
    the normal phantoms: a montage, and the painted-scar brightness against the training scars'."""
    from dataclasses import replace

    from .diffusion.sample import load, synthesize
    from .diffusion.train import train

    if model_path is None:
        result = train(out / "phantom", out / "diffusion_run", "tiny", steps=steps, seed=seed, sample_every=0)
        model_path = Path(result["checkpoint"])
    bundle = load(model_path, "cpu")
    train_ratio = [c.image[c.mask("scar") & ~c.mask("mvo")].mean() / c.image[c.myocardium & ~c.mask("scar")].mean()
                   for c in phantom_cases if c.volume_ml("scar") > 0]
    shown, rows = [], []
    rng = np.random.default_rng(seed)
    for case in [c for c in phantom_cases if c.volume_ml("scar") == 0][:2] or phantom_cases[:1]:
        result = aha_segments(case.myocardium, case.mask("cavity"), case.geometry, image=case.image)
        subject = prepare_subject(case.myocardium, case.mask("cavity"), case.geometry, result)
        for name, spec in (("LAD, subendocardial", SmileSpec(territory="LAD", volume_ml=10.0)),
                           ("RCA, transmural + MVO", SmileSpec(territory="RCA", transmurality="transmural",
                                                              volume_ml=10.0, mvo=True))):
            mask = generate(rng, subject, spec)
            t = time.perf_counter()
            image, record = synthesize(bundle, case, mask.scar, mask.mvo, seed=int(rng.integers(1 << 30)))
            remote = case.myocardium & ~mask.scar
            ratio = float(image[mask.scar & ~mask.mvo].mean() / image[remote].mean())
            exact = bool(np.array_equal(image[~mask.scar], case.image[~mask.scar]))
            shown.append(replace(case, case_id=f"{case.case_id}: {name}", image=image,
                                 masks=dict(case.masks, scar=mask.scar, mvo=mask.mvo)))
            rows.append({"case": case.case_id, "setting": name, "scar_ml": mask.record["achieved_total_ml"],
                         "ratio": round(ratio, 2), "outside_unchanged": exact, "calls": record["network_calls"],
                         "seconds": round(time.perf_counter() - t, 2)})
    montage(shown, out / "synthesis_montage.png", title="Scars painted by the tiny generator under SMILE masks")
    summary["diffusion"] = {"model": str(model_path), "train_ratio": round(float(np.mean(train_ratio)), 2),
                            "painted": rows}


DEMO_DATASET = 990


def _segmentation_section(phantom_cases, out: Path, summary: dict, model) -> Path:
    """Hold out one pathological and one normal phantom, train nnU-Net on the rest (CLAIM's one-minute demo
    schedule) unless a model is given, segment the held-out cases, and compare scar per segment as bull's-eyes."""
    from .bullseye import comparison_panels
    from .io import write_volume
    from .labels import case_from_arrays
    from .segmentation import nnunet
    from .segmentation.metrics import case_metrics

    sick = [c for c in phantom_cases if c.volume_ml("scar") > 0]
    normal = [c for c in phantom_cases if c.volume_ml("scar") == 0]
    test = sick[-1:] + normal[-1:]
    train = [c for c in phantom_cases if c not in test]
    trainer = "nnUNetTrainerCLAIMDemo"
    with nnunet.nnunet_environment(out / "nnunet") as env:
        if model is None:
            if not list(Path(env["nnUNet_raw"]).glob(f"Dataset{DEMO_DATASET}_*")):
                nnunet.export_dataset(train, env["nnUNet_raw"], DEMO_DATASET, "Demo")
            if not nnunet.preprocessed(DEMO_DATASET):
                nnunet.plan_and_preprocess(DEMO_DATASET)
            model = nnunet.train(DEMO_DATASET, "2d", "all", trainer, "cpu")
        predictor = nnunet.Predictor(model, device="cpu")
    rows, panels = [], []
    for case in test:
        t = time.perf_counter()
        labels = predictor.predict(case.image, case.geometry)
        seconds = time.perf_counter() - t
        write_volume(out / "segmentation" / f"{case.case_id}.nii.gz", labels, case.geometry, np.uint8)
        pred = case_from_arrays(case.case_id, None, labels, case.geometry, nnunet.labels_scheme(predictor.has_mvo))
        m = case_metrics(pred, case)
        rows.append({"case": case.case_id, "seconds": round(seconds, 2),
                     **{f"{c}_dice": round(m[c]["dice"], 3) for c in ("cavity", "myocardium", "scar") if c in m},
                     "scar_ml_truth": round(case.volume_ml("scar"), 2),
                     "scar_ml_predicted": round(pred.volume_ml("scar"), 2)})
        if case.volume_ml("scar") > 0:
            aha = aha_segments(case.myocardium, case.mask("cavity"), case.geometry, image=case.image).labels
            truth = quantify(aha, case.myocardium, case.mask("scar"), case.geometry)
            found = quantify(aha, case.myocardium, pred.mask("scar"), case.geometry)
            panels = comparison_panels(truth, found)
            plot(panels, out / "segmentation_bullseye.png",
                 suptitle=f"{case.case_id} (held out): scar per AHA segment, truth / nnU-Net / difference")
    summary["segmentation"] = {"model": str(model), "trained_here": trainer in str(model),
                               "training_cases": [c.case_id for c in train], "test": rows}
    return Path(model)


def _joint_section(out: Path, summary: dict, seed: int, generator: Path, segmenter: Path, steps: int) -> None:
    """A few joint steps from the demo's generator and segmenter; one SMILE mask on a normal phantom painted by the
    generator before and after, with the same seed."""
    from dataclasses import replace

    from .diffusion.sample import load, synthesize
    from .joint import JointConfig, train_joint

    config = JointConfig(pathological=str(out / "phantom"), normal=str(out / "phantom"), generator=str(generator),
                         segmenter=str(segmenter), out=str(out / "joint_run"), steps=steps, batch=4,
                         seg_batch=4, ddim_steps=5, val_every=max(steps // 2, 1), val_cases=1, save_every=steps,
                         seed=seed, device="cpu")
    done = out / "joint_run" / "checkpoint.pt"
    result = train_joint(config, resume=done.is_file())
    normal = next(c for c in (load_case(f) for f in discover_cases(out / "phantom")) if c.volume_ml("scar") == 0)
    r = aha_segments(normal.myocardium, normal.mask("cavity"), normal.geometry, image=normal.image)
    mask = generate(np.random.default_rng(seed), prepare_subject(normal.myocardium, normal.mask("cavity"),
                                                                 normal.geometry, r), SmileSpec(volume_ml=12.0))
    shown = []
    for name, path in (("before joint training", generator), ("after joint training", result["generator"])):
        image, _ = synthesize(load(path, "cpu"), normal, mask.scar, mask.mvo, seed=seed)
        shown.append(replace(normal, case_id=f"{normal.case_id}: {name}", image=image,
                             masks=dict(normal.masks, scar=mask.scar, mvo=mask.mvo)))
    montage(shown, out / "joint_samples.png", title="One SMILE mask painted by the generator before and after "
                                                    f"{result['step']} joint steps (same seed)")
    summary["joint"] = {"steps": result["step"], "lambda": config.lam, "validation": result["validation"],
                        "generator": result["generator"], "segmenter": result["segmenter"]}


def _report(summary: dict) -> str:
    lines = [f"# CLAIM demo report (CLAIMLib {summary['version']})", ""]
    ph = summary["phantom"]
    correct = sum(1 for i in ph if i["slice_order"]["order"] == i["truth"]["slice_order"])
    lines += [f"## Phantom cohort (seed {summary['seed']}, {len(ph)} cases)", "",
              f"Slice order detected correctly in {correct}/{len(ph)} cases.", "",
              "| case | size | spacing (mm) | order (detected / truth) | myocardium mL | scar mL | MVO mL | territory | scar segments |",
              "|---|---|---|---|---|---|---|---|---|"]
    for i in ph:
        v = i["volumes_ml"]
        lines.append(f"| {i['case_id']} | {'x'.join(map(str, i['size']))} | "
                     f"{' x '.join(f'{s:.3g}' for s in i['spacing_mm'])} | "
                     f"{i['slice_order']['order']} / {i['truth']['slice_order']} | {v['myocardium']:.2f} | "
                     f"{v['scar']:.2f} | {v['mvo']:.2f} | {i['truth']['scar_territory'] or '-'} | "
                     f"{', '.join(map(str, i['truth']['scar_segments'])) or '-'} |")
    lines.append("")
    if summary["emidec"]:
        lines += ["## EMIDEC sample cases", "",
                  "| case | size | spacing (mm) | slice order | cavity mL | myocardium mL | scar mL | MVO mL |",
                  "|---|---|---|---|---|---|---|---|"]
        for i in summary["emidec"]:
            v = i["volumes_ml"]
            lines.append(f"| {i['case_id']} | {'x'.join(map(str, i['size']))} | "
                         f"{' x '.join(f'{s:.5g}' for s in i['spacing_mm'])} | {i['slice_order']['order']} | "
                         f"{v['cavity']:.2f} | {v['myocardium']:.2f} | {v['scar']:.2f} | {v['mvo']:.4f} |")
        lines.append("")
    else:
        lines += ["EMIDEC samples not found (set CLAIM_EMIDEC or pass --emidec).", ""]
    aha = summary.get("aha", [])
    if aha:
        lines += ["## AHA-17 segments and scar bull's-eyes", "",
                  "Segments are found in each subject's own space; the septum comes from the LGE image alone "
                  "(the RV blood pool against the septum). Phantoms are checked against their ground truth, also "
                  "with the RV mask as the orientation source. Overlay montage: `aha_montage.png`.", "",
                  "| case | orientation (confidence) | agreement, image | agreement, RV mask | scar: top segments (mL) | bull's-eye |",
                  "|---|---|---|---|---|---|"]
        for e in aha:
            o = e["orientation"]
            img = f"{100 * e['agreement_image']:.1f}%" if "agreement_image" in e else "-"
            rv = f"{100 * e['agreement_rv_mask']:.1f}%" if "agreement_rv_mask" in e else "-"
            top = ", ".join(f"{s}: {v}" for s, v in e.get("top_scar_segments", [])) or "-"
            lines.append(f"| {e['case_id']} | {o['source']} ({o['confidence']:.2f}) | {img} | {rv} | {top} | "
                         f"{('`' + e['bullseye'] + '`') if 'bullseye' in e else '-'} |")
        lines.append("")
    sm = summary.get("smile")
    if sm:
        lines += [f"## SMILE scar masks on {sm['case_id']} (normal)", "",
                  "Masks: `smile_montage.png`; where they fall: `smile_bullseye.png`.", "",
                  "| setting | segments | pattern | target mL | achieved mL | MVO mL | ms |", "|---|---|---|---|---|---|---|"]
        for e in sm["masks"]:
            lines.append(f"| {e['setting']} | {', '.join(map(str, e['segments']))} | {e['pattern']} | "
                         f"{e['target_ml']:.2f} | {e['achieved_ml']:.2f} | {e['mvo_ml']:.2f} | {e['ms']:.0f} |")
        lines.append("")
    dif = summary.get("diffusion")
    if dif:
        lines += ["## Scar synthesis (lesion-focused diffusion, tiny config)", "",
                  f"Scar / remote myocardium brightness of the training scars: {dif['train_ratio']:.2f}. "
                  "Painted scars below (DDIM, 50 calls); `synthesis_montage.png` shows them.", "",
                  "| case | setting | scar mL | scar / remote | voxels outside the mask unchanged | calls | s |",
                  "|---|---|---|---|---|---|---|"]
        for r in dif["painted"]:
            lines.append(f"| {r['case']} | {r['setting']} | {r['scar_ml']:.1f} | {r['ratio']:.2f} | "
                         f"{'yes' if r['outside_unchanged'] else 'NO'} | {r['calls']} | {r['seconds']:.1f} |")
        lines.append("")
    seg = summary.get("segmentation")
    if seg:
        lines += ["## Scar segmentation (nnU-Net v2)", "",
                  (f"nnU-Net 2d trained here on {len(seg['training_cases'])} phantoms with CLAIM's one-minute demo "
                   "schedule (nnUNetTrainerCLAIMDemo: it learns the cavity and the myocardium, too short for scar; "
                   "`claim experiment --quick` and `claim train-seg` train longer)" if seg["trained_here"]
                   else f"Model: `{seg['model']}`") + ". Held-out cases below; scar per AHA segment, truth / "
                  "prediction / difference: `segmentation_bullseye.png`.", "",
                  "| case | Dice cavity | Dice myocardium | Dice scar | scar mL truth | scar mL predicted | s |",
                  "|---|---|---|---|---|---|---|"]
        for r in seg["test"]:
            lines.append(f"| {r['case']} | {r.get('cavity_dice', float('nan')):.3f} | "
                         f"{r.get('myocardium_dice', float('nan')):.3f} | {r.get('scar_dice', float('nan')):.3f} | "
                         f"{r['scar_ml_truth']:.2f} | {r['scar_ml_predicted']:.2f} | {r['seconds']:.1f} |")
        lines.append("")
    joint = summary.get("joint")
    if joint:
        lines += ["## Joint training, CLAIM(J)", "",
                  f"{joint['steps']} joint steps (lambda {joint['lambda']:g}): the segmenter's loss on the generator's one-step "
                  "estimate trains the generator, and the generator's images fine-tune the segmenter. Before and "
                  "after: `joint_samples.png`.", "", "| step | segmentability | histogram distance |", "|---|---|---|"]
        for v in joint["validation"]:
            lines.append(f"| {v['step']} | {v['segmentability']:.3f} | {v['histogram_distance']:.4f} |")
        lines.append("")
    lines += [f"Run time: {summary['seconds']['total']:.1f} s (phantom generation {summary['seconds']['phantom']:.1f} s, "
              f"AHA and bull's-eyes {summary['seconds']['aha_and_bullseye']:.1f} s, "
              f"SMILE {summary['seconds']['smile']:.1f} s, diffusion {summary['seconds']['diffusion']:.1f} s, "
              f"segmentation {summary['seconds']['segmentation']:.1f} s, joint {summary['seconds']['joint']:.1f} s).",
              "", "Montage: `montage.png`. Machine-readable summary: `summary.json`.", ""]
    return "\n".join(lines)
