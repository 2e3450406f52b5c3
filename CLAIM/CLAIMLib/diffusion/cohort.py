"""Synthetic cohorts: SMILE masks drawn on each case, painted by the generator, written in the EMIDEC layout.

This is how the CLAIM paper makes N' and N'' (normal cases with synthetic scars) and P' (pathological cases with an
extra synthetic scar). A pathological case keeps its own scar: the new case's labels are the union of the case's
scar and the SMILE mask, so no scar is left unlabelled.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import write_case, write_json
from ..labels import EMIDEC, case_from_arrays
from ..progress import track
from ..smile import SmileSpec, case_subject, generate
from .sample import Bundle, synthesize


def synthetic_id(case_id: str, index: int) -> str:
    return f"{case_id}_syn{index + 1:02d}"


def synthesize_cohort(sources, bundle: Bundle, per_case: int, out, rng: np.random.Generator,
                      spec: SmileSpec = SmileSpec(), stage: str = "synthesising", **options) -> list[str]:
    """Write ``per_case`` synthetic cases for each source into ``out``; returns their ids.

    ``sources``: (case, volume) pairs, where ``volume`` is the image as read from its file (its own dtype, so that
    every voxel outside the masks stays bit-identical) or None for the case's image. ``options`` go to
    ``synthesize`` (sampler, steps, brightness, ...). Each case is written atomically as soon as it is done.
    """
    made = []
    for case, volume in track(list(sources), stage=stage):
        subject = case_subject(case)
        for i in range(per_case):
            mask = generate(rng, subject, spec)
            seed = int(rng.integers(2 ** 31))
            image, record = synthesize(bundle, case, mask.scar, mask.mvo, seed=seed, volume=volume, **options)
            masks = dict(case.masks, scar=mask.scar | case.mask("scar"), mvo=mask.mvo | case.mask("mvo"))
            new_id = synthetic_id(case.case_id, i)
            new = case_from_arrays(new_id, None, EMIDEC.encode(masks, case.geometry.shape), case.geometry)
            new.image = image
            path = write_case(new, out)
            write_json(Path(path) / f"{new_id}.json", {"source": case.case_id, "smile": mask.record,
                                                       "synthesis": record})
            made.append(new_id)
    return made
