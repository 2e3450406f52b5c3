"""Joint training's segmenter: a trained 2D nnU-Net network as a plain module, its loss, its SGD step, its export."""
from __future__ import annotations

import inspect
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..io import atomic_dir
from ..labels import structure_for_segment_name
from ..segmentation.model_folder import CHECKPOINT, ModelFolder
from .batch import Batch


class Segmenter(nn.Module):
    """A trained 2D nnU-Net network as a plain module: scanner intensities in, logits out.

    ``forward(x, mean, std)``: x (B, 1, H, W) on the plans' in-plane spacing; nnU-Net's z-score normalisation with
    each image's case statistics (B,) happens inside the graph, so gradients reach x.
    """

    def __init__(self, network: nn.Module, spacing_mm: tuple, labels: dict, source: Path, trainer: str):
        super().__init__()
        self.network = network
        self.spacing_mm = tuple(float(s) for s in spacing_mm)  # (y, x) in-plane
        self.labels = dict(labels)
        self.source = Path(source)
        self.trainer = trainer
        self.fold = "all"
        self.checkpoint = CHECKPOINT

    @property
    def classes(self) -> int:
        return len(self.labels)

    @property
    def has_mvo(self) -> bool:
        return any(structure_for_segment_name(name) == "mvo" for name in self.labels)

    def forward(self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        z = (x - mean.view(-1, 1, 1, 1)) / std.clamp(min=1e-8).view(-1, 1, 1, 1)
        return self.network(z)


def check_joint_model(model: ModelFolder) -> None:
    """InputError unless the model's labels are CLAIM's values (joint training's slices carry those)."""
    if not model.claim_values:
        found = ", ".join(f"{name} {value}" for name, value in sorted(model.labels.items(), key=lambda kv: kv[1]))
        raise InputError(model.path, f"joint training needs CLAIM's label values (background 0, cavity 1, myocardium "
                                     f"2, scar 3, mvo 4, as claim export-nnunet writes them); this model has {found}")


def build_network(trainer_class, plans_manager, configuration_manager, num_input_channels: int,
                  num_output_channels: int) -> nn.Module:
    """The network of a trainer class, built by its own ``build_network_architecture`` without deep supervision
    (either of nnU-Net's two signatures), without touching the global torch RNG (the weights are loaded next)."""
    build = trainer_class.build_network_architecture
    with torch.random.fork_rng(devices=[]):
        if "plans_manager" in inspect.signature(build).parameters:
            return build(plans_manager, configuration_manager, num_input_channels, num_output_channels,
                         enable_deep_supervision=False)
        cm = configuration_manager  # the signature before nnU-Net 2.6
        return build(cm.network_arch_class_name, cm.network_arch_init_kwargs, cm.network_arch_init_kwargs_req_import,
                     num_input_channels, num_output_channels, enable_deep_supervision=False)


def load_segmenter(model_dir, fold="all", checkpoint: str = CHECKPOINT, device="cpu") -> Segmenter:
    """The network of a trained 2d nnU-Net model folder (a ``ModelFolder`` with CLAIM's labels) with the weights of
    ``fold``, built by the model's own trainer class (nnU-Net's lookup, ``nnUNet_extTrainer`` included), so that a
    custom trainer's ``build_network_architecture`` is honoured."""
    from ..segmentation.nnunet import ensure_torchvision, trainer_class

    model = ModelFolder(model_dir, checkpoint)
    check_joint_model(model)
    ckpt_file = model.checkpoint_path(fold)
    ensure_torchvision()
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    ckpt = torch.load(ckpt_file, map_location="cpu", weights_only=False)
    configuration = (ckpt.get("init_args") or {}).get("configuration") or model.configuration
    trainer = ckpt.get("trainer_name") or model.trainer
    if configuration not in model.plans_json["configurations"]:
        raise InputError(model.path, f"plans.json has no configuration '{configuration}' (the checkpoint's)")
    plans = PlansManager(model.plans_json)
    cm = plans.get_configuration(configuration)
    if len(cm.patch_size) != 2:
        raise InputError(model.path, f"joint training needs a 2d nnU-Net model (this one is '{configuration}')")
    channels = determine_num_input_channels(plans, cm, model.dataset_json)
    if channels != 1:
        raise InputError(model.path, f"joint training needs a one-channel (LGE) model (this one takes {channels})")
    heads = plans.get_label_manager(model.dataset_json).num_segmentation_heads
    network = build_network(trainer_class(trainer, source=model.path), plans, cm, channels, heads)
    network.load_state_dict(ckpt["network_weights"])
    seg = Segmenter(network, cm.spacing, model.labels, model.path, trainer)
    seg.fold = ModelFolder.parse_fold(fold)
    seg.checkpoint = model.checkpoint
    return seg.to(device)


def export_segmenter(seg: Segmenter, out_dir) -> Path:
    """Write the segmenter as an nnU-Net model folder (the source's plans and dataset files, new weights)."""
    out_dir = Path(out_dir)
    src = seg.source
    ckpt = torch.load(src / f"fold_{seg.fold}" / seg.checkpoint, map_location="cpu", weights_only=False)
    ckpt["network_weights"] = {k: v.detach().cpu() for k, v in seg.network.state_dict().items()}
    ckpt["optimizer_state"] = None
    with atomic_dir(out_dir) as tmp:
        for name in ("plans.json", "dataset.json", "dataset_fingerprint.json"):
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
        (tmp / f"fold_{seg.fold}").mkdir()
        torch.save(ckpt, tmp / f"fold_{seg.fold}" / CHECKPOINT)
    return out_dir


# ------------------------------------------------------------------------------------------------ the segmenter's grid
def to_segmenter(x: torch.Tensor, batch: Batch, gen_spacing: float, seg: Segmenter, labels: bool = False):
    """Generator crops ([-1, 1], or label maps) -> the segmenter's grid: scanner intensities at its spacing, on a
    square whose side is a multiple of 32 covering the crop (border values repeated). Differentiable in x."""
    size = x.shape[-1]
    fov = size * gen_spacing
    side = int(np.ceil(fov / min(seg.spacing_mm) / 32.0) * 32)
    scale = torch.tensor([side * seg.spacing_mm[1] / fov, side * seg.spacing_mm[0] / fov])
    theta = torch.zeros(x.shape[0], 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = scale[0], scale[1]
    grid = F.affine_grid(theta.to(x.device), (x.shape[0], 1, side, side), align_corners=False)
    if labels:
        return F.grid_sample(x.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False).long()
    scanner = batch.lo.view(-1, 1, 1, 1).to(x) + (x + 1) / 2 * (batch.hi - batch.lo).view(-1, 1, 1, 1).to(x)
    return F.grid_sample(scanner, grid, mode="bilinear", padding_mode="border", align_corners=False)


def segment(seg: Segmenter, x: torch.Tensor, batch: Batch, gen_spacing: float) -> torch.Tensor:
    """Logits of generator-grid crops x ([-1, 1]) on the segmenter's grid."""
    return seg(to_segmenter(x, batch, gen_spacing, seg), batch.mean.to(x), batch.std.to(x))


# ------------------------------------------------------------------------------------------------ losses and steps
def seg_loss(logits: torch.Tensor, target: torch.Tensor, classes: int) -> torch.Tensor:
    """Per-image soft Dice (foreground classes) + class-weighted cross-entropy on the softmax: (B,) losses.

    Class weights are the inverse square root of each class's share of the batch, so the small scar class counts."""
    target = target[:, 0].clamp(max=classes - 1)
    prob = logits.float().softmax(1)
    onehot = F.one_hot(target, classes).permute(0, 3, 1, 2).float()
    dims = (2, 3)
    inter = (prob * onehot).sum(dims)
    dice = (2 * inter + 1e-5) / (prob.sum(dims) + onehot.sum(dims) + 1e-5)
    soft_dice = 1 - dice[:, 1:].mean(1)
    share = onehot.mean((0, 2, 3)).clamp(min=1e-4)
    weight = share.rsqrt()
    weight = weight / weight.mean()
    ce = F.cross_entropy(logits.float(), target, weight=weight, reduction="none").mean((1, 2))
    return soft_dice + ce


def nnunet_loss(seg: Segmenter):
    """nnU-Net's own Dice + CE (no deep supervision: one output)."""
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

    return DC_and_CE_loss({"batch_dice": True, "smooth": 1e-5, "do_bg": False, "ddp": False}, {}, weight_ce=1,
                          weight_dice=1, ignore_label=None, dice_class=MemoryEfficientSoftDiceLoss)


def segmenter_step(seg: Segmenter, opt: torch.optim.Optimizer, loss_fn, images: torch.Tensor, batch: Batch,
                   gen_spacing: float, lr: float, net: nn.Module | None = None) -> float:
    """One SGD step of the segmenter on crops ``images`` ([-1, 1], detached) with the batch's labels
    (``net``: the segmenter wrapped for DDP, when it is)."""
    for group in opt.param_groups:
        group["lr"] = lr
    seg.train()
    opt.zero_grad(set_to_none=True)
    x = to_segmenter(images.detach(), batch, gen_spacing, seg)
    logits = (net or seg)(x, batch.mean.to(x), batch.std.to(x))
    target = to_segmenter(batch.labels, batch, gen_spacing, seg, labels=True).clamp(max=seg.classes - 1)
    loss = loss_fn(logits, target.float())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(seg.parameters(), 12.0)
    opt.step()
    return float(loss.detach())


def make_segmenter_optimizer(seg: Segmenter, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(seg.parameters(), lr, weight_decay=3e-5, momentum=0.99, nesterov=True)


def poly_lr(lr0: float, step: int, total: int, exponent: float = 0.9) -> float:
    return lr0 * (1 - min(step, total) / max(total, 1)) ** exponent
