"""Inpainting samplers and case synthesis: paint scar texture under a mask, leave every other voxel untouched.

- ``repaint``: the RePaint algorithm (Lugmayr et al., CVPR 2022), written from the paper: DDPM reverse steps with
  the known region re-noised from the input at each step, and "jumps" back in time (``jump_length`` steps,
  ``jump_n_sample`` times) to harmonise. Network calls at T = 300: 300 / 598 / 1480 / 2910 for 1/1, 2/2, 5/5, 10/10.
- ``ddim``: DDIM steps (at most 50 network calls), the known region re-injected at every step.
- ``dpm`` (default): DPM-Solver++ (Lu et al., 2022), second-order multistep, from ``diffusers``
  (``DPMSolverMultistepScheduler`` on the model's own noise schedule), with the known region re-injected before
  every network call as in DDIM. ``DEFAULT_STEPS["dpm"]`` calls, chosen by the fidelity check
  (``claim evaluate-synthesis``, bench/bench_synthesis.py) as the fewest whose fidelity matches DDIM-50.

Both paste the original background at the end; ``synthesize`` maps the result back to scanner intensities and writes
it into the full volume at the mask's voxels only.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..devices import resolve_device
from ..errors import InputError
from ..progress import emit
from .data import Slices, case_slices, gaussian_histogram, write_back
from .model import build_model, build_schedulers, get_config


@dataclass
class Bundle:
    """A trained generator ready to sample: EMA weights, schedulers, preprocessing and the histogram bank."""

    model: torch.nn.Module
    config: dict
    ddpm: object
    ddim: object
    bank: np.ndarray  # (N, 16) real scar histograms
    stats: dict
    device: torch.device
    calls: int = 0
    compiled: object = None  # the model under torch.compile (``accelerate``), or None: eager
    static_batch: bool = False  # pad a case's slices to a fixed batch (STATIC_BATCHES), so compiled graphs are reused
    dpm: object = None  # the DPM-Solver++ scheduler, made on first use

    def net(self, *args):
        """The network on a batch; under ``static_batch`` the batch is padded to ``static_size`` with copies of its
        first row (a compiled graph is then reused for every case) and cut back."""
        n = args[0].shape[0]
        if self.static_batch and static_size(n) > n:
            pad = static_size(n) - n
            args = tuple(torch.cat([a, a[:1].expand(pad, *a.shape[1:])]) for a in args)
        return self._run(*args)[:n]

    def _run(self, *args):
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as e:  # a compiler problem must not stop synthesis: fall back to eager, say so once
                import sys

                print(f"claim: warning: compiled sampling failed ({type(e).__name__}); running eager",
                      file=sys.stderr)
                self.compiled = None
        return self.model(*args)

    def eps(self, x_t, t, scar, mvo, background, hist, guidance: float = 1.0):
        """One network call (classifier-free guidance batched into the same call)."""
        self.calls += 1
        tt = torch.full((x_t.shape[0],), int(t), device=x_t.device, dtype=torch.long)
        if guidance == 1.0:
            return self.net(x_t, tt, scar, mvo, background, hist)
        null = torch.full_like(hist, float("nan"))
        both = self.net(torch.cat([x_t, x_t]), torch.cat([tt, tt]), torch.cat([scar, scar]), torch.cat([mvo, mvo]),
                        torch.cat([background, background]), torch.cat([hist, null]))
        cond, uncond = both.chunk(2)
        return uncond + guidance * (cond - uncond)


STATIC_BATCHES = (8, 16, 32, 64)


def static_size(n: int) -> int:
    """The fixed batch a case's ``n`` slices are padded to under ``Bundle.static_batch`` (n itself beyond 64)."""
    return next((b for b in STATIC_BATCHES if b >= n), n)


def accelerate(bundle: Bundle, mode: str = "reduce-overhead", backend: str = "inductor") -> Bundle:
    """Remove the GPU's per-call overhead: channels-last weights, the network under ``torch.compile`` (``mode``
    "reduce-overhead" captures each call in a CUDA graph) and static shapes (slices padded to a fixed batch). Any
    compiler failure falls back to eager sampling with a warning. On a CPU it measured no faster (bench/README.md),
    so ``load`` applies it on CUDA only; tests run it on a CPU with ``backend="eager"``."""
    bundle.model = bundle.model.to(memory_format=torch.channels_last)
    bundle.compiled = torch.compile(bundle.model, mode=None if backend == "eager" else mode, backend=backend,
                                    dynamic=False)
    bundle.static_batch = True
    return bundle


def resolve_checkpoint(path, what: str = "checkpoint") -> Path:
    """A generator checkpoint given as the file, as its run folder (``<run>/checkpoint.pt``) or as the name of an
    installed generator (``claim models list``); InputError if none."""
    from ..model_home import resolve

    path = resolve(path, "generator")
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise InputError(path, f"no such {what} or installed generator")
    return path


def load_generator(path, device: str | None = None, compile: bool | None = None) -> Bundle:
    """``load`` of a checkpoint given as the file or its run folder, with a one-line InputError for anything that is
    not a CLAIM generator checkpoint."""
    path = resolve_checkpoint(path)
    device = resolve_device(device)  # an absent device is its own error, not a bad checkpoint
    try:
        return load(path, device, compile)
    except InputError:
        raise
    except Exception as e:  # a file that is not one of our checkpoints
        raise InputError(path, f"cannot be loaded as a CLAIM generator checkpoint ({type(e).__name__})") from None


SAMPLERS = ("dpm", "ddim", "repaint")
DEFAULT_SAMPLER = "dpm"
DEFAULT_STEPS = {"dpm": 5, "ddim": 50, "repaint": None}


def check_sampler(sampler: str, steps) -> None:
    if sampler not in SAMPLERS:
        raise InputError("--sampler", f"unknown sampler '{sampler}' ({', '.join(SAMPLERS)})")
    if steps is not None and not 1 <= steps <= 50:
        raise InputError("--steps", f"{sampler.upper()} takes 1-50 steps (got {steps})")


def synthesis_options(sampler: str = DEFAULT_SAMPLER, steps: int | None = None, brightness: float | None = None,
                      jump: int = 5, resample: int = 5) -> dict:
    """Checked keyword options of ``synthesize`` (the CLI's and the Slicer module's); ``steps`` None or 0: the
    sampler's default (``DEFAULT_STEPS``)."""
    check_sampler(sampler, steps or None)
    if brightness is not None and not brightness > 0:
        raise InputError("--brightness", f"must be positive (got {brightness})")
    return {"sampler": sampler, "steps": steps or DEFAULT_STEPS[sampler] or 50, "brightness": brightness,
            "jump_length": jump, "jump_n_sample": resample}


def load(path, device: str | None = None, compile: bool | None = None) -> Bundle:
    """A generator checkpoint ready to sample on ``device`` (default: CUDA when present); InputError("--device", ...)
    for a device this machine does not have. ``compile`` (default: on CUDA only): ``accelerate``."""
    device = resolve_device(device)
    ckpt = torch.load(path, map_location=device, weights_only=False)
    config = get_config(ckpt["config"])
    model = build_model(config)
    model.load_state_dict(ckpt["ema"])  # inference uses the EMA weights
    model.to(device).eval()
    ddpm, ddim = build_schedulers(config)
    bundle = Bundle(model, config, ddpm, ddim, np.asarray(ckpt["bank"]["hist"], np.float32), ckpt["bank"], device)
    if compile if compile is not None else device.type == "cuda":
        accelerate(bundle)
    return bundle


def repaint_schedule(t_T: int, jump_length: int = 5, jump_n_sample: int = 5) -> list[int]:
    """The RePaint time schedule: a list of timesteps from t_T - 1 down to -1 with jumps back up."""
    jumps = {j: jump_n_sample - 1 for j in range(0, t_T - jump_length, jump_length)}
    t, ts = t_T, []
    while t >= 1:
        t -= 1
        ts.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump_length):
                t += 1
                ts.append(t)
    ts.append(-1)
    return ts


def _tensors(bundle: Bundle, x0, scar, mvo, hist):
    dev = bundle.device
    f = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=dev)[:, None]  # noqa: E731
    x0, scar, mvo = f(x0), f(scar), f(mvo)
    lesion = torch.clamp(scar + mvo, 0, 1)
    return x0, scar, mvo, lesion, x0 * (1 - lesion), torch.as_tensor(np.asarray(hist, np.float32), device=dev)


def _step_generator(g: torch.Generator, device: torch.device, seed: int) -> torch.Generator:
    """The generator for MONAI's scheduler steps, which draw their noise on the tensors' device.

    Our own noise is drawn on the CPU (the same stream on every device); a scheduler's step needs a generator on
    the model's device, so on a GPU it gets one of its own, seeded from the same seed.
    """
    if device.type == "cpu":
        return g
    return torch.Generator(device=device).manual_seed(int(seed))


def _q_sample(sched, x0, t: int, generator) -> torch.Tensor:
    if t < 0:
        return x0
    a = sched.alphas_cumprod[t].to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, device="cpu").to(x0.device)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise


@torch.no_grad()
def sample_repaint(bundle: Bundle, x0, scar, mvo, hist, seed: int = 0, jump_length: int = 5, jump_n_sample: int = 5,
                   t_T: int | None = None, guidance: float = 1.0) -> np.ndarray:
    """RePaint inpainting of the lesion region. Returns [-1, 1] crops with the known background pasted back."""
    g = torch.Generator().manual_seed(int(seed))
    sched = bundle.ddpm
    x0, scar, mvo, lesion, background, hist = _tensors(bundle, x0, scar, mvo, hist)
    t_T = int(t_T or sched.num_train_timesteps)
    x = torch.randn(x0.shape, generator=g).to(x0.device)
    g_step = _step_generator(g, x0.device, seed)
    ts = repaint_schedule(t_T, jump_length, jump_n_sample)
    for i, (t_last, t_cur) in enumerate(zip(ts[:-1], ts[1:])):
        if i % 20 == 0:
            emit(i / len(ts), "sampling (RePaint)")
        if t_cur < t_last:  # reverse step t_last -> t_cur with the known region from the input
            eps = bundle.eps(x, t_last, scar, mvo, background, hist, guidance)
            unknown, _ = sched.step(eps, t_last, x, generator=g_step)
            known = _q_sample(sched, x0, t_cur, g)
            x = lesion * unknown + (1 - lesion) * known
        else:  # jump back: forward-noise one step t_last -> t_cur
            beta = sched.betas[t_cur].to(x.device)
            x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=g).to(x.device)
    x = lesion * x + (1 - lesion) * x0
    return x[:, 0].clamp(-1, 1).cpu().numpy()


@torch.no_grad()
def sample_ddim(bundle: Bundle, x0, scar, mvo, hist, seed: int = 0, steps: int = 50, eta: float = 0.0,
                guidance: float = 1.0) -> np.ndarray:
    """DDIM inpainting with the known region re-injected at every step (``steps`` <= 50 network calls)."""
    g = torch.Generator().manual_seed(int(seed))
    sched = bundle.ddim
    sched.set_timesteps(min(int(steps), 50))
    x0, scar, mvo, lesion, background, hist = _tensors(bundle, x0, scar, mvo, hist)
    x = torch.randn(x0.shape, generator=g).to(x0.device)
    g_step = _step_generator(g, x0.device, seed)
    timesteps = [int(t) for t in sched.timesteps]
    for i, t in enumerate(timesteps):
        emit(i / len(timesteps), "sampling (DDIM)")
        x = lesion * x + (1 - lesion) * _q_sample(bundle.ddpm, x0, t, g)
        eps = bundle.eps(x, t, scar, mvo, background, hist, guidance)
        x, _ = sched.step(eps, t, x, eta=eta, generator=g_step)
    x = lesion * x + (1 - lesion) * x0
    return x[:, 0].clamp(-1, 1).cpu().numpy()


def dpm_scheduler(ddpm):
    """diffusers' DPM-Solver++ (2M) on the same noise schedule as the model's DDPM scheduler, with steps uniform in
    log-SNR (``use_lu_lambdas``, as in Lu et al.'s own solver; it kept the texture at few steps where uniform
    timesteps did not, bench/README.md); its x0 predictions are clipped to [-1, 1] as MONAI's (``thresholding``
    at ``sample_max_value`` 1)."""
    from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler

    betas = ddpm.betas.detach().cpu().numpy().astype(np.float64)
    return DPMSolverMultistepScheduler(num_train_timesteps=len(betas), trained_betas=betas, solver_order=2,
                                       prediction_type="epsilon", algorithm_type="dpmsolver++", thresholding=True,
                                       sample_max_value=1.0, lower_order_final=True, use_lu_lambdas=True)


@torch.no_grad()
def sample_dpm(bundle: Bundle, x0, scar, mvo, hist, seed: int = 0, steps: int = DEFAULT_STEPS["dpm"],
               guidance: float = 1.0) -> np.ndarray:
    """DPM-Solver++ inpainting: the known region re-injected (forward-noised from the input) before every network
    call, as in ``sample_ddim``; ``steps`` (<= 50) network calls."""
    g = torch.Generator().manual_seed(int(seed))
    if bundle.dpm is None:
        bundle.dpm = dpm_scheduler(bundle.ddpm)
    sched = bundle.dpm
    sched.set_timesteps(min(int(steps), 50))
    sched.set_begin_index(0)  # step i is sigmas[i], even where two log-SNR steps round to the same timestep
    x0, scar, mvo, lesion, background, hist = _tensors(bundle, x0, scar, mvo, hist)
    x = torch.randn(x0.shape, generator=g).to(x0.device)
    timesteps = [int(t) for t in sched.timesteps]
    for i, t in enumerate(timesteps):
        emit(i / len(timesteps), "sampling (DPM-Solver++)")
        sigma = float(sched.sigmas[i])  # the solver's own noise level: x_t = alpha x0 + sigma alpha noise
        alpha = (1.0 + sigma ** 2) ** -0.5
        noise = torch.randn(x0.shape, generator=g).to(x0.device)
        x = lesion * x + (1 - lesion) * (alpha * x0 + sigma * alpha * noise)
        eps = bundle.eps(x, t, scar, mvo, background, hist, guidance)
        x = sched.step(eps, t, x, return_dict=False)[0]
    x = lesion * x + (1 - lesion) * x0
    return x[:, 0].clamp(-1, 1).cpu().numpy()


def condition(bundle: Bundle, rng: np.random.Generator, n: int, blood_norm: float | None = None,
              brightness: float | None = None, histogram: np.ndarray | None = None) -> np.ndarray:
    """Histograms to condition on: given, from brightness (x the case's blood pool), or drawn from the bank."""
    if histogram is not None:
        return np.repeat(np.asarray(histogram, np.float32)[None], n, axis=0)
    if brightness is not None:
        if blood_norm is None:
            raise ValueError("brightness needs the case's blood pool")
        std = float(bundle.stats.get("scar_std_norm", 0.15))
        return np.repeat(gaussian_histogram(float(np.clip(brightness * blood_norm, -1, 1)), std)[None], n, axis=0)
    pick = rng.integers(len(bundle.bank))
    return np.repeat(bundle.bank[pick][None], n, axis=0)


def sample(bundle: Bundle, x0, scar, mvo, hist, sampler: str = DEFAULT_SAMPLER, steps: int | None = None,
           seed: int = 0, jump_length: int = 5, jump_n_sample: int = 5) -> np.ndarray:
    """Inpaint crops (N, size, size) with ``sampler``. Resets and counts ``bundle.calls``."""
    bundle.calls = 0
    steps = steps or DEFAULT_STEPS.get(sampler) or 50
    if sampler == "dpm":
        return sample_dpm(bundle, x0, scar, mvo, hist, seed=seed, steps=steps)
    if sampler == "ddim":
        return sample_ddim(bundle, x0, scar, mvo, hist, seed=seed, steps=steps)
    if sampler == "repaint":
        return sample_repaint(bundle, x0, scar, mvo, hist, seed=seed, jump_length=jump_length,
                              jump_n_sample=jump_n_sample)
    raise ValueError(f"unknown sampler '{sampler}' ({', '.join(SAMPLERS)})")


def synthesize(bundle: Bundle, case, scar: np.ndarray, mvo: np.ndarray | None = None,
               sampler: str = DEFAULT_SAMPLER, steps: int | None = None, seed: int = 0,
               brightness: float | None = None, histogram=None,
               jump_length: int = 5, jump_n_sample: int = 5) -> tuple[np.ndarray, dict]:
    """A copy of the case's image with scar texture painted inside ``scar`` (MVO inside ``mvo``); nothing else
    changes. The copy has the image's own dtype (``Case.image`` is kept as read, e.g. EMIDEC's float64), and every
    voxel outside ``scar`` is the input's, bit for bit.
    """
    scar = np.asarray(scar, bool)
    mvo = np.zeros_like(scar) if mvo is None else np.asarray(mvo, bool) & scar
    cfg = bundle.config
    sl: Slices = case_slices(case, cfg["size"], cfg["spacing_mm"], scar=scar, mvo=mvo)
    keep = [i for i, c in enumerate(sl.crops) if scar[c.k].any()]
    if not keep:
        return np.array(case.image, copy=True), {"slices": 0, "network_calls": 0}
    norm = sl.norms[0]
    rng = np.random.default_rng(seed)
    cavity = case.mask("cavity")
    blood = float(norm.forward(np.median(case.float_image[cavity]))) if cavity.any() else None
    hist = condition(bundle, rng, len(keep), blood, brightness, histogram)
    x0, sc, mv = sl.image[keep], sl.scar[keep], sl.mvo[keep]
    gen = sample(bundle, x0, sc, mv, hist, sampler, steps, seed, jump_length, jump_n_sample)
    image, missed = write_back(case.image, gen, [sl.crops[i] for i in keep], norm, scar)
    record = {"sampler": sampler, "steps": steps or DEFAULT_STEPS.get(sampler), "slices": len(keep),
              "network_calls": bundle.calls, "seed": seed,
              "mask_voxels_outside_crop": missed, "histogram": hist[0].round(4).tolist(),
              "brightness": brightness, "normalisation": norm.to_dict()}
    return image, record
