"""Segmentation benchmark, over the same cases side by side in one run:

1. nnU-Net's batched API (``Predictor.predict_batch``: preprocessing and export in worker processes beside the
   network) against the per-case loop through the loaded model (``Predictor.predict``), with identical outputs
   checked. Target: >= 2x less wall time per case batched.
2. CLAIM's in-process predictor against one ``nnUNetv2_predict`` process per case (what a naive GUI does: a fresh
   Python, nnU-Net import and model load for every case). Target: >= 5x less wall time per case in-process.

The model is trained here first with CLAIM's short trainer (2d, fold all; about a minute on a CPU) unless
``--model`` names a trained model folder (or an installed model's name).

Run: ``python bench/bench_segment.py [--cases 10] [--model MODEL] [--device cpu|cuda] [--parts batch,process]``
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CLAIM"))

from CLAIMLib.io import read_volume  # noqa: E402
from CLAIMLib.phantom import generate_cohort, write_case  # noqa: E402
from CLAIMLib.segmentation import ModelFolder  # noqa: E402
from CLAIMLib.segmentation.nnunet import Predictor, TRAINERS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# nnUNetv2_predict, with the torchvision fix CLAIM applies (the CPU torch build breaks nnU-Net's trainer lookup)
PREDICT = ("import sys; from CLAIMLib.segmentation.nnunet import ensure_torchvision; ensure_torchvision(); "
           "from nnunetv2.inference.predict_from_raw_data import predict_entry_point; "
           "sys.argv = ['nnUNetv2_predict'] + sys.argv[1:]; predict_entry_point()")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--parts", default="batch,process")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    env = {**os.environ, "PYTHONPATH": str(REPO / "CLAIM"), "CLAIM_PROGRESS": "none", "nnUNet_extTrainer": str(TRAINERS),
           "nnUNet_raw": str(tmp / "nnUNet_raw"), "nnUNet_preprocessed": str(tmp / "nnUNet_preprocessed"),
           "nnUNet_results": str(tmp / "nnUNet_results")}
    model = ModelFolder(args.model).path if args.model else None
    if model is None:
        for p in generate_cohort(6, seed=71, normal_fraction=0.2):
            write_case(p, tmp / "train")
        claim = [sys.executable, "-m", "CLAIMLib"]
        subprocess.run(claim + ["export-nnunet", "--cases", str(tmp / "train"), "--id", "77", "--name", "Bench",
                                "--raw", str(tmp / "nnUNet_raw")], env=env, check=True, capture_output=True)
        print("training nnUNetTrainerCLAIMShort (2d, fold all) ...", flush=True)
        subprocess.run(claim + ["train-seg", "--dataset", "77", "--fold", "all", "--trainer",
                                "nnUNetTrainerCLAIMShort", "--device", "cpu"], env=env, check=True,
                       capture_output=True)
        model = tmp / "nnUNet_results" / "Dataset077_Bench" / "nnUNetTrainerCLAIMShort__nnUNetPlans__2d"
    images = []
    for p in generate_cohort(args.cases, seed=72, normal_fraction=0.2):
        write_case(p, tmp / "cases")
        images.append(tmp / "cases" / p.case_id / "Images" / f"{p.case_id}.nii.gz")

    volumes = [read_volume(img) for img in images]
    predictor = Predictor(model, device=args.device)
    if "batch" in args.parts:
        import numpy as np

        t = time.perf_counter()
        loop = [predictor.predict(*v) for v in volumes]
        per_case = (time.perf_counter() - t) / len(images)
        t = time.perf_counter()
        batched = predictor.predict_batch(volumes)
        per_batch = (time.perf_counter() - t) / len(images)
        same = all(np.array_equal(a, b) for a, b in zip(loop, batched))
        print(f"{len(images)} cases on {args.device} ({os.environ.get('nnUNet_def_n_proc', os.cpu_count())} workers): "
              f"per-case loop {per_case:.2f} s per case, nnU-Net's batched API {per_batch:.2f} s per case -> "
              f"{per_case / per_batch:.2f}x (target >= 2x); identical outputs: {same}", flush=True)
    if "process" not in args.parts:
        return
    t = time.perf_counter()
    for v in volumes:
        predictor.predict(*v)
    in_process = (time.perf_counter() - t) / len(images)

    t = time.perf_counter()
    for i, img in enumerate(images):
        src, dst = tmp / "proc_in" / str(i), tmp / "proc_out" / str(i)
        src.mkdir(parents=True)
        (src / "case_0000.nii.gz").symlink_to(img)
        subprocess.run([sys.executable, "-c", PREDICT, "-i", str(src), "-o", str(dst), "-d", "77", "-c", "2d",
                        "-tr", model.name.split("__")[0], "-f", "all", "-device", args.device, "--disable_tta"],
                       env={**env, "nnUNet_results": str(model.parents[1])}, check=True, capture_output=True)
    per_process = (time.perf_counter() - t) / len(images)
    print(f"{len(images)} cases: in-process predictor {in_process:.2f} s per case (model loaded once), "
          f"nnUNetv2_predict per case {per_process:.2f} s per case -> {per_process / in_process:.1f}x (target >= 5x)")


if __name__ == "__main__":
    main()
