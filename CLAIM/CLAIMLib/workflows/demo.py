"""``claim demo``: every capability on a fresh phantom cohort, and on the EMIDEC samples if present.

A composition of the other workflows, section by section. Writes into the output folder: ``phantom/`` (the cohort,
EMIDEC layout), ``montage.png``, ``report.md`` (``demo_report``), ``summary.json`` and each section's figures.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .. import __version__
from ..progress import track
from ..smile import SmileSpec

EMIDEC_ENV = "CLAIM_EMIDEC"
DEMO_DATASET = 990
DEMO_TRAINER = "nnUNetTrainerCLAIMDemo"


def find_emidec() -> Path | None:
    """The EMIDEC sample folder: $CLAIM_EMIDEC, else ../shared/data/emidec beside the working folder or the repo."""
    candidates = []
    if os.environ.get(EMIDEC_ENV):
        candidates.append(Path(os.environ[EMIDEC_ENV]))
    candidates.append(Path.cwd().parent / "shared" / "data" / "emidec")
    repo = Path(__file__).resolve().parents[3]  # <repo>/CLAIM/CLAIMLib/workflows/demo.py in a source checkout
    candidates.append(repo.parent / "shared" / "data" / "emidec")
    for c in candidates:
        if c.is_dir():
            return c
    return None


class _Timer:
    """Seconds per section, for the report."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.seconds = {}

    def run(self, name, fn, *args, **kw):
        t = time.perf_counter()
        result = fn(*args, **kw)
        self.seconds[name] = round(time.perf_counter() - t, 2)
        return result


def run_demo(out, emidec: Path | None = None, n_cases: int = 6, seed: int = 0,
             diffusion_model: Path | None = None, diffusion_steps: int = 300, seg_model: Path | None = None,
             joint_steps: int = 6) -> dict:
    from ..figures import montage, realism_montage
    from ..io import write_json, write_text
    from .demo_report import report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timer = _Timer()
    summary = {"version": __version__, "seed": seed, "phantom": [], "emidec": []}
    truths = timer.run("phantom", _phantom_section, out, n_cases, seed)
    phantom_cases = _read_phantoms(out, truths, summary)
    emidec_cases = _read_emidec(emidec if emidec is not None else find_emidec(), summary)
    stats = realism_montage(_realism_cases(phantom_cases, emidec_cases), out / "realism_montage.png",
                            title="Clinical phantoms" + (" and EMIDEC, at the same window" if emidec_cases else ""))
    summary["realism"] = {cid: {k: (None if v is None else round(v, 3)) for k, v in row.items()}
                          for cid, row in stats.items()}
    computed = timer.run("aha_and_bullseye", _aha_section, phantom_cases + emidec_cases, out, summary, truths)
    timer.run("scar", _scar_section, phantom_cases + emidec_cases, out, summary)
    normal = next((c for c in phantom_cases if c.volume_ml("scar") == 0), phantom_cases[0])
    timer.run("smile", _smile_section, normal, out, summary, seed)
    timer.run("mask_realism", _mask_realism_section, phantom_cases, emidec_cases, summary, seed)
    generator = timer.run("diffusion", _diffusion_section, phantom_cases, out, summary, seed, diffusion_model,
                       diffusion_steps)
    timer.run("synthesis_fidelity", _fidelity_section, generator[0], phantom_cases, emidec_cases, out, summary, seed)
    seg_model = timer.run("segmentation", _segmentation_section, phantom_cases, out, summary, seg_model)
    timer.run("joint", _joint_section, out, summary, seed, generator, seg_model, joint_steps, normal)

    aha_column = {c.case_id: ("AHA-17 ground truth", truths[c.case_id].aha, "tab20") for c in phantom_cases}
    montage(phantom_cases + emidec_cases, out / "montage.png", extra=aha_column,
            title="CLAIM demo: phantom cohort" + (" and EMIDEC samples" if emidec_cases else ""))
    montage(phantom_cases + emidec_cases, out / "aha_montage.png", extra=aha_column, overlays=computed,
            title="AHA-17 segments found in subject space (right: phantom ground truth)")
    summary["seconds"] = {**timer.seconds, "total": round(time.perf_counter() - timer.t0, 2)}
    write_json(out / "summary.json", summary)
    write_text(out / "report.md", report(summary))
    return summary


def _phantom_section(out: Path, n_cases: int, seed: int) -> dict:
    """1. The phantom cohort, written in the EMIDEC layout: {case id: PhantomCase}."""
    from .cohorts import write_phantom_cohort

    return write_phantom_cohort(out / "phantom", n_cases, seed, normal_fraction=0.34)


def _read_phantoms(out: Path, truths: dict, summary: dict) -> list:
    """2. The cohort read back through the case reader, as any dataset would be."""
    from ..info import case_info
    from ..io import discover_cases, load_case

    cases = []
    for files in track(discover_cases(out / "phantom"), stage="reading phantom"):
        if files.case_id not in truths:
            continue
        case = load_case(files)
        info = case_info(case)
        truth = truths[case.case_id].truth
        info["truth"] = {"slice_order": truth["slice_order"], "volumes_ml": truth["volumes_ml"],
                         "scar_territory": truth["scar"]["territory"], "scar_segments": truth["scar"]["segments"]}
        summary["phantom"].append(info)
        cases.append(case)
    return cases


def _read_emidec(emidec, summary: dict) -> list:
    """3. The EMIDEC sample cases, when they are here."""
    from ..info import case_info
    from ..io import discover_cases, load_case

    cases = []
    if emidec is not None and Path(emidec).is_dir():
        for files in track(discover_cases(emidec), stage="reading EMIDEC"):
            case = load_case(files)
            summary["emidec"].append(case_info(case))
            cases.append(case)
    summary["emidec_folder"] = str(emidec) if emidec else None
    return cases


def _realism_cases(phantom_cases: list, emidec_cases: list) -> list:
    """The cases of the realism montage: two pathological phantoms, then the EMIDEC cases with an image."""
    sick = [c for c in phantom_cases if c.volume_ml("scar") > 0][:2] or phantom_cases[:2]
    return sick + [c for c in emidec_cases if c.image is not None]


def _aha_section(cases: list, out: Path, summary: dict, truths: dict) -> dict:
    """4. AHA-17 segments in subject space (from the image alone; for phantoms also from the RV mask, against their
    ground truth), and each scar as a bull's-eye. Returns {case id: AHA labels} for the overlay montage."""
    from ..io import read_volume
    from .aha import case_aha
    from .tables import case_bullseye

    computed = {}
    for case in track(cases, stage="AHA-17 and bull's-eyes"):
        t = time.perf_counter()
        result = case_aha(case)
        entry = {"case_id": case.case_id, "orientation": result.orientation.to_dict(),
                 "seconds": round(time.perf_counter() - t, 3)}
        myo = case.myocardium
        if case.case_id in truths:
            truth_aha = truths[case.case_id].aha
            entry["agreement_image"] = float(np.mean(result.labels[myo] == truth_aha[myo]))
            rv_file = out / "phantom" / case.case_id / "GroundTruth" / f"{case.case_id}_rv.nii.gz"
            if rv_file.is_file():
                rv = read_volume(rv_file)[0] > 0
                with_rv = case_aha(case.with_image(case.image, masks={**case.masks, "rv": rv}))
                entry["agreement_rv_mask"] = float(np.mean(with_rv.labels[myo] == truth_aha[myo]))
        if case.volume_ml("scar") > 0:
            path = out / "bullseye" / f"{case.case_id}.png"
            table = case_bullseye(case, result.labels, path)
            top = sorted(table["segments"], key=lambda r: -r["scar_ml"])[:4]
            entry["bullseye"] = str(path.relative_to(out))
            entry["top_scar_segments"] = [(r["segment"], round(r["scar_ml"], 2)) for r in top if r["scar_ml"] > 0]
        summary.setdefault("aha", []).append(entry)
        computed[case.case_id] = result.labels
    return computed


def _scar_section(cases: list, out: Path, summary: dict) -> None:
    """5. Classic scar quantification (no model): FWHM and 3-SD on every infarcted case with an image, each against
    its truth from the whole myocardium alone; an HTML report per case and method under ``scar/``."""
    from .scar import quantify_scar, write_scar_outputs

    rows = []
    for case in track([c for c in cases if c.image is not None and c.volume_ml("scar") > 0], stage="scar"):
        truth = case.mask("scar")
        for method in ("fwhm", "nsd:3"):
            result = quantify_scar(case, method, gray_zone="")
            found = result.scar
            report = out / "scar" / f"{case.case_id}_{method.replace(':', '')}.html"
            write_scar_outputs(result, report=report)
            rows.append({"case_id": case.case_id, "method": method,
                         "dice": 2.0 * np.count_nonzero(found & truth) / (np.count_nonzero(found) + np.count_nonzero(truth)),
                         "volume_ratio": np.count_nonzero(found) / np.count_nonzero(truth),
                         "scar_ml": result.record["totals"]["scar_ml"], "truth_ml": case.volume_ml("scar"),
                         "mvo_ml": result.record["totals"]["mvo_ml"], "truth_mvo_ml": case.volume_ml("mvo"),
                         "remote": result.record["remote"]["description"], "seconds": result.record["seconds"],
                         "report": str(report.relative_to(out))})
    summary["scar"] = rows


SMILE_SETTINGS = (
    ("default: one lesion, published size", SmileSpec()),
    ("two lesions, 25% of the LV", SmileSpec(lesions=2, volume_fraction=0.25)),
    ("LAD territory, transmural, MVO", SmileSpec(territory="LAD", transmurality="transmural", volume_ml=20.0,
                                                mvo=True)),
    ("segments 4,10,15, subendocardial 0.5", SmileSpec(segments=(4, 10, 15), transmurality="subendocardial:0.5",
                                                       volume_ml=6.0)),
    ("RCA territory", SmileSpec(territory="RCA")),
    ("segments 5,6,11,12, midwall", SmileSpec(segments=(5, 6, 11, 12), transmurality="midwall", volume_ml=6.0)),
    ("lateral, epicardial 0.4", SmileSpec(segments=(5, 11, 16), transmurality="epicardial:0.4", volume_ml=5.0)),
)


def _smile_section(case, out: Path, summary: dict, seed: int) -> None:
    """6. SMILE masks for several settings on one normal case: a montage and bull's-eyes of where they fall."""
    from ..bullseye import plot
    from ..figures import montage
    from ..smile import case_subject
    from .aha import case_aha
    from .masks import smile_masks
    from .tables import scar_table

    aha = case_aha(case)
    subject = case_subject(case, aha)
    rng = np.random.default_rng(seed)
    shown, panels, entries = [], [], []
    for name, spec in SMILE_SETTINGS:
        t = time.perf_counter()
        mask = smile_masks(case, spec, seed=rng, aha=aha, subject=subject)[0]
        ms = 1000 * (time.perf_counter() - t)
        shown.append(case.with_image(case.image, case_id=name, masks=dict(case.masks, scar=mask.scar, mvo=mask.mvo)))
        table = scar_table(case, aha.labels, mask.scar, mask.mvo)
        rec = mask.record
        panels.append({"values": {r["segment"]: r["scar_ml"] for r in table["segments"]}, "unit": "mL",
                       "title": f"{name}\n{rec['achieved_total_ml']:.1f} mL", "vmin": 0, "fmt": "{:.1f}",
                       "highlight": rec["segments"]})
        entries.append({"setting": name, "segments": rec["segments"], "pattern": f"{rec['pattern']} {rec['extent']}",
                        "target_ml": rec["target_total_ml"], "achieved_ml": rec["achieved_total_ml"],
                        "mvo_ml": rec["mvo_ml"], "ms": round(ms, 1), "warning": rec.get("warning")})
    montage(shown, out / "smile_montage.png", title=f"SMILE masks on {case.case_id} (normal)")
    plot(panels, out / "smile_bullseye.png", ncols=3,
         suptitle=f"Where the SMILE scars fall on {case.case_id} (outlined: chosen segments)")
    summary["smile"] = {"case_id": case.case_id, "orientation": aha.orientation.source, "masks": entries}


def _mask_realism_section(phantom_cases, emidec_cases, summary: dict, seed: int, per_heart: int = 10) -> None:
    """7. Are SMILE masks like real infarcts? The four ``claim mask-stats`` distances, beside a ball baseline:
    default masks on each real infarcted heart against its own scar, and on the normal phantoms against the
    phantoms' scars (with masks drawn from priors learned on those scars: in-sample, so an upper bound)."""
    from ..labels import case_from_arrays
    from .masks import learn_smile_priors, mask_stats, smile_masks

    def drawn(hearts, spec, seed_):
        out = []
        for i, heart in enumerate(hearts):
            for m in smile_masks(heart, spec, count=per_heart, seed=seed_ + i):
                out.append((case_from_arrays(heart.case_id, None, m.labels, heart.geometry),
                            m.record["orientation"]["septum"]))
        return out

    rows = []
    for case in [c for c in emidec_cases if c.volume_ml("scar") > 0]:
        result = mask_stats(drawn([case], SmileSpec(), seed), [(case, None)], seed=seed)
        rows.append({"reference": f"{case.case_id} (real)", "setting": "default, on its own heart", **result})
    scarred = [c for c in phantom_cases if c.volume_ml("scar") > 0]
    normals = [c for c in phantom_cases if c.volume_ml("scar") == 0]
    if scarred and normals:
        reference = [(c, None) for c in scarred]
        rows.append({"reference": f"{len(scarred)} phantom scars", "setting": "default, on the normal phantoms",
                     **mask_stats(drawn(normals, SmileSpec(), seed), reference, seed=seed)})
        priors = learn_smile_priors(scarred, source="demo phantoms")
        rows.append({"reference": f"{len(scarred)} phantom scars", "setting": "priors learned on them (in-sample)",
                     **mask_stats(drawn(normals, SmileSpec(priors=priors), seed), reference, seed=seed)})
    summary["mask_realism"] = rows


def _diffusion_section(phantom_cases, out: Path, summary: dict, seed: int, model_path, steps: int = 400):
    """6. The tiny generator trained on the pathological phantoms (unless a model is given), painting SMILE scars
    into the normal phantoms: a montage, and the painted-scar brightness against the training scars'. Returns
    (the loaded generator, its checkpoint)."""
    from ..diffusion.sample import load_generator
    from ..diffusion.train import train
    from ..figures import montage
    from ..smile import case_subject
    from .aha import case_aha
    from .masks import smile_masks
    from .synthesis import synthesize_case

    if model_path is None:
        model_path = Path(train(out / "phantom", out / "diffusion_run", "tiny", steps=steps, seed=seed,
                                sample_every=0)["checkpoint"])
    bundle = load_generator(model_path, "cpu")
    train_ratio = [c.float_image[c.mask("scar") & ~c.mask("mvo")].mean()
                   / c.float_image[c.myocardium & ~c.mask("scar")].mean()
                   for c in phantom_cases if c.volume_ml("scar") > 0]
    shown, rows = [], []
    rng = np.random.default_rng(seed)
    for case in [c for c in phantom_cases if c.volume_ml("scar") == 0][:2] or phantom_cases[:1]:
        aha = case_aha(case)
        subject = case_subject(case, aha)
        for name, spec in (("LAD, wavefront", SmileSpec(territory="LAD", volume_ml=10.0)),
                           ("RCA, transmural + MVO", SmileSpec(territory="RCA", transmurality="transmural",
                                                              volume_ml=10.0, mvo=True))):
            mask = smile_masks(case, spec, seed=rng, aha=aha, subject=subject)[0]
            t = time.perf_counter()
            syn = synthesize_case(bundle, case, mask.scar, mask.mvo, seed=int(rng.integers(1 << 30)))
            image = syn.image.astype(np.float32)
            remote = case.myocardium & ~mask.scar
            ratio = float(image[mask.scar & ~mask.mvo].mean() / image[remote].mean())
            exact = bool(np.array_equal(syn.image[~mask.scar], case.image[~mask.scar]))
            shown.append(case.with_image(syn.image, case_id=f"{case.case_id}: {name}",
                                         masks=dict(case.masks, scar=mask.scar, mvo=mask.mvo)))
            rows.append({"case": case.case_id, "setting": name, "scar_ml": mask.record["achieved_total_ml"],
                         "ratio": round(ratio, 2), "outside_unchanged": exact, "calls": syn.record["network_calls"],
                         "seconds": round(time.perf_counter() - t, 2)})
    montage(shown, out / "synthesis_montage.png", title="Scars painted by the tiny generator under SMILE masks")
    summary["diffusion"] = {"model": str(model_path), "train_ratio": round(float(np.mean(train_ratio)), 2),
                            "painted": rows}
    return bundle, model_path


def _fidelity_section(bundle, phantom_cases, emidec_cases, out: Path, summary: dict, seed: int) -> None:
    """6b. ``evaluate-synthesis``: the generator repaints the real scars of the pathological phantoms (its own
    training cases: in-sample) and of the EMIDEC cases with scar (another domain), beside the two fills."""
    from .fidelity import evaluate_synthesis, write_fidelity

    rows = {}
    for name, cases, folder in (("phantoms (training cases)", phantom_cases, "synthesis_fidelity"),
                                ("EMIDEC", emidec_cases, "synthesis_fidelity_emidec")):
        scarred = [c for c in cases if c.image is not None and c.volume_ml("scar") > 0]
        if not scarred:
            continue
        result = evaluate_synthesis(bundle, scarred, seed=seed)
        write_fidelity(result, out / folder)
        rows[name] = {"cases": [c.case_id for c in scarred], "folder": folder, "pooled": result["pooled"],
                      "own_histogram_beats_both_fills": result["own_histogram_beats_both_fills"]}
    summary["synthesis_fidelity"] = rows


def _segmentation_section(phantom_cases, out: Path, summary: dict, model) -> Path:
    """7. nnU-Net: one pathological and one normal phantom held out, trained on the rest (CLAIM's one-minute demo
    schedule) unless a model is given; the held-out cases segmented, and scar per segment compared as bull's-eyes."""
    from ..io import write_volume
    from ..segmentation import nnunet
    from .evaluation import evaluate_pairs
    from .segmentation import segment_image, train_segmenter
    from .tables import comparison_bullseye, comparison_tables

    sick = [c for c in phantom_cases if c.volume_ml("scar") > 0]
    normal = [c for c in phantom_cases if c.volume_ml("scar") == 0]
    test = sick[-1:] + normal[-1:]
    train = [c for c in phantom_cases if c not in test]
    with nnunet.nnunet_environment(out / "nnunet"):
        if model is None:
            model = train_segmenter(DEMO_DATASET, "2d", "all", DEMO_TRAINER, "cpu", cases=train, name="Demo")
        predictor = nnunet.Predictor(model, device="cpu")
    rows = []
    for case in test:
        result = segment_image(predictor, case.image, case.geometry, case.case_id)
        write_volume(out / "segmentation" / f"{case.case_id}.nii.gz", result.labels, case.geometry, np.uint8)
        m = evaluate_pairs([(case, result.case)])["per_case"][0]
        rows.append({"case": case.case_id, "seconds": round(result.seconds, 2),
                     **{f"{c}_dice": round(m[c]["dice"], 3) for c in ("cavity", "myocardium", "scar") if c in m},
                     "scar_ml_truth": round(case.volume_ml("scar"), 2),
                     "scar_ml_predicted": round(result.case.volume_ml("scar"), 2)})
        if case.volume_ml("scar") > 0:
            truth_tables, pred_tables = comparison_tables([(case, result.case)])
            comparison_bullseye(truth_tables, pred_tables, out / "segmentation_bullseye.png",
                                title=f"{case.case_id} (held out): scar per AHA segment, truth / nnU-Net / "
                                      "difference")
    summary["segmentation"] = {"model": str(model), "trained_here": DEMO_TRAINER in str(model),
                               "training_cases": [c.case_id for c in train], "test": rows}
    return Path(model)


def _joint_section(out: Path, summary: dict, seed: int, generator, segmenter: Path, steps: int, normal) -> None:
    """8. A few joint steps from the demo's generator (bundle, checkpoint) and segmenter; one SMILE mask on a
    normal phantom painted by the generator before and after, with the same seed."""
    from ..diffusion.sample import load_generator
    from ..figures import montage
    from ..joint import JointConfig, train_joint
    from .masks import smile_masks
    from .synthesis import synthesize_case

    bundle, checkpoint = generator
    config = JointConfig(pathological=str(out / "phantom"), normal=str(out / "phantom"), generator=str(checkpoint),
                         segmenter=str(segmenter), out=str(out / "joint_run"), steps=steps, batch=4,
                         seg_batch=4, ddim_steps=5, val_every=max(steps // 2, 1), val_cases=1, save_every=steps,
                         seed=seed, device="cpu")
    done = out / "joint_run" / "checkpoint.pt"
    result = train_joint(config, resume=done.is_file())
    mask = smile_masks(normal, SmileSpec(volume_ml=12.0), seed=seed)[0]
    shown = []
    for name, model in (("before joint training", bundle),
                        ("after joint training", load_generator(result["generator"], "cpu"))):
        syn = synthesize_case(model, normal, mask.scar, mask.mvo, seed=seed)
        shown.append(normal.with_image(syn.image, case_id=f"{normal.case_id}: {name}",
                                       masks=dict(normal.masks, scar=mask.scar, mvo=mask.mvo)))
    montage(shown, out / "joint_samples.png", title="One SMILE mask painted by the generator before and after "
                                                    f"{result['step']} joint steps (same seed)")
    summary["joint"] = {"steps": result["step"], "lambda": config.lam, "validation": result["validation"],
                        "generator": result["generator"], "segmenter": result["segmenter"]}
