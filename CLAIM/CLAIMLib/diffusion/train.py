"""Training the lesion-focused generator.

- data: crops of the slices that hold scar, from the pathological cases of a folder (any case layout);
- loss: the noise-prediction error inside the scar, normalised by the scar's size, plus the same inside the MVO
  (LeFusion's multi-class idea: the no-reflow texture gets a term of its own);
- AdamW with a short warm-up, EMA weights (used at inference), gradient accumulation, bf16 autocast on a GPU,
  ``torchrun`` DDP when WORLD_SIZE > 1;
- a progress bar, ``log.csv``, and a PNG grid of DDIM samples at intervals;
- ``checkpoint.pt`` written atomically: model, EMA, optimiser, step, all RNG states, the config, the preprocessing
  and a bank of real scar histograms. ``resume=True`` continues a run (after kill -9 too) from its last checkpoint.
"""
from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..devices import resolve_device
from ..errors import InputError
from ..io import atomic_path, discover_cases, load_case, write_json
from ..progress import track
from .data import Slices, case_slices, concat, lesion_measures, random_flips
from .model import build_model, build_schedulers, count_parameters, ema_update, get_config, make_ema

CHECKPOINT = "checkpoint.pt"
LOG_FIELDS = ("step", "loss", "lr", "seconds")


def training_slices(data_dir, config: dict) -> Slices:
    """Scarred slices of every pathological case under ``data_dir``."""
    parts = []
    for files in discover_cases(data_dir):
        if files.image is None or files.labels is None:
            continue
        case = load_case(files)
        if case.volume_ml("scar") <= 0:
            continue
        parts.append(case_slices(case, config["size"], config["spacing_mm"], only_scarred=True))
    parts = [p for p in parts if len(p.crops)]
    if not parts:
        raise InputError(data_dir, "holds no case with an image and a scar to train on")
    return concat(parts)


def histogram_bank(data: Slices) -> dict:
    ok = ~np.isnan(data.hist).any(axis=1)
    lesion = (data.scar + data.mvo) > 0
    stds = [float(img[m].std()) for img, m in zip(data.image, lesion) if m.sum() > 3]
    measures = [lesion_measures(img, sc, myo) for img, sc, myo in zip(data.image, data.scar, data.myocardium)]
    ratios = [b for b, _ in measures if b is not None]
    rough = [t for _, t in measures if t is not None]
    span = lambda v: np.percentile(v, [1, 99]).tolist() if v else None  # noqa: E731
    return {"hist": data.hist[ok].tolist(), "scar_std_norm": float(np.mean(stds)) if stds else 0.15,
            "scar_minus_remote_norm": float(np.mean(ratios)) if ratios else 0.0,
            # the quality gate's ranges (fidelity.training_range): brightness over remote, and texture
            "scar_minus_remote_range_norm": span(ratios), "scar_roughness_range_norm": span(rough)}


def lesion_loss(eps, noise, scar, mvo):
    """The noise-prediction error inside the scar and inside the MVO, each normalised by its size, batch mean."""
    err = (eps.float() - noise) ** 2
    per = []
    for m in (scar, mvo):
        n = m.sum(dim=(1, 2, 3))
        term = (err * m).sum(dim=(1, 2, 3)) / n.clamp(min=1)
        per.append(torch.where(n > 0, term, torch.zeros_like(term)))
    return (per[0] + per[1]).mean()


def save_checkpoint(path: Path, obj: dict) -> None:
    """``torch.save`` written atomically (a killed run leaves the previous checkpoint whole)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def rng_state(np_rng, torch_gen) -> dict:
    """Every random stream of a run (its numpy and torch generators, torch's global and CUDA states)."""
    state = {"numpy": np_rng.bit_generator.state, "torch_gen": torch_gen.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict, np_rng, torch_gen) -> None:
    """The streams of ``rng_state`` back in place."""
    np_rng.bit_generator.state = state["numpy"]
    torch_gen.set_state(state["torch_gen"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def truncate_log(path: Path, step: int, fields=LOG_FIELDS) -> None:
    """Drop log rows past the checkpoint (a killed run logged them): the resumed curve continues from there."""
    if not path.is_file():
        return
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


# ------------------------------------------------------------------------------------------------ a training run
def _open_run(out: Path, config, resume: bool) -> tuple[dict, dict | None]:
    """(config, checkpoint state): the run's own config and state when resuming, else ``config`` and None."""
    ckpt_path = out / CHECKPOINT
    if resume and ckpt_path.is_file():  # (without one, the run was stopped before its first: it starts again)
        try:
            state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
            return get_config(state["config"]), state
        except Exception as e:  # a truncated or foreign file
            raise InputError(ckpt_path, f"cannot be read as a CLAIM training checkpoint "
                                        f"({type(e).__name__}: {e})") from None
    if ckpt_path.is_file():
        raise InputError(out, "already holds a run; pass --resume to continue it, or choose another --out")
    return get_config(config), None


def _start_ddp(device):
    """(rank, device): torchrun's process group (each rank on its own GPU when there are GPUs)."""
    import torch.distributed as dist

    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    return rank, device


@dataclass
class _Run:
    """A training run between steps: data, model, EMA, optimiser, random streams, progress."""

    cfg: dict
    out: Path
    steps: int
    batch: int
    accumulate: int
    rank: int
    dev: torch.device
    data: Slices
    bank: dict
    model: torch.nn.Module
    ema: torch.nn.Module
    opt: torch.optim.Optimizer
    np_rng: np.random.Generator
    torch_gen: torch.Generator
    step: int = 0
    net: torch.nn.Module | None = None
    ddpm: object = None
    warmup: int = 50

    def checkpoint(self) -> None:
        """``checkpoint.pt`` (rank 0): everything ``resume`` needs, and what sampling needs."""
        if self.rank != 0:
            return
        cfg = self.cfg
        save_checkpoint(self.out / CHECKPOINT, {
            "config": cfg, "model": self.model.state_dict(), "ema": self.ema.state_dict(),
            "optimizer": self.opt.state_dict(), "step": self.step, "total_steps": self.steps,
            "rng": rng_state(self.np_rng, self.torch_gen), "bank": self.bank,
            "preprocessing": {"size": cfg["size"], "spacing_mm": cfg["spacing_mm"], "percentiles": [1.0, 99.5]}})


def _build(cfg: dict, state: dict | None, data_dir, out: Path, steps: int, batch: int, accumulate: int, seed: int,
           rank: int, ddp: bool, dev: torch.device) -> _Run:
    """The data, the model and its EMA and optimiser, the random streams; a resumed run's state put back."""
    data = training_slices(data_dir, cfg)
    bank = state["bank"] if state else histogram_bank(data)
    model = build_model(cfg).to(dev)
    ema = make_ema(model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=1e-4)
    run = _Run(cfg, out, steps, batch, accumulate, rank, dev, data, bank, model, ema, opt,
               np.random.default_rng([seed, rank]), torch.Generator().manual_seed(seed * 1000 + rank))
    if state:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        run.step = int(state["step"])
        restore_rng(state["rng"], run.np_rng, run.torch_gen)
        truncate_log(out / "log.csv", run.step)
    else:  # a run stopped before its first checkpoint logged steps that are made again
        truncate_log(out / "log.csv", 0)
    run.net = model
    if ddp:
        from torch.nn.parallel import DistributedDataParallel

        run.net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    run.ddpm, _ = build_schedulers(cfg)
    return run


def _train_step(run: _Run, autocast) -> tuple[float, float]:
    """One optimiser step (``accumulate`` batches); (loss, learning rate)."""
    cfg, data, batch, dev = run.cfg, run.data, run.batch, run.dev
    lr = cfg["lr"] * min(1.0, (run.step + 1) / run.warmup)
    for group in run.opt.param_groups:
        group["lr"] = lr
    run.opt.zero_grad(set_to_none=True)
    total = 0.0
    for _ in range(run.accumulate):
        idx = run.np_rng.integers(0, len(data.crops), batch)
        img, sc, mv = random_flips(run.np_rng, data.image[idx], data.scar[idx], data.mvo[idx])
        hist = data.hist[idx].copy()
        hist[run.np_rng.random(batch) < cfg["p_uncond"]] = np.nan
        x0 = torch.from_numpy(img)[:, None].to(dev)
        scar = torch.from_numpy(sc)[:, None].to(dev)
        mvo = torch.from_numpy(mv)[:, None].to(dev)
        noise = torch.randn(x0.shape, generator=run.torch_gen).to(dev)
        t = torch.randint(0, int(cfg["timesteps"]), (batch,), generator=run.torch_gen).to(dev)
        x_t = run.ddpm.add_noise(x0, noise, t)
        background = x0 * (1 - torch.clamp(scar + mvo, 0, 1))
        with autocast:
            eps = run.net(x_t, t, scar, mvo, background, torch.from_numpy(hist).to(dev))
        loss = lesion_loss(eps, noise, scar, mvo) / run.accumulate
        loss.backward()
        total += float(loss.detach())
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 1.0)
    run.opt.step()
    ema_update(run.ema, run.model, cfg["ema"] if run.step >= run.warmup else 0.0)
    run.step += 1
    return total, lr


def _loop(run: _Run, save_every: int, sample_every: int, log_every: int) -> float:
    """The steps from the run's step to its total, with logging, checkpoints and sample grids; the last loss."""
    out, rank = run.out, run.rank
    if rank == 0:
        write_json(out / "config.json", {**run.cfg, "steps": run.steps, "batch": run.batch,
                                         "accumulate": run.accumulate, "parameters": count_parameters(run.model),
                                         "training_slices": len(run.data.crops),
                                         "cases": sorted(set(run.data.case_ids))})
    log = (out / "log.csv").open("a", newline="") if rank == 0 else None
    writer = csv.DictWriter(log, fieldnames=LOG_FIELDS) if log else None
    if writer and log.tell() == 0:
        writer.writeheader()
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if run.dev.type == "cuda"
                else torch.autocast("cpu", enabled=False))
    t0 = time.perf_counter()
    loss = float("nan")
    for _ in track(range(run.step, run.steps), stage="training"):
        loss, lr = _train_step(run, autocast)
        step = run.step
        if writer and (step % log_every == 0 or step == run.steps):
            writer.writerow({"step": step, "loss": f"{loss:.6f}", "lr": f"{lr:.3g}",
                             "seconds": f"{time.perf_counter() - t0:.2f}"})
            log.flush()
        if step % save_every == 0 or step == run.steps:
            run.checkpoint()
        if rank == 0 and sample_every and (step % sample_every == 0 or step == run.steps):
            sample_grid(run.ema, run.cfg, run.data, run.bank, out / f"samples_{step:07d}.png", run.dev)
    if log:
        log.close()
    return loss


def train(data_dir, out_dir, config="tiny", steps: int | None = None, batch: int | None = None,
          resume: bool = False, seed: int = 0, accumulate: int = 1, device: str | None = None,
          save_every: int | None = None, sample_every: int | None = None, log_every: int = 10) -> dict:
    """Train (or with ``resume`` continue) a generator in ``out_dir``; returns a summary (step, last loss, seconds,
    training slices, checkpoint, rank)."""
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT
    cfg, state = _open_run(out, config, resume)
    steps = int(steps if steps is not None else (state["total_steps"] if state else 1000))
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0")) if ddp else 0
    if state and int(state["step"]) >= steps:  # a finished run: nothing to load or train
        return {"step": int(state["step"]), "loss": float("nan"), "seconds": 0.0, "slices": 0,
                "checkpoint": str(ckpt_path), "rank": rank}
    if ddp:
        rank, device = _start_ddp(device)
    dev = resolve_device(device)
    batch = int(batch or cfg["batch"])
    save_every = int(save_every or cfg["save_every"])
    sample_every = int(sample_every if sample_every is not None else cfg["sample_every"])
    run = _build(cfg, state, data_dir, out, steps, batch, accumulate, seed, rank, ddp, dev)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    loss = _loop(run, save_every, sample_every, log_every)
    if ddp:
        import torch.distributed as dist

        dist.destroy_process_group()
    return {"step": run.step, "loss": loss, "seconds": time.perf_counter() - t0, "slices": len(run.data.crops),
            "checkpoint": str(ckpt_path), "rank": rank}


def sample_grid(ema, cfg, data: Slices, bank: dict, path: Path, device, count: int = 4) -> None:
    """Real slice, mask and a 20-step DDIM inpainting for a few training slices."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .sample import Bundle, sample_ddim

    ddpm, ddim = build_schedulers(cfg)
    bundle = Bundle(ema.eval(), cfg, ddpm, ddim, np.asarray(bank["hist"], np.float32), bank, torch.device(device))
    idx = np.linspace(0, len(data.crops) - 1, min(count, len(data.crops))).astype(int)
    gen = sample_ddim(bundle, data.image[idx], data.scar[idx], data.mvo[idx], data.hist[idx], seed=0, steps=20)
    ema.train()
    fig, axes = plt.subplots(3, len(idx), figsize=(2.2 * len(idx), 6.6), squeeze=False)
    for c, i in enumerate(idx):
        for r, (img, title) in enumerate(((data.image[i], "real"), (data.scar[i] + 2 * data.mvo[i], "mask"),
                                          (gen[c], "generated"))):
            axes[r, c].imshow(img, cmap="gray", vmin=-1 if r != 1 else 0, vmax=1 if r != 1 else 2)
            axes[r, c].set_title(title, fontsize=7)
            axes[r, c].axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
