"""The generator: MONAI's 2D DiffusionModelUNet conditioned on a scar-intensity histogram, and its schedulers.

Inputs (4 channels): the noisy image, the scar mask (MVO excluded), the MVO mask, and the known background (the
clean image with the lesion blanked). The 16-bin histogram of scar intensities enters through an MLP whose output
is added to the time embedding (MONAI's class-embedding slot); a learned null embedding stands in for it with
probability ``p_uncond`` in training, for classifier-free guidance. The network predicts the noise (epsilon).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

HIST_BINS = 16
IN_CHANNELS = 4

CONFIGS = {
    # trains in minutes on a CPU
    "tiny": {"size": 48, "spacing_mm": 2.0, "channels": (16, 32, 64), "attention": (False, False, False),
             "res_blocks": 1, "groups": 8, "timesteps": 300, "lr": 2e-3, "batch": 16, "ema": 0.99,
             "p_uncond": 0.1, "sample_every": 0, "save_every": 50},
    # quality on a GPU
    "default": {"size": 80, "spacing_mm": 1.5, "channels": (64, 128, 256, 256), "attention": (False, False, True, True),
                "res_blocks": 2, "groups": 32, "timesteps": 1000, "lr": 2e-4, "batch": 32, "ema": 0.999,
                "p_uncond": 0.1, "sample_every": 2000, "save_every": 1000},
    # about the CLAIM/LeFusion paper's network: 72x72 slices, T = 300
    "paper": {"size": 72, "spacing_mm": 1.4, "channels": (128, 192, 256, 384), "attention": (False, False, True, True),
              "res_blocks": 2, "groups": 32, "timesteps": 300, "lr": 1e-4, "batch": 16, "ema": 0.999,
              "p_uncond": 0.1, "sample_every": 2000, "save_every": 1000},
}


def get_config(name_or_dict) -> dict:
    if isinstance(name_or_dict, dict):
        return dict(name_or_dict)
    if name_or_dict not in CONFIGS:
        raise ValueError(f"unknown config '{name_or_dict}'; use {', '.join(CONFIGS)}")
    return {"name": name_or_dict, **CONFIGS[name_or_dict]}


class HistogramEmbedding(nn.Module):
    """(B, 16) histogram -> (B, D) embedding; rows of NaN take the learned null embedding."""

    def __init__(self, dim: int, bins: int = HIST_BINS):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(bins, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.null = nn.Parameter(torch.zeros(dim))

    def forward(self, hist: torch.Tensor) -> torch.Tensor:
        null = torch.isnan(hist).any(dim=1, keepdim=True)
        emb = self.mlp(torch.nan_to_num(hist, nan=0.0))
        return torch.where(null, self.null.to(emb.dtype).expand_as(emb), emb)


class Generator(nn.Module):
    """MONAI DiffusionModelUNet with the histogram embedding in its class-embedding slot."""

    def __init__(self, config: dict):
        super().__init__()
        from monai.networks.nets import DiffusionModelUNet

        self.unet = DiffusionModelUNet(
            spatial_dims=2, in_channels=IN_CHANNELS, out_channels=1, channels=tuple(config["channels"]),
            attention_levels=tuple(config["attention"]), num_res_blocks=config["res_blocks"],
            norm_num_groups=config["groups"], num_head_channels=config.get("head_channels", 32),
            num_class_embeds=1)
        time_dim = self.unet.time_embed[-1].out_features
        self.unet.class_embedding = HistogramEmbedding(time_dim)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, scar: torch.Tensor, mvo: torch.Tensor,
                background: torch.Tensor, hist: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x_t, scar, mvo, background], dim=1)
        return self.unet(x, timesteps=t, class_labels=hist)


def build_model(config: dict) -> Generator:
    return Generator(config)


def build_schedulers(config: dict):
    """(DDPM, DDIM) schedulers on the same cosine noise schedule."""
    from monai.networks.schedulers import DDIMScheduler, DDPMScheduler

    T = int(config["timesteps"])
    ddpm = DDPMScheduler(num_train_timesteps=T, schedule="cosine", clip_sample=True)
    ddim = DDIMScheduler(num_train_timesteps=T, schedule="cosine", clip_sample=True)
    return ddpm, ddim


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def make_ema(model: nn.Module) -> nn.Module:
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema
