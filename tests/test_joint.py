"""Joint training, CLAIM(J): real gradients from the segmenter into the generator, a learning segmenter, resumable
runs, usable outputs, and the headless entry points."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, claim_subprocess


@pytest.fixture(scope="session")
def normal_dir(tmp_path_factory):
    from CLAIMLib.phantom import generate_cohort, write_case

    out = tmp_path_factory.mktemp("normals")
    for p in generate_cohort(3, seed=91, normal_fraction=1.0):
        write_case(p, out)
    return out


@pytest.fixture(scope="session")
def parts(tiny_run, trained_seg, cohort_dir):
    """The tiny generator, the short nnU-Net segmenter, and a batch of pathological slices."""
    from CLAIMLib import joint
    from CLAIMLib.diffusion.model import build_schedulers, get_config
    from CLAIMLib.io import load_cases

    src = torch.load(tiny_run[0] / "checkpoint.pt", map_location="cpu", weights_only=False)
    cfg = get_config(src["config"])
    seg = joint.load_segmenter(trained_seg[0])
    cases = load_cases(cohort_dir)[:3]
    batch = joint.Batch.cat([joint.case_batch(c, cfg, only_scarred=True, with_mvo="mvo" in seg.labels)
                             for c in cases])
    return src, cfg, seg, batch.take(np.arange(6)), build_schedulers(cfg)


# A trainer of the user's whose network differs from the stock one: marked, so that the test sees which was built.
MARKED_TRAINER = """
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainerCLAIMMarked(nnUNetTrainer):
    @staticmethod
    def build_network_architecture(plans_manager, configuration_manager, num_input_channels, num_output_channels,
                                   enable_deep_supervision=True):
        network = nnUNetTrainer.build_network_architecture(plans_manager, configuration_manager, num_input_channels,
                                                           num_output_channels, enable_deep_supervision)
        network.claim_marked = (num_input_channels, num_output_channels, enable_deep_supervision)
        return network
"""


def test_load_segmenter_builds_the_models_own_trainer_network(trained_seg, tmp_path, monkeypatch):
    """The network comes from the trainer class the model names (found through nnUNet_extTrainer, CLAIM's trainers
    still found beside the user's folder), built without deep supervision, with the checkpoint's weights."""
    import shutil

    from CLAIMLib import joint
    from CLAIMLib.errors import InputError

    stock = trained_seg[0]
    model = tmp_path / "Dataset042_Phantoms" / "nnUNetTrainerCLAIMMarked__nnUNetPlans__2d"
    shutil.copytree(stock, model)
    ckpt_file = model / "fold_all" / "checkpoint_final.pth"
    ckpt = torch.load(ckpt_file, map_location="cpu", weights_only=False)
    ckpt["trainer_name"] = "nnUNetTrainerCLAIMMarked"
    torch.save(ckpt, ckpt_file)
    trainers = tmp_path / "trainers"
    trainers.mkdir()
    (trainers / "marked.py").write_text(MARKED_TRAINER)
    monkeypatch.delenv("nnUNet_extTrainer", raising=False)
    with pytest.raises(InputError) as e:  # the user's folder not named: a one-line error, not a stock network
        joint.load_segmenter(model)
    assert e.value.source == str(model) and "no nnU-Net trainer class 'nnUNetTrainerCLAIMMarked'" in e.value.problem
    monkeypatch.setenv("nnUNet_extTrainer", str(trainers))
    seg = joint.load_segmenter(model)
    ref = joint.load_segmenter(stock)
    assert seg.trainer == "nnUNetTrainerCLAIMMarked" and ref.trainer == "nnUNetTrainerCLAIMShort"
    assert seg.network.claim_marked == (1, len(seg.labels), False) and not hasattr(ref.network, "claim_marked")
    x = torch.randn(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    stats = torch.zeros(2), torch.ones(2)
    with torch.no_grad():
        assert torch.equal(seg.eval()(x, *stats), ref.eval()(x, *stats))
    with pytest.raises(InputError) as e:
        joint.load_segmenter(model, fold=0)
    assert "has no trained fold 0" in e.value.problem


def _generator(src, cfg):
    from CLAIMLib.diffusion.model import build_model

    gen = build_model(cfg)
    gen.load_state_dict(src["ema"])
    return gen


def test_segmenter_loss_reaches_the_generator(parts):
    from CLAIMLib import joint

    src, cfg, seg, batch, (ddpm, _) = parts
    norms = {}
    for lam in (0.5, 0.0):
        gen = _generator(src, cfg)
        losses = joint.generator_losses(gen, seg, batch, ddpm, cfg, lam, torch.Generator().manual_seed(0))
        params = list(gen.parameters())
        grads = torch.autograd.grad(losses["seg_term"], params, allow_unused=True, retain_graph=True)
        norms[lam] = sum(float(g.norm() ** 2) for g in grads if g is not None) ** 0.5
        assert float(losses["seg"].detach()) > 0
        # the whole generator step: the segmenter stays frozen in it
        opt = torch.optim.AdamW(gen.parameters(), 1e-3)
        before = [p.detach().clone() for p in params]
        losses["total"].backward()
        opt.step()
        assert all(p.grad is None for p in seg.parameters())
        assert any(not torch.equal(a, p) for a, p in zip(before, gen.parameters()))
    assert norms[0.5] > 1e-6 and norms[0.0] == 0.0, norms


def test_to_segmenter_keeps_the_physical_scale(parts):
    """A crop of S pixels at the generator's spacing covers the same millimetres on the segmenter's grid."""
    from CLAIMLib import joint

    _, cfg, seg, batch, _ = parts
    x = joint.to_segmenter(batch.labels, batch, cfg["spacing_mm"], seg, labels=True)
    assert x.shape[-1] % 32 == 0 and x.shape[-1] * seg.spacing_mm[0] >= batch.labels.shape[-1] * cfg["spacing_mm"]
    # myocardium area in mm^2 is preserved (nearest resampling: within a few percent)
    a0 = float((batch.labels >= 2).sum()) * cfg["spacing_mm"] ** 2
    a1 = float((x >= 2).sum()) * seg.spacing_mm[0] * seg.spacing_mm[1]
    assert abs(a1 - a0) / a0 < 0.05
    # intensities: the crop's normalisation is inverted (scanner units) before the segmenter's z-score
    img = joint.to_segmenter(batch.image, batch, cfg["spacing_mm"], seg)
    lo, hi = float(batch.lo.min()), float(batch.hi.max())
    assert lo - 1e-3 <= float(img.min()) and float(img.max()) <= hi + 1e-3


def test_segmenter_step_learns(parts):
    from CLAIMLib import joint

    src, cfg, seg0, batch, (ddpm, ddim) = parts
    seg = joint.load_segmenter(seg0.source)
    images = joint.paint(_generator(src, cfg), cfg, src["bank"], batch, 0, 5, ddpm, ddim)
    opt = joint.make_segmenter_optimizer(seg, 1e-3)
    loss_fn = joint.nnunet_loss(seg)
    before = [p.detach().clone() for p in seg.parameters()]
    losses = [joint.segmenter_step(seg, opt, loss_fn, images, batch, cfg["spacing_mm"], 1e-3) for _ in range(5)]
    assert any(not torch.equal(a, p) for a, p in zip(before, seg.parameters()))
    assert losses[-1] < losses[0], losses


def _config(path, tiny_run, trained_seg, cohort_dir, normal_dir, out, **extra):
    lines = [f'pathological = "{cohort_dir}"', f'normal = "{normal_dir}"', f'generator = "{tiny_run[0]}"',
             f'segmenter = "{trained_seg[0]}"', f'out = "{out}"', "batch = 4", "seg_batch = 4", "ddim_steps = 4",
             "val_cases = 1", "lambda = 0.5"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _claim(*args, **kw):
    return claim_subprocess(*args, popen=True, **kw)


def test_joint_run_killed_and_resumed(tiny_run, trained_seg, cohort_dir, normal_dir, tmp_path):
    """kill -9 at three random points, each time --resume: the run ends as an uninterrupted one (same steps, same
    validations, same files); the outputs load in claim's own readers."""
    from conftest import killed_and_resumed, run_files

    ref_cfg = _config(tmp_path / "ref.toml", tiny_run, trained_seg, cohort_dir, normal_dir, tmp_path / "ref", steps=8,
                      save_every=2, val_every=3)
    r = claim_subprocess("train-joint", "--config", ref_cfg, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    out = tmp_path / "joint"
    cfg = _config(tmp_path / "joint.toml", tiny_run, trained_seg, cohort_dir, normal_dir, out, steps=8,
                  save_every=2, val_every=3)
    final, points, seed = killed_and_resumed("train-joint", "--config", cfg, events=8)
    why = f"kills {points}, seed {seed}: {final.stderr[-2000:]}"
    assert final.returncode == 0, why
    ckpt = out / "checkpoint.pt"
    assert torch.load(ckpt, map_location="cpu", weights_only=False)["step"] == 8
    for run in (out, tmp_path / "ref"):
        steps = [int(row["step"]) for row in csv.DictReader((run / "log.csv").open())]
        assert steps == list(range(1, 9)), why
        val = list(csv.DictReader((run / "val.csv").open()))
        assert [int(v["step"]) for v in val] == [3, 6, 8] and all(0 <= float(v["segmentability"]) <= 1 for v in val)
    assert run_files(out) == run_files(tmp_path / "ref"), why
    assert claim_subprocess("train-joint", "--config", cfg, "--steps", 8).returncode == 2  # resume or overwrite
    # the outputs: a generator claim synthesize loads, an nnU-Net model folder claim segment loads
    from CLAIMLib.diffusion.sample import load
    from CLAIMLib.io import load_cases
    from CLAIMLib.segmentation.nnunet import Predictor

    assert load(out / "generator" / "checkpoint.pt", "cpu").config["name"] == "tiny"
    case = load_cases(normal_dir)[0]
    labels = Predictor(out / "segmenter", device="cpu").predict(case.image, case.geometry)
    assert labels.shape == case.image.shape
    assert (out / "best" / "segmenter" / "fold_all" / "checkpoint_final.pth").is_file()


def test_config_errors(tmp_path, run_claim, tiny_run, trained_seg, cohort_dir, normal_dir):
    bad = tmp_path / "bad.toml"
    bad.write_text('pathological = "x"\nweird = 1\n')
    code, _, err = run_claim("train-joint", "--config", bad)
    assert code == 2 and err.startswith(f"claim: error: {bad}: unknown setting 'weird'") and err.count("\n") == 1
    cfg = _config(tmp_path / "c.yaml", tiny_run, trained_seg, cohort_dir, normal_dir, tmp_path / "o")
    cfg.write_text(cfg.read_text().replace(" = ", ": "))
    cfg.write_text(cfg.read_text() + "lambda: -1\n")
    code, _, err = run_claim("train-joint", "--config", cfg)
    assert code == 2 and "lambda" in err and not (tmp_path / "o").exists()
    code, _, err = run_claim("train-joint", "--config", tmp_path / "missing.toml")
    assert code == 2 and "no such config file" in err
    # the segmenter: a trained nnU-Net model folder (ModelFolder's rule) with the config's fold
    not_model = tmp_path / "not_a_model"
    not_model.mkdir()
    cfg = _config(tmp_path / "s.toml", tiny_run, (not_model,), cohort_dir, normal_dir, tmp_path / "o")
    code, _, err = run_claim("train-joint", "--config", cfg)
    assert code == 2 and err.startswith(f"claim: error: {not_model}: is not a trained nnU-Net model folder (no "
                                        f"plans.json) (the segmenter of s.toml)"), err
    cfg = _config(tmp_path / "f.toml", tiny_run, trained_seg, cohort_dir, normal_dir, tmp_path / "o", fold=3)
    code, _, err = run_claim("train-joint", "--config", cfg)
    assert code == 2 and err.startswith(f"claim: error: {trained_seg[0]}: has no trained fold 3"), err
    assert not (tmp_path / "o").exists()


def test_joint_device_error(tmp_path, run_claim, tiny_run, trained_seg, cohort_dir, normal_dir, monkeypatch):
    """A config asking for CUDA on a machine without it: a one-line error naming the setting."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = _config(tmp_path / "c.toml", tiny_run, trained_seg, cohort_dir, normal_dir, tmp_path / "o",
                  device='"cuda"')
    code, _, err = run_claim("train-joint", "--config", cfg)
    assert code == 2 and err.startswith("claim: error: device: CUDA is not available on this machine"), err


def test_slicer_script_exit_status(tmp_path):
    """Resources/train_joint.py (what Slicer runs with --python-script) passes claim's exit status on."""
    script = REPO / "CLAIM" / "Resources" / "train_joint.py"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the script finds CLAIMLib itself
    r = subprocess.run([sys.executable, str(script), "--", "--config", str(tmp_path / "none.toml")],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "no such config file" in r.stderr and "Traceback" not in r.stderr
