"""Diffusion benchmark, side by side on the same slices in one run.

1. Speed: seconds per slice for the ``paper`` config (about the paper's network, 72x72, T = 300) with RePaint 5/5
   (1480 network calls) against the ``default`` config with DDIM (50 calls); the ratio (target >= 30x).
   ``--quick`` times 40 RePaint calls and scales by the exact call count instead of running all 1480.
2. Quality: for the same trained weights (``--model``, or a tiny model trained here for 400 steps), how close DDIM
   comes to RePaint: the L1 distance of their scar-intensity histograms to the conditioning histogram, and to
   each other.
3. On a GPU (when present): training steps/s and sampling s/slice of ``default`` in bf16; record them with the
   hardware in bench/README.md.

Run: ``python bench/bench_diffusion.py [--model CKPT] [--quick]``
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "CLAIM"))

from CLAIMLib.aha import aha_segments  # noqa: E402
from CLAIMLib.diffusion.data import case_slices, histogram  # noqa: E402
from CLAIMLib.diffusion.model import build_model, build_schedulers, get_config, make_ema  # noqa: E402
from CLAIMLib.diffusion.sample import Bundle, load, repaint_schedule, sample_ddim, sample_repaint  # noqa: E402
from CLAIMLib.labels import case_from_arrays  # noqa: E402
from CLAIMLib.phantom import generate_cohort, write_case  # noqa: E402
from CLAIMLib.smile import SmileSpec, generate, prepare_subject  # noqa: E402


def test_slices(config: dict, n_slices: int):
    """Crops of a normal phantom with a SMILE mask: the same slices for every sampler."""
    p = next(generate_cohort(1, seed=123, normal_fraction=1.0))
    case = case_from_arrays(p.case_id, p.image, p.labels, p.geometry)
    r = aha_segments(case.myocardium, case.mask("cavity"), case.geometry, rv=p.rv)
    sub = prepare_subject(case.myocardium, case.mask("cavity"), case.geometry, r)
    m = generate(np.random.default_rng(0), sub, SmileSpec(volume_ml=12.0, segments=(7, 8, 13, 14)))
    sl = case_slices(case, config["size"], config["spacing_mm"], scar=m.scar, mvo=m.mvo)
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


def gpu(device) -> None:
    if device.type != "cuda":
        print("GPU: none here; run this benchmark on a GPU machine to measure default in bf16")
        return
    cfg = get_config("default")
    model = build_model(cfg).to(device)
    ema = make_ema(model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"])
    ddpm, _ = build_schedulers(cfg)
    B, S = cfg["batch"], cfg["size"]
    x = torch.randn(B, 1, S, S, device=device)
    mask = (torch.rand(B, 1, S, S, device=device) > 0.9).float()
    hist = torch.rand(B, 16, device=device)
    for i in range(25):
        if i == 5:
            torch.cuda.synchronize()
            t = time.perf_counter()
        noise = torch.randn_like(x)
        tt = torch.randint(0, cfg["timesteps"], (B,), device=device)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            eps = model(ddpm.add_noise(x, noise, tt), tt, mask, mask, x, hist)
        loss = ((eps.float() - noise) ** 2 * mask).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    steps_s = 20 / (time.perf_counter() - t)
    bundle = Bundle(ema.eval(), cfg, *build_schedulers(cfg), np.full((1, 16), 1 / 16, np.float32), {}, device)
    xs = np.zeros((8, S, S), np.float32)
    ms = np.zeros_like(xs)
    ms[:, 40:50, 40:50] = 1
    with torch.autocast("cuda", dtype=torch.bfloat16):
        sample_ddim(bundle, xs, ms, np.zeros_like(xs), np.repeat(bundle.bank, 8, 0), steps=50)
        torch.cuda.synchronize()
        t = time.perf_counter()
        sample_ddim(bundle, xs, ms, np.zeros_like(xs), np.repeat(bundle.bank, 8, 0), steps=50)
        torch.cuda.synchronize()
    per_slice = (time.perf_counter() - t) / 8
    print(f"GPU {torch.cuda.get_device_name(device)}: default bf16 training {steps_s:.1f} steps/s (batch {B}), "
          f"DDIM 50 sampling {per_slice * 1000:.1f} ms per slice (batch of 8)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None, help="a trained checkpoint for the quality comparison")
    ap.add_argument("--quick", action="store_true", help="extrapolate RePaint from 40 timed calls")
    ap.add_argument("--slices", type=int, default=2)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_grad_enabled(False)
    print(f"device: {device}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    speed(device, args.quick, args.slices)
    quality(args.model, device, args.slices)
    torch.set_grad_enabled(True)
    gpu(device)


if __name__ == "__main__":
    main()
