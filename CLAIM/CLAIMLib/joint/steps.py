"""Joint training's steps: the generator's losses through the frozen segmenter, DDIM painting, validation."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .batch import Batch, lesion
from .segmenter import Segmenter, seg_loss, segment, to_segmenter


def generator_losses(gen: nn.Module, seg: Segmenter, batch: Batch, ddpm, cfg: dict, lam: float,
                     generator: torch.Generator, p_uncond: float = 0.1) -> dict:
    """The generator's losses on a batch: ``diff``, ``seg`` (unweighted mean), ``seg_term`` (λ · ᾱ_t-weighted) and
    ``total`` = diff + seg_term, all tensors in the graph. The segmenter's parameters get no gradient."""
    from ..diffusion.train import lesion_loss

    dev = batch.image.device
    n = len(batch)
    T = int(cfg["timesteps"])
    noise = torch.randn(batch.image.shape, generator=generator).to(dev)
    t = torch.randint(0, T, (n,), generator=generator).to(dev)
    x_t = ddpm.add_noise(batch.image, noise, t)
    region = lesion(batch)
    hist = batch.hist.clone()
    hist[torch.rand(n, generator=generator) < p_uncond] = float("nan")
    eps = gen(x_t, t, batch.scar, batch.mvo, batch.image * (1 - region), hist.to(dev))
    diff = lesion_loss(eps, noise, batch.scar, batch.mvo)
    abar = ddpm.alphas_cumprod.to(dev)[t].view(-1, 1, 1, 1)
    x0_hat = ((x_t - (1 - abar).sqrt() * eps.float()) / abar.sqrt()).clamp(-1, 1)
    composite = region * x0_hat + (1 - region) * batch.image
    requires = [p.requires_grad for p in seg.parameters()]
    for p in seg.parameters():
        p.requires_grad_(False)
    try:
        logits = segment(seg, composite, batch, cfg["spacing_mm"])
        target = to_segmenter(batch.labels, batch, cfg["spacing_mm"], seg, labels=True)
        per_image = seg_loss(logits, target, seg.classes)
    finally:
        for p, r in zip(seg.parameters(), requires):
            p.requires_grad_(r)
    weight = abar.view(-1)
    seg_term = lam * (weight * per_image).mean()
    return {"diff": diff, "seg": per_image.mean(), "seg_term": seg_term, "total": diff + seg_term}


@torch.no_grad()
def paint(ema: nn.Module, cfg: dict, bank: dict, batch: Batch, seed: int, steps: int, ddpm, ddim) -> torch.Tensor:
    """The generator's DDIM inpainting of a batch's lesion (detached), histograms drawn from the bank."""
    from ..diffusion.sample import Bundle, sample_ddim

    bundle = Bundle(ema, cfg, ddpm, ddim, np.asarray(bank["hist"], np.float32), bank, batch.image.device)
    rng = np.random.default_rng(seed)
    hist = bundle.bank[rng.integers(len(bundle.bank), size=len(batch))]
    was = ema.training
    ema.eval()
    out = sample_ddim(bundle, batch.image[:, 0].cpu().numpy(), batch.scar[:, 0].cpu().numpy(),
                      batch.mvo[:, 0].cpu().numpy(), hist, seed=seed, steps=steps)
    ema.train(was)
    return torch.from_numpy(out)[:, None].to(batch.image.device)


@torch.no_grad()
def validate(ema: nn.Module, seg: Segmenter, cfg: dict, bank: dict, val: list, steps: int, ddpm, ddim) -> dict:
    """Segmentability (mean Dice of mask vs the segmenter's scar on the painted slices, per case) and the earth
    mover's distance between the painted and the real scar-intensity histograms."""
    from ..diffusion.data import histogram

    was = seg.training
    seg.eval()
    dices, painted = [], []
    for i, batch in enumerate(val):
        images = paint(ema, cfg, bank, batch, seed=1000 + i, steps=steps, ddpm=ddpm, ddim=ddim)
        pred = segment(seg, images, batch, cfg["spacing_mm"]).argmax(1)
        target = to_segmenter(batch.labels, batch, cfg["spacing_mm"], seg, labels=True)[:, 0]
        p, t = pred >= 3, target >= 3
        dices.append(float(2 * (p & t).sum() / max(int(p.sum() + t.sum()), 1)))
        painted.append(images[lesion(batch) > 0].cpu().numpy())
    seg.train(was)
    real = np.asarray(bank["hist"], np.float64).mean(axis=0)
    fake = histogram(np.concatenate(painted)).astype(np.float64)
    width = 2.0 / len(real)
    emd = float(np.abs(np.cumsum(fake / fake.sum()) - np.cumsum(real / real.sum())).sum() * width)
    return {"segmentability": float(np.mean(dices)), "histogram_distance": emd}
