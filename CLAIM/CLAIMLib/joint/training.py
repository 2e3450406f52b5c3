"""Joint training's run, CLAIM(J): the segmenter's loss trains the generator, and the generator's images train the
segmenter.

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
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..devices import resolve_device
from ..errors import InputError
from ..io import discover_cases, load_case, write_json
from .batch import Batch, case_batch
from .config import JointConfig
from .segmenter import (Segmenter, export_segmenter, load_segmenter, make_segmenter_optimizer, nnunet_loss, poly_lr,
                        segmenter_step)
from .steps import generator_losses, paint, validate

CHECKPOINT = "checkpoint.pt"
LOG_FIELDS = ("step", "loss_diff", "loss_seg", "loss_segmenter", "seconds")
VAL_FIELDS = ("step", "segmentability", "histogram_distance", "best")


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


@dataclass
class JointRun:
    """What a joint run holds between steps: both models and their optimisers, the random streams, the progress."""

    config: JointConfig
    out: Path
    rank: int
    ddp: bool
    device: torch.device
    source: dict  # the generator checkpoint the run started from
    cfg: dict  # the generator's diffusion config
    gen: nn.Module
    ema: nn.Module
    seg: Segmenter
    gen_opt: torch.optim.Optimizer
    seg_opt: torch.optim.Optimizer
    loss_fn: object
    np_rng: np.random.Generator
    torch_gen: torch.Generator
    ddpm: object
    ddim: object
    step: int = 0
    history: list = field(default_factory=list)
    best: dict | None = None

    @property
    def bank(self) -> dict:
        return self.source["bank"]

    @property
    def with_mvo(self) -> bool:
        return self.seg.has_mvo


@dataclass
class JointData:
    """The run's slices: pathological ones for the generator, real ones and SMILE subjects for the segmenter's
    batches, fixed SMILE masks on held-out normal cases for validation."""

    pathological: list
    train_normal: list
    val_cases: list
    gen_data: Batch
    real_data: Batch
    subjects: list
    val: list


# ------------------------------------------------------------------------------------------------ setting up
def _check_out(config: JointConfig, resume: bool) -> Path:
    """The run's checkpoint file: absent for a new run; for ``resume``, present, or absent when the run was stopped
    before its first checkpoint (it starts again)."""
    out = Path(config.out)
    ckpt_path = out / CHECKPOINT
    if ckpt_path.is_file() and not resume:
        raise InputError(out, "already holds a joint run; pass --resume to continue it, or choose another out")
    return ckpt_path


def _start_ddp(config: JointConfig) -> tuple[bool, int]:
    """(ddp, rank): torchrun's process group when WORLD_SIZE > 1 (each rank on its own GPU when there are GPUs)."""
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = 0
    if ddp:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = dist.get_rank()
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            config.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return ddp, rank


def _build(config: JointConfig, gen_file: Path, dev: torch.device, ddp: bool, rank: int) -> JointRun:
    """The generator (from its trained EMA weights), the segmenter, their optimisers and the random streams."""
    from ..diffusion.model import build_model, build_schedulers, get_config, make_ema

    source = torch.load(gen_file, map_location="cpu", weights_only=False)
    cfg = get_config(source["config"])
    gen = build_model(cfg)
    gen.load_state_dict(source["ema"])  # start from the trained (EMA) weights
    gen.to(dev)
    ema = make_ema(gen)
    seg = load_segmenter(config.segmenter, config.fold, device=dev)
    gen_opt = torch.optim.AdamW(gen.parameters(), lr=config.gen_lr or cfg["lr"] * 0.5, weight_decay=1e-4)
    seg_opt = make_segmenter_optimizer(seg, config.seg_lr)
    loss_fn = nnunet_loss(seg)
    np_rng = np.random.default_rng([config.seed, rank])
    torch_gen = torch.Generator().manual_seed(config.seed * 1000 + rank)
    ddpm, ddim = build_schedulers(cfg)
    return JointRun(config, Path(config.out), rank, ddp, dev, source, cfg, gen, ema, seg, gen_opt, seg_opt, loss_fn,
                    np_rng, torch_gen, ddpm, ddim)


def _resume(run: JointRun, ckpt_path: Path) -> None:
    """Models, optimisers, progress and RNG states from the run's checkpoint; log rows past it dropped."""
    from ..diffusion.train import restore_rng, truncate_log

    try:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file
        raise InputError(ckpt_path, f"cannot be read as a joint training checkpoint ({type(e).__name__}: {e})") \
            from None
    run.gen.load_state_dict(state["generator"])
    run.ema.load_state_dict(state["ema"])
    run.seg.network.load_state_dict(state["segmenter"])
    run.gen_opt.load_state_dict(state["gen_opt"])
    run.seg_opt.load_state_dict(state["seg_opt"])
    run.step, run.history, run.best = int(state["step"]), state["history"], state["best"]
    restore_rng(state["rng"], run.np_rng, run.torch_gen)
    truncate_log(run.out / "log.csv", run.step, LOG_FIELDS)
    truncate_log(run.out / "val.csv", run.step, VAL_FIELDS)
    run.history = [h for h in run.history if h["step"] <= run.step]


def _data(run: JointRun) -> JointData:
    """Pathological slices for the generator; SMILE subjects of the training cases for online synthesis; fixed SMILE
    masks on held-out normal cases for validation (the split and the masks depend on the seed only)."""
    from ..smile import SmileSpec, case_subject, generate

    config, cfg, with_mvo = run.config, run.cfg, run.with_mvo
    pathological, normal = _cases(config.pathological, config.normal)
    order = np.random.default_rng(config.seed).permutation(len(normal))
    n_val = min(config.val_cases, max(len(normal) - 1, 0))
    val_cases = [normal[i] for i in order[:n_val]]
    train_normal = [normal[i] for i in order[n_val:]]
    gen_data = Batch.cat([b for b in (case_batch(c, cfg, only_scarred=True, with_mvo=with_mvo)
                                      for c in pathological) if len(b)])
    real_data = Batch.cat([b for b in (case_batch(c, cfg, with_mvo=with_mvo) for c in pathological + train_normal)
                           if len(b)])
    subjects = [(c, case_subject(c)) for c in pathological + train_normal]
    val_rng = np.random.default_rng([config.seed, 7])
    val = []
    for c in val_cases:
        m = generate(val_rng, case_subject(c), SmileSpec())
        val.append(case_batch(c, cfg, m.scar, m.mvo, only_scarred=True, with_mvo=with_mvo).to(run.device))
    return JointData(pathological, train_normal, val_cases, gen_data, real_data, subjects, val)


def _parallel(run: JointRun) -> tuple[nn.Module, nn.Module]:
    """The generator and the segmenter as the steps call them: wrapped for DDP, or as they are."""
    if not run.ddp:
        return run.gen, run.seg
    from torch.nn.parallel import DistributedDataParallel

    ids = [run.device.index] if run.device.type == "cuda" else None
    return DistributedDataParallel(run.gen, device_ids=ids), DistributedDataParallel(run.seg, device_ids=ids)


def _write_run_config(run: JointRun, data: JointData) -> None:
    run.out.mkdir(parents=True, exist_ok=True)
    if run.rank == 0:
        write_json(run.out / "config.json", {**asdict(run.config), "diffusion_config": run.cfg,
                                             "pathological_cases": [c.case_id for c in data.pathological],
                                             "normal_training_cases": [c.case_id for c in data.train_normal],
                                             "validation_cases": [c.case_id for c in data.val_cases]})


# ------------------------------------------------------------------------------------------------ saving
def _save(run: JointRun, path: Path) -> None:
    """Everything the run holds, for ``--resume`` (rank 0; atomic)."""
    from ..diffusion.train import rng_state, save_checkpoint

    if run.rank == 0:
        save_checkpoint(path, {"generator": run.gen.state_dict(), "ema": run.ema.state_dict(),
                               "segmenter": run.seg.network.state_dict(), "gen_opt": run.gen_opt.state_dict(),
                               "seg_opt": run.seg_opt.state_dict(), "step": run.step,
                               "total_steps": run.config.steps, "history": run.history, "best": run.best,
                               "rng": rng_state(run.np_rng, run.torch_gen), "config": run.cfg, "bank": run.bank,
                               "joint": asdict(run.config)})


def _export(run: JointRun, folder: Path) -> None:
    """``folder/generator/checkpoint.pt`` (for claim synthesize) and ``folder/segmenter/`` (an nnU-Net model)."""
    from ..diffusion.train import rng_state, save_checkpoint

    if run.rank != 0:
        return
    save_checkpoint(folder / "generator" / "checkpoint.pt",
                    {"config": run.cfg, "model": run.gen.state_dict(), "ema": run.ema.state_dict(),
                     "optimizer": run.gen_opt.state_dict(), "step": run.step, "total_steps": run.config.steps,
                     "rng": rng_state(run.np_rng, run.torch_gen), "bank": run.bank,
                     "preprocessing": run.source.get("preprocessing", {}), "joint": asdict(run.config)})
    export_segmenter(run.seg, folder / "segmenter")


# ------------------------------------------------------------------------------------------------ steps
def _generator_step(run: JointRun, data: JointData, net: nn.Module) -> dict:
    """One generator step on a batch of pathological slices; its losses (tensors)."""
    from ..diffusion.model import ema_update

    config = run.config
    idx = run.np_rng.integers(0, len(data.gen_data), config.batch)
    batch = data.gen_data.take(idx).to(run.device)
    run.gen_opt.zero_grad(set_to_none=True)
    losses = generator_losses(net, run.seg, batch, run.ddpm, run.cfg, config.lam, run.torch_gen,
                              run.cfg.get("p_uncond", 0.1))
    losses["total"].backward()
    torch.nn.utils.clip_grad_norm_(run.gen.parameters(), 1.0)
    run.gen_opt.step()
    ema_update(run.ema, run.gen, run.cfg["ema"])
    return losses


def _synthetic_batch(run: JointRun, data: JointData, n: int, seed: int) -> tuple[torch.Tensor, Batch]:
    """``n`` slices of fresh SMILE masks on random training cases, painted by the EMA generator (detached)."""
    from ..smile import SmileSpec, generate

    parts, have = [], 0
    while have < n:
        case, subject = data.subjects[int(run.np_rng.integers(len(data.subjects)))]
        m = generate(run.np_rng, subject, SmileSpec())
        b = case_batch(case, run.cfg, m.scar, m.mvo, only_scarred=True, with_mvo=run.with_mvo)
        if len(b):
            parts.append(b)
            have += len(b)
    b = Batch.cat(parts).take(run.np_rng.permutation(have)[:n]).to(run.device)
    return paint(run.ema, run.cfg, run.bank, b, seed, run.config.ddim_steps, run.ddpm, run.ddim), b


def _segmenter_round(run: JointRun, data: JointData, seg_net: nn.Module) -> float:
    """One segmenter step on half online-synthetic, half real slices; its loss."""
    config = run.config
    half = max(config.seg_batch // 2, 1)
    images, sb = _synthetic_batch(run, data, config.seg_batch - half, seed=int(run.np_rng.integers(1 << 30)))
    rb = data.real_data.take(run.np_rng.integers(0, len(data.real_data), half)).to(run.device)
    lr = poly_lr(config.seg_lr, run.step, config.steps)
    return segmenter_step(run.seg, run.seg_opt, run.loss_fn, torch.cat([images, rb.image]), Batch.cat([sb, rb]),
                          run.cfg["spacing_mm"], lr, net=seg_net)


def _validation_round(run: JointRun, data: JointData, on_round) -> None:
    """Validate; keep the best round's models in ``best/``; log to ``val.csv``; tell ``on_round``."""
    v = validate(run.ema, run.seg, run.cfg, run.bank, data.val, run.config.ddim_steps, run.ddpm, run.ddim)
    improved = run.best is None or v["segmentability"] > run.best["segmentability"]
    run.history.append({"step": run.step, **v})
    if improved:
        run.best = {"step": run.step, **v}
        _export(run, run.out / "best")
    if run.rank == 0:
        _append(run.out / "val.csv", VAL_FIELDS, {"step": run.step, **{k: f"{x:.5f}" for k, x in v.items()},
                                                  "best": int(improved)})
    if on_round:
        on_round(run.step, v)


def _train(run: JointRun, data: JointData, on_round, t0: float) -> dict:
    """The steps from the run's step to the config's; the last log row."""
    from ..progress import track

    config = run.config
    net, seg_net = _parallel(run)
    last = {}
    for _ in track(range(run.step, config.steps), stage="joint training"):
        losses = _generator_step(run, data, net)
        run.step += 1
        row = {"step": run.step, "loss_diff": f"{float(losses['diff'].detach()):.5f}",
               "loss_seg": f"{float(losses['seg'].detach()):.5f}", "loss_segmenter": ""}
        if run.step % config.seg_every == 0:
            row["loss_segmenter"] = f"{_segmenter_round(run, data, seg_net):.5f}"
        row["seconds"] = f"{time.perf_counter() - t0:.2f}"
        last = row
        if run.rank == 0:
            _append(run.out / "log.csv", LOG_FIELDS, row)
        if data.val and (run.step % config.val_every == 0 or run.step == config.steps):
            _validation_round(run, data, on_round)
        if run.step % config.save_every == 0 or run.step == config.steps:
            _save(run, run.out / CHECKPOINT)
    return last


def train_joint(config: JointConfig, resume: bool = False, on_round=None) -> dict:
    """Run (or continue) joint training; returns a summary (steps, last losses, validation history, outputs)."""
    from ..diffusion.sample import resolve_checkpoint
    from ..segmentation.nnunet import ensure_torchvision

    ensure_torchvision()
    ckpt_path = _check_out(config, resume)
    gen_file = resolve_checkpoint(config.generator, "generator checkpoint")
    ddp, rank = _start_ddp(config)
    run = _build(config, gen_file, resolve_device(config.device, source="device"), ddp, rank)
    if resume and ckpt_path.is_file():
        _resume(run, ckpt_path)
    else:  # a run stopped before its first checkpoint logged steps that are made again
        from ..diffusion.train import truncate_log

        truncate_log(run.out / "log.csv", 0, LOG_FIELDS)
        truncate_log(run.out / "val.csv", 0, VAL_FIELDS)
    data = _data(run)
    _write_run_config(run, data)
    t0 = time.perf_counter()
    last = _train(run, data, on_round, t0)
    _export(run, run.out)
    if ddp:
        import torch.distributed as dist

        dist.destroy_process_group()
    out = run.out
    return {"step": run.step, "last": last, "validation": run.history, "best": run.best,
            "seconds": time.perf_counter() - t0, "generator": str(out / "generator" / "checkpoint.pt"),
            "segmenter": str(out / "segmenter"), "rank": rank}
