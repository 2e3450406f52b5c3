"""SMILE's paper-faithful mode: the scar grown in the space of a parametric template (``template.py``) and mapped
back to the subject with the registration (CLAIM, Ramzan et al. 2025). Targets are planned in the subject's space."""
from __future__ import annotations

import numpy as np

from .smile import MAX_FILL, Plan, SmileResult, SmileSpec, Subject, make_plan, mvo_core, parse_pattern, pattern_capacity, \
    prepare_subject, realize


def template_subject() -> Subject:
    """The parametric template of ``template.py`` as a SMILE subject (its own frame: septum +x)."""
    global _TEMPLATE_SUBJECT
    if _TEMPLATE_SUBJECT is None:
        import SimpleITK as sitk

        from .aha import AHAResult
        from .longaxis import fit_long_axis
        from .orientation import Orientation
        from .template import make_template

        t = make_template()
        myo = sitk.GetArrayFromImage(t.myocardium) > 0
        cav = t.cavity
        la = fit_long_axis(myo, cav, t.geometry)
        labels = np.where(myo, sitk.GetArrayFromImage(t.labels), 0).astype(np.uint8)
        orientation = Orientation("template", np.array([1.0, 0.0, 0.0]), 1.0, "template frame")
        _TEMPLATE_SUBJECT = prepare_subject(myo, cav, t.geometry, AHAResult(labels, orientation, la, "template"))
    return _TEMPLATE_SUBJECT


_TEMPLATE_SUBJECT = None


def generate_template(rng: np.random.Generator, subject: Subject, registration,
                      spec: SmileSpec = SmileSpec()) -> SmileResult:
    """Paper-faithful mode: grow the scar in template space, then map it back with the registration.

    Targets are planned in the subject's space and scaled into the template by each segment's volume ratio;
    the achieved volumes are measured back on the subject.
    """
    tsub = template_subject()
    if parse_pattern(spec.transmurality)[0] == "wavefront" and not isinstance(spec.volume_ml, dict):
        return _template_wavefront(rng, subject, tsub, registration, spec)
    plan = make_plan(rng, subject, spec)
    scaled = {k: v * tsub.segment_ml[k] / subject.segment_ml[k] for k, v in plan.targets.items()
              if tsub.segment_ml[k] > 0}
    tres = realize(rng, tsub, Plan(plan.segments, plan.pattern, plan.extent, scaled, sum(scaled.values())), spec)
    scar = (registration.template_to_subject(tres.scar.astype(np.uint8)) > 0) & subject.myocardium
    mvo = (registration.template_to_subject(tres.mvo.astype(np.uint8)) > 0) & scar
    vox = subject.voxel_ml
    capacity = pattern_capacity(subject, plan.pattern, plan.extent, plan.targets)
    record = dict(tres.record)
    record.update({
        "mode": "template",
        "target_total_ml": round(plan.total, 4),
        "achieved_total_ml": round(float(np.count_nonzero(scar) * vox), 4),
        "per_segment": {str(s): {"target_ml": round(plan.targets[s], 4),
                                 "achieved_ml": round(float(np.count_nonzero(scar & (subject.aha == s)) * vox), 4),
                                 "segment_ml": round(subject.segment_ml[s], 4), "capacity_ml": round(capacity[s], 4),
                                 "capacity_limited": bool(plan.targets[s] > MAX_FILL * capacity[s])}
                        for s in sorted(plan.targets)},
        "mvo_ml": round(float(np.count_nonzero(mvo) * vox), 4),
    })
    return SmileResult(scar, mvo, record)


def _template_wavefront(rng, subject: Subject, tsub: Subject, registration, spec: SmileSpec) -> SmileResult:
    """The wavefront lesion planned on the subject, grown in template space (targets scaled by the allowed
    segments' volume ratio), mapped back and measured on the subject."""
    from .smile_lesion import grow, lesion_record, plan_lesions

    plan = plan_lesions(rng, subject, spec, spec.priors)
    scaled = dict(plan, lesions=[])
    for lesion in plan["lesions"]:
        ratio = sum(tsub.segment_ml[s] for s in lesion["allowed"]) / max(
            sum(subject.segment_ml[s] for s in lesion["allowed"]), 1e-9)
        scaled["lesions"].append(dict(lesion, target_ml=lesion["target_ml"] * ratio))
    tscar, lesions = grow(rng, tsub, scaled, depth_target=plan.get("depth_target"))
    tmvo = mvo_core(rng, tscar, tsub) if spec.mvo and tscar.any() else np.zeros_like(tscar)
    scar = (registration.template_to_subject(tscar.astype(np.uint8)) > 0) & subject.myocardium
    mvo = (registration.template_to_subject(tmvo.astype(np.uint8)) > 0) & scar
    record = lesion_record(subject, plan, scar, mvo, lesions)
    record["mode"] = "template"
    return SmileResult(scar, mvo, record)
