"""Diffusion benchmark, side by side on the same slices in one run.

1. Speed: seconds per slice for the ``paper`` config (about the paper's network, 72x72, T = 300) with RePaint 5/5
   (1480 network calls) against the ``default`` config with DDIM (50 calls); the ratio (target >= 30x).
   ``--quick`` times 40 RePaint calls and scales by the exact call count instead of running all 1480.
2. Quality: for the same trained weights (``--model``, or a tiny model trained here for 400 steps), how close DDIM
   comes to RePaint: the L1 distance of their scar-intensity histograms to the conditioning histogram, and to
   each other.
3. On a GPU (when present): ``default`` through the product's code: ``train()`` steps/s (bf16 autocast) and DDIM
   sampling s/slice (fp32, as ``claim synthesize`` runs, and under bf16 autocast), plus one whole-case
   ``synthesize()``; record them with the hardware in bench/README.md.

Run: ``python bench/bench_diffusion.py [--model CKPT] [--quick] [--parts speed,quality,gpu]``
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CLAIM"))

from CLAIMLib.aha import aha_segments  # noqa: E402
from CLAIMLib.diffusion.data import case_slices, histogram  # noqa: E402
from CLAIMLib.diffusion.model import build_model, build_schedulers, get_config  # noqa: E402
from CLAIMLib.diffusion.sample import Bundle, load, repaint_schedule, sample_ddim, sample_repaint  # noqa: E402
from CLAIMLib.labels import case_from_arrays  # noqa: E402
from CLAIMLib.phantom import generate_cohort, write_case  # noqa: E402
from CLAIMLib.smile import SmileSpec, generate, prepare_subject  # noqa: E402


def phantom_with_mask():
    """A normal phantom and a SMILE mask (scar, MVO) on it."""
    p = next(generate_cohort(1, seed=123, normal_fraction=1.0))
    case = case_from_arrays(p.case_id, p.image, p.labels, p.geometry)
    r = aha_segments(case.myocardium, case.mask("cavity"), case.geometry, rv=p.rv)
    sub = prepare_subject(case.myocardium, case.mask("cavity"), case.geometry, r)
    m = generate(np.random.default_rng(0), sub, SmileSpec(volume_ml=12.0, segments=(7, 8, 13, 14)))
    return case, m.scar, m.mvo


def test_slices(config: dict, n_slices: int, phantom=None):
    """Crops of a normal phantom with a SMILE mask (``phantom_with_mask()`` unless given): the same slices for every
    sampler."""
    case, scar, mvo = phantom or phantom_with_mask()
    sl = case_slices(case, config["size"], config["spacing_mm"], scar=scar, mvo=mvo)
    keep = [i for i in range(len(sl.crops)) if sl.scar[i].sum() > 5][:n_slices]
    return sl.image[keep], sl.scar[keep], sl.mvo[keep]


def untrained_bundle(name: str, device) -> Bundle:
    cfg = get_config(name)
    model = build_model(cfg).to(device).eval()
    ddpm, ddim = build_schedulers(cfg)
    return Bundle(model, cfg, ddpm, ddim, np.full((1, 16), 1 / 16, np.float32), {}, torch.device(device))


def speed(device, quick: bool, n_slices: int) -> None:
    paper, default = untrained_bundle("paper", device), untrained_bundle("default", device)
    x, s, m = test_slices(paper.config, n_slices)
    calls = sum(1 for a, b in zip(*(lambda ts: (ts[:-1], ts[1:]))(repaint_schedule(300, 5, 5))) if b < a)
    t = time.perf_counter()
    if quick:  # time 40 calls of the real sampler loop, scale by the exact number of calls
        for i in range(len(x)):
            with torch.no_grad():
                xt = torch.randn(1, 1, *x.shape[1:])
                z = torch.as_tensor(x[i:i + 1, None])
                for _ in range(40):
                    paper.eps(xt, 150, z, z, z, torch.as_tensor(paper.bank))
        repaint = (time.perf_counter() - t) / len(x) * calls / 40
        how = f"extrapolated from 40 timed calls x {calls}"
    else:
        for i in range(len(x)):
            sample_repaint(paper, x[i:i + 1], s[i:i + 1], m[i:i + 1], paper.bank, jump_length=5, jump_n_sample=5)
        repaint = (time.perf_counter() - t) / len(x)
        how = f"{paper.calls // len(x)} calls per slice, measured"
    x2, s2, m2 = test_slices(default.config, n_slices)
    t = time.perf_counter()
    for i in range(len(x2)):
        sample_ddim(default, x2[i:i + 1], s2[i:i + 1], m2[i:i + 1], default.bank, steps=50)
    ddim = (time.perf_counter() - t) / len(x2)
    print(f"paper + RePaint 5/5:  {repaint:8.1f} s per slice ({how})")
    print(f"default + DDIM 50:    {ddim:8.2f} s per slice ({default.calls // len(x2)} calls per slice)")
    print(f"speed-up: {repaint / ddim:.1f}x (target >= 30x)")


def quality(model_path, device, n_slices: int) -> None:
    if model_path is None:
        from CLAIMLib.diffusion.train import train

        tmp = Path(tempfile.mkdtemp())
        for p in generate_cohort(8, seed=3, normal_fraction=0.0):
            write_case(p, tmp / "data")
        print("training the tiny config for 400 steps for the quality comparison ...")
        train(tmp / "data", tmp / "run", "tiny", steps=400, sample_every=0)
        model_path = tmp / "run" / "checkpoint.pt"
    bundle = load(model_path, str(device))
    x, s, m = test_slices(bundle.config, n_slices)
    lesion = (s + m) > 0
    d_ddim, d_rep, d_between = [], [], []
    for seed in range(3):
        hist = np.repeat(bundle.bank[seed % len(bundle.bank)][None], len(x), 0)
        a = sample_ddim(bundle, x, s, m, hist, seed=seed, steps=50)
        b = sample_repaint(bundle, x, s, m, hist, seed=seed, jump_length=5, jump_n_sample=5)
        ha, hb = histogram(a[lesion]), histogram(b[lesion])
        d_ddim.append(np.abs(ha - hist[0]).sum())
        d_rep.append(np.abs(hb - hist[0]).sum())
        d_between.append(np.abs(ha - hb).sum())
    print(f"scar histogram L1 to the condition: DDIM {np.mean(d_ddim):.3f}, RePaint 5/5 {np.mean(d_rep):.3f}; "
          f"DDIM vs RePaint {np.mean(d_between):.3f} (same weights, {len(x)} slices x 3 seeds)")


def gpu(device, steps: int = 300) -> None:
    """``default`` on a GPU, through the product's own code: ``train`` (bf16 autocast) and ``synthesize``."""
    if device.type != "cuda":
        print("GPU: none here; run this benchmark on a GPU machine to measure default in bf16")
        return
    from CLAIMLib.diffusion.sample import synthesize
    from CLAIMLib.diffusion.train import train

    tmp = Path(tempfile.mkdtemp())
    for p in generate_cohort(8, seed=5, normal_fraction=0.0):
        write_case(p, tmp / "data")
    cfg = get_config("default")
    train(tmp / "data", tmp / "run", "default", steps=steps, sample_every=0, save_every=steps, log_every=10)
    with (tmp / "run" / "log.csv").open() as f:
        rows = [(int(r["step"]), float(r["seconds"])) for r in csv.DictReader(f)]
    (s0, t0), (s1, t1) = next(r for r in rows if r[0] >= steps // 3), rows[-1]  # warm-up and autotuning left out
    steps_s = (s1 - s0) / (t1 - t0)
    print(f"GPU {torch.cuda.get_device_name(device)}, torch {torch.__version__}: default training (train(), bf16 "
          f"autocast, batch {cfg['batch']}, {cfg['size']}x{cfg['size']}): {steps_s:.1f} steps/s, "
          f"{steps_s * cfg['batch']:.0f} slices/s (steps {s0}-{s1} of {steps})")

    bundle = load(tmp / "run" / "checkpoint.pt", "cuda")
    case, scar, mvo = phantom_with_mask()
    x, s, m = test_slices(cfg, 8, (case, scar, mvo))
    hist = np.repeat(bundle.bank[:1], len(x), 0)
    for name, ctx in (("fp32", contextlib.nullcontext()), ("bf16", torch.autocast("cuda", dtype=torch.bfloat16))):
        with ctx:
            times = {}
            for label, n in (("batch of 1", 1), (f"batch of {len(x)}", len(x))):
                sample_ddim(bundle, x[:n], s[:n], m[:n], hist[:n], steps=50)  # warm-up
                torch.cuda.synchronize()
                t = time.perf_counter()
                sample_ddim(bundle, x[:n], s[:n], m[:n], hist[:n], steps=50)
                torch.cuda.synchronize()
                times[label] = (time.perf_counter() - t) / n
            torch.cuda.synchronize()
            t = time.perf_counter()
            painted, info = synthesize(bundle, case, scar, mvo, steps=50)
            torch.cuda.synchronize()
            whole = time.perf_counter() - t
        per = ", ".join(f"{k} {v * 1000:.1f} ms per slice" for k, v in times.items())
        print(f"GPU DDIM 50 ({name}): {per}; synthesize() on a whole phantom case ({int(scar.any(axis=(1, 2)).sum())} "
              f"slices with scar): {whole:.2f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None, help="a trained checkpoint for the quality comparison")
    ap.add_argument("--quick", action="store_true", help="extrapolate RePaint from 40 timed calls")
    ap.add_argument("--slices", type=int, default=2)
    ap.add_argument("--parts", default="speed,quality,gpu", help="which parts to run (comma-separated)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device: {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    if "speed" in parts:
        speed(device, args.quick, args.slices)
    if "quality" in parts:
        quality(args.model, device, args.slices)
    if "gpu" in parts:
        gpu(device)


if __name__ == "__main__":
    main()
