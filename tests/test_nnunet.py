"""nnU-Net v2 datasets from CLAIM cases: layout, labels, and stock nnU-Net's integrity check."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from CLAIMLib.io import load_cases, read_volume
from CLAIMLib.segmentation.nnunet import TRAINERS, export_dataset, nnunet_environment
from conftest import TRAIN_OUTPUT, claim_env, claim_subprocess, export_and_train

# A user's own trainer, kept in a folder of their own: CLAIM's short schedule cut to one epoch of two iterations.
USER_TRAINER = """
from CLAIMLib.segmentation.trainers.nnUNetTrainerCLAIMShort import nnUNetTrainerCLAIMShort


class nnUNetTrainerUserTiny(nnUNetTrainerCLAIMShort):
    EPOCHS, ITERATIONS, VAL_ITERATIONS = 1, 2, 1
"""


def test_environment_keeps_the_users_settings(tmp_path, monkeypatch):
    """nnUNet_extTrainer is a list of folders (os.pathsep): CLAIM's trainers go first, the user's stay; a user's
    nnUNet_def_n_proc is kept. Both come back as they were afterwards."""
    user = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    monkeypatch.setenv("nnUNet_extTrainer", user)
    monkeypatch.setenv("nnUNet_def_n_proc", "3")
    with nnunet_environment(tmp_path) as env:
        assert os.environ["nnUNet_extTrainer"] == env["nnUNet_extTrainer"] == os.pathsep.join([str(TRAINERS), user])
        assert os.environ["nnUNet_def_n_proc"] == "3"
        assert os.environ["nnUNet_results"] == str(tmp_path / "nnUNet_results")
    assert os.environ["nnUNet_extTrainer"] == user and os.environ["nnUNet_def_n_proc"] == "3"
    monkeypatch.delenv("nnUNet_extTrainer")
    monkeypatch.delenv("nnUNet_def_n_proc")
    with nnunet_environment(tmp_path):
        assert os.environ["nnUNet_extTrainer"] == str(TRAINERS)
        assert os.environ["nnUNet_def_n_proc"] == str(os.cpu_count() or 1)
    assert "nnUNet_extTrainer" not in os.environ and "nnUNet_def_n_proc" not in os.environ
    monkeypatch.setenv("nnUNet_extTrainer", os.pathsep.join([str(TRAINERS), user]))  # already there: once
    with nnunet_environment(tmp_path):
        assert os.environ["nnUNet_extTrainer"] == os.pathsep.join([str(TRAINERS), user])


def test_train_seg_with_a_users_trainer_folder(trained_seg, tmp_path):
    """A trainer in the user's own nnUNet_extTrainer folder trains through claim train-seg (CLAIM's trainers are
    found too: the user's trainer derives from one), and its model loads by ModelFolder's rule."""
    import torch

    from CLAIMLib.segmentation import ModelFolder

    root = trained_seg[0].parents[2]  # dataset 42, already planned and preprocessed
    trainers = tmp_path / "my trainers"
    trainers.mkdir()
    (trainers / "user_tiny.py").write_text(USER_TRAINER)
    r = claim_subprocess("train-seg", "--dataset", 42, "--root", root, "--fold", "all",
                         "--trainer", "nnUNetTrainerUserTiny", "--device", "cpu",
                         env=claim_env(nnUNet_extTrainer=str(trainers), CLAIM_PROGRESS="json"), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # the JSON progress lines (for Slicer) carry the training stage with its epoch, loss, pseudo-Dice and ETA
    lines = r.stdout.splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(events) == len(lines) - 2 and lines[-1] == f"nnU-Net's log: {root / 'nnunet.log'}"
    last = events[-1]
    assert last["stage"] == "training nnU-Net" and last["progress"] == 1.0 and last["epoch"] == 1
    assert {"loss", "pseudo_dice", "eta_s"} <= set(last) and r.stderr == ""
    model = ModelFolder(root / "nnUNet_results" / "Dataset042_Phantoms" / "nnUNetTrainerUserTiny__nnUNetPlans__2d")
    assert (model.trainer, model.configuration, model.folds) == ("nnUNetTrainerUserTiny", "2d", ["all"])
    ckpt = torch.load(model.checkpoint_path("all"), map_location="cpu", weights_only=False)
    assert ckpt["trainer_name"] == "nnUNetTrainerUserTiny" and ckpt["current_epoch"] == 1
    # without the user's folder, the same command cannot find the trainer
    r = claim_subprocess("train-seg", "--dataset", 42, "--root", root, "--fold", "all",
                         "--trainer", "nnUNetTrainerUserTiny", "--device", "cpu", timeout=900)
    assert r.returncode == 2 and r.stderr.startswith("claim: error: --trainer: no nnU-Net trainer class "
                                                     "'nnUNetTrainerUserTiny'"), r.stderr[-3000:]


def test_train_seg_prints_no_nnunet_dump_and_logs_it_all(trained_seg):
    """claim train-seg (export, planning and preprocessing, training) leaves nnU-Net's configuration dumps and
    epoch lines in the run folder's nnunet.log; the terminal (captured: no TTY, so no bars) gets two lines."""
    stdout, stderr = TRAIN_OUTPUT[42]
    terminal = stdout.splitlines() + stderr.splitlines()
    assert len(terminal) == 2, terminal
    assert terminal[0].startswith("trained nnUNetTrainerCLAIMShort 2d fold all: ")
    log = (trained_seg[0].parents[2] / "nnunet.log").read_text()
    for dump in ("patch_size", "Epoch 2", "Pseudo dice", "Extracting dataset fingerprint", "Preprocessing cases"):
        assert dump in log and dump not in stdout + stderr, dump


def test_quiet_sends_every_writer_to_the_log(tmp_path, capfd, monkeypatch):
    """Python prints, C-level writes and child processes inside ``quiet`` land in the log; CLAIM's progress still
    reaches the terminal; CLAIM_VERBOSE lets everything through."""
    from CLAIMLib import progress

    monkeypatch.setenv("CLAIM_PROGRESS", "json")
    log = tmp_path / "logs" / "nnunet.log"
    with progress.quiet(log):
        print("python print")
        sys.stderr.write("python stderr\n")
        os.write(1, b"c-level write\n")
        subprocess.run([sys.executable, "-c", "import sys; print('child'); print('child err', file=sys.stderr)"])
        progress.emit(0.5, "training nnU-Net", epoch=3)
    out, err = capfd.readouterr()
    assert json.loads(out) == {"progress": 0.5, "stage": "training nnU-Net", "epoch": 3} and err == ""
    text = log.read_text()
    for line in ("python print", "python stderr", "c-level write", "child", "child err"):
        assert line in text.splitlines()
    monkeypatch.setenv("CLAIM_VERBOSE", "1")
    with progress.quiet(log):
        print("shown")
    assert capfd.readouterr().out == "shown\n" and "shown" not in log.read_text()


def test_export_layout_and_labels(phantom_cohort, tmp_path, run_claim):
    out_dir, cases = phantom_cohort
    code, out, err = run_claim("export-nnunet", "--cases", f"{out_dir},{out_dir}", "--id", 7, "--name", "Mix",
                               "--raw", tmp_path)
    assert code == 0, err
    folder = tmp_path / "Dataset007_Mix"
    meta = json.loads((folder / "dataset.json").read_text())
    n = 2 * len(cases)
    assert meta["numTraining"] == n and meta["channel_names"] == {"0": "LGE"}
    with_mvo = any((c.labels == 4).any() for c in cases)
    assert meta["labels"] == {"background": 0, "cavity": 1, "myocardium": 2, "scar": 3, **({"mvo": 4} if with_mvo else {})}
    assert len(list((folder / "imagesTr").glob("*_0000.nii.gz"))) == n == len(list((folder / "labelsTr").glob("*")))
    c = cases[0]
    lab, g = read_volume(folder / "labelsTr" / f"{c.case_id}.nii.gz")
    assert g.differences(c.geometry) == [] and np.array_equal(lab, c.labels)
    for bad, culprit in ((("--id", 1000), "--id"), (("--name", "a b"), "--name")):
        argv = {"--id": 8, "--name": "X", **dict([bad])}
        code, _, err = run_claim("export-nnunet", "--cases", out_dir, "--raw", tmp_path,
                                 *[str(x) for kv in argv.items() for x in kv])
        assert code == 2 and err.startswith(f"claim: error: {culprit}: ")


def test_stock_nnunet_accepts_the_export(cohort_dir, tmp_path):
    cases = load_cases(cohort_dir)
    with nnunet_environment(tmp_path) as env:
        export_dataset(cases, env["nnUNet_raw"], 501, "Phantom")
        exe = os.path.join(os.path.dirname(sys.executable), "nnUNetv2_plan_and_preprocess")
        if not os.path.exists(exe):
            pytest.skip("nnunetv2 is not installed")
        r = subprocess.run([exe, "-d", "501", "--verify_dataset_integrity", "-c", "2d", "-np", "2"],
                           capture_output=True, text=True, env=os.environ, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    plans = tmp_path / "nnUNet_preprocessed" / "Dataset501_Phantom" / "nnUNetPlans.json"
    assert "2d" in json.loads(plans.read_text())["configurations"]


def test_segment_held_out_phantoms(trained_seg, tmp_path, run_claim):
    model, held = trained_seg
    images = tmp_path / "images"
    images.mkdir()
    for case_dir in sorted(held.iterdir()):
        (images / f"{case_dir.name}_0000.nii.gz").symlink_to(case_dir / "Images" / f"{case_dir.name}.nii.gz")
    code, out, err = run_claim("segment", "--image", images, "--model", model, "--out", tmp_path / "pred",
                               "--device", "cpu")
    assert code == 0, err
    assert out.count(" -> ") == len(list(held.iterdir()))
    code, out, err = run_claim("evaluate", "--pred", tmp_path / "pred", "--gt", held, "--csv", tmp_path / "m.csv",
                               "--bullseye", tmp_path / "be.png")
    assert code == 0, err
    import csv

    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert {r["case"] for r in rows} == {d.name for d in held.iterdir()}
    assert {r["class"] for r in rows} >= {"cavity", "myocardium", "scar"}
    assert all(0 <= float(r["dice"]) <= 1 for r in rows)
    for case_dir in held.iterdir():
        seg, g = read_volume(tmp_path / "pred" / f"{case_dir.name}.nii.gz")
        truth, g0 = read_volume(case_dir / "Contours" / f"{case_dir.name}.nii.gz")
        assert seg.shape == truth.shape and g.differences(g0) == []
    assert (tmp_path / "be.png").stat().st_size > 5000


def test_batched_folder_matches_case_by_case(trained_seg, tmp_path, run_claim):
    """A folder through nnU-Net's batched API (preprocessing and export in worker processes) gives the same labels
    as the loaded model case by case (the speed comparison is bench/bench_segment.py's)."""
    model, held = trained_seg
    images = tmp_path / "images"
    images.mkdir()
    for case_dir in sorted(held.iterdir()):
        (images / f"{case_dir.name}_0000.nii.gz").symlink_to(case_dir / "Images" / f"{case_dir.name}.nii.gz")
    for mode in ("on", "off"):
        code, out, err = run_claim("segment", "--image", images, "--model", model, "--out", tmp_path / mode,
                                   "--device", "cpu", "--batch", mode)
        assert code == 0, err
        assert out.count(" -> ") == len(list(held.iterdir())) and "Predicting" not in out + err
    for case_dir in held.iterdir():
        a, g = read_volume(tmp_path / "on" / f"{case_dir.name}.nii.gz")
        b, g0 = read_volume(tmp_path / "off" / f"{case_dir.name}.nii.gz")
        assert np.array_equal(a, b) and g.differences(g0) == []


def test_hybrid_segmentation_thresholds_the_model_s_myocardium(trained_seg, tmp_path, run_claim):
    """--scar-method: cavity and myocardium from nnU-Net, scar and MVO from the threshold (as claim scar finds them
    on that myocardium); nnU-Net and the hybrid side by side in one claim evaluate."""
    from CLAIMLib.errors import InputError
    from CLAIMLib.labels import EMIDEC, case_from_arrays
    from CLAIMLib.workflows.scar import quantify_scar

    model, held = trained_seg
    case_dir = sorted(held.iterdir())[0]
    img = case_dir / "Images" / f"{case_dir.name}.nii.gz"
    code, _, err = run_claim("segment", "--image", img, "--model", model, "--out", tmp_path / "plain" / "a.nii.gz",
                             "--device", "cpu")
    assert code == 0, err
    code, out, err = run_claim("segment", "--image", img, "--model", model, "--out", tmp_path / "hyb" / "a.nii.gz",
                               "--device", "cpu", "--scar-method", "nsd:3", "--min-size-ml", "0")
    assert code == 0, err
    plain, g = read_volume(tmp_path / "plain" / "a.nii.gz")
    hybrid, _ = read_volume(tmp_path / "hyb" / "a.nii.gz")
    image, _ = read_volume(img)
    myo = plain >= 2
    assert np.array_equal(hybrid == 1, plain == 1) and np.array_equal(hybrid >= 2, myo)
    # the 3-epoch model's myocardium may be too small to hold a remote region: then its own scar stays, said once
    try:
        expected = quantify_scar(case_from_arrays("a", image, plain.astype(np.uint8), g, EMIDEC), "nsd:3",
                                 min_size_ml=0, sensitivity=False).labels
        assert "claim: warning" not in err
    except InputError as e:
        expected = plain
        assert f"claim: warning: {img.name}: {e.problem}; the model's own scar is kept" in err.splitlines()
    assert np.array_equal(hybrid, expected)
    for name in ("plain", "hyb"):
        (tmp_path / name / "a.nii.gz").rename(tmp_path / name / f"{case_dir.name}.nii.gz")
    code, out, err = run_claim("evaluate", "--pred", f"nnunet={tmp_path / 'plain'}", "--pred",
                               f"hybrid={tmp_path / 'hyb'}", "--gt", held, "--csv", tmp_path / "m.csv")
    assert code == 0, err
    assert "nnunet: 1 cases" in out and "hybrid: 1 cases" in out
    assert {line.split(",")[0] for line in (tmp_path / "m.csv").read_text().splitlines()[1:]} == {"nnunet", "hybrid"}
    code, _, err = run_claim("segment", "--image", img, "--model", model, "--out", tmp_path / "x.nii.gz",
                             "--remote-segments", "3")
    assert code == 2 and err.startswith("claim: error: --scar-method: ") and not (tmp_path / "x.nii.gz").exists()


def test_segment_emidec_p100_on_its_grid(trained_seg, emidec, tmp_path, run_claim):
    model, _ = trained_seg
    img = emidec / "Case_P100" / "Images" / "Case_P100.nii.gz"
    lab = emidec / "Case_P100" / "Contours" / "Case_P100.nii.gz"
    code, out, err = run_claim("segment", "--image", img, "--labels", lab, "--model", model,
                               "--out", tmp_path / "p100.nii.gz", "--device", "cpu")
    assert code == 0, err
    seg, g = read_volume(tmp_path / "p100.nii.gz")
    raw, g0 = read_volume(img)
    assert seg.shape == raw.shape and g.differences(g0) == []
    assert set(np.unique(seg)) <= {0, 1, 2, 3, 4} and "Dice scar" in out


def test_segment_bad_input(tmp_path, run_claim, phantom_cohort):
    out_dir, cases = phantom_cohort
    img = out_dir / cases[0].case_id / "Images" / f"{cases[0].case_id}.nii.gz"
    code, _, err = run_claim("segment", "--image", img, "--model", tmp_path, "--out", tmp_path / "s.nii.gz")
    assert code == 2 and err.startswith(f"claim: error: {tmp_path}: ") and not (tmp_path / "s.nii.gz").exists()
    code, _, err = run_claim("train-seg", "--dataset", 5, "--root", tmp_path, "--fold", "7")
    assert code == 2 and err.startswith("claim: error: --fold: ")


def test_claim_trainers_apply_their_schedule(trained_seg, tmp_path, monkeypatch):
    """Each CLAIM trainer is nnU-Net's with the schedule of its class attributes; a fixed batch replaces the planned
    one, which grows with the number of cases. (Whether the quick schedule learns scar is
    bench/bench_quick_trainer.py: 6-9 CPU minutes.)"""
    import copy
    import json

    import torch

    from CLAIMLib.segmentation.nnunet import trainer_class

    for folder in ("nnUNet_preprocessed", "nnUNet_results"):  # a trainer writes its log file there on creation
        monkeypatch.setenv(folder, str(tmp_path / folder))
    plans = json.loads((trained_seg[0] / "plans.json").read_text())
    dataset = json.loads((trained_seg[0] / "dataset.json").read_text())
    planned = plans["configurations"]["2d"]["batch_size"]
    for name, (epochs, iterations, oversample, batch) in {
            "nnUNetTrainerCLAIMShort": (3, 5, 0.33, 2), "nnUNetTrainerCLAIMDemo": (8, 15, 1.0, 3),
            "nnUNetTrainerCLAIMExperiment": (12, 25, 1.0, 3), "nnUNetTrainerCLAIMQuick": (25, 25, 1.0, 2)}.items():
        # as nnU-Net's run_training builds it (it passes continue_training inside the plans)
        trainer = trainer_class(name)({**copy.deepcopy(plans), "continue_training": False}, "2d", "all", dataset,
                                      torch.device("cpu"))
        got = (trainer.num_epochs, trainer.num_iterations_per_epoch, trainer.oversample_foreground_percent,
               trainer.configuration_manager.batch_size)
        assert got == (epochs, iterations, oversample, batch), (name, got, planned)
        assert trainer.save_every == 1


def test_train_seg_killed_three_times_resumes(trained_seg, tmp_path):
    """train-seg killed with SIGKILL in planning, preprocessing or training, three times, then --resume: the same
    model folder as the uninterrupted run (trained_seg): the same files, the same epochs."""
    import shutil

    import torch

    from conftest import killed_and_resumed, run_files

    source = trained_seg[0].parents[2]
    shutil.copytree(source / "nnUNet_raw", tmp_path / "nnUNet_raw")
    final, points, seed = killed_and_resumed("train-seg", "--dataset", 42, "--root", tmp_path, "--fold", "all",
                                             "--trainer", "nnUNetTrainerCLAIMShort", "--device", "cpu", events=6)
    why = f"kills {points}, seed {seed}: {final.stdout[-1500:]} {final.stderr[-1500:]}"
    assert final.returncode == 0, why
    ours = tmp_path / "nnUNet_results" / trained_seg[0].relative_to(source / "nnUNet_results") / "fold_all"
    ref = trained_seg[0] / "fold_all"
    assert run_files(ours, ignore=("training_log_*",)) == run_files(ref, ignore=("training_log_*",)), why
    epochs = [torch.load(f / "checkpoint_final.pth", map_location="cpu", weights_only=False)["current_epoch"]
              for f in (ours, ref)]
    assert epochs[0] == epochs[1] == 3, why
    assert not list((tmp_path / "nnUNet_preprocessed").glob("*/.claim-preprocessing-*")), why
