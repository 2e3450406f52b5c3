"""Does ``nnUNetTrainerCLAIMQuick`` learn scar on a CPU, and how long does it take?

Ten easy phantoms (seed 81; 13 generated, 3 held out) are exported, planned, preprocessed and trained (2d, fold
``all``) through ``claim train-seg``; ``claim segment`` then labels the 3 held-out phantoms and ``claim evaluate``
scores them. Prints the held-out Dice per class and the wall time of each stage, and exits 1 when the scar Dice is
not above 0.3 or the myocardium's not above 0.8 (an untrained or scar-blind model scores about 0 for scar).

This was a unit test until its 6-9 minutes took a third of the suite's 20-minute budget; CPU training is not
bit-reproducible, so its numbers vary from run to run (see bench/README.md).

Run: ``python bench/bench_quick_trainer.py [--trainer nnUNetTrainerCLAIMQuick] [--device cpu|cuda]``
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CLAIM"))

from CLAIMLib.phantom import generate_cohort, write_case  # noqa: E402
from CLAIMLib.runner import claim_command, library_env  # noqa: E402


def claim(*args, env):
    t = time.perf_counter()
    r = subprocess.run(claim_command(*args), env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"claim {args[0]} failed ({r.returncode}): {r.stderr[-2000:]}")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", default="nnUNetTrainerCLAIMQuick")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="claim-quick-"))
    env = {**os.environ, **library_env({"CLAIM_PROGRESS": "none"})}
    for p in generate_cohort(13, seed=81, normal_fraction=0.15, difficulty="easy"):
        write_case(p, root / ("cases" if int(p.case_id[-3:]) <= 10 else "held"))
    seconds = {"export": claim("export-nnunet", "--cases", root / "cases", "--id", 43, "--name", "Quick", "--raw",
                               root / "nnUNet_raw", env=env)}
    print(f"training {args.trainer} (2d, fold all) on 10 phantoms ...", flush=True)
    seconds["plan, preprocess, train"] = claim("train-seg", "--dataset", 43, "--root", root, "--fold", "all",
                                               "--trainer", args.trainer, "--device", args.device, env=env)
    model = root / "nnUNet_results" / "Dataset043_Quick" / f"{args.trainer}__nnUNetPlans__2d"
    images = root / "images"
    images.mkdir()
    for d in sorted((root / "held").iterdir()):
        (images / f"{d.name}_0000.nii.gz").symlink_to(d / "Images" / f"{d.name}.nii.gz")
    seconds["segment 3"] = claim("segment", "--image", images, "--model", model, "--out", root / "pred", "--device",
                                 args.device, env=env)
    claim("evaluate", "--pred", root / "pred", "--gt", root / "held", "--csv", root / "m.csv", env=env)
    rows = list(csv.DictReader((root / "m.csv").open()))
    dice = {c: float(np.mean([float(r["dice"]) for r in rows if r["class"] == c])) for c in ("myocardium", "scar")}
    for stage, s in seconds.items():
        print(f"{stage:>26}: {s:6.1f} s")
    print(f"held-out Dice: myocardium {dice['myocardium']:.3f}, scar {dice['scar']:.3f}  ({root})")
    return 0 if dice["myocardium"] > 0.8 and dice["scar"] > 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
