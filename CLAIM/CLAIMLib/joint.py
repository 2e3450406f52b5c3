"""Joint training, CLAIM(J): the segmenter's loss trains the generator, and the generator's images train the segmenter.

A generator step (pathological training slices):

1. the lesion-focused diffusion loss ``L_diff`` at a random t;
2. the one-step estimate x̂₀ = (x_t - sqrt(1 - ᾱ_t) ε̂) / sqrt(ᾱ_t), composited with the real image outside the mask;
3. the composite, mapped back to scanner intensities (the crop's own normalisation, inverted), resampled onto the
   segmenter's grid (its plans' spacing) and z-scored with the case's statistics (nnU-Net's normalisation, inside
   the graph), goes through the frozen segmenter; ``L_seg`` = soft Dice + class-weighted cross-entropy on the
   softmax against the slice's labels (the scar mask included), weighted by ᾱ_t so that very noisy t count less;
4. ``L = L_diff + λ L_seg``; the gradient reaches the generator through the segmenter.

A segmenter step (after every ``seg_every`` generator steps): half the batch is online synthetic (fresh SMILE masks
on normal and pathological training cases, painted by the generator's EMA weights with a few DDIM steps, detached),
half real slices; nnU-Net's own Dice + CE loss, SGD with Nesterov momentum and poly learning-rate decay as nnU-Net.

Validation (every ``val_every`` steps) on held-out normal cases with fixed SMILE masks: *segmentability* (Dice
between each mask and the segmenter's scar on the painted image) and the distance of the painted scars' intensity
histogram to the real scars' (earth mover's, in normalised units). Both go to ``val.csv``; the best round's models
are kept in ``best/``.

Outputs: ``generator/checkpoint.pt`` (for ``claim synthesize``), ``segmenter/`` (an nnU-Net model folder for
``claim segment`` and stock nnU-Net), ``checkpoint.pt`` (everything, atomic, for ``--resume``), ``log.csv``.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError
from .io import atomic_dir, discover_cases, load_case, write_json

CHECKPOINT = "checkpoint.pt"
LOG_FIELDS = ("step", "loss_diff", "loss_seg", "loss_segmenter", "seconds")
VAL_FIELDS = ("step", "segmentability", "histogram_distance", "best")


# ------------------------------------------------------------------------------------------------ the segmenter
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

    @property
    def classes(self) -> int:
        return len(self.labels)

    def forward(self, x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        z = (x - mean.view(-1, 1, 1, 1)) / std.clamp(min=1e-8).view(-1, 1, 1, 1)
        return self.network(z)


def load_segmenter(model_dir, fold="all", checkpoint: str = "checkpoint_final.pth", device="cpu") -> Segmenter:
    """The nnU-Net network of a trained model folder (plans.json, dataset.json, fold_F/checkpoint)."""
    from .segmentation.nnunet import ensure_torchvision

    model_dir = Path(model_dir)
    ckpt_file = model_dir / f"fold_{fold}" / checkpoint
    for f in (model_dir / "plans.json", model_dir / "dataset.json", ckpt_file):
        if not f.is_file():
            raise InputError(f, "missing: not a trained nnU-Net model folder")
    ensure_torchvision()
    from nnunetv2.utilities.get_network_from_plans import get_network_from_plans
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = json.loads((model_dir / "plans.json").read_text())
    dataset = json.loads((model_dir / "dataset.json").read_text())
    ckpt = torch.load(ckpt_file, map_location="cpu", weights_only=False)
    configuration = ckpt.get("init_args", {}).get("configuration", "2d")
    cm = PlansManager(plans).get_configuration(configuration)
    if len(cm.patch_size) != 2:
        raise InputError(model_dir, f"joint training needs a 2d nnU-Net model (this one is '{configuration}')")
    labels = PlansManager(plans).get_label_manager(dataset)
    network = get_network_from_plans(cm.network_arch_class_name, cm.network_arch_init_kwargs,
                                     cm.network_arch_init_kwargs_req_import, 1, labels.num_segmentation_heads,
                                     allow_init=False, deep_supervision=False)
    network.load_state_dict(ckpt["network_weights"])
    seg = Segmenter(network, cm.spacing, dataset["labels"], model_dir, ckpt.get("trainer_name", "nnUNetTrainer"))
    seg.fold = fold
    return seg.to(device)


def export_segmenter(seg: Segmenter, out_dir) -> Path:
    """Write the segmenter as an nnU-Net model folder (the source's plans and dataset files, new weights)."""
    out_dir = Path(out_dir)
    src = seg.source
    ckpt = torch.load(src / f"fold_{seg.fold}" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    ckpt["network_weights"] = {k: v.detach().cpu() for k, v in seg.network.state_dict().items()}
    ckpt["optimizer_state"] = None
    with atomic_dir(out_dir) as tmp:
        for name in ("plans.json", "dataset.json", "dataset_fingerprint.json"):
            if (src / name).is_file():
                shutil.copy2(src / name, tmp / name)
        (tmp / f"fold_{seg.fold}").mkdir()
        torch.save(ckpt, tmp / f"fold_{seg.fold}" / "checkpoint_final.pth")
    return out_dir


# ------------------------------------------------------------------------------------------------ data
@dataclass
class Batch:
    """Crops (N, 1, S, S) at the generator's grid with what the segmenter needs to see them as nnU-Net would."""

    image: torch.Tensor  # [-1, 1]
    scar: torch.Tensor  # 0/1, MVO excluded
    mvo: torch.Tensor
    labels: torch.Tensor  # (N, 1, S, S) long: 0 background, 1 cavity, 2 myocardium, 3 scar, 4 MVO
    hist: torch.Tensor  # (N, 16), NaN rows without scar
    lo: torch.Tensor  # (N,) crop normalisation: scanner = lo + (x + 1) / 2 (hi - lo)
    hi: torch.Tensor
    mean: torch.Tensor  # (N,) case statistics for nnU-Net's z-score
    std: torch.Tensor

    def take(self, idx) -> "Batch":
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return Batch(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    @staticmethod
    def cat(parts: list) -> "Batch":
        return Batch(*(torch.cat([getattr(p, f) for p in parts]) for f in Batch.__dataclass_fields__))

    def __len__(self) -> int:
        return int(self.image.shape[0])


def case_batch(case, cfg: dict, scar=None, mvo=None, only_scarred: bool = False, with_mvo: bool = True) -> Batch:
    """A case's myocardium slices as a Batch (``scar``/``mvo``: a mask to paint, else the case's own)."""
    from .diffusion.data import case_slices

    scar = case.mask("scar") if scar is None else np.asarray(scar, bool) | case.mask("scar")
    mvo = case.mask("mvo") if mvo is None else np.asarray(mvo, bool) | case.mask("mvo")
    sl = case_slices(case, cfg["size"], cfg["spacing_mm"], scar=scar, mvo=mvo, only_scarred=only_scarred)
    n = len(sl.crops)
    cavity = case.mask("cavity")
    labels = np.zeros((n, cfg["size"], cfg["size"]), np.int64)
    for i, c in enumerate(sl.crops):
        labels[i][c.crop(cavity[c.k], 1) > 0.5] = 1
    labels[sl.myocardium > 0] = 2
    labels[sl.scar > 0] = 3
    labels[sl.mvo > 0] = 4 if with_mvo else 3
    f = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))[:, None]  # noqa: E731
    image = case.image.astype(np.float64)
    stats = torch.full((n,), float(image.mean())), torch.full((n,), float(image.std()))
    return Batch(f(sl.image), f(sl.scar), f(sl.mvo), torch.from_numpy(labels)[:, None], torch.from_numpy(sl.hist),
                 torch.tensor([nm.lo for nm in sl.norms], dtype=torch.float32),
                 torch.tensor([nm.hi for nm in sl.norms], dtype=torch.float32), *stats)


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


def _lesion(batch: Batch) -> torch.Tensor:
    return torch.clamp(batch.scar + batch.mvo, 0, 1)


# ------------------------------------------------------------------------------------------------ steps
def generator_losses(gen: nn.Module, seg: Segmenter, batch: Batch, ddpm, cfg: dict, lam: float,
                     generator: torch.Generator, p_uncond: float = 0.1) -> dict:
    """The generator's losses on a batch: ``diff``, ``seg`` (unweighted mean), ``seg_term`` (λ · ᾱ_t-weighted) and
    ``total`` = diff + seg_term, all tensors in the graph. The segmenter's parameters get no gradient."""
    from .diffusion.train import _lesion_loss

    dev = batch.image.device
    n = len(batch)
    T = int(cfg["timesteps"])
    noise = torch.randn(batch.image.shape, generator=generator).to(dev)
    t = torch.randint(0, T, (n,), generator=generator).to(dev)
    x_t = ddpm.add_noise(batch.image, noise, t)
    lesion = _lesion(batch)
    hist = batch.hist.clone()
    hist[torch.rand(n, generator=generator) < p_uncond] = float("nan")
    eps = gen(x_t, t, batch.scar, batch.mvo, batch.image * (1 - lesion), hist.to(dev))
    diff = _lesion_loss(eps, noise, batch.scar, batch.mvo)
    abar = ddpm.alphas_cumprod.to(dev)[t].view(-1, 1, 1, 1)
    x0_hat = ((x_t - (1 - abar).sqrt() * eps.float()) / abar.sqrt()).clamp(-1, 1)
    composite = lesion * x0_hat + (1 - lesion) * batch.image
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


@torch.no_grad()
def paint(ema: nn.Module, cfg: dict, bank: dict, batch: Batch, seed: int, steps: int, ddpm, ddim) -> torch.Tensor:
    """The generator's DDIM inpainting of a batch's lesion (detached), histograms drawn from the bank."""
    from .diffusion.sample import Bundle, sample_ddim

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
    from .diffusion.data import histogram

    was = seg.training
    seg.eval()
    dices, painted = [], []
    for i, batch in enumerate(val):
        images = paint(ema, cfg, bank, batch, seed=1000 + i, steps=steps, ddpm=ddpm, ddim=ddim)
        pred = segment(seg, images, batch, cfg["spacing_mm"]).argmax(1)
        target = to_segmenter(batch.labels, batch, cfg["spacing_mm"], seg, labels=True)[:, 0]
        p, t = pred >= 3, target >= 3
        dices.append(float(2 * (p & t).sum() / max(int(p.sum() + t.sum()), 1)))
        lesion = _lesion(batch) > 0
        painted.append(images[lesion].cpu().numpy())
    seg.train(was)
    real = np.asarray(bank["hist"], np.float64).mean(axis=0)
    fake = histogram(np.concatenate(painted)).astype(np.float64)
    width = 2.0 / len(real)
    emd = float(np.abs(np.cumsum(fake / fake.sum()) - np.cumsum(real / real.sum())).sum() * width)
    return {"segmentability": float(np.mean(dices)), "histogram_distance": emd}


# ------------------------------------------------------------------------------------------------ configuration
@dataclass
class JointConfig:
    pathological: str
    normal: str
    generator: str  # a trained diffusion checkpoint (claim train-diffusion)
    segmenter: str  # a trained 2d nnU-Net model folder (claim train-seg), pretrained on real cases
    out: str
    steps: int = 200
    lam: float = 5.0  # λ: weight of L_seg in the generator's loss (5 beat 0 in bench_joint; 0.5 did not differ)
    batch: int = 8
    seg_batch: int = 8
    seg_every: int = 1
    seg_lr: float = 1e-3
    gen_lr: float | None = None  # default: the diffusion config's
    ddim_steps: int = 10
    val_every: int = 25
    val_cases: int = 2
    save_every: int = 25
    fold: str = "all"
    seed: int = 0
    device: str | None = None
    extra: dict = field(default_factory=dict)


KEYS = {"lambda": "lam"}


def read_config(path) -> JointConfig:
    """A TOML or YAML file; relative paths are taken from the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such config file")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                import tomli as tomllib
            raw = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        else:
            raise InputError(path, "use a .toml or .yaml config file")
    except InputError:
        raise
    except Exception as e:  # a syntax error
        raise InputError(path, f"cannot be parsed ({' '.join(str(e).split())[:120]})") from None
    if not isinstance(raw, dict):
        raise InputError(path, "must hold key = value settings")
    raw = {KEYS.get(k, k).replace("-", "_"): v for k, v in raw.items()}
    known = set(JointConfig.__dataclass_fields__) - {"extra"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(path, f"unknown setting '{unknown[0]}'")
    missing = [k for k in ("pathological", "normal", "generator", "segmenter", "out") if k not in raw]
    if missing:
        raise InputError(path, f"missing setting '{missing[0]}'")
    for k in ("pathological", "normal", "generator", "segmenter", "out"):
        p = Path(str(raw[k]))
        raw[k] = str(p if p.is_absolute() else (path.parent / p))
    try:
        cfg = JointConfig(**raw)
    except TypeError as e:
        raise InputError(path, str(e)) from None
    for name in ("steps", "batch", "seg_batch", "seg_every", "ddim_steps", "val_every", "save_every"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise InputError(path, f"{name} must be a whole number >= 1 (got {value!r})")
    if not isinstance(cfg.lam, (int, float)) or cfg.lam < 0:
        raise InputError(path, f"lambda must be >= 0 (got {cfg.lam!r})")
    if not 1 <= cfg.ddim_steps <= 50:
        raise InputError(path, f"ddim_steps must lie in 1-50 (got {cfg.ddim_steps})")
    cfg.fold = str(cfg.fold)
    return cfg


# ------------------------------------------------------------------------------------------------ training
def _cases(pathological_folder, normal_folder) -> tuple[list, list]:
    """The pathological cases (with scar) of one folder and the normal ones (without) of another. One folder may
    serve for both; each is read once."""
    read = {}
    groups = []
    for folder, role in ((pathological_folder, "pathological"), (normal_folder, "normal")):
        key = str(Path(folder).resolve())
        if key not in read:
            read[key] = [load_case(f) for f in discover_cases(folder) if f.image is not None and f.labels is not None]
        cases = [c for c in read[key] if (c.volume_ml("scar") > 0) == (role == "pathological")]
        if not cases:
            raise InputError(folder, f"holds no {role} case with an image and labels")
        groups.append(cases)
    return groups[0], groups[1]


def _append(path: Path, fields, row: dict) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        if new:
            w.writeheader()
        w.writerow(row)


def train_joint(config: JointConfig, resume: bool = False, on_round=None) -> dict:
    """Run (or continue) joint training; returns a summary (steps, last losses, validation history, outputs)."""
    from .diffusion.model import build_model, build_schedulers, ema_update, get_config, make_ema
    from .diffusion.train import _restore_rng, _rng_state, _save, _truncate_log
    from .progress import track
    from .segmentation.nnunet import ensure_torchvision
    from .diffusion.sample import resolve_checkpoint
    from .smile import SmileSpec, case_subject, generate

    ensure_torchvision()
    out = Path(config.out)
    ckpt_path = out / CHECKPOINT
    if ckpt_path.is_file() and not resume:
        raise InputError(out, "already holds a joint run; pass --resume to continue it, or choose another out")
    if resume and not ckpt_path.is_file():
        raise InputError(ckpt_path, "no checkpoint to resume from")
    gen_file = resolve_checkpoint(config.generator, "generator checkpoint")
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if ddp:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = dist.get_rank()
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            config.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    dev = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    source = torch.load(gen_file, map_location="cpu", weights_only=False)
    cfg = get_config(source["config"])
    bank = source["bank"]
    gen = build_model(cfg)
    gen.load_state_dict(source["ema"])  # start from the trained (EMA) weights
    gen.to(dev)
    ema = make_ema(gen)
    seg = load_segmenter(config.segmenter, config.fold, device=dev)
    with_mvo = "mvo" in seg.labels
    gen_opt = torch.optim.AdamW(gen.parameters(), lr=config.gen_lr or cfg["lr"] * 0.5, weight_decay=1e-4)
    seg_opt = make_segmenter_optimizer(seg, config.seg_lr)
    loss_fn = nnunet_loss(seg)
    np_rng = np.random.default_rng([config.seed, rank])
    torch_gen = torch.Generator().manual_seed(config.seed * 1000 + rank)
    ddpm, ddim = build_schedulers(cfg)
    step, history, best = 0, [], None
    if resume:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        gen.load_state_dict(state["generator"])
        ema.load_state_dict(state["ema"])
        seg.network.load_state_dict(state["segmenter"])
        gen_opt.load_state_dict(state["gen_opt"])
        seg_opt.load_state_dict(state["seg_opt"])
        step, history, best = int(state["step"]), state["history"], state["best"]
        _restore_rng(state["rng"], np_rng, torch_gen)
        _truncate_log(out / "log.csv", step, LOG_FIELDS)
        _truncate_log(out / "val.csv", step, VAL_FIELDS)
        history = [h for h in history if h["step"] <= step]

    # data: pathological slices for the generator; SMILE subjects of training cases for online synthesis; fixed
    # SMILE masks on held-out normal cases for validation
    pathological, normal = _cases(config.pathological, config.normal)
    order = np.random.default_rng(config.seed).permutation(len(normal))
    n_val = min(config.val_cases, max(len(normal) - 1, 0))
    val_cases = [normal[i] for i in order[:n_val]]
    train_normal = [normal[i] for i in order[n_val:]]
    gen_data = Batch.cat([b for b in (case_batch(c, cfg, only_scarred=True, with_mvo=with_mvo)
                                      for c in pathological) if len(b)])
    real_data = Batch.cat([b for b in (case_batch(c, cfg, with_mvo=with_mvo) for c in pathological + train_normal)
                           if len(b)])
    subjects = []
    for c in pathological + train_normal:
        subjects.append((c, case_subject(c)))
    val_rng = np.random.default_rng([config.seed, 7])
    val = []
    for c in val_cases:
        m = generate(val_rng, case_subject(c), SmileSpec())
        b = case_batch(c, cfg, m.scar, m.mvo, only_scarred=True, with_mvo=with_mvo)
        val.append(Batch(*(t.to(dev) for t in (getattr(b, f) for f in Batch.__dataclass_fields__))))

    net = gen
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(gen, device_ids=[dev.index] if dev.type == "cuda" else None)
        seg_net = DistributedDataParallel(seg, device_ids=[dev.index] if dev.type == "cuda" else None)
    else:
        seg_net = seg
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        write_json(out / "config.json", {**asdict(config), "diffusion_config": cfg,
                                         "pathological_cases": [c.case_id for c in pathological],
                                         "normal_training_cases": [c.case_id for c in train_normal],
                                         "validation_cases": [c.case_id for c in val_cases]})

    def to_dev(b: Batch) -> Batch:
        return Batch(*(getattr(b, f).to(dev) for f in Batch.__dataclass_fields__))

    def synthetic_batch(n: int, seed: int) -> tuple[torch.Tensor, Batch]:
        parts, have = [], 0
        while have < n:
            case, subject = subjects[int(np_rng.integers(len(subjects)))]
            m = generate(np_rng, subject, SmileSpec())
            b = case_batch(case, cfg, m.scar, m.mvo, only_scarred=True, with_mvo=with_mvo)
            if len(b):
                parts.append(b)
                have += len(b)
        b = to_dev(Batch.cat(parts).take(np_rng.permutation(have)[:n]))
        return paint(ema, cfg, bank, b, seed, config.ddim_steps, ddpm, ddim), b

    def save(path: Path = ckpt_path):
        if rank == 0:
            _save(path, {"generator": gen.state_dict(), "ema": ema.state_dict(), "segmenter": seg.network.state_dict(),
                         "gen_opt": gen_opt.state_dict(), "seg_opt": seg_opt.state_dict(), "step": step,
                         "total_steps": config.steps, "history": history, "best": best,
                         "rng": _rng_state(np_rng, torch_gen), "config": cfg, "bank": bank,
                         "joint": asdict(config)})

    def export(folder: Path):
        if rank != 0:
            return
        _save(folder / "generator" / "checkpoint.pt",
              {"config": cfg, "model": gen.state_dict(), "ema": ema.state_dict(), "optimizer": gen_opt.state_dict(),
               "step": step, "total_steps": config.steps, "rng": _rng_state(np_rng, torch_gen), "bank": bank,
               "preprocessing": source.get("preprocessing", {}), "joint": asdict(config)})
        export_segmenter(seg, folder / "segmenter")

    t0 = time.perf_counter()
    last = {}
    half = max(config.seg_batch // 2, 1)
    for _ in track(range(step, config.steps), stage="joint training"):
        idx = np_rng.integers(0, len(gen_data), config.batch)
        batch = to_dev(gen_data.take(idx))
        gen_opt.zero_grad(set_to_none=True)
        losses = generator_losses(net, seg, batch, ddpm, cfg, config.lam, torch_gen, cfg.get("p_uncond", 0.1))
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(gen.parameters(), 1.0)
        gen_opt.step()
        ema_update(ema, gen, cfg["ema"])
        step += 1
        row = {"step": step, "loss_diff": f"{float(losses['diff'].detach()):.5f}",
               "loss_seg": f"{float(losses['seg'].detach()):.5f}",
               "loss_segmenter": ""}
        if step % config.seg_every == 0:
            images, sb = synthetic_batch(config.seg_batch - half, seed=int(np_rng.integers(1 << 30)))
            rb = to_dev(real_data.take(np_rng.integers(0, len(real_data), half)))
            lr = poly_lr(config.seg_lr, step, config.steps)
            loss = segmenter_step(seg, seg_opt, loss_fn, torch.cat([images, rb.image]), Batch.cat([sb, rb]),
                                  cfg["spacing_mm"], lr, net=seg_net)
            row["loss_segmenter"] = f"{loss:.5f}"
        row["seconds"] = f"{time.perf_counter() - t0:.2f}"
        last = row
        if rank == 0:
            _append(out / "log.csv", LOG_FIELDS, row)
        if val and (step % config.val_every == 0 or step == config.steps):
            v = validate(ema, seg, cfg, bank, val, config.ddim_steps, ddpm, ddim)
            improved = best is None or v["segmentability"] > best["segmentability"]
            history.append({"step": step, **v})
            if improved:
                best = {"step": step, **v}
                export(out / "best")
            if rank == 0:
                _append(out / "val.csv", VAL_FIELDS, {"step": step, **{k: f"{x:.5f}" for k, x in v.items()},
                                                      "best": int(improved)})
            if on_round:
                on_round(step, v)
        if step % config.save_every == 0 or step == config.steps:
            save()
    export(out)
    if ddp:
        import torch.distributed as dist

        dist.destroy_process_group()
    return {"step": step, "last": last, "validation": history, "best": best, "seconds": time.perf_counter() - t0,
            "generator": str(out / "generator" / "checkpoint.pt"), "segmenter": str(out / "segmenter"),
            "rank": rank}
