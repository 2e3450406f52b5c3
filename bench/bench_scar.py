"""Classic scar quantification: accuracy against the truth and seconds per case.

- EMIDEC cases with an image: each method's scar Dice, found/true volume and MVO overlap against the truth, from the
  whole myocardium alone (the labels' scar folded in), and seconds per case, side by side with the AHA step alone
  (what the thresholds add to it), with and without the figure and HTML report.
- Phantoms (clinical and easy): median scar Dice per method, beside the best a single global threshold on the raw
  voxels can do when it knows the true remote myocardium (an oracle over 0-20 remote SDs, before any clean-up or
  hole filling).

Run: ``python bench/bench_scar.py [--cases 12] [--emidec DIR]``
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
from CLAIMLib.labels import case_from_arrays  # noqa: E402
from CLAIMLib.phantom import generate_cohort  # noqa: E402
from CLAIMLib.scar import inner_myocardium  # noqa: E402
from CLAIMLib.workflows.aha import case_aha  # noqa: E402
from CLAIMLib.workflows.demo import find_emidec  # noqa: E402
from CLAIMLib.workflows.scar import myocardium_only, quantify_scar, write_scar_outputs  # noqa: E402

METHODS = ("fwhm", "nsd:2", "nsd:3", "nsd:5", "otsu")


def dice(a, b) -> float:
    s = np.count_nonzero(a) + np.count_nonzero(b)
    return 2.0 * np.count_nonzero(a & b) / s if s else 1.0


def best(seconds: list) -> float:
    return float(min(seconds))


def emidec_rows(root: Path, repeats: int) -> list[str]:
    lines = ["| case | method | scar Dice | found / true | MVO found (in truth) mL | remote |",
             "|---|---|---|---|---|---|"]
    timing = []
    for files in discover_cases(root):
        case = load_case(files)
        if case.image is None:
            continue
        truth, mvo = case.mask("scar"), case.mask("mvo")
        for method in METHODS:
            r = quantify_scar(case, method, gray_zone="" if method != "otsu" else None)
            ratio = (f"{np.count_nonzero(r.scar) / np.count_nonzero(truth):.2f}" if truth.any() else
                     f"{r.record['totals']['scar_ml']:.2f} mL")
            vox = case.geometry.voxel_volume_ml
            d = f"{dice(r.scar, truth):.3f}" if truth.any() else "-"
            lines.append(f"| {case.case_id} | {method} | {d} | "
                         f"{ratio} | {np.count_nonzero(r.mvo) * vox:.2f} ({np.count_nonzero(r.mvo & mvo) * vox:.2f}) "
                         f"| {r.record['remote']['description']} |")
        plain = myocardium_only(case)
        t_aha, t_q, t_all = [], [], []
        for _ in range(repeats):
            t = time.perf_counter()
            case_aha(plain)
            t_aha.append(time.perf_counter() - t)
            t = time.perf_counter()
            result = quantify_scar(case, "fwhm", gray_zone="")
            t_q.append(time.perf_counter() - t)
            with tempfile.TemporaryDirectory() as tmp:
                t = time.perf_counter()
                write_scar_outputs(result, out=Path(tmp) / "o.nii.gz", json_path=Path(tmp) / "o.json",
                                   csv_path=Path(tmp) / "o.csv", report=Path(tmp) / "o.html",
                                   bullseye=Path(tmp) / "o.png")
                t_all.append(time.perf_counter() - t + t_q[-1])
        timing.append(f"| {case.case_id} | {best(t_aha):.2f} | {best(t_q):.2f} | {best(t_q) / best(t_aha):.2f} | "
                      f"{best(t_all):.2f} |")
    return lines + ["", "| case | AHA alone (s) | quantify: AHA, FWHM, gray zone, sensitivity band, table (s) | "
                        "ratio | with label map, JSON, CSV, bull's-eye and HTML (s) |", "|---|---|---|---|---|"] + timing


def oracle(case, phantom) -> float:
    """The best Dice of one global threshold over 0-20 SDs of the true remote (inner) myocardium."""
    img, myo, truth = case.float_image, case.myocardium, case.mask("scar")
    remote = myo & ~truth & inner_myocardium(myo, 0)
    if phantom.gray_zone is not None:
        remote &= ~phantom.gray_zone
    m, s = img[remote].mean(), img[remote].std()
    return max(dice(myo & (img >= t), truth) for t in np.linspace(m, m + 20 * s, 201))


def phantom_rows(n: int) -> list[str]:
    lines = ["| phantoms | " + " | ".join(METHODS) + " | oracle threshold |", "|---" * (len(METHODS) + 2) + "|"]
    for difficulty in ("clinical", "easy"):
        found = {m: [] for m in METHODS}
        ceiling = []
        for p in generate_cohort(n, seed=5, normal_fraction=0.0, difficulty=difficulty):
            case = case_from_arrays(p.case_id, p.image, p.labels, p.geometry)
            aha = case_aha(case)
            for m in METHODS:
                found[m].append(dice(quantify_scar(case, m, aha=aha, sensitivity=False).scar, case.mask("scar")))
            ceiling.append(oracle(case, p))
        cells = [f"{np.median(found[m]):.3f} ({np.percentile(found[m], 10):.2f}-{np.percentile(found[m], 90):.2f})"
                 for m in METHODS]
        lines.append(f"| {n} {difficulty} | " + " | ".join(cells) + f" | {np.median(ceiling):.3f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=12, help="phantoms per difficulty (default 12)")
    ap.add_argument("--emidec", type=Path, help="EMIDEC folder (default: found as the demo finds it)")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (the best is reported)")
    args = ap.parse_args()
    root = args.emidec or find_emidec()
    if root is not None:
        print("\n".join(emidec_rows(root, args.repeats)))
        print()
    print("\n".join(phantom_rows(args.cases)))


if __name__ == "__main__":
    main()
