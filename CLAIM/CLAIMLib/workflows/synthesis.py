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
                      stage: str = "synthesising", **options) -> list[str]:
    """Write ``per_case`` synthetic cases for each case into ``out`` (EMIDEC layout, with a JSON record each);
    returns their ids. Masks are SMILE's (``spec``) on each case's own AHA segments. Each case is written
    atomically as soon as it is done."""
    from ..io import write_case, write_json
    from ..labels import case_from_arrays
    from ..progress import track
    from ..smile import SmileSpec, case_subject, generate

    spec = spec or SmileSpec()
    made = []
    for case in track(list(cases), stage=stage):
        subject = case_subject(case)
        for i in range(per_case):
            mask = generate(rng, subject, spec)
            seed = int(rng.integers(2 ** 31))
            syn = synthesize_case(bundle, case, mask.scar, mask.mvo, seed=seed, **options)
            new = case_from_arrays(synthetic_id(case.case_id, i), syn.image, syn.labels, case.geometry)
            path = write_case(new, out)
            write_json(Path(path) / f"{new.case_id}.json", {"source": case.case_id, "smile": mask.record,
                                                            "synthesis": syn.record})
            made.append(new.case_id)
    return made
