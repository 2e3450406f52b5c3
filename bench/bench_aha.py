"""AHA-17 benchmark: the direct (subject-space) path against the paper-faithful template path, side by side.

For each case: seconds per call (best of 3) of the direct path from the image alone and of the template path
(rigid/affine + fast symmetric forces demons), their ratio, and how well they agree. The direct path's target is
under 0.5 s for an EMIDEC-size case on 2 cores.

Run: ``python bench/bench_aha.py [--emidec DIR] [--phantoms N]``
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CLAIM"))

from CLAIMLib.aha import aha_segments  # noqa: E402
from CLAIMLib.workflows.demo import find_emidec  # noqa: E402
from CLAIMLib.io import discover_cases, load_case  # noqa: E402
from CLAIMLib.labels import case_from_arrays  # noqa: E402
from CLAIMLib.phantom import generate_cohort  # noqa: E402


def best_of(fn, repeat=3):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emidec", type=Path, default=None)
    ap.add_argument("--phantoms", type=int, default=4)
    args = ap.parse_args()
    cases = []
    emidec = args.emidec or find_emidec()
    if emidec:
        cases += [load_case(f) for f in discover_cases(emidec) if f.image is not None]
    for p in generate_cohort(args.phantoms, seed=5, normal_fraction=0.25):
        cases.append(case_from_arrays(p.case_id, p.image, p.labels, p.geometry))
    print(f"{'case':<14}{'grid':>16}{'direct s':>10}{'template s':>12}{'ratio':>8}{'agree':>8}")
    ratios, directs = [], []
    for c in cases:
        def direct():
            return aha_segments(c.myocardium, c.mask("cavity"), c.geometry, image=c.image)

        def template():
            return aha_segments(c.myocardium, c.mask("cavity"), c.geometry, image=c.image, method="template")

        td, rd = best_of(direct)
        tt, rt = best_of(template)
        agree = float(np.mean(rd.labels[c.myocardium] == rt.labels[c.myocardium]))
        grid = "x".join(map(str, c.geometry.shape[::-1]))
        print(f"{c.case_id:<14}{grid:>16}{td:>10.3f}{tt:>12.3f}{tt / td:>7.1f}x{100 * agree:>7.1f}%")
        ratios.append(tt / td)
        directs.append(td)
    print(f"direct path: mean {np.mean(directs):.3f} s, max {np.max(directs):.3f} s per case (target < 0.5 s); "
          f"template path is {np.mean(ratios):.1f}x slower on average")


if __name__ == "__main__":
    main()
