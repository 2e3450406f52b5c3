"""Are SMILE masks like real infarcts? The four ``claim mask-stats`` distances, SMILE against a ball baseline.

1. EMIDEC P100: 50 default SMILE masks on P100's own heart against its real scar; 50 balls on the same heart with
   the real scar's volume fraction (a strong baseline: it is told the true size).
2. Priors: learned from 20 phantoms, 100 masks drawn on 5 held-out phantoms' hearts, against the 20 phantom scars;
   beside the default draw (published sizes, territories by prevalence), and the same reference against another
   20-phantom cohort (how far two draws of one population lie).

Run: ``python bench/bench_smile_realism.py [--emidec DIR]``
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CLAIM"))

from CLAIMLib.io import discover_cases, load_case  # noqa: E402
from CLAIMLib.labels import case_from_arrays  # noqa: E402
from CLAIMLib.maskstats import DISTANCES, case_stats, compare, format_report  # noqa: E402
from CLAIMLib.phantom import generate_cohort  # noqa: E402
from CLAIMLib.smile import SmileSpec, case_subject, generate  # noqa: E402
from CLAIMLib.workflows.aha import case_aha  # noqa: E402
from CLAIMLib.workflows.demo import find_emidec  # noqa: E402
from CLAIMLib.workflows.masks import case_mask_stats, learn_smile_priors, mask_stats, smile_masks  # noqa: E402


def _phantoms(n, seed, normal_fraction):
    """Phantom cases with their RV masks (the AHA frame then comes from the RV, as the truth's does)."""
    return [p.to_case(rv=True) for p in generate_cohort(n, seed=seed, normal_fraction=normal_fraction)]


def p100(emidec: Path) -> None:
    case = load_case(discover_cases(emidec / "Case_P100")[0])
    t = time.perf_counter()
    masks = smile_masks(case, SmileSpec(), count=50, seed=0)
    ms = 1000 * (time.perf_counter() - t) / 50
    septum = masks[0].record["orientation"]["septum"]
    items = [(case_from_arrays(f"m{i}", None, m.labels, case.geometry), septum) for i, m in enumerate(masks)]
    result = mask_stats(items, [(case, None)], seed=0)
    print(f"P100: 50 default SMILE masks ({ms:.1f} ms each, AHA included once) vs its real scar")
    print(format_report(result["masks"], result["ball"]))


def priors() -> None:
    reference = _phantoms(20, seed=63, normal_fraction=0.0)
    learned = learn_smile_priors(reference)
    ref = [case_mask_stats(c) for c in reference]
    drawn = {"priors": [], "default": []}
    for case in _phantoms(5, seed=64, normal_fraction=1.0):
        sub = case_subject(case, case_aha(case))
        for name, spec in (("priors", SmileSpec(priors=learned)), ("default", SmileSpec())):
            for seed in range(20):
                res = generate(np.random.default_rng(seed), sub, spec)
                drawn[name].append(case_stats(res.scar, case.myocardium, case.masks["cavity"], sub.aha,
                                              case.geometry, depth=sub.depth))
    other = compare([case_mask_stats(c) for c in _phantoms(20, seed=65, normal_fraction=0.0)], ref)
    print("\nPriors from 20 phantoms; 100 masks on 5 held-out hearts, against the 20 reference scars")
    print(f"  {'':<26}{'priors':>10}{'default':>10}{'other 20':>10}")
    for key, name, unit in DISTANCES:
        a, b = compare(drawn["priors"], ref), compare(drawn["default"], ref)
        print(f"  {name + (' (' + unit + ')' if unit else ''):<26}{a[key]:>10.3f}{b[key]:>10.3f}{other[key]:>10.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emidec", type=Path, default=None)
    args = ap.parse_args()
    emidec = args.emidec or find_emidec()
    if emidec:
        p100(emidec)
    else:
        print("EMIDEC not found: the P100 comparison is skipped")
    priors()


if __name__ == "__main__":
    main()
