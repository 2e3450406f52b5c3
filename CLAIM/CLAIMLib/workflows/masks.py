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
    from ..smile import case_subject, generate, generate_template
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
        labels = EMIDEC.encode(dict(case.masks, scar=res.scar, mvo=res.mvo), case.geometry.shape)
        out.append(SmileMask(labels, res.scar, res.mvo, {**common, **res.record}))
    return out


CLI_NAMES = {"segments": "--segments", "territory": "--territory", "volume": "--volume-ml",
             "transmurality": "--transmurality", "max_segments": "--max-segments"}


def smile_spec(segments=None, territory=None, max_segments: int = 4, volume_ml=None, transmurality=None,
               mvo: bool = False, names: dict = CLI_NAMES):
    """A checked ``smile.SmileSpec``: bad options raise an InputError naming the option (``names``: how the
    caller calls them, the CLI's flags by default)."""
    from ..smile import SmileSpec, parse_pattern

    if segments and territory:
        raise InputError(names["segments"], "give either segments or a territory, not both")
    if segments:
        segments = tuple(int(s) for s in segments)
        bad = [s for s in segments if not 1 <= s <= 17]
        if bad:
            raise InputError(names["segments"], f"AHA segments are 1-17, not {bad}")
    try:
        parse_pattern(transmurality)
    except ValueError as e:
        raise InputError(names["transmurality"], str(e)) from None
    if isinstance(volume_ml, dict):
        if any(not 1 <= int(s) <= 17 for s in volume_ml) or any(not v > 0 for v in volume_ml.values()):
            raise InputError(names["volume"], "per-segment volumes need AHA segments 1-17 and positive mL")
    elif volume_ml is not None and not float(volume_ml) > 0:
        raise InputError(names["volume"], f"must be positive (got {float(volume_ml):g} mL)")
    return SmileSpec(segments=segments or None, territory=territory, max_segments=int(max_segments),
                     volume_ml=volume_ml, transmurality=transmurality, mvo=bool(mvo))
