"""SMILE benchmark: direct masks against the paper's template pipeline (a registration per subject), side by side.

- direct: AHA labels and wall depth once per subject, then each mask on the subject's own segments;
- template: per mask, the subject registered to the template (affine + fast symmetric forces demons) and the
  mask grown in template space and mapped back, as the CLAIM paper's released code does. Run with CLAIM's demons
  settings and with the paper's (5000 iterations).

Prints milliseconds per mask and the ratios. Targets: direct under 100 ms per mask on an EMIDEC-size case, and at
least 100x faster than the paper's pipeline.

Run: ``python bench/bench_smile.py [--emidec DIR] [--masks N]``
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
from CLAIMLib.phantom import case_rng, generate_case  # noqa: E402
from CLAIMLib.smile import SmileSpec, generate, prepare_subject  # noqa: E402
from CLAIMLib.smile_template import generate_template  # noqa: E402
from CLAIMLib.template import DEMONS, PAPER_DEMONS  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emidec", type=Path, default=None)
    ap.add_argument("--masks", type=int, default=30)
    ap.add_argument("--skip-paper", action="store_true", help="skip the 5000-iteration demons run")
    args = ap.parse_args()
    emidec = args.emidec or find_emidec()
    if emidec:
        case = load_case(discover_cases(emidec / "Case_N006")[0])
    else:
        p = generate_case(case_rng(0, 1), "Phantom_N", False)
        case = case_from_arrays(p.case_id, p.image, p.labels, p.geometry)
    myo, cav = case.myocardium, case.mask("cavity")
    grid = "x".join(map(str, case.geometry.shape[::-1]))
    spec = SmileSpec(mvo=True)  # the default: one wavefront lesion, its size a fraction of the heart

    t = time.perf_counter()
    r = aha_segments(myo, cav, case.geometry, image=case.image)
    subject = prepare_subject(myo, cav, case.geometry, r)
    setup = time.perf_counter() - t
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(args.masks):
        generate(rng, subject, spec)
    direct = (time.perf_counter() - t) / args.masks
    t = time.perf_counter()
    for _ in range(args.masks):
        generate(rng, subject, SmileSpec(mvo=True, transmurality="subendocardial"))
    textured = (time.perf_counter() - t) / args.masks
    print(f"case {case.case_id} ({grid})")
    print(f"direct:   {1000 * direct:8.1f} ms per mask (mean of {args.masks}, default wavefront lesion), plus "
          f"{1000 * setup:.0f} ms once per subject (AHA, wall depth)")
    print(f"direct, per-segment texture (--transmurality subendocardial): {1000 * textured:8.1f} ms per mask "
          f"({textured / direct:.2f}x the wavefront's time)")

    rows = [("template (CLAIM demons, 60 it.)", DEMONS, 3)]
    if not args.skip_paper:
        rows.append(("template (paper demons, 5000 it.)", PAPER_DEMONS, 1))
    for name, demons, n in rows:
        t = time.perf_counter()
        for i in range(n):  # the paper's pipeline registers the subject for every mask it makes
            rt = aha_segments(myo, cav, case.geometry, image=case.image, method="template", demons=demons)
            st = prepare_subject(myo, cav, case.geometry, rt)
            generate_template(np.random.default_rng(i), st, rt.registration, spec)
        per_mask = (time.perf_counter() - t) / n
        print(f"{name}: {1000 * per_mask:8.1f} ms per mask -> direct is {per_mask / direct:6.0f}x faster")


if __name__ == "__main__":
    main()
