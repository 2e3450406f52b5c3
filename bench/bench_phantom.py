"""Phantom realism report: how the phantom reads against real LGE, side by side, and what a case costs.

For N phantoms at each difficulty and for each EMIDEC case with an image: blood and scar contrast-to-noise
against remote myocardium (mean difference over the remote SD), roughness of remote myocardium (mean in-plane
neighbour difference over the remote SD), and scar/remote and blood/remote ratios after background subtraction
(CLAIMLib.lgestats). Phantom rows give the median and the 10th-90th percentile range. Last, seconds per case to
generate (and to generate and write), against the 1 s target.

Run: ``python bench/bench_phantom.py [--cases 20] [--emidec DIR]``
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CLAIM"))

from CLAIMLib.io import discover_cases, load_case  # noqa: E402
from CLAIMLib.lgestats import KEYS, case_statistics, cohort_medians, label_statistics  # noqa: E402
from CLAIMLib.phantom import case_rng, cohort_plan, generate_case, write_case  # noqa: E402
from CLAIMLib.workflows.demo import find_emidec  # noqa: E402


def fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def phantom_row(name: str, stats: list[dict]) -> str:
    med = cohort_medians(stats)
    cells = []
    for key in KEYS:
        values = [s[key] for s in stats if s.get(key) is not None]
        lo, hi = np.percentile(values, [10, 90]) if values else (None, None)
        cells.append(f"{fmt(med[key])} ({fmt(lo)}-{fmt(hi)})")
    return f"| {name} | " + " | ".join(cells) + " |"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--emidec", type=Path, default=None)
    args = ap.parse_args()
    print("| data | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 1) + "|")
    timing = {}
    plan = cohort_plan(args.cases, args.seed, normal_fraction=0.25)
    for difficulty in ("clinical", "easy"):
        stats, seconds = [], []
        for index, (case_id, pathological) in enumerate(plan):
            t = time.perf_counter()
            c = generate_case(case_rng(args.seed, index), case_id, pathological, difficulty=difficulty)
            seconds.append(time.perf_counter() - t)
            stats.append(label_statistics(c.image, c.labels))
        timing[difficulty] = seconds
        print(phantom_row(f"{args.cases} {difficulty} phantoms: median (p10-p90)", stats))
    root = args.emidec or find_emidec()
    for files in (discover_cases(root) if root else []):
        case = load_case(files)
        if case.image is not None:
            s = case_statistics(case)
            print(f"| EMIDEC {case.case_id} | " + " | ".join(fmt(s[k]) for k in KEYS) + " |")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        for index, (case_id, pathological) in enumerate(plan[:5]):
            write_case(generate_case(case_rng(args.seed, index), case_id, pathological), tmp)
        written = (time.perf_counter() - t) / 5
    for difficulty, seconds in timing.items():
        print(f"\n{difficulty}: generation {np.median(seconds):.2f} s per case (median; max {max(seconds):.2f} s), "
              f"{np.median(seconds) / 1.0:.2f}x the 1 s target")
    print(f"generate and write (NIfTI, 5 cases): {written:.2f} s per case")


if __name__ == "__main__":
    main()
