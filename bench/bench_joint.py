"""Joint training benchmark: CLAIM(J) (lambda > 0) against the same run with lambda = 0, on segmentability.

Side by side in one run, on one phantom cohort: a tiny generator and a 2d nnU-Net (CLAIM's experiment schedule)
are trained first on the pathological phantoms (unless ``--generator`` / ``--segmenter`` are given); then for each
seed, two joint runs that differ only in lambda. Both fine-tune the segmenter the same way; only the generator's
loss differs. Segmentability (Dice of SMILE mask vs the segmenter's scar on the painted held-out normal cases) is
compared at the end of each run.

Run: ``python bench/bench_joint.py [--steps 90] [--seeds 0,1] [--lam 5] [--device cpu|cuda]``
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CLAIM"))

from CLAIMLib.joint import JointConfig, train_joint  # noqa: E402
from CLAIMLib.phantom import case_rng, generate_case, write_case  # noqa: E402
from CLAIMLib.runner import claim_command, library_env  # noqa: E402



def _claim(*args):
    env = {**os.environ, **library_env({"CLAIM_PROGRESS": "none", "nnUNet_n_proc_DA": "2"})}
    r = subprocess.run(claim_command(*args), env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(r.stdout[-2000:] + r.stderr[-2000:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=90)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--lam", type=float, default=5.0)
    ap.add_argument("--generator", type=Path)
    ap.add_argument("--segmenter", type=Path)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp())
    P, N = work / "pathological", work / "normal"
    if not P.is_dir():
        for i in range(8):
            write_case(generate_case(case_rng(5, i), f"Phantom_P{i + 1:03d}", True), P)
        for i in range(4):
            write_case(generate_case(case_rng(5, 8 + i), f"Phantom_N{i + 9:03d}", False), N)
    t = time.perf_counter()
    generator = args.generator
    if generator is None:
        generator = work / "diffusion" / "checkpoint.pt"
        if not generator.is_file():
            _claim("train-diffusion", "--data", P, "--out", work / "diffusion", "--config", "tiny", "--steps", 600,
                   "--sample-every", 0)
    segmenter = args.segmenter
    trainer = "nnUNetTrainerCLAIMExperiment"
    if segmenter is None:
        segmenter = work / "nnunet" / "nnUNet_results" / "Dataset610_JointBench" / f"{trainer}__nnUNetPlans__2d"
        if not (segmenter / "fold_all" / "checkpoint_final.pth").is_file():
            _claim("export-nnunet", "--cases", P, "--id", 610, "--name", "JointBench", "--raw", work / "nnunet" / "nnUNet_raw")
            _claim("train-seg", "--dataset", 610, "--root", work / "nnunet", "--fold", "all", "--trainer", trainer,
                   "--device", args.device)
    print(f"generator and segmenter ready ({time.perf_counter() - t:.0f} s)", flush=True)
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for lam in (args.lam, 0.0):
            out = work / f"joint_seed{seed}_lam{lam}"
            cfg = JointConfig(pathological=str(P), normal=str(N), generator=str(generator), segmenter=str(segmenter),
                              out=str(out), steps=args.steps, lam=lam, batch=8, seg_batch=8, ddim_steps=10,
                              val_every=max(args.steps // 3, 1), val_cases=2, save_every=args.steps, seed=seed,
                              device=args.device)
            t = time.perf_counter()
            result = train_joint(cfg, resume=(out / "checkpoint.pt").is_file())
            last = result["validation"][-1]
            first = result["validation"][0]
            rows.append((seed, lam, first["segmentability"], last["segmentability"], last["histogram_distance"],
                         time.perf_counter() - t))
            print(f"seed {seed} lambda {lam}: segmentability {first['segmentability']:.3f} (step {first['step']}) -> "
                  f"{last['segmentability']:.3f} (step {last['step']}), histogram distance "
                  f"{last['histogram_distance']:.4f}, {rows[-1][-1]:.0f} s", flush=True)
    print("\n| seed | lambda | segmentability, first round | segmentability, end | histogram distance, end | s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.4f} | {r[5]:.0f} |")
    wins = sum(1 for a, b in zip(rows[::2], rows[1::2]) if a[3] > b[3])
    print(f"\nlambda={args.lam} beats lambda=0 on end-of-run segmentability for {wins} of {len(rows) // 2} seeds")


if __name__ == "__main__":
    main()
