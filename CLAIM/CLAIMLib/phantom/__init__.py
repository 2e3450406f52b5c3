"""The LGE phantom: short-axis LGE stacks that read like clinical ones, with exact anatomy, scar, gray-zone and
AHA-17 ground truth.

Each case is drawn from an analytic heart in its own frame (x toward the septum, y toward the anterior wall,
z along the LV long axis from the base plane toward the apex) and sampled on a short-axis grid:

- geometry: 6-14 slices (2-3 in a few cases), 1.25-2 mm in plane, 6-13 mm apart, a random in-plane rotation,
  apex- or base-first order; an ``oblique`` header that puts the heart where a scanner's short-axis planning
  would (apex left-anterior-inferior, RV anterior and right), or an EMIDEC-like ``axial`` one;
- anatomy (``heart.py``): an elliptical LV whose wall is thicker at the septum and thinner at the apex, the
  outflow-tract gap in basal slices, papillary muscles rooted in the wall, trabeculae, a thin-walled RV
  crescent, patchy epicardial fat (thickest in the grooves), and the chest around it;
- scar: grown from the endocardium inside one coronary territory by its own model (nothing shared with SMILE),
  with a gray-zone rim, heterogeneous signal and a dark MVO core in some scars;
- contrast (``parameters.draw_contrast``): ``clinical`` (the default) draws blood and scar CNR, nulling and
  texture in the ranges of real stacks; ``easy`` keeps the old, conspicuous phantom for tests that need a
  strong signal fast;
- acquisition (``render.py``): partial volume from 12 sub-samples per voxel, a coil bias field and Rician noise
  correlated over the point-spread; 12-bit intensities stored as float64, like EMIDEC.

Everything is drawn from ``numpy.random.Generator`` objects seeded from (seed, case index): a cohort is
deterministic for a seed, a case does not depend on how many others are drawn, and one seed gives the same heart
at every difficulty.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .heart import Heart
from .parameters import DIFFICULTIES, HEADERS, TERRITORY_WEIGHTS, draw_parameters
from .render import acquire, gray_zone, lge_signal, place_stack, sample_anatomy
from .truth import truth_record, write_case

__all__ = ["DIFFICULTIES", "HEADERS", "TERRITORY_WEIGHTS", "PhantomCase", "case_rng", "cohort_plan",
           "generate_case", "generate_cohort", "write_case"]


@dataclass
class PhantomCase:
    case_id: str
    geometry: object  # Geometry
    image: np.ndarray  # float64, 12-bit values
    labels: np.ndarray  # uint8, EMIDEC scheme
    aha: np.ndarray  # uint8, AHA segment 1..17 on the myocardium
    rv: np.ndarray  # bool, RV blood pool
    gray_zone: np.ndarray = None  # bool, peri-infarct rim inside the infarct label
    truth: dict = field(default_factory=dict)

    def to_case(self, rv: bool = False):
        """The phantom as a ``labels.Case`` (EMIDEC labels); with ``rv``, its RV mask too (the AHA frame then comes
        from the RV, as the truth's does)."""
        from ..labels import case_from_arrays

        case = case_from_arrays(self.case_id, self.image, self.labels, self.geometry)
        if rv:
            case.masks["rv"] = np.asarray(self.rv) > 0
        return case


def case_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index)])


def cohort_plan(n_cases: int, seed: int, normal_fraction: float = 0.3) -> list[tuple[str, bool]]:
    """(case_id, pathological) for each case of a cohort; the normal cases are a seeded random subset."""
    n_normal = int(round(n_cases * normal_fraction))
    normal = set(np.random.default_rng([int(seed), 1_000_003]).permutation(n_cases)[:n_normal].tolist())
    return [(f"Phantom_{'N' if i in normal else 'P'}{i + 1:03d}", i not in normal) for i in range(n_cases)]


def generate_cohort(n_cases: int, seed: int, normal_fraction: float = 0.3, difficulty: str = "clinical",
                    header: str = "oblique"):
    """Yield ``PhantomCase`` objects one by one."""
    for index, (case_id, pathological) in enumerate(cohort_plan(n_cases, seed, normal_fraction)):
        yield generate_case(case_rng(seed, index), case_id, pathological, difficulty=difficulty, header=header)


def generate_case(rng: np.random.Generator, case_id: str, pathological: bool = True, scar: dict | None = None,
                  difficulty: str = "clinical", header: str = "oblique") -> PhantomCase:
    """Draw one phantom case. Pathological cases are redrawn until their scar is at least 2 mL.

    ``scar`` overrides the drawn scar: ``territory`` (LAD/RCA/LCX), ``angle`` and ``angle_width`` (degrees from the
    septum toward anterior), ``z`` and ``z_width`` (fractions of the cavity length), ``extent`` (0-1 of the wall),
    ``pattern`` ("wavefront", the default ischaemic shape; "transmural"; "subendocardial" to depth ``extent``),
    ``mvo`` (bool), ``gray_zone_mm``. ``difficulty``: "clinical" or "easy"; ``header``: "oblique" or "axial".
    """
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r} (choose from {', '.join(DIFFICULTIES)})")
    if header not in HEADERS:
        raise ValueError(f"unknown header {header!r} (choose from {', '.join(HEADERS)})")
    for _ in range(20):
        case = _draw_case(rng, case_id, pathological, scar, difficulty, header)
        if not pathological or case.truth["scar"]["volume_ml"] >= 2.0:
            return case
    return case


def _draw_case(rng, case_id, pathological, scar, difficulty, header) -> PhantomCase:
    p = draw_parameters(rng, pathological, difficulty, scar)
    heart = Heart(p, rng)
    stack = place_stack(p, rng, header)
    fractions, labels, aha, rv = sample_anatomy(p, heart, stack)
    rim = gray_zone(labels, p["spacing"], p["scar"]["gray_zone_mm"]) if pathological else np.zeros(labels.shape, bool)
    noise = np.random.default_rng(p["noise_seed"])
    image = acquire(p, lge_signal(p, fractions, rim, labels, noise), stack, heart, noise)
    truth = truth_record(case_id, p, heart, stack, labels, aha, rim, header)
    return PhantomCase(case_id, stack.geometry, image, labels, aha, rv, rim, truth)
