"""Synthesis: paint scar texture into a case under a mask, and synthetic cohorts (SMILE masks drawn on each case,
painted by the generator, written in the EMIDEC layout: how the CLAIM paper makes N', N'' and P').

A pathological case keeps its own scar: the new labels are the union of the case's scar and the painted mask, so no
scar is left unlabelled. Every voxel outside the painted mask keeps its value, bit for bit, in the image's own dtype.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Synthetic:
    """A synthetic image on the case's grid (the case's dtype), its labels (EMIDEC values) and the record."""

    image: np.ndarray
    labels: np.ndarray
    record: dict


def synthesize_case(bundle, case, scar, mvo=None, seed: int = 0, **options) -> Synthetic:
    """Paint ``scar`` (MVO inside ``mvo``) into the case's image with the generator ``bundle``
    (``diffusion.sample.load_generator``). ``options``: ``diffusion.sample.synthesis_options``."""
    from ..diffusion.sample import synthesize
    from ..labels import EMIDEC

    scar = np.asarray(scar, bool)
    mvo = np.zeros_like(scar) if mvo is None else np.asarray(mvo, bool) & scar
    image, record = synthesize(bundle, case, scar, mvo, seed=int(seed), **options)
    masks = dict(case.masks, scar=scar | case.mask("scar"), mvo=mvo | case.mask("mvo"))
    return Synthetic(image, EMIDEC.encode(masks, case.geometry.shape), record)


def synthetic_id(case_id: str, index: int) -> str:
    return f"{case_id}_syn{index + 1:02d}"


def synthesize_cohort(cases, bundle, per_case: int, out, rng: np.random.Generator, spec=None,
                      stage: str = "synthesising", qc: bool = False, max_tries: int = 3, **options) -> dict:
    """Write ``per_case`` synthetic cases for each case into ``out`` (EMIDEC layout, with a JSON record each) and
    ``out/synthesis.json`` (the cases, and the quality gate's acceptance rate and reasons). Masks are SMILE's
    (``spec``) on each case's own AHA segments. With ``qc``, a sample the gate (``qc_check``) rejects is redrawn,
    mask and all, up to ``max_tries`` times; the last try is kept (flagged) when none passes. Each case is written
    atomically as soon as it is done, and a case already in ``out`` (an interrupted run's) is kept, not made again:
    sample ``i`` of case ``k`` is drawn from its own stream, seeded from one draw of ``rng``, so a resumed run
    ends as an uninterrupted one would. Returns the summary written to ``synthesis.json``."""
    from ..aha import aha_segments
    from ..fidelity import QC_METHOD, QC_MIN_DICE
    from ..io import write_case, write_json
    from ..labels import case_from_arrays
    from ..progress import track
    from ..smile import SmileSpec, case_subject, generate
    from .masks import volume_shortfall

    spec = spec or SmileSpec()
    out = Path(out)
    base = int(rng.integers(2 ** 63))  # each sample is seeded from (base, case, index): a resumed run makes the same
    records = []
    for number, case in enumerate(track(list(cases), stage=stage)):
        subject = aha = None
        for i in range(per_case):
            new_id = synthetic_id(case.case_id, i)
            done = _finished(out / new_id / f"{new_id}.json")
            if done is not None:  # made by an earlier, interrupted run (a case folder is written whole)
                records.append((new_id, done))
                continue
            if subject is None:
                aha = aha_segments(case.myocardium, case.masks.get("cavity"), case.geometry, image=case.float_image,
                                   rv=case.masks.get("rv"))
                subject = case_subject(case, aha)
            sample_rng = np.random.default_rng([base, number, i])
            rejected = {}
            for attempt in range(max_tries if qc else 1):
                mask = generate(sample_rng, subject, spec)
                shortfall = volume_shortfall(mask.record, spec)  # an error unless spec.allow_less
                if shortfall:
                    mask.record["warning"] = shortfall
                seed = int(sample_rng.integers(2 ** 31))
                syn = synthesize_case(bundle, case, mask.scar, mask.mvo, seed=seed, **options)
                gate = qc_check(bundle, case, syn, aha) if qc else None
                if gate is None or gate["reason"] is None:
                    break
                reason = gate["reason"].split(":")[0]
                rejected[reason] = rejected.get(reason, 0) + 1
            new = case_from_arrays(new_id, syn.image, syn.labels, case.geometry)
            record = {"source": case.case_id, "smile": mask.record, "synthesis": syn.record, "qc": gate,
                      "tries": attempt + 1, "rejections": rejected}
            write_case(new, out, record=record)
            records.append((new_id, record))
    summary = {"cases": [cid for cid, _ in records], "qc": None}
    if qc:
        tries = sum(r.get("tries", 1) for _, r in records)
        reasons = {}
        for _, r in records:
            for k, v in r.get("rejections", {}).items():
                reasons[k] = reasons.get(k, 0) + v
        flagged = [cid for cid, r in records if r["qc"] is not None and r["qc"]["reason"] is not None]
        summary["qc"] = {"samples": tries, "accepted": tries - sum(reasons.values()),
                         "acceptance_rate": (tries - sum(reasons.values())) / max(tries, 1),
                         "rejections": reasons, "kept_after_failing": flagged, "max_tries": max_tries,
                         "method": QC_METHOD, "min_dice": QC_MIN_DICE}
    write_json(out / "synthesis.json", summary)
    return summary


def _finished(record_path: Path):
    """The record of a synthetic case already written whole, or None."""
    import json

    try:
        return json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None


def qc_check(bundle, case, syn: Synthetic, aha) -> dict:
    """The quality gate on one synthetic case: the scar quantification's threshold (``fidelity.QC_METHOD`` through
    ``workflows.scar.quantify_scar``, relative to the automatic remote segment) on the synthetic image against the
    scar its labels hold, and the scar's brightness over remote myocardium and its texture on the generator's crops
    against the training ranges. Returns the Dice, the measurements and the reason it fails (None: it passes)."""
    from ..diffusion.data import case_slices, lesion_measures
    from ..errors import InputError
    from ..fidelity import QC_METHOD, qc_verdict, training_range
    from ..labels import EMIDEC, case_from_arrays
    from ..segmentation.metrics import confusion
    from .scar import quantify_scar

    new = case_from_arrays(case.case_id, syn.image, syn.labels, case.geometry, EMIDEC)
    intended = EMIDEC.mask(syn.labels, "scar")
    try:
        found = quantify_scar(new, QC_METHOD, aha=aha, sensitivity=False).scar
    except InputError:  # no enhanced region the method can seed from
        found = np.zeros_like(intended)
    tp, fp, fn, _ = confusion(found, intended)
    dice = 2 * tp / max(2 * tp + fp + fn, 1)
    cfg = bundle.config
    sl = case_slices(new, cfg["size"], cfg["spacing_mm"])  # as the training bank saw its slices
    measures = [lesion_measures(img, sc, myo) for img, sc, myo in zip(sl.image, sl.scar, sl.myocardium)]
    measured = {what: float(np.median(v)) if v else None
                for what, v in (("brightness", [b for b, _ in measures if b is not None]),
                                ("texture", [t for _, t in measures if t is not None]))}
    measured = {k: v for k, v in measured.items() if v is not None}
    ranges = {what: training_range(bundle.stats, what) for what in measured}
    return {"dice": round(float(dice), 4), **{k: round(v, 4) for k, v in measured.items()},
            "reason": qc_verdict(dice, measured, ranges)}
