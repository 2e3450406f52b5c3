"""Synthesis fidelity and speed, side by side in one run.

1. ``fidelity``: ``evaluate_synthesis`` of a trained generator (``--model``; default: the tiny config trained here
   on a ``clinical`` phantom cohort) on held-out cases with real scars (``--cases``; default: held-out clinical
   phantoms). For DDIM-50 (three seeds: the noise) and DPM-Solver++ at several step counts, the pooled median
   |error| of the generator with the case's own histogram, beside the remote-myocardium and mean-brightness fills.
   DPM-Solver++ (three seeds each) is "within noise" of DDIM-50 when no metric's mean over its seeds exceeds
   DDIM-50's mean by more than two SDs of DDIM-50 across its seeds (being better is within noise).
2. ``speed``: ``synthesize()`` on one whole EMIDEC-size case (EMIDEC P100 with its own scar when present, else a
   phantom), the ``default`` config (weights do not change the time): DPM-Solver++ at its default steps and at
   the ``--dpm-steps`` list, DDIM-50, and the paper's RePaint 5/5 on the ``paper`` config (1480 calls, extrapolated
   from ``--repaint-calls`` timed calls on the same batch). On CUDA also the accelerated path (CUDA graphs,
   static batch, channels-last), after a warm-up, with its compile time.

Run: ``python bench/bench_synthesis.py [--parts fidelity,speed] [--model CKPT --cases DIR] [--device cuda]``
GPU: ``python bench/bench_synthesis.py --parts speed --device cuda`` (the prepared GPU check).
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_diffusion import untrained_bundle  # noqa: E402
from CLAIMLib.diffusion.sample import DEFAULT_STEPS, accelerate, load, synthesize  # noqa: E402
from CLAIMLib.fidelity import METRICS  # noqa: E402
from CLAIMLib.io import discover_cases, load_case  # noqa: E402
from CLAIMLib.phantom import generate_cohort, write_case  # noqa: E402
from CLAIMLib.workflows.fidelity import evaluate_synthesis  # noqa: E402

EMIDEC = Path(__file__).resolve().parents[2] / "shared" / "data" / "emidec"
KEYS = [k for k in METRICS if k != "mvo_cnr_error"]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def trained_generator(steps: int, device: str) -> tuple[Path, Path]:
    from CLAIMLib.diffusion.train import train

    tmp = Path(tempfile.mkdtemp())
    for p in generate_cohort(24, seed=170, normal_fraction=0.0):
        write_case(p, tmp / "train")
    for p in generate_cohort(6, seed=171, normal_fraction=0.0):
        write_case(p, tmp / "held")
    print(f"training the tiny config for {steps} steps on 24 clinical phantoms ...", flush=True)
    train(tmp / "train", tmp / "run", "tiny", steps=steps, sample_every=0, device=device)
    return tmp / "run" / "checkpoint.pt", tmp / "held"


def _row(name, pool, extra=""):
    cells = "  ".join(f"{pool[k]:8.3f}" if pool[k] is not None else f"{'-':>8}" for k in KEYS)
    print(f"{name:>24}  {cells}  {extra}", flush=True)


def fidelity(model, cases_dir, device, dpm_steps) -> dict:
    if model is None:
        model, cases_dir = trained_generator(1500, device)
    bundle = load(model, device, compile=False)
    cases = [load_case(f) for f in discover_cases(cases_dir) if f.image is not None and f.labels is not None]
    print(f"fidelity on {len(cases)} cases ({cases_dir}); pooled median |error|, own histogram unless noted")
    print(f"{'':>24}  " + "  ".join(f"{k[:8]:>8}" for k in KEYS))
    ddim = []
    for seed in range(3):
        t = time.perf_counter()
        r = evaluate_synthesis(bundle, cases, seed=seed, sampler="ddim", steps=50)
        ddim.append(r["pooled"]["generator_own"])
        _row(f"DDIM-50 seed {seed}", ddim[-1], f"{time.perf_counter() - t:.1f} s")
        if seed == 0:
            for m in ("generator", "remote_fill", "mean_fill"):
                _row({"generator": "DDIM-50, bank histogram"}.get(m, m), r["pooled"][m])
    mean = {k: float(np.mean([p[k] for p in ddim])) for k in KEYS}
    sd = {k: float(np.std([p[k] for p in ddim], ddof=1)) for k in KEYS}
    within = {}
    for steps in dpm_steps:
        t = time.perf_counter()
        runs = [evaluate_synthesis(bundle, cases, seed=seed, sampler="dpm", steps=steps)["pooled"]["generator_own"]
                for seed in range(3)]
        p = {k: float(np.mean([r[k] for r in runs])) for k in KEYS}
        ok = all(p[k] <= mean[k] + 2 * sd[k] for k in KEYS)
        within[steps] = ok
        _row(f"DPM-Solver++ {steps}, 3 seeds", p, f"{(time.perf_counter() - t) / 3:.1f} s; within noise: {ok}")
    _row("DDIM-50, mean of 3 seeds", mean)
    fewest = min((s for s, ok in within.items() if ok), default=None)
    print(f"fewest DPM-Solver++ steps within DDIM-50's noise: {fewest} (default {DEFAULT_STEPS['dpm']})")
    return within


def emidec_size_case():
    for f in discover_cases(EMIDEC) if EMIDEC.is_dir() else []:
        if f.case_id == "Case_P100" and f.image is not None:
            c = load_case(f)
            return c, "EMIDEC Case_P100 (its own scar and MVO)"
    p = next(generate_cohort(1, seed=4, normal_fraction=0.0)).to_case()
    return p, "a phantom (EMIDEC not found)"


def _time(bundle, case, device, repeats: int = 1, **kw) -> tuple[float, dict]:
    """The median wall time of ``repeats`` whole-case ``synthesize()`` calls (a shared machine's load varies)."""
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        _, rec = synthesize(bundle, case, case.mask("scar"), case.mask("mvo"), seed=0, **kw)
        _sync(device)
        times.append(time.perf_counter() - t)
    return float(np.median(times)), rec


def speed(device, dpm_steps, repaint_calls: int) -> None:
    case, what = emidec_size_case()
    n = int(case.mask("scar").any(axis=(1, 2)).sum())
    print(f"speed on {what}: {n} slices with scar, one batch; device {device}, {torch.get_num_threads()} threads")
    default = untrained_bundle("default", device)
    _time(default, case, device, sampler="dpm", steps=2)  # warm-up (allocator, oneDNN / cuDNN plans)
    times = {}
    for steps in sorted(set(dpm_steps) | {DEFAULT_STEPS["dpm"]}):
        times[f"dpm-{steps}"], _ = _time(default, case, device, 3, sampler="dpm", steps=steps)
    times["ddim-50"], _ = _time(default, case, device, sampler="ddim", steps=50)
    paper = untrained_bundle("paper", device)
    from CLAIMLib.diffusion.data import case_slices
    from CLAIMLib.diffusion.sample import repaint_schedule

    sl = case_slices(case, paper.config["size"], paper.config["spacing_mm"])
    keep = [i for i, c in enumerate(sl.crops) if case.mask("scar")[c.k].any()]
    z = torch.as_tensor(sl.image[keep][:, None], device=device)
    hist = torch.as_tensor(np.repeat(paper.bank, len(keep), 0), device=device)
    calls = sum(1 for a, b in zip(*(lambda ts: (ts[:-1], ts[1:]))(repaint_schedule(300, 5, 5))) if b < a)
    with torch.no_grad():
        paper.eps(z, 150, z, z, z, hist)
        _sync(device)
        t = time.perf_counter()
        for _ in range(repaint_calls):
            paper.eps(z, 150, z, z, z, hist)
        _sync(device)
    times["paper RePaint 5/5"] = (time.perf_counter() - t) / repaint_calls * calls
    if device.type == "cuda":
        fast = accelerate(untrained_bundle("default", device))
        t = time.perf_counter()
        _time(fast, case, device, sampler="dpm", steps=DEFAULT_STEPS["dpm"])
        print(f"accelerated path: first call (compile + capture) {time.perf_counter() - t:.1f} s")
        for steps in sorted(set(dpm_steps) | {DEFAULT_STEPS["dpm"]}):
            times[f"dpm-{steps} accelerated"], _ = _time(fast, case, device, 3, sampler="dpm", steps=steps)
        times["ddim-50 accelerated"], _ = _time(fast, case, device, 3, sampler="ddim", steps=50)
    rep = times["paper RePaint 5/5"]
    for name, t in times.items():
        extra = "" if name.startswith("paper") else f"  {rep / t:7.0f}x faster than RePaint, " \
                                                     f"{times['ddim-50'] / t:5.1f}x than DDIM-50"
        print(f"{name:>26}: {t:9.2f} s per case{extra}", flush=True)
    print("(dpm: the median of 3 runs; DDIM-50 on the CPU and RePaint: one run)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", default="fidelity,speed")
    ap.add_argument("--model", type=Path)
    ap.add_argument("--cases", type=Path)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dpm-steps", default="4,6,8,10,15")
    ap.add_argument("--speed-steps", default="4,8")
    ap.add_argument("--repaint-calls", type=int, default=20)
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    parts = set(args.parts.split(","))
    if "fidelity" in parts:
        fidelity(args.model, args.cases, str(device), [int(s) for s in args.dpm_steps.split(",")])
    if "speed" in parts:
        speed(device, [int(s) for s in args.speed_steps.split(",")], args.repaint_calls)


if __name__ == "__main__":
    main()
