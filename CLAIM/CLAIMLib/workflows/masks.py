"""SMILE masks for a case: its AHA-17 labels (every orientation source), its SMILE subject, and the masks with
their records, as ``claim smile`` writes them and the SMILE Mask Editor shows them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class SmileMask:
    """One SMILE mask on a case's grid: the case's labels with the new scar (EMIDEC values: 1 cavity, 2 myocardium,
    3 scar, 4 MVO), the scar (MVO included) and MVO masks, and the record (segments, targets, achieved mL ...)."""

    labels: np.ndarray
    scar: np.ndarray
    mvo: np.ndarray
    record: dict


def check_mode(mode: str, source="--mode") -> str:
    if mode not in ("direct", "template"):
        raise InputError(source, f"unknown mode '{mode}' (direct or template)")
    return mode


def smile_masks(case, spec, count: int = 1, seed=0, mode: str = "direct", rv_points=(), aha=None,
                subject=None, source=None) -> list[SmileMask]:
    """``count`` SMILE masks for a case, drawn from one ``numpy`` Generator seeded with ``seed`` (mask i of a
    call is the same whatever ``count`` is), or from ``seed`` itself when it is a Generator (its stream goes on).
    An existing scar of the case becomes myocardium.

    ``mode``: "direct" (the subject's own AHA labels) or "template" (paper-faithful: grown in template space and
    mapped back). ``aha`` and ``subject``: an ``AHAResult`` (of the same ``mode``) and its SMILE subject already at
    hand (the Slicer Logic caches them); otherwise found with ``case_aha``. A request the subject cannot hold
    raises an InputError naming ``source`` (default: the case's label file).
    """
    from ..labels import EMIDEC
    from ..smile import case_subject, generate
    from ..smile_template import generate_template
    from .aha import case_aha

    check_mode(mode)
    if count < 1:
        raise InputError("--count", f"must be at least 1 (got {count})")
    source = source or case.sources.get("labels") or case.case_id
    if aha is None:
        aha = case_aha(case, method=mode, rv_points=rv_points, labels_source=source)
    if subject is None:
        subject = case_subject(case, aha)
    drawn = isinstance(seed, np.random.Generator)
    rng = seed if drawn else np.random.default_rng(int(seed))
    common = {"case_id": case.case_id, "seed": None if drawn else int(seed), "mode": mode, "orientation": aha.orientation.to_dict(),
              "replaced_existing_scar_ml": round(case.volume_ml("scar"), 4)}
    out = []
    for _ in range(count):
        try:
            res = generate_template(rng, subject, aha.registration, spec) if mode == "template" \
                else generate(rng, subject, spec)
        except ValueError as e:
            raise InputError(source, str(e)) from None
        shortfall = volume_shortfall(res.record, spec)
        if shortfall:
            res.record["warning"] = shortfall
        labels = EMIDEC.encode(dict(case.masks, scar=res.scar, mvo=res.mvo), case.geometry.shape)
        out.append(SmileMask(labels, res.scar, res.mvo, {**common, **res.record}))
    return out


SHORTFALL = 0.9  # an asked-for volume achieved below this fraction is a shortfall


def volume_shortfall(record: dict, spec) -> str | None:
    """None when the mask holds the volume the user asked for (``spec.volume_ml`` or ``spec.volume_fraction``; a
    drawn volume is sized to fit); else a line naming what the segments hold. With ``spec.allow_less`` False that
    line is an InputError (``--volume-ml``), otherwise the caller's warning."""
    from ..smile import MAX_FILL

    if spec.volume_ml is None and spec.volume_fraction is None:
        return None
    target, achieved = float(record["target_total_ml"]), float(record["achieved_total_ml"])
    if achieved >= SHORTFALL * target:
        return None
    per = record.get("per_segment", {})
    segments = ", ".join(str(s) for s in record.get("segments", per))
    myocardium = sum(float(v.get("segment_ml", 0)) for v in per.values())
    held = sum(MAX_FILL * float(v["capacity_ml"]) for v in per.values() if "capacity_ml" in v)
    pattern = record.get("pattern", "wavefront")
    line = (f"segments {segments} hold {myocardium:.1f} mL of myocardium" if myocardium else f"segments {segments}") \
        + (f", at most {held:.1f} mL as {pattern} scar" if held else "") \
        + f"; the {pattern} mask reached {achieved:.1f} mL of the {target:.1f} mL asked"
    if not spec.allow_less:
        option = CLI_NAMES["volume"] if spec.volume_ml is not None else CLI_NAMES["volume_fraction"]
        raise InputError(option, f"{line} (ask for less, choose more segments, or pass --allow-less)")
    return line


CLI_NAMES = {"segments": "--segments", "territory": "--territory", "volume": "--volume-ml",
             "transmurality": "--transmurality", "max_segments": "--max-segments",
             "volume_fraction": "--volume-fraction", "lesions": "--lesions", "priors": "--priors"}
MAX_LESIONS = 5


def smile_spec(segments=None, territory=None, max_segments: int = 4, volume_ml=None, transmurality=None,
               mvo: bool = False, volume_fraction=None, lesions=None, priors=None, names: dict = CLI_NAMES,
               allow_less: bool = True):
    """A checked ``smile.SmileSpec``: bad options raise an InputError naming the option (``names``: how the
    caller calls them, the CLI's flags by default). ``priors``: a ``SmilePriors`` or the path of its JSON."""
    from ..smile import SmileSpec, parse_pattern
    from ..smile_priors import SmilePriors, load

    names = {**CLI_NAMES, **names}
    if volume_fraction is not None:
        if volume_ml is not None:
            raise InputError(names["volume_fraction"], f"give either {names['volume']} or a fraction, not both")
        if not 0 < float(volume_fraction) < 1:
            raise InputError(names["volume_fraction"], f"must lie between 0 and 1 (got {float(volume_fraction):g})")
    if lesions is not None and not 1 <= int(lesions) <= MAX_LESIONS:
        raise InputError(names["lesions"], f"use 1-{MAX_LESIONS} lesions (got {lesions})")
    if priors is not None and not isinstance(priors, SmilePriors):
        try:
            priors = load(priors)
        except ValueError as e:
            raise InputError(priors, str(e)) from None
    if segments and territory:
        raise InputError(names["segments"], "give either segments or a territory, not both")
    if not 1 <= int(max_segments) <= 17:
        raise InputError(names["max_segments"], f"must lie in 1-17 (got {max_segments})")
    if segments:
        segments = tuple(int(s) for s in segments)
        bad = [s for s in segments if not 1 <= s <= 17]
        if bad:
            raise InputError(names["segments"], f"AHA segments are 1-17, not {bad}")
        twice = sorted({s for s in segments if segments.count(s) > 1})
        if twice:
            raise InputError(names["segments"], f"segment {twice[0]} is given twice")
        if isinstance(volume_ml, dict):
            unchosen = sorted(int(s) for s in volume_ml if int(s) not in segments)
            if unchosen:
                raise InputError(names["volume"], f"gives a volume for segment {unchosen[0]}, which "
                                                  f"{names['segments']} does not choose")
    try:
        pattern = parse_pattern(transmurality)[0]
    except ValueError as e:
        raise InputError(names["transmurality"], str(e)) from None
    if lesions is not None and pattern != "wavefront":
        raise InputError(names["lesions"], f"lesions are wavefront masks; {names['transmurality']} {transmurality} "
                                           "grows per segment")
    if isinstance(volume_ml, dict):
        if any(not 1 <= int(s) <= 17 for s in volume_ml) or any(not v > 0 for v in volume_ml.values()):
            raise InputError(names["volume"], "per-segment volumes need AHA segments 1-17 and positive mL")
    elif volume_ml is not None and not float(volume_ml) > 0:
        raise InputError(names["volume"], f"must be positive (got {float(volume_ml):g} mL)")
    return SmileSpec(segments=segments or None, territory=territory, max_segments=int(max_segments),
                     volume_ml=volume_ml, transmurality=transmurality, mvo=bool(mvo),
                     volume_fraction=None if volume_fraction is None else float(volume_fraction),
                     lesions=None if lesions is None else int(lesions), priors=priors, allow_less=bool(allow_less))



def _heart(case, septum=None):
    """A case's AHA labels and wall depth (``septum``: the one its SMILE sidecar recorded, so that a mask is
    measured in the frame it was drawn in)."""
    from ..smile import case_subject
    from .aha import case_aha

    aha = case_aha(case, septum=septum)
    return aha.labels, case_subject(case, aha).depth


def case_mask_stats(case, septum=None, scar=None) -> dict:
    """``maskstats.case_stats`` of a case's scar (or ``scar``) on its own AHA segments and wall depth."""
    from ..maskstats import case_stats

    aha, depth = _heart(case, septum)
    scar = case.mask("scar") if scar is None else scar
    return case_stats(scar, case.myocardium, case.masks.get("cavity"), aha, case.geometry, depth=depth)


def mask_stats(masks, reference, seed: int = 0, baseline: bool = True) -> dict:
    """The four realism distances (``maskstats``) of ``masks`` to ``reference``, each a list of ``(case, septum
    or None)``; and the same for a ball baseline on the masks' own hearts: one ball per mask, clipped to its
    myocardium, its volume fraction drawn from the reference's (``baselines.sphere_mask``). Returns
    ``{"masks": ..., "ball": ...}`` (``maskstats.compare`` dicts)."""
    from ..baselines import sphere_mask
    from ..maskstats import case_stats, compare
    from ..progress import track

    def stats(case, aha, depth, scar):
        return case_stats(scar, case.myocardium, case.masks.get("cavity"), aha, case.geometry, depth=depth)

    ref = [stats(case, *_heart(case, septum), case.mask("scar"))
           for case, septum in track(reference, stage="measuring the reference")]
    fractions = [st["volume_fraction"] for st in ref if st["volume_ml"] > 0] or [0.179]
    rng = np.random.default_rng(int(seed))
    gen, balls = [], []
    for case, septum in track(masks, stage="measuring the masks"):
        aha, depth = _heart(case, septum)
        gen.append(stats(case, aha, depth, case.mask("scar")))
        if baseline:
            volume = float(rng.choice(fractions)) * np.count_nonzero(case.myocardium) * case.geometry.voxel_volume_ml
            ball, _ = sphere_mask(rng, case.myocardium, case.geometry, volume_ml=volume)
            balls.append(stats(case, aha, depth, ball))
    out = {"masks": compare(gen, ref)}
    if baseline:
        out["ball"] = compare(balls, ref)
    return out


def learn_smile_priors(cases, source: str = ""):
    """``smile_priors.SmilePriors`` learned from reference cases (``labels.Case``; those without scar are counted
    as normal): each scar measured on its own heart's AHA segments and wall depth."""
    from ..maskstats import case_stats
    from ..progress import track
    from ..smile_priors import count_lesions, learn

    stats, lesions, ids = [], [], []
    for case in track(list(cases), stage="learning SMILE priors"):
        aha, depth = _heart(case)
        scar = case.mask("scar")
        stats.append(case_stats(scar, case.myocardium, case.masks.get("cavity"), aha, case.geometry, depth=depth))
        lesions.append(count_lesions(scar & case.myocardium))
        ids.append(case.case_id)
    try:
        return learn(stats, lesions, ids, source=source)
    except ValueError as e:
        raise InputError(source or "reference", str(e)) from None
