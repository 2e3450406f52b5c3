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
    atomically as soon as it is done. Returns the summary written to ``synthesis.json``."""
    from ..aha import aha_segments
    from ..fidelity import QC_METHOD, QC_MIN_DICE
    from ..io import write_case, write_json
    from ..labels import case_from_arrays
    from ..progress import track
    from ..smile import SmileSpec, case_subject, generate

    spec = spec or SmileSpec()
    made, reasons, tries, flagged = [], {}, 0, []
    for case in track(list(cases), stage=stage):
        aha = aha_segments(case.myocardium, case.masks.get("cavity"), case.geometry, image=case.float_image,
                           rv=case.masks.get("rv"))
        subject = case_subject(case, aha)
        for i in range(per_case):
            for attempt in range(max_tries if qc else 1):
                mask = generate(rng, subject, spec)
                seed = int(rng.integers(2 ** 31))
                syn = synthesize_case(bundle, case, mask.scar, mask.mvo, seed=seed, **options)
                tries += 1
                gate = qc_check(bundle, case, syn, aha) if qc else None
                if gate is None or gate["reason"] is None:
                    break
                reason = gate["reason"].split(":")[0]
                reasons[reason] = reasons.get(reason, 0) + 1
            new = case_from_arrays(synthetic_id(case.case_id, i), syn.image, syn.labels, case.geometry)
            if gate is not None and gate["reason"] is not None:
                flagged.append(new.case_id)
            path = write_case(new, out)
            write_json(Path(path) / f"{new.case_id}.json", {"source": case.case_id, "smile": mask.record,
                                                            "synthesis": syn.record, "qc": gate})
            made.append(new.case_id)
    summary = {"cases": made, "qc": None}
    if qc:
        summary["qc"] = {"samples": tries, "accepted": tries - sum(reasons.values()),
                         "acceptance_rate": (tries - sum(reasons.values())) / max(tries, 1),
                         "rejections": reasons, "kept_after_failing": flagged, "max_tries": max_tries,
                         "method": QC_METHOD, "min_dice": QC_MIN_DICE}
    write_json(Path(out) / "synthesis.json", summary)
    return summary


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
