"""Foundation benchmark: what our input checks cost, phantom speed, and the demo against its 3-minute budget.

Prints ratios measured side by side in this one run:

- ``read_volume`` (truncation, NaN/inf and dimension checks) vs a bare ``SimpleITK.ReadImage`` + array;
- loading a whole validated case vs reading its two files bare;
- phantom generation per case;
- ``claim demo`` wall time vs its 180 s budget.

Run: ``python bench/bench_foundation.py [--emidec DIR]`` (uses a phantom case when EMIDEC is absent).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CLAIM"))

from CLAIMLib.workflows.demo import find_emidec, run_demo  # noqa: E402
from CLAIMLib.io import discover_cases, load_case, read_volume  # noqa: E402
from CLAIMLib.phantom import case_rng, generate_case, write_case  # noqa: E402


def best_of(fn, repeat=7):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--emidec", type=Path, default=None)
    args = ap.parse_args()
    emidec = args.emidec or find_emidec()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if emidec:
            files = discover_cases(emidec / "Case_P100")[0]
            source = "EMIDEC Case_P100"
        else:
            write_case(generate_case(case_rng(0, 0), "Phantom_P001", True), tmp)
            files = discover_cases(tmp / "Phantom_P001")[0]
            source = "phantom case"

        bare_one = best_of(lambda: sitk.GetArrayFromImage(sitk.ReadImage(str(files.image))))
        ours_one = best_of(lambda: read_volume(files.image))
        bare_case = best_of(lambda: [sitk.GetArrayFromImage(sitk.ReadImage(str(p))) for p in (files.image, files.labels)])
        ours_case = best_of(lambda: load_case(files))
        print(f"input: {source}")
        print(f"read_volume (checked) {ours_one * 1e3:7.1f} ms vs bare SimpleITK {bare_one * 1e3:7.1f} ms: "
              f"ratio {ours_one / bare_one:.2f}x")
        print(f"load_case (checked, masks) {ours_case * 1e3:7.1f} ms vs bare two-file read {bare_case * 1e3:7.1f} ms: "
              f"ratio {ours_case / bare_case:.2f}x")

        t = time.perf_counter()
        n = 8
        for i in range(n):
            generate_case(case_rng(1, i), f"P{i}", True)
        per_case = (time.perf_counter() - t) / n
        print(f"phantom generation: {per_case:.2f} s per case (mean of {n})")

        t = time.perf_counter()
        run_demo(tmp / "demo", emidec=emidec)
        demo = time.perf_counter() - t
        print(f"claim demo: {demo:.1f} s vs 180 s budget: ratio {demo / 180:.3f}")


if __name__ == "__main__":
    main()
