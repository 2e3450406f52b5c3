"""The CLAIM paper's downstream experiment (its Table 2): nnU-Net trained on real and synthetic scars, tested on the
same held-out real cases.

Settings (the paper's names in brackets):

- ``P``: the real pathological training cases;
- ``P+N1`` (P+N'): plus each normal training case with 2 synthetic scars;
- ``P+N2`` (P+N''): plus each normal training case with 5 synthetic scars;
- ``P+P1+N2`` (P+P'+N''): plus N'' and each pathological training case with 1 extra synthetic scar.

The split holds out ``test_fraction`` of the pathological and of the normal cases (the paper: 57 + 28 of EMIDEC's
67 + 33 for training, the rest for testing). N' is N'''s first two draws of each case, so the settings differ only
in how much synthetic data they see. Synthetic cases come from SMILE masks painted by the generator; none is made
from a test case.

Everything lands in one folder and every stage is resumable: the split (``split.json``), the synthetic cohorts
(``synthetic/``), nnU-Net's folders (``nnunet/``), each setting's model and test predictions (``predictions/``) are
reused when present, so a killed run continues where it stopped. Results: ``table.csv``, ``table.md``,
``per_case.csv`` and ``bullseye.png``.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_dir, discover_cases, load_case, read_volume, write_json, write_text, write_volume
from ..progress import emit
from ..smile import SmileSpec
from ..segmentation.metrics import METRICS

PAPER_SETTINGS = {"P": ("P",), "P+N1": ("P", "N1"), "P+N2": ("P", "N2"), "P+P1+N2": ("P", "P1", "N2")}
NO_QC = "-noqc"  # a setting's twin trained on synthetic cases made without the quality gate (first draws kept)
SETTINGS = {**PAPER_SETTINGS, **{s + NO_QC: tuple(p if p == "P" else p + NO_QC for p in parts)
                                 for s, parts in PAPER_SETTINGS.items() if s != "P"}}
PAPER_NAMES = {"P": "P", "P+N1": "P+N'", "P+N2": "P+N''", "P+P1+N2": "P+P'+N''"}
PAPER_NAMES.update({s + NO_QC: PAPER_NAMES[s] + " (no QC)" for s in PAPER_SETTINGS if s != "P"})
PER_CASE = {"N1": 2, "N2": 5, "P1": 1}  # synthetic cases per source case


def _group(part: str) -> tuple[str, str, bool]:
    """A setting's part -> (its synthetic folder name, its PER_CASE key, made with the quality gate)."""
    base = part.removesuffix(NO_QC)
    gated = not part.endswith(NO_QC)
    return ("N" if base.startswith("N") else "P1") + ("" if gated else NO_QC), base, gated


@dataclass
class ExperimentOptions:
    settings: tuple = tuple(PAPER_SETTINGS)
    test_fraction: float = 0.15
    seed: int = 0
    trainer: str = "nnUNetTrainer"
    configuration: str = "2d"
    fold: str = "all"
    first_dataset_id: int = 700
    device: str | None = None
    spec: SmileSpec = field(default_factory=SmileSpec)
    synthesis: dict = field(default_factory=lambda: {"sampler": "dpm", "steps": None})  # None: sampler default
    qc: bool = True  # the synthesis quality gate (workflows.synthesis.qc_check)


def parse_settings(text: str) -> tuple:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    aliases = {v: k for k, v in PAPER_NAMES.items()}
    names = tuple(aliases.get(n, n) for n in names)
    unknown = [n for n in names if n not in SETTINGS]
    if unknown or not names:
        raise InputError("--settings", f"unknown setting {', '.join(unknown) or '(none)'}; use "
                                       f"{', '.join(SETTINGS)}")
    return tuple(dict.fromkeys(names))


def split_cases(pathological: list, normal: list, fraction: float, seed: int) -> dict:
    """Held-out test cases: ``fraction`` of each group (at least one of a group of two or more), chosen at random."""
    rng = np.random.default_rng(seed)

    def cut(ids):
        ids = sorted(ids)
        k = int(round(fraction * len(ids))) if len(ids) > 1 else 0
        k = min(max(k, 1 if fraction > 0 and len(ids) > 1 else 0), len(ids) - 1) if ids else 0
        test = sorted(ids[i] for i in rng.permutation(len(ids))[:k])
        return [i for i in ids if i not in test], test

    train_p, test_p = cut(pathological)
    train_n, test_n = cut(normal)
    return {"train_P": train_p, "test_P": test_p, "train_N": train_n, "test_N": test_n}


def _cohort(folder, role: str, scheme=None):
    files = [f for f in discover_cases(folder) if f.image is not None and f.labels is not None]
    if not files:
        raise InputError(folder, f"holds no {role} case with an image and labels")
    cases = {f.case_id: (f, load_case(f, scheme)) for f in files}
    if len(cases) < len(files):
        raise InputError(folder, f"holds two {role} cases with the same name")
    return cases


def read_cohorts(pathological, normal, scheme=None) -> tuple[dict, dict]:
    """The real cases of the experiment, checked: {case id: (files, Case)} for each group."""
    P = _cohort(pathological, "pathological", scheme)
    N = _cohort(normal, "normal", scheme)
    clash = sorted(set(P) & set(N))
    if clash:
        raise InputError(normal, f"case {clash[0]} is also among the pathological cases")
    no_scar = [cid for cid, (_, c) in P.items() if not c.mask("scar").any()]
    if no_scar:
        raise InputError(P[no_scar[0]][0].labels, "a pathological case with no scar label")
    if len(P) < 2:
        raise InputError(pathological, "needs at least 2 pathological cases (training and test)")
    return P, N


def load_split(out: Path, P: dict, N: dict, options: ExperimentOptions) -> dict:
    """The train/test split: drawn once and written to ``split.json``; a rerun must be on the same cases."""
    import json

    split = split_cases(list(P), list(N), options.test_fraction, options.seed)
    split_file = out / "split.json"
    if split_file.is_file():  # resuming: the same cases must be behind it
        old = json.loads(split_file.read_text())
        if sorted(old["train_P"] + old["test_P"]) != sorted(P) or sorted(old["train_N"] + old["test_N"]) != sorted(N):
            raise InputError(out, "holds an experiment on other cases; choose another --out")
        split = {k: old[k] for k in ("train_P", "test_P", "train_N", "test_N")}
    write_json(split_file, {**split, "test_fraction": options.test_fraction, "seed": options.seed})
    return split


def tiny_generator(out: Path, steps: int, seed: int = 0, device: str | None = None):
    """A generator maker for ``run_experiment``: the tiny config trained on the pathological training cases only,
    in ``out/diffusion_run`` (trained once; a rerun resumes it, or finds it done)."""
    def make(train_folder):
        from ..diffusion.train import train

        run = Path(out) / "diffusion_run"
        return train(train_folder, run, "tiny", steps=steps, seed=seed, sample_every=0,
                     resume=(run / "checkpoint.pt").is_file(), device=device)["checkpoint"]

    return make


def _generator_path(generator, out: Path, split: dict, P: dict):
    if not callable(generator):
        return generator
    train_p = out / "train_P"
    if not train_p.is_dir():
        from ..io import write_case

        with atomic_dir(train_p) as tmp:
            for cid in split["train_P"]:
                write_case(P[cid][1], tmp)
    return generator(train_p)


def make_synthetic(out: Path, split: dict, P: dict, N: dict, generator, options: ExperimentOptions) -> None:
    """The synthetic cohorts the settings need, each made once: N'' (whose first draws are N') and P', through the
    quality gate (unless ``options.qc`` is off), and for ``-noqc`` twins the same without it."""
    from ..diffusion.sample import load_generator
    from .synthesis import synthesize_cohort

    needed = {part for s in options.settings for part in SETTINGS[s]} - {"P"}
    bundle = None
    for gated in (True, False):
        # N' is the first draws of N'': all of N'' is made whenever either is asked for, so the two always nest
        wants = {_group(p)[1] for p in needed if _group(p)[2] == gated}
        n_draws = PER_CASE["N2"] if any(k.startswith("N") for k in wants) else 0
        for number, (group, ids, source, count) in enumerate((
                ("N", split["train_N"], N, n_draws),
                ("P1", split["train_P"], P, PER_CASE["P1"] if "P1" in wants else 0))):
            folder = out / "synthetic" / (group + ("" if gated else NO_QC))
            if count == 0 or not ids or folder.is_dir():
                continue
            bundle = bundle or load_generator(generator, options.device)
            rng = np.random.default_rng([options.seed, 1, number])  # a twin's draws are the gated set's, but redraws
            partial = folder.with_name(f".partial-{folder.name}")  # an interrupted run's cases are kept, not redone
            synthesize_cohort([source[cid][1] for cid in ids], bundle, count, partial, rng, options.spec,
                              stage=f"synthesising {folder.name}", qc=options.qc and gated, **options.synthesis)
            os.replace(partial, folder)


def _members(out: Path, split: dict, P: dict, part: str) -> list:
    """The training cases of one part of a setting (P, N1, N2 or P1)."""
    from .synthesis import synthetic_id

    if part == "P":
        return [P[c][1] for c in split["train_P"]]
    name, key, _ = _group(part)
    folder = out / "synthetic" / name
    ids = split["train_N"] if key.startswith("N") else split["train_P"]
    names = [synthetic_id(c, i) for c in ids for i in range(PER_CASE[key])]
    found = {f.case_id: f for f in discover_cases(folder)} if folder.is_dir() else {}
    missing = [n for n in names if n not in found]
    if missing:
        raise InputError(folder, f"lacks {len(missing)} of the synthetic cases {part} needs (an earlier run "
                                 "made fewer); remove the folder to make them again")
    return [load_case(found[n]) for n in names]


def _run_setting(out: Path, setting: str, index: int, split: dict, P: dict, options: ExperimentOptions,
                 truths: dict):
    """Train (or find trained) one setting's nnU-Net and evaluate it on the test cases."""
    from ..segmentation import ModelFolder, nnunet
    from .segmentation import is_trained, train_segmenter

    base = 0.1 + 0.85 * index / len(options.settings)
    dataset_id = options.first_dataset_id + list(SETTINGS).index(setting)
    parts = {part: _members(out, split, P, part) for part in SETTINGS[setting]}
    if is_trained(dataset_id, options.configuration, options.trainer, options.fold):
        model = nnunet.model_folder(dataset_id, options.configuration, options.trainer)
    else:
        model = train_segmenter(dataset_id, options.configuration, options.fold, options.trainer, options.device,
                                cases=[c for cs in parts.values() for c in cs],
                                name="CLAIM_" + setting.replace("+", "_"), resume=True,
                                on_stage=lambda text: emit(base + 0.02, f"{setting}: {text}"))
    emit(base + 0.8 * 0.85 / len(options.settings), f"{setting}: segmenting the test cases")
    preds = _predict(model, options, truths, out / "predictions" / setting)
    result, rows, tables = _evaluate(preds, truths, ModelFolder(model).label_scheme())
    result["training_cases"] = {part: len(cs) for part, cs in parts.items()}
    return result, rows, tables


def run_experiment(pathological, normal, generator, out, options: ExperimentOptions = ExperimentOptions(),
                   scheme=None) -> dict:
    """Run (or continue) the experiment; returns the results (also written to ``out``).

    ``generator``: a diffusion checkpoint path, or a callable ``f(train_P_folder) -> checkpoint path`` that trains one
    on the pathological training cases only (``tiny_generator``: ``claim experiment --quick`` without
    ``--diffusion``).
    """
    from ..segmentation import nnunet

    out = Path(out)
    P, N = read_cohorts(pathological, normal, scheme)
    split = load_split(out, P, N, options)
    emit(0.02, "split", **{k: len(v) for k, v in split.items()})
    generator = _generator_path(generator, out, split, P)
    make_synthetic(out, split, P, N, generator, options)
    emit(0.1, "synthetic cohorts ready")
    truths = {cid: ({**P, **N})[cid][1] for cid in split["test_P"] + split["test_N"]}
    results, per_case, tables = {}, [], {}
    with nnunet.nnunet_environment(out / "nnunet"):
        for index, setting in enumerate(options.settings):
            results[setting], rows, tables[setting] = _run_setting(out, setting, index, split, P, options, truths)
            per_case.extend({"setting": setting, **r} for r in rows)
    _write_results(out, options.settings, results, per_case, tables, truths, split)
    emit(1.0, "done")
    return {"settings": results, "split": split, "out": str(out)}


def _predict(model, options, truths: dict, folder: Path) -> dict:
    """Test-case predictions of one setting (computed once, then read back on a rerun)."""
    from ..segmentation.nnunet import Predictor

    if not folder.is_dir():
        predictor = Predictor(model, folds=[options.fold if options.fold == "all" else int(options.fold)],
                              device=options.device)
        predicted = predictor.predict_many([(t.image, t.geometry) for t in truths.values()])
        with atomic_dir(folder) as tmp:
            for (cid, truth), labels in zip(truths.items(), predicted):
                write_volume(tmp / f"{cid}.nii.gz", labels, truth.geometry, np.uint8)
    return {cid: read_volume(folder / f"{cid}.nii.gz")[0].astype(np.uint8) for cid in truths}


def _evaluate(preds: dict, truths: dict, scheme):
    """Metrics and per-segment tables of one setting's predictions (label values read with the model's scheme)."""
    from ..labels import case_from_arrays
    from .evaluation import evaluate_pairs
    from .tables import comparison_tables

    pairs = [(truth, case_from_arrays(cid, None, preds[cid], truth.geometry, scheme, allow_empty=True))
             for cid, truth in truths.items()]  # a prediction without myocardium is a (bad) answer, not an error
    ev = evaluate_pairs(pairs)
    sick = [(t, p) for t, p in pairs if t.mask("scar").any()]
    truth_tables, pred_tables = comparison_tables(sick)
    tables = {t.case_id: (a, b) for (t, _), a, b in zip(sick, truth_tables, pred_tables)}
    return {"all": ev["all"], "pathological": ev["pathological"]}, ev["rows"], tables


def _fmt(a: dict, key: str, digits: int = 3) -> str:
    if not a or key not in a or not np.isfinite(a[key]["mean"]):
        return "-"
    return f"{a[key]['mean']:.{digits}f} ± {a[key]['sd']:.{digits}f}"


def _write_results(out: Path, settings, results, per_case, tables, truths, split) -> None:
    cols = ["setting", "paper_name", "train_real", "train_synthetic", "test_cases", "test_pathological"]
    cols += [f"scar_{m}_{s}" for m in METRICS for s in ("mean", "sd")]
    cols += ["scar_dice_pathological_mean", "myocardium_dice_mean", "cavity_dice_mean"]
    rows = []
    for s in settings:
        r = results[s]
        scar, myo, cav = r["all"].get("scar", {}), r["all"].get("myocardium", {}), r["all"].get("cavity", {})
        row = {"setting": s, "paper_name": PAPER_NAMES[s], "train_real": r["training_cases"].get("P", 0),
               "train_synthetic": sum(v for k, v in r["training_cases"].items() if k != "P"),
               "test_cases": len(truths), "test_pathological": len(split["test_P"])}
        for m in METRICS:
            row[f"scar_{m}_mean"] = scar.get(m, {}).get("mean", float("nan"))
            row[f"scar_{m}_sd"] = scar.get(m, {}).get("sd", float("nan"))
        row["scar_dice_pathological_mean"] = r["pathological"].get("scar", {}).get("dice", {}).get("mean",
                                                                                                   float("nan"))
        row["myocardium_dice_mean"] = myo.get("dice", {}).get("mean", float("nan"))
        row["cavity_dice_mean"] = cav.get("dice", {}).get("mean", float("nan"))
        rows.append(row)
    write_text(out / "table.csv", _csv(rows, cols))
    write_text(out / "per_case.csv", _csv(per_case, ["setting", "case", "class", *METRICS]))

    lines = ["# Scar segmentation with real and synthetic training data (CLAIM Table 2 protocol)", "",
             f"Test: {len(split['test_P'])} pathological + {len(split['test_N'])} normal held-out real cases "
             f"({', '.join(split['test_P'] + split['test_N'])}). Scar = infarct + MVO; mean ± SD over the test "
             "cases (empty-mask conventions: see CLAIMLib.segmentation.metrics).", "",
             "| Setting | Training cases (real + synthetic) | Dice | Precision | Sensitivity | Specificity | "
             "Dice, pathological only | Myocardium Dice | Scar volume error (mL) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s, row in zip(settings, rows):
        a, p = results[s]["all"].get("scar", {}), results[s]["pathological"].get("scar", {})
        lines.append(f"| {PAPER_NAMES[s]} | {row['train_real']} + {row['train_synthetic']} | {_fmt(a, 'dice')} | "
                     f"{_fmt(a, 'precision')} | {_fmt(a, 'sensitivity')} | {_fmt(a, 'specificity', 4)} | "
                     f"{_fmt(p, 'dice')} | {_fmt(results[s]['all'].get('myocardium', {}), 'dice')} | "
                     f"{_fmt(a, 'volume_error_ml', 2)} |")
    lines += ["", "Per-segment scar volume on the pathological test cases: `bullseye.png` (ground truth, each "
                  "setting's prediction, and prediction - truth). Per case: `per_case.csv`.", ""]
    lines += _qc_lines(out)
    write_text(out / "table.md", "\n".join(lines))

    if tables:
        from .tables import comparison_bullseye

        cids = sorted(next(iter(tables.values())))
        comparison_bullseye([tables[settings[0]][c][0] for c in cids],
                            {PAPER_NAMES[s]: [tables[s][c][1] for c in cids] for s in settings}, out / "bullseye.png",
                            title=f"Mean scar volume per AHA segment over {len(cids)} pathological test cases")


def _qc_lines(out: Path) -> list:
    """What the synthesis quality gate did to each synthetic group (from its ``synthesis.json``)."""
    import json

    lines = []
    for group in ("N", "P1", "N" + NO_QC, "P1" + NO_QC):
        path = out / "synthetic" / group / "synthesis.json"
        if not path.is_file():
            continue
        q = json.loads(path.read_text()).get("qc")
        if not q:
            lines.append(f"Synthetic {group}: made without the quality gate (every first draw kept).")
            continue
        why = ", ".join(f"{k}: {v}" for k, v in q["rejections"].items()) or "none"
        lines.append(f"Synthetic {group}: the quality gate accepted {q['accepted']} of {q['samples']} samples "
                     f"({100 * q['acceptance_rate']:.0f}%); rejected: {why}; kept after {q['max_tries']} failed "
                     f"draws: {len(q['kept_after_failing'])}.")
    return lines + ([""] if lines else [])


def _csv(rows: list, fields: list) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.5g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()
